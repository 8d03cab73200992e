"""``analyze spectral`` against the store: a spectral partition and its clusterability."""

from __future__ import annotations

import json
import logging

import numpy as np

from neurongraph.analysis.defaults import SPECTRAL_GRAPHS, SPECTRAL_METHOD
from neurongraph.analysis.nulls import (
    DEFAULT_N_SHUFFLES,
    GRAPH_SHUFFLE_METHODS,
    LAYER_SHUFFLE_METHODS,
    adjacency_clusterability,
    clusterability,
    dag_clusterability,
)
from neurongraph.analysis.spectral import DEFAULT_METHOD, DEFAULT_N_CLUSTERS
from neurongraph.errors import AnalysisError, arg, step
from neurongraph.progress import Progress
from neurongraph.runs.common import logged_warnings, now
from neurongraph.runs.graphs import activation_graph, weight_graph
from neurongraph.runs.results import SpectralResult, finite
from neurongraph.seeds import resolve_seed
from neurongraph.store import Store
from neurongraph.store.rows import PartitionCluster

__all__ = ["NULL_METHODS", "SPECTRAL_KEY", "run_spectral"]

log = logging.getLogger(__name__)

#: Neuron property of each spectral graph (its partition method: ``SPECTRAL_METHOD``).
SPECTRAL_KEY = {"weights": "spectralWeightsCluster", "activations": "spectralActivationsCluster"}
NULL_METHODS = {"weights": LAYER_SHUFFLE_METHODS, "activations": GRAPH_SHUFFLE_METHODS}


def _labels_from(store: Store, name: str, key: str, nodes: list[tuple[int, int]]) -> np.ndarray:
    """An existing integer labelling of ``nodes`` ((layer position, index) pairs); -1 where a
    neuron has none."""
    try:
        values = store.neuron_property(name, key)
    except ValueError as err:
        raise AnalysisError(f"{arg('labels_from')} {key!r} is not a property name") from err
    found = {(r["layer"], r["index"]): r["value"] for r in values if r["value"] is not None}
    if not found:
        raise AnalysisError(
            f"no neuron of network {name!r} has a {key!r} property; run the analysis that "
            f"writes it first (e.g. {step('analyze louvain')})"
        )
    try:
        raw = [found.get(node, -1) for node in nodes]
        return np.asarray([int(v) for v in raw])
    except (TypeError, ValueError) as err:
        raise AnalysisError(f"property {key!r} does not hold integer labels") from err


