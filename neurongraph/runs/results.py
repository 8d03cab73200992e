"""What the analyses return: frozen dataclasses of numbers and numpy arrays, each with
``rows()`` (one dict per cluster, layer or group), ``to_frame()`` (those rows as a pandas
DataFrame) and ``as_dict()`` (the JSON object the command line prints with ``--json``).

The command line and the Python API present the same objects. Only numpy is imported here;
pandas is imported by ``to_frame()`` and is optional.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
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
    "finite",
]

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def finite(value: float | None) -> float | None:
    """``value`` as a float, or None when it is None, NaN or infinite (a JSON value).

    Examples
    --------
    >>> finite(np.float64(0.5)), finite(float("nan")), finite(None)
    (0.5, None, None)
    """
    return None if value is None or not math.isfinite(value) else float(value)


def _snake(key: str) -> str:
    """``visObjectiveP`` -> ``vis_objective_p``."""
    return _CAMEL.sub(r"_\1", key).lower()


def _snake_rows(rows: list[dict], drop: tuple[str, ...] = ()) -> list[dict]:
    return [{_snake(k): v for k, v in row.items() if k not in drop} for row in rows]


class _Frame:
    """``to_frame()`` for a result with ``rows()``."""

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


@dataclass(frozen=True)
class SpectralResult(_Frame):
    """A spectral partition and its clusterability (:func:`neurongraph.spectral`).

    ``cluster_sizes[c]`` is the size of cluster ``c``; ``layer_sizes[c, j]`` its neurons in
    ``layers[j]``. The null statistics are NaN when no null networks were drawn.
    """

    network: str
    method: str
    spectral_method: str
    graph: str
    k: int
    ncut: float
    null_mean: float
    null_std: float
    z_score: float
    percentile: float
    min_percentile: float
    clusterable: bool
    n_shuffles: int
    shuffle_method: str
    seed: int
    layers: tuple[str, ...]
    cluster_sizes: np.ndarray
    layer_sizes: np.ndarray
    null_ncuts: np.ndarray
    warnings: tuple[str, ...]

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

    def as_dict(self) -> dict:
        """The JSON object ``neurongraph analyze spectral --json`` prints."""
        return {
            "network": self.network,
            "method": self.method,
            "spectralMethod": self.spectral_method,
            "graph": self.graph,
            "k": self.k,
            "ncut": float(self.ncut),
            "nullMean": finite(self.null_mean),
            "nullStd": finite(self.null_std),
            "zScore": finite(self.z_score),
            "percentile": finite(self.percentile),
            "minPercentile": finite(self.min_percentile),
            "clusterable": self.clusterable,
            "nShuffles": self.n_shuffles,
            "shuffleMethod": self.shuffle_method,
            "clusterSizes": self.cluster_sizes.tolist(),
            "layers": list(self.layers),
            "layerSizes": self.layer_sizes.tolist(),
            "seed": self.seed,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class LouvainResult(_Frame):
    """Louvain communities per hidden layer (:func:`neurongraph.louvain`).

    ``layer_modularity[j]`` is the modularity Q of ``layers[j]`` (NaN where the layer was
    skipped: ``skipped[j]``); ``null_means``, ``null_stds``, ``z_scores`` and ``percentiles``
    judge it against permuted-firing nulls (NaN without them). ``class_modularity`` maps each
    class to its mean Q over the layers (``per_class`` runs only); ``params`` holds the run's
    settings as stored on the Partition.
    """

    network: str
    method: str
    modularity: float
    n_shuffles: int
    seed: int
    layers: tuple[str, ...]
    layer_modularity: np.ndarray
    communities: np.ndarray
    sizes: tuple[tuple[int, ...], ...]
    edges: np.ndarray
    skipped: np.ndarray
    null_means: np.ndarray
    null_stds: np.ndarray
    z_scores: np.ndarray
    percentiles: np.ndarray
    class_modularity: dict[int, float]
    params: dict[str, Any]
    warnings: tuple[str, ...]

    def layer_rows(self) -> list[dict[str, Any]]:
        """One JSON row per hidden layer: Q, its communities and its null (camelCase keys)."""
        return [
            {
                "layer": layer,
                "modularity": finite(self.layer_modularity[j]),
                "communities": int(self.communities[j]),
                "sizes": list(self.sizes[j]),
                "edges": int(self.edges[j]),
                "skipped": bool(self.skipped[j]),
                "nullMean": finite(self.null_means[j]),
                "nullStd": finite(self.null_stds[j]),
                "zScore": finite(self.z_scores[j]),
                "percentile": finite(self.percentiles[j]),
            }
            for j, layer in enumerate(self.layers)
        ]

    def rows(self) -> list[dict[str, Any]]:
        """One row per hidden layer: Q, its null and its communities."""
        return _snake_rows(self.layer_rows())

    def as_dict(self) -> dict:
        """The JSON object ``neurongraph analyze louvain --json`` prints."""
        return {
            "network": self.network,
            "method": self.method,
            "modularity": finite(self.modularity),
            "layers": self.layer_rows(),
            "classModularity": {str(c): q for c, q in self.class_modularity.items()},
            "nShuffles": self.n_shuffles,
            "seed": self.seed,
            "params": dict(self.params),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class EntropyResult(_Frame):
    """Firing entropy, in bits (:func:`neurongraph.entropy`): the network's mean and each
    hidden layer's (``layer_entropy[j]`` for ``layers[j]``), overall and per class."""

    network: str
    entropy: float
    class_entropy: float
    layers: tuple[str, ...]
    layer_entropy: np.ndarray
    layer_class_entropy: np.ndarray

    def layer_rows(self) -> list[dict[str, Any]]:
        """One JSON row per hidden layer: ``entropyMean``, ``classEntropyMean``."""
        return [
            {"layer": layer, "entropyMean": float(h), "classEntropyMean": float(hc)}
            for layer, h, hc in zip(
                self.layers, self.layer_entropy, self.layer_class_entropy, strict=True
            )
        ]

    def rows(self) -> list[dict[str, Any]]:
        """One row per hidden layer: its mean entropy and mean per-class entropy."""
        return _snake_rows(self.layer_rows())

    def as_dict(self) -> dict:
        """The JSON object ``neurongraph analyze entropy --json`` prints."""
        return {
            "network": self.network,
            "entropy": float(self.entropy),
            "classEntropy": float(self.class_entropy),
            "layers": self.layer_rows(),
        }


