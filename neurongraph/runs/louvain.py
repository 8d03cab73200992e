"""``analyze louvain`` against the store: Louvain communities of each hidden layer."""

from __future__ import annotations

import json
import logging

import numpy as np

from neurongraph.analysis.communities import (
    DEFAULT_EDGE,
    DEFAULT_N_SHUFFLES,
    DEFAULT_RESOLUTION,
    ModularityNull,
    layer_communities,
    network_modularity,
)
from neurongraph.model.recorded import activation_cache
from neurongraph.runs.common import hidden_layers, logged_warnings, now, relu_like
from neurongraph.runs.results import LouvainResult, finite
from neurongraph.seeds import check_random_state, resolve_seed
from neurongraph.store import Store
from neurongraph.store.rows import PartitionCluster

__all__ = ["LOUVAIN", "LOUVAIN_KEY", "NULL_KEYS", "run_louvain"]

log = logging.getLogger(__name__)

LOUVAIN = "louvain"
#: Neuron property keys written by each analysis.
LOUVAIN_KEY = "louvainCommunity"
#: Per-layer keys of a modularity null, in JSON rows and (as ``layer<Key>`` lists) on Partitions.
NULL_KEYS = ("nullMean", "nullStd", "zScore", "percentile")


def run_louvain(
    store: Store,
    name: str,
    *,
    per_class: bool = False,
    edge: str = DEFAULT_EDGE,
    threshold: float | None = None,
    resolution: float = DEFAULT_RESOLUTION,
    n_shuffles: int = DEFAULT_N_SHUFFLES,
    random_state: int | None = None,
) -> LouvainResult:
    """Louvain communities of every hidden layer's co-activation graph, written to the store.

    Writes ``louvainCommunity`` on each hidden neuron (-1 when isolated), a ``louvain``
    Partition (modularity per layer and overall; with ``n_shuffles`` > 0, the default
    (``communities.DEFAULT_N_SHUFFLES``), also each layer's null mean, population std, z-score
    and percentile against permuted firing, ``nShuffles``) and one Cluster per (layer,
    community), which carries its layer's Q, z-score and percentile.

    Parameters
    ----------
    store : Store
    name : str
        A network with recorded activations (``ingest(..., data=...)``).
    per_class : bool, default=False
        Also find communities per class.
    edge : {'jaccard', 'correlation'}, default='jaccard'
        Co-activation edge weight.
    threshold : float, optional
        Drop edges weaker than this.
    resolution : float, default=1.0
        Louvain's resolution.
    n_shuffles : int, default=20
        Null graphs per layer; 0 skips the null.
    random_state : int, optional
        Seed; None draws one, logs it and records it.

    Returns
    -------
    LouvainResult
        Q per layer, its null, the communities.
    """
    cache = activation_cache(store, name)
    layers = hidden_layers(store, name)
    seed = resolve_seed(random_state)
    labels = cache.labels()
    results = {}
    with logged_warnings() as notes:
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
    found = [results[layer["name"]].result for layer in layers]
    nulls = [_null_values(results[layer["name"]].null) for layer in layers]
    louvain = LouvainResult(
        network=name,
        method=LOUVAIN,
        modularity=float(network_modularity(results)),
        n_shuffles=n_shuffles,
        seed=seed,
        layers=tuple(layer["name"] for layer in layers),
        layer_modularity=np.asarray(
            [np.nan if r is None else float(r.modularity) for r in found], dtype=float
        ),
        communities=np.asarray([0 if r is None else r.n_communities for r in found], dtype=int),
        sizes=tuple(() if r is None else tuple(r.sizes.tolist()) for r in found),
        edges=np.asarray([0 if r is None else r.n_edges for r in found], dtype=int),
        skipped=np.asarray([r is None for r in found], dtype=bool),
        null_means=np.asarray([v[0] for v in nulls], dtype=float),
        null_stds=np.asarray([v[1] for v in nulls], dtype=float),
        z_scores=np.asarray([v[2] for v in nulls], dtype=float),
        percentiles=np.asarray([v[3] for v in nulls], dtype=float),
        class_modularity=_class_modularity(results, layers) if per_class else {},
        params={
            "edge": edge,
            "threshold": threshold,
            "resolution": resolution,
            "perClass": per_class,
        },
        warnings=tuple(notes),
    )
    clusters, communities = _clusters(layers, found, louvain)
    store.write_partition(
        name, LOUVAIN, _partition_props(louvain, len(clusters)), clusters, LOUVAIN_KEY, communities
    )
    return louvain


def _clusters(
    layers: list[dict], found: list, louvain: LouvainResult
) -> tuple[list[PartitionCluster], dict[tuple[str, int], int]]:
    """One cluster per (layer, community) with its layer's Q, z-score and percentile, and
    each hidden neuron's community (-1 when isolated or its layer was skipped)."""
    clusters, communities = [], {}
    for j, (layer, result) in enumerate(zip(layers, found, strict=True)):
        width = int(layer["width"])
        community = np.full(width, -1) if result is None else result.labels
        communities.update(
            {(layer["name"], index): int(community[index]) for index in range(width)}
        )
        for c in range(louvain.communities[j]):
            clusters.append(
                PartitionCluster(
                    f"{layer['name']}:{c}",
                    [(layer["name"], int(i)) for i in np.flatnonzero(community == c)],
                    {
                        "layer": layer["name"],
                        "position": int(layer["position"]),
                        "community": c,
                        "size": int(result.sizes[c]),
                        "layerModularity": finite(louvain.layer_modularity[j]),
                        "layerZScore": finite(louvain.z_scores[j]),
                        "layerPercentile": finite(louvain.percentiles[j]),
                    },
                )
            )
    return clusters, communities


def _partition_props(result: LouvainResult, k: int) -> dict:
    """The Partition properties of a Louvain result with ``k`` clusters in all."""
    props = {
        "k": k,
        "modularity": finite(result.modularity),
        "layers": list(result.layers),
        "layerModularity": [finite(q) for q in result.layer_modularity],
        "nShuffles": result.n_shuffles,
        "seed": result.seed,
        "params": json.dumps(result.params, sort_keys=True),
        "createdAt": now(),
    }
    if result.class_modularity:
        props["classes"] = [int(c) for c in result.class_modularity]
        props["classModularity"] = list(result.class_modularity.values())
    if result.n_shuffles:
        for key, values in zip(
            NULL_KEYS,
            (result.null_means, result.null_stds, result.z_scores, result.percentiles),
            strict=True,
        ):
            props[f"layer{key[0].upper()}{key[1:]}"] = [finite(v) for v in values]
    return props


def _null_values(null: ModularityNull | None) -> tuple[float, float, float, float]:
    """A layer's null mean, std, z-score and percentile (NaN without a null)."""
    if null is None:
        return (np.nan,) * 4
    return (null.null_mean, null.null_std, null.z_score, null.percentile)


def _class_modularity(results: dict, layers: list[dict]) -> dict:
    """Per class: the mean modularity over the layers where that class's graph was analysed."""
    by_class: dict = {}
    for layer in layers:
        for c, result in results[layer["name"]].per_class.items():
            if result is not None:
                by_class.setdefault(c, []).append(float(result.modularity))
    return {c: float(np.mean(q)) for c, q in sorted(by_class.items())}
