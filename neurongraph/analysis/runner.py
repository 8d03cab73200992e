"""Analyses against the store: read what they need, call the pure functions, write results back.

Each ``run_*`` function takes a :class:`~neurongraph.store.Store` and a network name, and returns
a JSON-friendly summary. Re-running an analysis replaces its earlier results.
"""

from __future__ import annotations

import json
import logging
import warnings
from datetime import UTC, datetime

import numpy as np
from sklearn.utils import check_random_state

from neurongraph.analysis.communities import (
    DEFAULT_EDGE,
    DEFAULT_RESOLUTION,
    layer_communities,
    network_modularity,
)
from neurongraph.analysis.entropy import entropy_summary
from neurongraph.errors import NeurongraphWarning
from neurongraph.ingest.pipeline import activation_cache
from neurongraph.store import Store
from neurongraph.store.rows import cluster_uid, layer_uid, neuron_uid, partition_uid

__all__ = ["hidden_layers", "resolve_seed", "run_entropy", "run_louvain"]

log = logging.getLogger(__name__)

#: Upper bound of seeds drawn when the user gives none.
SEED_BOUND = 2**31 - 1
LOUVAIN = "louvain"
#: Neuron property keys written by each analysis.
LOUVAIN_KEY = "louvainCommunity"
_RELU = "relu"


def resolve_seed(seed: int | None) -> int:
    """The seed to use and record: ``seed``, or one drawn (and logged) when it is None."""
    if seed is None:
        seed = int(check_random_state(None).randint(SEED_BOUND))
        log.warning("no --seed given; using %d", seed)
    return int(seed)


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
    seed: int | None = None,
) -> dict:
    """Louvain communities of every hidden layer's co-activation graph, written to the store.

    Writes ``louvainCommunity`` on each hidden neuron (-1 when isolated), a ``louvain``
    Partition (modularity per layer and overall) and one Cluster per (layer, community).
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
        per_layer.append(
            {
                "layer": layer["name"],
                "modularity": q,
                "communities": 0 if result is None else result.n_communities,
                "sizes": [] if result is None else result.sizes.tolist(),
                "edges": 0 if result is None else result.n_edges,
                "skipped": result is None,
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
            clusters.append(
                {
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
                }
            )
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
        "seed": seed,
        "params": json.dumps(params, sort_keys=True),
        "createdAt": _now(),
    }
    if class_q:
        partition["classes"] = [int(c) for c in class_q]
        partition["classModularity"] = list(class_q.values())
    partition = {k: v for k, v in partition.items() if v is not None}
    store.replace_partition(name, partition, clusters, members, LOUVAIN_KEY, neuron_rows)
    return {
        "network": name,
        "method": LOUVAIN,
        "modularity": partition.get("modularity"),
        "layers": per_layer,
        "classModularity": {str(c): q for c, q in class_q.items()},
        "seed": seed,
        "params": params,
        "warnings": skipped,
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
