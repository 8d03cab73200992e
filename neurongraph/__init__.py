"""neurongraph: a graph-database-backed neuron explorer for PyTorch networks.

``import neurongraph as ng`` gives the Python API: :func:`open_store`, ``ingest``
(:func:`neurongraph.api.ingest.ingest`), :func:`spectral`, :func:`louvain`, :func:`entropy`,
:func:`importance`, :func:`coherence`, ``report`` (:func:`neurongraph.api.report.report`) and
:func:`load_dataset`. Each is imported on first use, so importing the package imports neither
torch nor scikit-learn, scipy or matplotlib.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_LAZY = {
    "open_store": "neurongraph.store",
    "Store": "neurongraph.store",
    "spectral": "neurongraph.api.analyses",
    "louvain": "neurongraph.api.analyses",
    "entropy": "neurongraph.api.analyses",
    "importance": "neurongraph.api.analyses",
    "coherence": "neurongraph.api.analyses",
    "SpectralResult": "neurongraph.runs.results",
    "LouvainResult": "neurongraph.runs.results",
    "EntropyResult": "neurongraph.runs.results",
    "ImportanceResult": "neurongraph.runs.results",
    "CoherenceResult": "neurongraph.runs.results",
    "IngestSummary": "neurongraph.ingest.pipeline",
    "load_dataset": "neurongraph.model.datasets",
    "Dataset": "neurongraph.model.datasets",
    "NeurongraphError": "neurongraph.errors",
    "UsageError": "neurongraph.errors",
}
#: Packages that are also API functions (:mod:`neurongraph.api.callable`): ``ng.ingest`` is
#: the package :mod:`neurongraph.ingest`, which calls :func:`neurongraph.api.ingest.ingest`.
_CALLABLE_PACKAGES = ("ingest", "report")

__all__ = ["__version__", *_LAZY, *_CALLABLE_PACKAGES]


def __getattr__(name: str) -> Any:
    if name in _CALLABLE_PACKAGES:
        return import_module(f"{__name__}.{name}")
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