@dataclass(frozen=True)
class ImportanceResult(_Frame):
    """Lesions of a partition's (layer, cluster) groups against random same-size groups
    (:func:`neurongraph.importance`).

    Group ``i`` is cluster ``clusters[i]`` in layer ``group_layers[i]``; ``delta[i]`` its
    change of the metric (a fraction of accuracy), ``p[i]`` the percentile among random groups,
    ``important[i]`` whether it passes both thresholds and ``task_deltas[i, t]`` its change on
    ``tasks[t]``. ``skipped`` (``layer``, ``cluster``, ``size``, ``reason``) lists the groups
    not tested; ``pairs`` (``first``, ``second``, ``delta``, ``interaction``, ``p``) the double
    lesions.
    """

    network: str
    partition: str
    dataset: str
    metric: str
    baseline_accuracy: float
    fisher_p: float
    n_random: int
    important_p: float
    seed: int
    group_layers: tuple[str, ...]
    clusters: tuple
    sizes: np.ndarray
    delta: np.ndarray
    p: np.ndarray
    important: np.ndarray
    tasks: tuple[str, ...]
    task_deltas: np.ndarray
    skipped: tuple[dict, ...]
    pairs: tuple[dict, ...]
    n_lesions: int
    notes: tuple[str, ...]

    @property
    def min_p(self) -> float:
        """The smallest p any group can get: ``1 / (n_random + 1)``."""
        return 1.0 / (self.n_random + 1)

    def rows(self) -> list[dict[str, Any]]:
        """One row per group: layer, cluster, size, delta, p, important."""
        return [
            {
                "layer": layer,
                "cluster": cluster,
                "size": int(size),
                "delta": float(delta),
                "p": float(p),
                "important": bool(important),
            }
            for layer, cluster, size, delta, p, important in zip(
                self.group_layers,
                self.clusters,
                self.sizes,
                self.delta,
                self.p,
                self.important,
                strict=True,
            )
        ]

    def as_dict(self) -> dict:
        """The JSON object ``neurongraph analyze importance --json`` prints."""
        return {
            "network": self.network,
            "partition": self.partition,
            "dataset": self.dataset,
            "metric": self.metric,
            "baselineAccuracy": float(self.baseline_accuracy),
            "fisherP": finite(self.fisher_p),
            "randomSets": self.n_random,
            "minP": self.min_p,
            "importantP": self.important_p,
            "notes": list(self.notes),
            "seed": self.seed,
            "groups": [
                {**row, "taskDeltas": dict(zip(self.tasks, map(float, deltas), strict=True))}
                for row, deltas in zip(self.rows(), self.task_deltas, strict=True)
            ],
            "skipped": [dict(s) for s in self.skipped],
            "pairs": [dict(pair) for pair in self.pairs],
            "lesions": self.n_lesions,
        }


