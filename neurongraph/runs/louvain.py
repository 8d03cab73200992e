"""``analyze louvain`` against the store: Louvain communities of each hidden layer."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np

from neurongraph.analysis.communities import (
    DEFAULT_EDGE,
    DEFAULT_RESOLUTION,
    ModularityNull,
    layer_communities,
    network_modularity,
)
from neurongraph.errors import NeurongraphWarning
from neurongraph.model.recorded import activation_cache
from neurongraph.runs.common import hidden_layers, now, relu_like
from neurongraph.seeds import check_random_state, resolve_seed
from neurongraph.store import Store
from neurongraph.store.rows import cluster_uid, neuron_uid, partition_uid

__all__ = ["LOUVAIN", "LOUVAIN_KEY", "run_louvain"]

log = logging.getLogger(__name__)

LOUVAIN = "louvain"
#: Neuron property keys written by each analysis.
LOUVAIN_KEY = "louvainCommunity"
#: Per-layer keys of a modularity null, in JSON rows and (as ``layer<Key>`` lists) on Partitions.
_NULL_KEYS = ("nullMean", "nullStd", "zScore", "percentile")


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
                    relu_like=relu_like(layer),
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
        "createdAt": now(),
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
