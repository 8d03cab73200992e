"""Benchmark: co-activation graph construction plus Louvain for one hidden layer.

Two layers:

* ``digits-256``: real activations. A scikit-learn ``MLPClassifier((256,), max_iter=50)`` is trained
  on the 1,797 digits (pixels / 16, seed 0); its ReLU hidden activations on the same 1,797 digits
  are the layer (float32, 1,797 x 256).
* ``synthetic-1536``: 10,000 examples of 64 standard Gaussian inputs x, and 1,536 ReLU neurons
  ``relu(w_j . x / 8 + b_j)`` in 8 planted groups of 192: neuron j's weights are its group's shared
  random direction plus 0.5 x its own Gaussian noise, b_j ~ N(0, 0.25), so neurons of one group
  fire together. The adjusted Rand index against the planted groups is reported.

Each layer is timed with the default options (``top_k='auto'``: dense up to 512 neurons, the 64
strongest edges per neuron above). The baseline, run in the same process on the same graph, is the
plain conversion ``networkx.from_scipy_sparse_array`` (NumPy scalars as weights) followed by
python-louvain's ``best_partition``; ``--dense-large`` also times the 1,536-neuron layer with every
edge kept (over two minutes).

Usage::

    python benchmarks/louvain.py [--json] [--dense-large] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import community as community_louvain
import networkx as nx
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.neural_network import MLPClassifier

from neurongraph.analysis.communities import coactivation_graph, louvain_communities
from neurongraph.analysis.firing import firing


def digits_layer(seed: int) -> tuple[np.ndarray, None]:
    digits = load_digits()
    x = digits.data / 16.0
    mlp = MLPClassifier((256,), max_iter=50, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x, digits.target)
    hidden = np.maximum(x @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0).astype(np.float32)
    return hidden, None


def synthetic_layer(
    seed: int,
    n_examples: int = 10_000,
    n_neurons: int = 1536,
    n_groups: int = 8,
    n_inputs: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    groups = np.repeat(np.arange(n_groups), n_neurons // n_groups)
    directions = rng.randn(n_groups, n_inputs)
    weights = directions[groups] + 0.5 * rng.randn(n_neurons, n_inputs)
    bias = 0.5 * rng.randn(n_neurons)
    x = rng.randn(n_examples, n_inputs)
    hidden = np.maximum(x @ weights.T / np.sqrt(n_inputs) + bias, 0.0).astype(np.float32)
    return hidden, groups


def time_ours(acts: np.ndarray, *, top_k, seed: int) -> dict:
    t0 = time.perf_counter()
    fired = firing(acts)
    adjacency = coactivation_graph(fired, top_k=top_k)
    t1 = time.perf_counter()
    labels, q = louvain_communities(adjacency, random_state=seed)
    t2 = time.perf_counter()
    return {
        "graph_s": t1 - t0,
        "louvain_s": t2 - t1,
        "total_s": t2 - t0,
        "edges": adjacency.nnz // 2,
        "modularity": q,
        "communities": int(labels.max() + 1),
        "labels": labels,
        "adjacency": adjacency,
    }


def time_baseline(adjacency, *, seed: int) -> dict:
    t0 = time.perf_counter()
    graph = nx.from_scipy_sparse_array(adjacency)
    partition = community_louvain.best_partition(
        graph, weight="weight", random_state=np.random.RandomState(seed)
    )
    q = community_louvain.modularity(partition, graph)
    t1 = time.perf_counter()
    return {"louvain_s": t1 - t0, "modularity": q, "communities": len(set(partition.values()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--dense-large", action="store_true", help="also time 1,536 neurons dense")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cases = [("digits-256", digits_layer), ("synthetic-1536", synthetic_layer)]
    rows = []
    for name, make in cases:
        acts, groups = make(args.seed)
        variants = [("auto", "auto")]
        if args.dense_large and acts.shape[1] > 512:
            variants.append(("all", None))
        for label, top_k in variants:
            ours = time_ours(acts, top_k=top_k, seed=args.seed)
            base = time_baseline(ours["adjacency"], seed=args.seed) if label == "auto" else None
            rows.append(
                {
                    "layer": name,
                    "examples": acts.shape[0],
                    "neurons": acts.shape[1],
                    "top_k": label,
                    "edges": ours["edges"],
                    "graph_s": round(ours["graph_s"], 3),
                    "louvain_s": round(ours["louvain_s"], 3),
                    "total_s": round(ours["total_s"], 3),
                    "modularity": round(ours["modularity"], 4),
                    "communities": ours["communities"],
                    "ari_planted": None
                    if groups is None
                    else round(adjusted_rand_score(groups, ours["labels"]), 4),
                    "baseline_louvain_s": None if base is None else round(base["louvain_s"], 3),
                    "baseline_modularity": None if base is None else round(base["modularity"], 4),
                }
            )

    if args.json:
        print(json.dumps({"benchmark": "louvain", "seed": args.seed, "rows": rows}))
        return
    columns = [
        ("layer", 15),
        ("examples", 8),
        ("neurons", 7),
        ("top_k", 5),
        ("edges", 8),
        ("graph_s", 7),
        ("louvain_s", 9),
        ("total_s", 7),
        ("modularity", 10),
        ("communities", 11),
        ("ari_planted", 11),
        ("baseline_louvain_s", 18),
    ]
    print("  ".join(f"{c:>{w}}" for c, w in columns))
    for row in rows:
        print("  ".join(f"{'-' if row[c] is None else row[c]!s:>{w}}" for c, w in columns))
    print(
        "baseline: networkx.from_scipy_sparse_array + community.best_partition + "
        "community.modularity on the same graph"
    )


if __name__ == "__main__":
    main()
