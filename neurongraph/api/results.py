"""What the Python API returns: frozen dataclasses of numbers and numpy arrays, each with
``to_frame()`` (a pandas DataFrame, one row per cluster, layer or group) and ``as_dict()`` (the
JSON object the command line prints with ``--json``).

Only numpy is imported here; pandas is imported by ``to_frame()`` and is optional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neurongraph.errors import UsageError

if TYPE_CHECKING:
    import pandas

__all__ = [
    "CoherenceResult",
    "EntropyResult",
    "ImportanceResult",
    "LouvainResult",
    "SpectralResult",
]

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def _snake(key: str) -> str:
    """``visObjectiveP`` -> ``vis_objective_p``."""
    return _CAMEL.sub(r"_\1", key).lower()


def _snake_rows(rows: list[dict], drop: tuple[str, ...] = ()) -> list[dict]:
    return [{_snake(k): v for k, v in row.items() if k not in drop} for row in rows]


def _array(values: list, dtype: type = float) -> np.ndarray:
    """A numpy array of JSON values, None as NaN for floats."""
    if dtype is float:
        return np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return np.asarray(values, dtype=dtype)


@dataclass(frozen=True)
class _Result:
    """What every result has: its network and the summary it was made from."""

    network: str
    summary: dict = field(repr=False, compare=False)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per row of :meth:`to_frame`, snake_case keys."""
        raise NotImplementedError

    def to_frame(self) -> pandas.DataFrame:
        """The rows as a pandas DataFrame.

        Raises
        ------
        UsageError
            When pandas is not installed (it is optional).
        """
        try:
            import pandas
        except ImportError as err:
            raise UsageError(
                "to_frame() needs pandas, which is not installed; `pip install pandas`, or use "
                ".rows() (a list of dicts) or the result's numpy arrays"
            ) from err
        return pandas.DataFrame(self.rows())

    def as_dict(self) -> dict:
        """The JSON object ``neurongraph ... --json`` prints for the same analysis."""
        return self.summary