@dataclass(frozen=True)
class CoherenceResult(_Frame):
    """Coherence of a partition's groups against random same-size groups
    (:func:`neurongraph.coherence`): feature visualisation, dataset examples, selectivity.

    Group ``i`` is cluster ``clusters[i]`` in layer ``group_layers[i]``; each score array holds
    its value per group and each ``*_p`` array its percentile among random groups (NaN where a
    score was not computed). ``vis_paths[i]`` is the group's visualisation PNG (None without
    one), ``example_indices[i]`` its most activating dataset examples (``example_texts[i]``
    the first of them as texts, for datasets of texts). ``fisher_p`` maps each score's
    Partition key to its Fisher-combined p (None where undefined).
    """

    network: str
    partition: str
    dataset: str
    n_random: int
    steps: int
    seed: int
    fisher_p: dict[str, float | None]
    group_layers: tuple[str, ...]
    clusters: tuple
    sizes: np.ndarray
    vis_objective: np.ndarray
    vis_entropy: np.ndarray
    vis_objective_p: np.ndarray
    vis_entropy_p: np.ndarray
    vis_paths: tuple[str | None, ...]
    example_entropy: np.ndarray
    example_entropy_p: np.ndarray
    example_indices: tuple[np.ndarray, ...]
    example_texts: tuple[tuple[str, ...], ...] | None
    class_consistency: np.ndarray
    class_consistency_p: np.ndarray
    skipped: tuple[dict, ...]
    visualisations: str
    notes: tuple[str, ...]

    def group_row(self, i: int) -> dict[str, Any]:
        """Group ``i`` as a JSON row (camelCase keys, the keys of its Cluster's scores)."""
        row = {
            "layer": self.group_layers[i],
            "cluster": self.clusters[i],
            "size": int(self.sizes[i]),
            "visObjective": finite(self.vis_objective[i]),
            "visEntropy": finite(self.vis_entropy[i]),
            "visObjectiveP": finite(self.vis_objective_p[i]),
            "visEntropyP": finite(self.vis_entropy_p[i]),
            "visPath": self.vis_paths[i],
            "exampleEntropy": finite(self.example_entropy[i]),
            "exampleEntropyP": finite(self.example_entropy_p[i]),
            "exampleIndices": [int(j) for j in self.example_indices[i]],
            "classConsistency": finite(self.class_consistency[i]),
            "classConsistencyP": finite(self.class_consistency_p[i]),
        }
        if self.example_texts is not None:
            row["exampleTexts"] = list(self.example_texts[i])
        return row

    def rows(self) -> list[dict[str, Any]]:
        """One row per group: its scores and their percentiles (example indices left out)."""
        return _snake_rows(
            [self.group_row(i) for i in range(len(self.clusters))],
            drop=("exampleIndices", "exampleTexts"),
        )

    def as_dict(self) -> dict:
        """The JSON object ``neurongraph analyze coherence --json`` prints."""
        return {
            "network": self.network,
            "partition": self.partition,
            "dataset": self.dataset,
            "randomSets": self.n_random,
            "steps": self.steps,
            "seed": self.seed,
            "fisherP": dict(self.fisher_p),
            "groups": [self.group_row(i) for i in range(len(self.clusters))],
            "skipped": [dict(s) for s in self.skipped],
            "visualisations": self.visualisations,
            "notes": list(self.notes),
        }