def run_spectral(
    store: Store,
    name: str,
    *,
    graph: str = "weights",
    k: int = DEFAULT_N_CLUSTERS,
    n_shuffles: int = DEFAULT_N_SHUFFLES,
    shuffle_method: str | None = None,
    spectral_method: str = DEFAULT_METHOD,
    labels_from: str | None = None,
    random_state: int | None = None,
    n_jobs: int | None = None,
    progress: Progress | None = None,
) -> SpectralResult:
    """Spectral partition of the weight or activation graph, its n-cut and its clusterability
    against shuffled null networks (Filan et al.), written to the store.

    Writes a ``spectral-weights`` / ``spectral-activations`` Partition (spectralMethod, k,
    ncut, nullMean, nullStd, zScore, percentile, nShuffles, seed, params), one Cluster per
    label (size, sizes per layer), IN_CLUSTER edges and the label on every neuron
    (``spectralWeightsCluster`` / ``spectralActivationsCluster``; -1 for isolated neurons).
    With ``labels_from``, an existing labelling is scored instead (partition method
    ``<property>-<graph>``; neurons unchanged).

    Parameters
    ----------
    store : Store
        From :func:`neurongraph.open_store`.
    name : str
        The network.
    graph : {'weights', 'activations'}, default='weights'
        The weight graph, or the r² activation graph (needs recorded activations).
    k : int, default=12
        Clusters.
    n_shuffles : int, default=50
        Null networks; 0 draws none (the null statistics are then NaN).
    shuffle_method : str, optional
        ``'layer'`` or ``'layer_nonzero'`` for the weight graph (default ``'layer'``).
    spectral_method : {'papers', 'ncut-refined'}, default='papers'
        The papers' method (scikit-learn's SpectralClustering), or the refined one.
    labels_from : str, optional
        Score this integer neuron property instead of partitioning.
    random_state : int, optional
        Seed; None draws one, logs it and records it.
    n_jobs : int, optional
        Processes for the nulls.
    progress : callable, optional
        ``progress(done, total)`` over the nulls.

    Returns
    -------
    SpectralResult
        The n-cut, its null and z-score, and the cluster sizes per layer.

    Raises
    ------
    AnalysisError
        An unknown network, graph or shuffle method, or ``k`` out of range.
    """
    if graph not in SPECTRAL_GRAPHS:
        raise AnalysisError(f"{arg('graph')} must be one of {', '.join(SPECTRAL_GRAPHS)}")
    if n_shuffles < 0:
        raise AnalysisError(f"{arg('n_shuffles')} must be 0 (no nulls) or more")
    shuffle_method = shuffle_method or NULL_METHODS[graph][0]
    if shuffle_method not in NULL_METHODS[graph]:
        raise AnalysisError(
            f"{arg('shuffle_method')} for the {graph} graph must be one of "
            f"{', '.join(NULL_METHODS[graph])}"
        )
    seed = resolve_seed(random_state)
    store.require_network(name)
    layers = store.layers(name)
    if graph == "weights":
        log.info("reading the weight graph of %s", name)
        weights = weight_graph(store, name)
        log.info(
            "read the weight graph of %s: %d neurons, %d edges",
            name,
            sum(weights.widths),
            sum(block.nnz for block in weights.blocks),
        )
        nodes = [(p, i) for p, w in enumerate(weights.widths) for i in range(w)]
    else:
        adjacency, columns = activation_graph(store, name)
        hidden = layers[1:-1]
        nodes = [(int(la["position"]), i) for la in hidden for i in range(int(la["width"]))]
    labels = _labels_from(store, name, labels_from, nodes) if labels_from else None
    if labels is not None:
        k = int(np.unique(labels[labels >= 0]).size)
        if k < 2:
            raise AnalysisError(
                f"property {labels_from!r} gives the {graph} graph's neurons {k} cluster(s); "
                "scoring needs at least 2"
            )
    n_nodes = len(nodes)
    if not 2 <= k <= n_nodes:
        raise AnalysisError(
            f"{arg('k')} must be between 2 and the number of neurons ({n_nodes}), not {k}"
        )
    common = dict(
        labels=labels,
        n_shuffles=n_shuffles,
        method=shuffle_method,
        random_state=seed,
        n_jobs=n_jobs,
        progress=progress,
        spectral_method=spectral_method,
    )
    with logged_warnings(name) as notes:
        if graph == "weights" and weights.is_chain:
            result = clusterability(
                weights.widths, weights.blocks, None if labels is not None else k, **common
            )
        elif graph == "weights":
            result = dag_clusterability(
                weights.widths,
                weights.blocks,
                weights.pairs,
                None if labels is not None else k,
                fixed=weights.fixed,
                **common,
            )
        else:
            result = adjacency_clusterability(
                adjacency, None if labels is not None else k, **common
            )
    method = f"{labels_from}-{graph}" if labels_from else SPECTRAL_METHOD[graph]
    positions = sorted({p for p, _ in nodes})
    layer_names = [layers[p]["name"] for p in positions]
    node_layer = np.asarray([positions.index(p) for p, _ in nodes])
    label_values = np.asarray(result.labels)
    # labels from a property need not be 0..k-1: one cluster per label present
    present = np.unique(label_values[label_values >= 0]).tolist()
    members = [np.flatnonzero(label_values == c) for c in present]
    layer_sizes = np.asarray(
        [np.bincount(node_layer[inside], minlength=len(positions)) for inside in members],
        dtype=int,
    ).reshape(len(present), len(positions))
    nulls = bool(result.n_shuffles)
    spectral = SpectralResult(
        network=name,
        method=method,
        spectral_method=spectral_method,
        graph=graph,
        k=result.k,
        ncut=float(result.ncut),
        null_mean=float(result.null_mean) if nulls else np.nan,
        null_std=float(result.null_std) if nulls else np.nan,
        z_score=float(result.z_score) if nulls else np.nan,
        percentile=float(result.percentile) if nulls else np.nan,
        min_percentile=float(result.min_percentile) if nulls else np.nan,
        clusterable=nulls and bool(result.percentile <= result.min_percentile),
        n_shuffles=result.n_shuffles,
        shuffle_method=shuffle_method,
        seed=seed,
        layers=tuple(layer_names),
        cluster_sizes=np.asarray([inside.size for inside in members], dtype=int),
        layer_sizes=layer_sizes,
        null_ncuts=np.asarray(result.null_ncuts if nulls else [], dtype=float),
        warnings=tuple(notes),
    )
    node_names = [(layers[p]["name"], i) for p, i in nodes]
    store.write_partition(
        name,
        method,
        _partition_props(spectral, labels_from),
        [
            PartitionCluster(
                c,
                [node_names[j] for j in inside],
                {"size": int(inside.size), "layerSizes": sizes.tolist()},
            )
            for c, inside, sizes in zip(present, members, layer_sizes, strict=True)
        ],
        None if labels_from else SPECTRAL_KEY[graph],
        None if labels_from else dict(zip(node_names, label_values.tolist(), strict=True)),
    )
    return spectral


def _partition_props(result: SpectralResult, labels_from: str | None) -> dict:
    """The Partition properties of a spectral result."""
    params = {
        "graph": result.graph,
        "shuffleMethod": result.shuffle_method,
        "spectralMethod": result.spectral_method,
        "labelsFrom": labels_from,
    }
    props = {
        "spectralMethod": result.spectral_method,
        "graph": result.graph,
        "k": result.k,
        "ncut": result.ncut,
        "nShuffles": result.n_shuffles,
        "seed": result.seed,
        "layers": list(result.layers),
        "params": json.dumps(params, sort_keys=True),
        "createdAt": now(),
    }
    if result.n_shuffles:
        props.update(
            nullMean=result.null_mean,
            nullStd=finite(result.null_std),
            zScore=finite(result.z_score),
            percentile=result.percentile,
            minPercentile=result.min_percentile,
            nullNcuts=result.null_ncuts.tolist(),
        )
    return props
