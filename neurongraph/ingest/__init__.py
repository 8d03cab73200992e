"""Models and their activations into the graph: the network's graph
(:mod:`~neurongraph.ingest.graph`) and the staged, atomic write of it
(:mod:`~neurongraph.ingest.pipeline`).

``ingest_model`` is imported lazily so that importing the package does not pull in torch and the
store's driver. Calling the package, ``ng.ingest(store, module, name)``, ingests an in-memory
model (:func:`neurongraph.api.ingest.ingest`).
"""

from typing import Any

from neurongraph.api.callable import callable_package

__all__ = ["ActivationSummary", "IngestSummary", "ingest_model", "record_activations"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from neurongraph.ingest import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


callable_package(__name__, "neurongraph.api.ingest:ingest")
