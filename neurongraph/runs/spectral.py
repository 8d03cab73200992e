"""``analyze spectral`` against the store: a spectral partition and its clusterability."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable

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
from neurongraph.errors import AnalysisError, NeurongraphWarning, arg
from neurongraph.runs.common import finite, now
from neurongraph.runs.graphs import activation_graph, weight_graph
from neurongraph.seeds import resolve_seed
from neurongraph.store import Store
from neurongraph.store.rows import cluster_uid, neuron_uid, partition_uid

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
            "writes it first (e.g. `neurongraph analyze louvain`)"
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
    seed: int | None = None,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Spectral partition of the weight or activation graph, its n-cut and its clusterability
    against shuffled null networks (Filan et al.), written to the store.

    Writes a ``spectral-weights`` / ``spectral-activations`` Partition (spectralMethod, k,
    ncut, nullMean, nullStd, zScore, percentile, nShuffles, seed, params), one Cluster per
    label (size, sizes per layer), IN_CLUSTER edges and the label on every neuron
    (``spectralWeightsCluster`` / ``spectralActivationsCluster``; -1 for isolated neurons).
    With ``labels_from``, an existing labelling is scored instead (partition method
    ``<property>-<graph>``; neurons unchanged).
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
    seed = resolve_seed(seed)
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
    # Numerical warnings (disconnected graphs) are logged and returned, as in run_louvain,
    # rather than printed with a source line by the warnings module.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NeurongraphWarning)
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
    notes = [str(w.message) for w in caught if issubclass(w.category, NeurongraphWarning)]
    for message in notes:
        log.warning("%s: %s", name, message)
    for other in caught:
        if not issubclass(other.category, NeurongraphWarning):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    method = f"{labels_from}-{graph}" if labels_from else SPECTRAL_METHOD[graph]
    key = None if labels_from else SPECTRAL_KEY[graph]
    puid = partition_uid(name, method)
    layer_names = [la["name"] for la in layers if int(la["position"]) in {p for p, _ in nodes}]
    positions = sorted({p for p, _ in nodes})
    node_layer = np.asarray([positions.index(p) for p, _ in nodes])
    label_values = np.asarray(result.labels)
    clusters, members = [], []
    # labels from a property need not be 0..k-1: one cluster per label present
    for c in np.unique(label_values[label_values >= 0]).tolist():
        inside = np.flatnonzero(label_values == c)
        uid = cluster_uid(name, method, c)
        clusters.append(
            {
                "uid": uid,
                "network": name,
                "partition": puid,
                "method": method,
                "label": c,
                "size": int(inside.size),
                "layerSizes": np.bincount(node_layer[inside], minlength=len(positions)).tolist(),
            }
        )
        members.append(
            {
                "cluster": uid,
                "neurons": [
                    neuron_uid(name, layers[nodes[j][0]]["name"], nodes[j][1]) for j in inside
                ],
            }
        )
    neuron_rows = (
        []
        if key is None
        else [
            {"uid": neuron_uid(name, layers[p]["name"], i), "props": {key: int(label_values[j])}}
            for j, (p, i) in enumerate(nodes)
        ]
    )
    params = {
        "graph": graph,
        "shuffleMethod": shuffle_method,
        "spectralMethod": spectral_method,
        "labelsFrom": labels_from,
    }
    partition = {
        "uid": puid,
        "network": name,
        "method": method,
        "spectralMethod": spectral_method,
        "graph": graph,
        "k": result.k,
        "ncut": float(result.ncut),
        "nShuffles": result.n_shuffles,
        "seed": seed,
        "layers": layer_names,
        "params": json.dumps(params, sort_keys=True),
        "createdAt": now(),
    }
    if result.n_shuffles:
        partition.update(
            nullMean=float(result.null_mean),
            nullStd=finite(result.null_std),
            zScore=finite(result.z_score),
            percentile=float(result.percentile),
            minPercentile=float(result.min_percentile),
            nullNcuts=[float(v) for v in result.null_ncuts],
        )
    partition = {k_: v for k_, v in partition.items() if v is not None}
    store.replace_partition(name, partition, clusters, members, key, neuron_rows)
    return {
        "network": name,
        "method": method,
        "spectralMethod": spectral_method,
        "graph": graph,
        "k": result.k,
        "ncut": float(result.ncut),
        "nullMean": partition.get("nullMean"),
        "nullStd": partition.get("nullStd"),
        "zScore": partition.get("zScore"),
        "percentile": partition.get("percentile"),
        "minPercentile": partition.get("minPercentile"),
        "clusterable": bool(result.n_shuffles) and result.percentile <= result.min_percentile,
        "nShuffles": result.n_shuffles,
        "shuffleMethod": shuffle_method,
        "clusterSizes": [c["size"] for c in clusters],
        "layers": layer_names,
        "layerSizes": [c["layerSizes"] for c in clusters],
        "seed": seed,
        "warnings": notes,
    }
