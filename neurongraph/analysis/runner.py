"""Analyses against the store: read what they need, call the pure functions, write results back.

Each ``run_*`` function takes a :class:`~neurongraph.store.Store` and a network name, and returns
a JSON-friendly summary. Re-running an analysis replaces its earlier results.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from neurongraph.analysis.coherence import DEFAULT_N_RANDOM as DEFAULT_COHERENCE_RANDOM
from neurongraph.analysis.coherence import DEFAULT_TOP_K, coherence
from neurongraph.analysis.communities import (
    DEFAULT_EDGE,
    DEFAULT_RESOLUTION,
    ModularityNull,
    layer_communities,
    network_modularity,
)
from neurongraph.analysis.defaults import SPECTRAL_GRAPHS, SPECTRAL_METHOD
from neurongraph.analysis.entropy import entropy_summary
from neurongraph.analysis.feature_vis import (
    DEFAULT_STEPS,
    save_examples_png,
    save_visualisation_png,
)
from neurongraph.analysis.graphs import activation_graph, weight_graph
from neurongraph.analysis.importance import (
    DEFAULT_N_RANDOM,
    IMPORTANT_P,
    importance,
    importance_unreachable,
)
from neurongraph.analysis.nulls import (
    DEFAULT_N_SHUFFLES,
    GRAPH_SHUFFLE_METHODS,
    LAYER_SHUFFLE_METHODS,
    adjacency_clusterability,
    clusterability,
    dag_clusterability,
)
from neurongraph.analysis.scoring import ScoringInputs, load_scoring_inputs
from neurongraph.analysis.spectral import DEFAULT_METHOD, DEFAULT_N_CLUSTERS
from neurongraph.errors import AnalysisError, NeurongraphWarning, arg
from neurongraph.model.recorded import activation_cache
from neurongraph.model.view import ModelView
from neurongraph.seeds import check_random_state, resolve_seed
from neurongraph.store import Store
from neurongraph.store.rows import cluster_uid, layer_uid, neuron_uid, partition_uid

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "hidden_layers",
    "run_coherence",
    "run_entropy",
    "run_importance",
    "run_louvain",
    "run_spectral",
]

log = logging.getLogger(__name__)

LOUVAIN = "louvain"
#: Neuron property keys written by each analysis.
LOUVAIN_KEY = "louvainCommunity"
_RELU = "relu"
#: Per-layer keys of a modularity null, in JSON rows and (as ``layer<Key>`` lists) on Partitions.
_NULL_KEYS = ("nullMean", "nullStd", "zScore", "percentile")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def hidden_layers(store: Store, name: str) -> list[dict]:
    """Layer property maps of the network's hidden layers (not input, not output)."""
    return store.layers(name)[1:-1]


def _relu_like(layer: dict) -> bool | None:
    return True if layer.get("activation") == _RELU else None


