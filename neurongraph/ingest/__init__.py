"""Models and their activations into the graph: the network's graph
(:mod:`~neurongraph.ingest.graph`) and the staged, atomic write of it
(:mod:`~neurongraph.ingest.pipeline`).

``ingest_model`` is imported lazily so that importing the package does not pull in torch and the
store's driver.
"""

from typing import Any

__all__ = ["ActivationSummary", "IngestSummary", "ingest_model", "record_activations"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from neurongraph.ingest import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
