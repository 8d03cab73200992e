"""neurongraph: a graph-database-backed neuron explorer for PyTorch networks.

``import neurongraph as ng`` gives the Python API: :func:`open_store`, :func:`ingest`,
:func:`spectral`, :func:`louvain`, :func:`entropy`, :func:`importance`, :func:`coherence`,
``report`` (:func:`neurongraph.api.report.report`) and :func:`load_dataset`. Each is imported
on first use, so importing the package imports neither torch nor scikit-learn, scipy or
matplotlib.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_LAZY = {
    "open_store": "neurongraph.store",
    "Store": "neurongraph.store",
    "ingest": "neurongraph.api.ingest",
    "spectral": "neurongraph.api.analyses",
    "louvain": "neurongraph.api.analyses",
    "entropy": "neurongraph.api.analyses",
    "importance": "neurongraph.api.analyses",
    "coherence": "neurongraph.api.analyses",
    "SpectralResult": "neurongraph.api.results",
    "LouvainResult": "neurongraph.api.results",
    "EntropyResult": "neurongraph.api.results",
    "ImportanceResult": "neurongraph.api.results",
    "CoherenceResult": "neurongraph.api.results",
    "IngestSummary": "neurongraph.ingest.pipeline",
    "load_dataset": "neurongraph.model.datasets",
    "Dataset": "neurongraph.model.datasets",
    "NeurongraphError": "neurongraph.errors",
    "UsageError": "neurongraph.errors",
}
#: ``report`` is the package :mod:`neurongraph.report`, which can be called (importing it makes
#: it this package's ``report`` attribute, so the function is the package itself).
_REPORT = "report"

__all__ = ["__version__", *_LAZY, _REPORT]


def __getattr__(name: str) -> Any:
    if name == _REPORT:
        return import_module(f"{__name__}.{_REPORT}")
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