def run_louvain(
    store: Store,
    name: str,
    *,
    per_class: bool = False,
    edge: str = DEFAULT_EDGE,
    threshold: float | None = None,
    resolution: float = DEFAULT_RESOLUTION,
    n_shuffles: int = 0,
    seed: int | None = None,
) -> dict:
    """Louvain communities of every hidden layer's co-activation graph, written to the store.

    Writes ``louvainCommunity`` on each hidden neuron (-1 when isolated), a ``louvain``
    Partition (modularity per layer and overall; with ``n_shuffles`` > 0, as ``analyze louvain``
    asks by default (``communities.DEFAULT_N_SHUFFLES``), also each layer's null
    mean, population std, z-score and percentile against permuted firing, ``nShuffles``) and one
    Cluster per (layer, community), which carries its layer's Q, z-score and percentile.
    """
    cache = activation_cache(store, name)
    layers = hidden_layers(store, name)
    seed = resolve_seed(seed)
    labels = cache.labels()
    results = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NeurongraphWarning)
        for layer in layers:
            results.update(
                layer_communities(
                    {layer["name"]: cache.layer(int(layer["position"]))},
                    labels,
                    per_class=per_class,
                    edge=edge,
                    threshold=threshold,
                    resolution=resolution,
                    relu_like=_relu_like(layer),
                    n_shuffles=n_shuffles,
                    random_state=check_random_state(seed),
                )
            )
    skipped = [str(w.message) for w in caught if issubclass(w.category, NeurongraphWarning)]
    for message in skipped:
        log.warning(message)
    puid = partition_uid(name, LOUVAIN)
    per_layer = []
    clusters, members, neuron_rows = [], [], []
    for layer in layers:
        result = results[layer["name"]].result
        q = None if result is None else float(result.modularity)
        null = _null_row(results[layer["name"]].null)
        per_layer.append(
            {
                "layer": layer["name"],
                "modularity": q,
                "communities": 0 if result is None else result.n_communities,
                "sizes": [] if result is None else result.sizes.tolist(),
                "edges": 0 if result is None else result.n_edges,
                "skipped": result is None,
                **null,
            }
        )
        width = int(layer["width"])
        community = np.full(width, -1) if result is None else result.labels
        for index in range(width):
            neuron_rows.append(
                {
                    "uid": neuron_uid(name, layer["name"], index),
                    "props": {LOUVAIN_KEY: int(community[index])},
                }
            )
        for c in range(0 if result is None else result.n_communities):
            label = f"{layer['name']}:{c}"
            uid = cluster_uid(name, LOUVAIN, label)
            cluster = {
                "uid": uid,
                "network": name,
                "partition": puid,
                "method": LOUVAIN,
                "label": label,
                "layer": layer["name"],
                "position": int(layer["position"]),
                "community": c,
                "size": int(result.sizes[c]),
                "layerModularity": q,
                "layerZScore": null["zScore"],
                "layerPercentile": null["percentile"],
            }
            clusters.append({k: v for k, v in cluster.items() if v is not None})
            members.append(
                {
                    "cluster": uid,
                    "neurons": [
                        neuron_uid(name, layer["name"], int(i))
                        for i in np.flatnonzero(community == c)
                    ],
                }
            )
    overall = network_modularity(results)
    class_q = _class_modularity(results, layers) if per_class else {}
    params = {"edge": edge, "threshold": threshold, "resolution": resolution, "perClass": per_class}
    partition = {
        "uid": puid,
        "network": name,
        "method": LOUVAIN,
        "k": len(clusters),
        "modularity": None if np.isnan(overall) else float(overall),
        "layers": [row["layer"] for row in per_layer],
        "layerModularity": [row["modularity"] for row in per_layer],
        "nShuffles": n_shuffles,
        "seed": seed,
        "params": json.dumps(params, sort_keys=True),
        "createdAt": _now(),
    }
    if class_q:
        partition["classes"] = [int(c) for c in class_q]
        partition["classModularity"] = list(class_q.values())
    if n_shuffles:
        for key in _NULL_KEYS:
            partition[f"layer{key[0].upper()}{key[1:]}"] = [row[key] for row in per_layer]
    partition = {k: v for k, v in partition.items() if v is not None}
    store.replace_partition(name, partition, clusters, members, LOUVAIN_KEY, neuron_rows)
    return {
        "network": name,
        "method": LOUVAIN,
        "modularity": partition.get("modularity"),
        "layers": per_layer,
        "classModularity": {str(c): q for c, q in class_q.items()},
        "nShuffles": n_shuffles,
        "seed": seed,
        "params": params,
        "warnings": skipped,
    }


def _null_row(null: ModularityNull | None) -> dict:
    """A layer's Q against chance as JSON/store values (None without a null)."""
    values = (null.null_mean, null.null_std, null.z_score, null.percentile) if null else (None,) * 4
    return {
        key: None if v is None or np.isnan(v) else float(v)
        for key, v in zip(_NULL_KEYS, values, strict=True)
    }


def _class_modularity(results: dict, layers: list[dict]) -> dict:
    """Per class: the mean modularity over the layers where that class's graph was analysed."""
    by_class: dict = {}
    for layer in layers:
        for c, result in results[layer["name"]].per_class.items():
            if result is not None:
                by_class.setdefault(c, []).append(float(result.modularity))
    return {c: float(np.mean(q)) for c, q in sorted(by_class.items())}


