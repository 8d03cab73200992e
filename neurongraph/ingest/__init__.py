"""Models, data and activations into the graph.

``ingest_model`` is imported lazily so that light modules of this package (datasets, chain) do
not pull in the store and its driver.
"""

from typing import Any

__all__ = ["ActivationSummary", "IngestSummary", "ingest_model", "record_activations"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from neurongraph.ingest import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
