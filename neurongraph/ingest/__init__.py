"""Models, data and activations into the graph."""

from neurongraph.ingest.pipeline import IngestSummary, ingest_model

__all__ = ["IngestSummary", "ingest_model"]