def run_entropy(store: Store, name: str) -> dict:
    """Firing entropy per hidden neuron (``entropy``, ``classEntropy``), its means per layer
    (``entropyMean``, ``classEntropyMean`` on Layer nodes) and for the network (``entropy``,
    ``classEntropy`` on the Network node)."""
    cache = activation_cache(store, name)
    layers = hidden_layers(store, name)
    labels = cache.labels()
    summaries = {}
    for layer in layers:
        summaries.update(
            entropy_summary(
                {layer["name"]: cache.layer(int(layer["position"]))},
                labels,
                relu_like=_relu_like(layer),
            ).layers
        )
    neuron_rows, layer_rows, per_layer = [], [], []
    for layer in layers:
        summary = summaries[layer["name"]]
        for index, (h, hc) in enumerate(
            zip(summary.entropy.tolist(), summary.class_entropy.tolist(), strict=True)
        ):
            neuron_rows.append(
                {
                    "uid": neuron_uid(name, layer["name"], index),
                    "props": {"entropy": h, "classEntropy": hc},
                }
            )
        means = {"entropyMean": float(summary.mean), "classEntropyMean": float(summary.class_mean)}
        layer_rows.append({"uid": layer_uid(name, layer["name"]), "props": means})
        per_layer.append({"layer": layer["name"], **means})
    pooled = np.concatenate([summaries[layer["name"]].entropy for layer in layers])
    pooled_class = np.concatenate([summaries[layer["name"]].class_entropy for layer in layers])
    network = {"entropy": float(pooled.mean()), "classEntropy": float(pooled_class.mean())}
    store.set_neuron_properties(neuron_rows)
    store.set_layer_properties(layer_rows)
    store.set_network_properties(name, network)
    return {"network": name, **network, "layers": per_layer}


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
        "createdAt": _now(),
    }
    if result.n_shuffles:
        partition.update(
            nullMean=float(result.null_mean),
            nullStd=_finite(result.null_std),
            zScore=_finite(result.z_score),
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


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


#: Neuron properties written by the importance analysis.
IMPORTANCE_NEURON_KEYS = [
    "importance",
    "importanceDelta",
    "importanceP",
    "important",
    "importancePartition",
]


def run_importance(
    store: Store,
    name: str,
    *,
    partition: str = "spectral-weights",
    data: str | None = None,
    model: str | nn.Module | None = None,
    trust_pickle: bool = False,
    n_random: int = DEFAULT_N_RANDOM,
    double: bool = False,
    metric: str | None = None,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Lesion every (layer, cluster) group of a partition and compare with random same-size
    groups of its layer (Hod et al.'s importance), written to the store.

    Runs on chains and on any network read as a DAG (a lesion silences units of any hidden
    layer, ``sum`` layers included). ``metric`` (see
    :func:`~neurongraph.analysis.importance.importance`): accuracy, or ``output-change`` (DAGs;
    the default when the dataset has no classification labels), where every delta below is
    minus the relative change of the output (a fraction).

    On each Cluster: per tested layer part ``importanceLayers``, ``importanceLayerDelta``
    (accuracy change, a fraction), ``importanceLayerP``, ``importanceLayerImportant``,
    ``importanceLayerRandomDeltas`` (the ``n_random`` random-group deltas of each part, part after
    part, in one flat list: graph properties hold no nested lists); and for its
    most significant part ``importanceDelta``, ``importanceP``, ``important``,
    ``importanceClassDeltas``. On the Partition: ``importanceFisherP`` and the run's settings.
    On each hidden Neuron: its own single-neuron lesion ``importance`` (accuracy lost, a fraction)
    and its group's ``importanceDelta``, ``importanceP``, ``important``. With ``double``,
    ``INTERACTS {delta, interaction, p}`` edges between clusters. ``notes`` says when
    ``n_random`` is too small for any group to be important. ``model`` and ``data`` as in
    :func:`~neurongraph.analysis.scoring.load_scoring_inputs` (an ``nn.Module`` runs as is).
    """
    if n_random < 1:
        raise AnalysisError(f"{arg('n_random')} must be at least 1")
    unreachable = importance_unreachable(n_random)
    seed = resolve_seed(seed)
    inputs = load_scoring_inputs(
        store, name, partition, data=data, model=model, trust_pickle=trust_pickle
    )
    dataset = inputs.dataset
    result = importance(
        inputs.model,
        inputs.groups,
        (dataset.X_test, dataset.y_test),
        n_random=n_random,
        random_state=seed,
        double=double,
        tasks=dataset.tasks,
        metric=metric,
        progress=progress,
    )
    by_cluster: dict = {}
    for g in result.groups:
        by_cluster.setdefault(g.label, []).append(g)
    cluster_rows = []
    for label, parts in by_cluster.items():
        best = min(parts, key=lambda g: (g.p, g.delta))
        cluster_rows.append(
            {
                "uid": inputs.cluster_uids[label],
                "props": {
                    "importanceLayers": [inputs.layer_name(g.layer) for g in parts],
                    "importanceLayerDelta": [float(g.delta) for g in parts],
                    "importanceLayerP": [float(g.p) for g in parts],
                    "importanceLayerImportant": [bool(g.important) for g in parts],
                    "importanceLayerRandomDeltas": [
                        float(v) for g in parts for v in g.random_deltas
                    ],
                    "importanceDelta": float(best.delta),
                    "importanceP": float(best.p),
                    "important": any(bool(g.important) for g in parts),
                    "importanceClassDeltas": [float(v) for v in best.class_deltas],
                },
            }
        )
    neuron_rows = {}
    for position, single in result.neurons.items():
        for index, value in enumerate(single.importance.tolist()):
            neuron_rows[(position, index)] = {
                "importance": float(value),
                "importancePartition": partition,
            }
    for g in result.groups:
        for index in g.units.tolist():
            neuron_rows.setdefault((g.layer, index), {"importancePartition": partition}).update(
                importanceDelta=float(g.delta),
                importanceP=float(g.p),
                important=bool(g.important),
            )
    store.set_cluster_properties(cluster_rows)
    store.replace_neuron_properties(
        name,
        IMPORTANCE_NEURON_KEYS,
        [
            {"uid": neuron_uid(name, inputs.layer_name(p), i), "props": props}
            for (p, i), props in neuron_rows.items()
        ],
    )
    store.set_partition_properties(
        inputs.partition_uid,
        {
            "importanceFisherP": _finite(result.fisher_p),
            "importanceRandomSets": n_random,
            "importanceSeed": seed,
            "importanceDataset": dataset.name,
            "importanceMetric": result.metric,
            "importanceBaseline": float(result.baseline_accuracy),
            "importanceSkipped": [
                f"{inputs.layer_name(s.layer)}:{s.label}" for s in result.skipped
            ],
        },
    )
    pairs = [
        {
            "first": _group_name(inputs, result.groups[pair.first]),
            "second": _group_name(inputs, result.groups[pair.second]),
            "delta": float(pair.delta),
            "interaction": float(pair.interaction),
            "p": float(pair.p),
        }
        for pair in result.pairs
    ]
    if double:
        store.replace_interactions(
            inputs.partition_uid,
            [
                {
                    "a": inputs.cluster_uids[result.groups[pair.first].label],
                    "b": inputs.cluster_uids[result.groups[pair.second].label],
                    "props": {
                        "delta": float(pair.delta),
                        "interaction": float(pair.interaction),
                        "p": float(pair.p),
                        "firstLayer": inputs.layer_name(result.groups[pair.first].layer),
                        "secondLayer": inputs.layer_name(result.groups[pair.second].layer),
                    },
                }
                for pair in result.pairs
            ],
        )
    return {
        "network": name,
        "partition": partition,
        "dataset": dataset.name,
        "metric": result.metric,
        "baselineAccuracy": float(result.baseline_accuracy),
        "fisherP": _finite(result.fisher_p),
        "randomSets": n_random,
        "minP": 1.0 / (n_random + 1),
        "importantP": IMPORTANT_P,
        "notes": [unreachable] if unreachable else [],
        "seed": seed,
        "groups": [
            {
                "layer": inputs.layer_name(g.layer),
                "cluster": g.label,
                "size": g.size,
                "delta": float(g.delta),
                "p": float(g.p),
                "important": bool(g.important),
                "taskDeltas": dict(zip(result.tasks, map(float, g.task_deltas), strict=True)),
            }
            for g in result.groups
        ],
        "skipped": _skipped_rows(inputs, result.skipped),
        "pairs": pairs,
        "lesions": result.n_lesions,
    }


def _skipped_rows(inputs: ScoringInputs, skipped: list) -> list[dict]:
    """Groups an analysis did not test, and why."""
    return [
        {
            "layer": inputs.layer_name(s.layer),
            "cluster": s.label,
            "size": s.size,
            "reason": s.reason,
        }
        for s in skipped
    ]


def _group_name(inputs: ScoringInputs, group) -> str:
    return f"{inputs.layer_name(group.layer)}:{group.label}"


#: Neuron properties copied down from their cluster by the coherence analysis.
COHERENCE_NEURON_KEYS = [
    "visObjectiveP",
    "visEntropyP",
    "exampleEntropyP",
    "classConsistency",
    "coherencePartition",
]


def _fisher_key(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest) + "FisherP"


def run_coherence(
    store: Store,
    name: str,
    *,
    partition: str = "spectral-weights",
    data: str | None = None,
    model: str | nn.Module | None = None,
    trust_pickle: bool = False,
    n_random: int = DEFAULT_COHERENCE_RANDOM,
    steps: int = DEFAULT_STEPS,
    parameterisation: str = "pixel",
    jitter: int = 0,
    image_shape: tuple[int, ...] | None = None,
    top_k: int = DEFAULT_TOP_K,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Coherence of every (layer, cluster) group of a partition against random same-size groups
    (Hod et al.): feature visualisation, dataset examples and class selectivity.

    On each Cluster (for its most coherent layer part, named by ``coherenceLayer``):
    ``visObjective``, ``visEntropy``, ``visObjectiveP``, ``visEntropyP``, ``visPath`` (a PNG in
    the store's files, recorded relative to them),
    ``exampleEntropy``, ``exampleEntropyP``, ``exampleIndices``, ``exampleClasses`` (their
    classes, single-task datasets), ``classConsistency``, ``classConsistencyP`` (and
    ``exampleTexts``, the first :data:`EXAMPLE_TEXTS` of them, when the dataset shows its
    examples as texts, else ``examplesPath``, a PNG of the first :data:`EXAMPLE_IMAGES`);
    ``visPaths``, every PNG the cluster owns (each part's visualisation and the examples);
    copied to member neurons with ``selectivity`` and ``preferredClass``; Fisher-combined p per
    score and ``coherenceNotes`` (what was skipped and why) on the Partition.

    Any network runs: a chain, or the view of a residual/DAG network. A network of token ids
    gets no feature visualisation (a note says why) and no PNGs. ``model`` and ``data`` as in
    :func:`~neurongraph.analysis.scoring.load_scoring_inputs` (an ``nn.Module`` runs as is).
    """
    if steps < 1:
        raise AnalysisError(f"{arg('steps')} must be at least 1")
    if n_random < 1:
        raise AnalysisError(f"{arg('n_random')} must be at least 1")
    seed = resolve_seed(seed)
    inputs = load_scoring_inputs(
        store, name, partition, data=data, model=model, trust_pickle=trust_pickle
    )
    dataset = inputs.dataset
    tokens = isinstance(inputs.model, ModelView) and inputs.model.tokens
    shape = (
        image_shape
        or dataset.image_shape
        or (tuple(inputs.model.input_shape) if len(inputs.model.input_shape) == 3 else None)
    )
    if shape is None and not tokens:
        raise AnalysisError(
            f"the image shape of network {name!r}'s input is unknown (dataset "
            f"{dataset.name!r} has no image layout); pass {arg('image_shape')} C,H,W"
        )
    X = np.concatenate([dataset.X_train, dataset.X_test])
    y = np.concatenate([dataset.y_train, dataset.y_test])
    result = coherence(
        inputs.model,
        inputs.groups,
        (X, y),
        n_random=n_random,
        random_state=seed,
        tasks=dataset.tasks,
        steps=steps,
        parameterisation=parameterisation,
        image_shape=shape,
        jitter=jitter,
        top_k=top_k,
        progress=progress,
    )
    store.files.remove_visualisations(name, partition)
    out_dir = store.files.visualisations(name, partition)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_cluster: dict = {}
    for g in result.groups:
        by_cluster.setdefault(g.label, []).append(g)
    cluster_rows, copied, groups_out = [], {}, []
    for label, parts in by_cluster.items():
        paths = []
        for g in parts:
            path = out_dir / f"{label}-{inputs.layer_name(g.layer)}.png"
            if g.vis_input is not None:
                save_visualisation_png(g.vis_input, path, shape)
                paths.append(store.files.relative(path))
            groups_out.append(
                _coherence_row(inputs, g, str(path) if g.vis_input is not None else None)
            )
        best = min(parts, key=lambda g: (g.example_entropy_p, -g.size))
        row = _coherence_row(inputs, best, paths[parts.index(best)] if paths else None)
        row["exampleClasses"] = _example_classes(y, best.example_indices)
        if shape is not None and not tokens:
            examples = out_dir / f"{label}-{row['layer']}-examples.png"
            save_examples_png(X[best.example_indices[:EXAMPLE_IMAGES]], examples, shape)
            row["examplesPath"] = store.files.relative(examples)
        owned = paths + ([row["examplesPath"]] if "examplesPath" in row else [])
        cluster_rows.append(
            {
                "uid": inputs.cluster_uids[label],
                "props": {
                    "coherenceLayer": row["layer"],
                    **{k: v for k, v in row.items() if k not in ("layer", "cluster", "size")},
                    "visPaths": owned,
                },
            }
        )
        for g in parts:
            for index in g.units.tolist():
                copied[(g.layer, index)] = {
                    "visObjectiveP": _finite(g.vis_objective_p),
                    "visEntropyP": _finite(g.vis_entropy_p),
                    "exampleEntropyP": _finite(g.example_entropy_p),
                    "classConsistency": _finite(g.class_consistency),
                    "coherencePartition": partition,
                }
    for position, sel in result.neurons.items():
        for index in range(len(sel.selectivity)):
            copied.setdefault((position, index), {}).update(
                selectivity=float(sel.selectivity[index]),
                preferredClass=int(sel.preferred_class[index]),
            )
    store.set_cluster_properties(
        [
            {"uid": r["uid"], "props": {k: v for k, v in r["props"].items() if v is not None}}
            for r in cluster_rows
        ]
    )
    store.replace_neuron_properties(
        name,
        COHERENCE_NEURON_KEYS,
        [
            {
                "uid": neuron_uid(name, inputs.layer_name(p), i),
                "props": {k: v for k, v in props.items() if v is not None},
            }
            for (p, i), props in copied.items()
        ],
    )
    fisher = {_fisher_key(k): _finite(v) for k, v in result.fisher_p.items()}
    store.set_partition_properties(
        inputs.partition_uid,
        {
            **{k: v for k, v in fisher.items() if v is not None},
            "coherenceRandomSets": n_random,
            "coherenceSeed": seed,
            "coherenceSteps": steps,
            "coherenceDataset": dataset.name,
            "coherenceNotes": result.notes,
        },
    )
    return {
        "network": name,
        "partition": partition,
        "dataset": dataset.name,
        "randomSets": n_random,
        "steps": steps,
        "seed": seed,
        "fisherP": fisher,
        "groups": groups_out,
        "skipped": _skipped_rows(inputs, result.skipped),
        "visualisations": str(out_dir),
        "notes": result.notes,
    }


#: Texts of a group's most activating examples kept on its Cluster (``exampleTexts``).
EXAMPLE_TEXTS = 10
#: Images of a group's most activating examples drawn for its Cluster (``examplesPath``).
EXAMPLE_IMAGES = 8


def _example_classes(y: np.ndarray, indices: np.ndarray) -> list[int] | None:
    """The classes of the examples at ``indices`` of a single-task dataset, else None."""
    return [int(v) for v in y[indices]] if y.ndim == 1 else None


def _coherence_row(inputs: ScoringInputs, g, path: str | None) -> dict:
    texts = inputs.dataset.texts
    shown = (
        {"exampleTexts": [str(s) for s in np.concatenate(texts)[g.example_indices[:EXAMPLE_TEXTS]]]}
        if texts is not None
        else {}
    )
    return {
        "layer": inputs.layer_name(g.layer),
        "cluster": g.label,
        "size": g.size,
        "visObjective": _finite(g.vis_objective),
        "visEntropy": _finite(g.vis_entropy),
        "visObjectiveP": _finite(g.vis_objective_p),
        "visEntropyP": _finite(g.vis_entropy_p),
        "visPath": path,
        "exampleEntropy": _finite(g.example_entropy),
        "exampleEntropyP": _finite(g.example_entropy_p),
        "exampleIndices": [int(i) for i in g.example_indices],
        "classConsistency": _finite(g.class_consistency),
        "classConsistencyP": _finite(g.class_consistency_p),
        **shown,
    }