@dataclass(frozen=True)
class SpectralResult(_Result):
    """A spectral partition and its clusterability (:func:`neurongraph.spectral`).

    ``cluster_sizes[c]`` is the size of cluster ``c``; ``layer_sizes[c, j]`` its neurons in
    ``layers[j]``. The null statistics are NaN when no null networks were drawn.
    """

    method: str
    graph: str
    k: int
    ncut: float
    null_mean: float
    null_std: float
    z_score: float
    percentile: float
    clusterable: bool
    n_shuffles: int
    seed: int
    layers: tuple[str, ...]
    cluster_sizes: np.ndarray
    layer_sizes: np.ndarray
    warnings: tuple[str, ...]

    @classmethod
    def from_summary(cls, s: dict) -> SpectralResult:
        """From :func:`~neurongraph.analysis.runner.run_spectral`'s summary."""
        return cls(
            network=s["network"],
            summary=s,
            method=s["method"],
            graph=s["graph"],
            k=int(s["k"]),
            ncut=float(s["ncut"]),
            **{
                key: float(_array([s[camel]])[0])
                for key, camel in (
                    ("null_mean", "nullMean"),
                    ("null_std", "nullStd"),
                    ("z_score", "zScore"),
                    ("percentile", "percentile"),
                )
            },
            clusterable=bool(s["clusterable"]),
            n_shuffles=int(s["nShuffles"]),
            seed=int(s["seed"]),
            layers=tuple(s["layers"]),
            cluster_sizes=_array(s["clusterSizes"], int),
            layer_sizes=_array(s["layerSizes"], int).reshape(len(s["clusterSizes"]), -1),
            warnings=tuple(s["warnings"]),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per cluster: its size and its neurons in each layer."""
        return [
            {
                "cluster": c,
                "size": int(size),
                **{layer: int(n) for layer, n in zip(self.layers, row, strict=True)},
            }
            for c, (size, row) in enumerate(zip(self.cluster_sizes, self.layer_sizes, strict=True))
        ]


@dataclass(frozen=True)
class LouvainResult(_Result):
    """Louvain communities per hidden layer (:func:`neurongraph.louvain`).

    ``layer_modularity[j]`` is the modularity Q of ``layers[j]`` (NaN where the layer was
    skipped); ``z_scores`` and ``percentiles`` judge it against permuted-firing nulls (NaN
    without them).
    """

    modularity: float
    n_shuffles: int
    seed: int
    layers: tuple[str, ...]
    layer_modularity: np.ndarray
    communities: np.ndarray
    z_scores: np.ndarray
    percentiles: np.ndarray
    warnings: tuple[str, ...]

    @classmethod
    def from_summary(cls, s: dict) -> LouvainResult:
        """From :func:`~neurongraph.analysis.runner.run_louvain`'s summary."""
        layers = s["layers"]
        return cls(
            network=s["network"],
            summary=s,
            modularity=float(_array([s["modularity"]])[0]),
            n_shuffles=int(s["nShuffles"]),
            seed=int(s["seed"]),
            layers=tuple(r["layer"] for r in layers),
            layer_modularity=_array([r["modularity"] for r in layers]),
            communities=_array([r["communities"] for r in layers], int),
            z_scores=_array([r["zScore"] for r in layers]),
            percentiles=_array([r["percentile"] for r in layers]),
            warnings=tuple(s["warnings"]),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per hidden layer: Q, its null and its communities."""
        return _snake_rows(self.summary["layers"])


@dataclass(frozen=True)
class EntropyResult(_Result):
    """Firing entropy, in bits (:func:`neurongraph.entropy`): the network's mean and each
    hidden layer's (``layer_entropy[j]`` for ``layers[j]``), overall and per class."""

    entropy: float
    class_entropy: float
    layers: tuple[str, ...]
    layer_entropy: np.ndarray
    layer_class_entropy: np.ndarray

    @classmethod
    def from_summary(cls, s: dict) -> EntropyResult:
        """From :func:`~neurongraph.analysis.runner.run_entropy`'s summary."""
        layers = s["layers"]
        return cls(
            network=s["network"],
            summary=s,
            entropy=float(s["entropy"]),
            class_entropy=float(s["classEntropy"]),
            layers=tuple(r["layer"] for r in layers),
            layer_entropy=_array([r["entropyMean"] for r in layers]),
            layer_class_entropy=_array([r["classEntropyMean"] for r in layers]),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per hidden layer: its mean entropy and mean per-class entropy."""
        return _snake_rows(self.summary["layers"])


@dataclass(frozen=True)
class ImportanceResult(_Result):
    """Lesions of a partition's (layer, cluster) groups against random same-size groups
    (:func:`neurongraph.importance`).

    Group ``i`` is cluster ``clusters[i]`` in layer ``group_layers[i]``; ``delta[i]`` its
    change of the metric (a fraction of accuracy), ``p[i]`` the percentile among random groups and
    ``important[i]`` whether it passes both thresholds.
    """

    partition: str
    dataset: str
    metric: str
    baseline_accuracy: float
    fisher_p: float
    n_random: int
    seed: int
    group_layers: tuple[str, ...]
    clusters: tuple
    sizes: np.ndarray
    delta: np.ndarray
    p: np.ndarray
    important: np.ndarray
    notes: tuple[str, ...]

    @classmethod
    def from_summary(cls, s: dict) -> ImportanceResult:
        """From :func:`~neurongraph.analysis.runner.run_importance`'s summary."""
        groups = s["groups"]
        return cls(
            network=s["network"],
            summary=s,
            partition=s["partition"],
            dataset=s["dataset"],
            metric=s["metric"],
            baseline_accuracy=float(s["baselineAccuracy"]),
            fisher_p=float(_array([s["fisherP"]])[0]),
            n_random=int(s["randomSets"]),
            seed=int(s["seed"]),
            group_layers=tuple(g["layer"] for g in groups),
            clusters=tuple(g["cluster"] for g in groups),
            sizes=_array([g["size"] for g in groups], int),
            delta=_array([g["delta"] for g in groups]),
            p=_array([g["p"] for g in groups]),
            important=_array([g["important"] for g in groups], bool),
            notes=tuple(s["notes"]),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per group: layer, cluster, size, delta, p, important."""
        return _snake_rows(self.summary["groups"], drop=("taskDeltas",))


@dataclass(frozen=True)
class CoherenceResult(_Result):
    """Coherence of a partition's groups against random same-size groups
    (:func:`neurongraph.coherence`): feature visualisation, dataset examples, selectivity.

    Group ``i`` is cluster ``clusters[i]`` in layer ``group_layers[i]``; each ``*_p`` array
    holds its percentiles among random groups (NaN where a score was not computed).
    """

    partition: str
    dataset: str
    n_random: int
    seed: int
    fisher_p: dict
    group_layers: tuple[str, ...]
    clusters: tuple
    sizes: np.ndarray
    vis_objective_p: np.ndarray
    vis_entropy_p: np.ndarray
    example_entropy_p: np.ndarray
    class_consistency: np.ndarray
    notes: tuple[str, ...]

    @classmethod
    def from_summary(cls, s: dict) -> CoherenceResult:
        """From :func:`~neurongraph.analysis.runner.run_coherence`'s summary."""
        groups = s["groups"]
        return cls(
            network=s["network"],
            summary=s,
            partition=s["partition"],
            dataset=s["dataset"],
            n_random=int(s["randomSets"]),
            seed=int(s["seed"]),
            fisher_p=dict(s["fisherP"]),
            group_layers=tuple(g["layer"] for g in groups),
            clusters=tuple(g["cluster"] for g in groups),
            sizes=_array([g["size"] for g in groups], int),
            **{
                key: _array([g[camel] for g in groups])
                for key, camel in (
                    ("vis_objective_p", "visObjectiveP"),
                    ("vis_entropy_p", "visEntropyP"),
                    ("example_entropy_p", "exampleEntropyP"),
                    ("class_consistency", "classConsistency"),
                )
            },
            notes=tuple(s["notes"]),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per group: its scores and their percentiles (example indices left out)."""
        return _snake_rows(self.summary["groups"], drop=("exampleIndices", "exampleTexts"))
