"""Ingest speed: a 784-256-256-256-256-10 MLP (~400k WEIGHT edges) into the embedded store.

Ours (``ingest_model``: ArcadeDB's bulk importer on a store this process owns) against the
naive path in the same run: one ``UNWIND $rows ... CREATE`` row per edge, 5,000 rows a
transaction, over Bolt. The first ingest in a process runs on a cold JVM and is reported apart
from the median of the others. Prints edges/s, the ratio, and this process's peak memory
(which includes the embedded JVM).

    python benchmarks/ingest.py [--json] [--repeats N] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time

import torch
from torch import nn

from neurongraph.ingest import ingest_model
from neurongraph.ingest.graph import network_graph
from neurongraph.model.extract import extract_chain
from neurongraph.store import open_store
from neurongraph.store.autoserve import SERVE_ENV
from neurongraph.store.rows import layer_rows, neuron_rows, neuron_uid

WIDTHS = (784, 256, 256, 256, 256, 10)
NAIVE_BATCH = 5_000
NAIVE_QUERY = (
    "UNWIND $rows AS r MATCH (a:Neuron {uid: r.s}) MATCH (b:Neuron {uid: r.t}) "
    "CREATE (a)-[:WEIGHT {weight: r.w, signed: r.g}]->(b)"
)


def model() -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    layers: list[nn.Module] = []
    for a, b in zip(WIDTHS[:-1], WIDTHS[1:], strict=True):
        layer = nn.Linear(a, b)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(b, a, generator=gen) / a**0.5)
        layers += [layer, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def naive(store, net: nn.Module) -> tuple[int, float]:
    """The baseline: flat UNWIND, one row per edge."""
    name = "naive"
    graph = network_graph(extract_chain(net, torch.zeros(2, WIDTHS[0])))
    store.write("CREATE (n:Network {name: $name, status: 'partial'})", {"name": name})
    store.write(
        "MATCH (net:Network {name: $name}) UNWIND $rows AS r "
        "CREATE (net)-[:HAS_LAYER]->(l:Layer) SET l += r",
        {"name": name, "rows": layer_rows(name, graph)},
    )
    for layer, rows in neuron_rows(name, graph):
        store.write(
            "MATCH (l:Layer {uid: $layer}) UNWIND $rows AS r "
            "CREATE (l)-[:HAS_NEURON]->(n:Neuron) SET n += r",
            {"layer": layer, "rows": rows},
        )
    started = time.perf_counter()
    rows = []
    for block in graph.blocks:
        src, dst = graph.layers[block.source].name, graph.layers[block.source + 1].name
        for o, i in zip(*block.weight.nonzero(), strict=True):
            rows.append(
                {
                    "s": neuron_uid(name, src, int(i)),
                    "t": neuron_uid(name, dst, int(o)),
                    "w": float(block.weight[o, i]),
                    "g": float(block.signed[o, i]),
                }
            )
            if len(rows) == NAIVE_BATCH:
                store.write(NAIVE_QUERY, {"rows": rows})
                rows = []
    if rows:
        store.write(NAIVE_QUERY, {"rows": rows})
    return graph.n_edges, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="Ingests of the same model; the first (cold JVM) is reported apart from the rest.",
    )
    args = parser.parse_args()
    os.environ[SERVE_ENV] = "0"  # the importer in this process, not in a served one
    net = model()
    with tempfile.TemporaryDirectory() as tmp, open_store(tmp + "/store") as store:
        runs = [
            ingest_model(store, net, f"mlp784-{i}", torch.zeros(2, WIDTHS[0]))
            for i in range(args.repeats)
        ]
        summary = runs[0]
        assert store.count_network("mlp784-0")["edges"] == summary.edges
        warm = sorted(r.seconds for r in runs[1:]) or [summary.seconds]
        ours = summary.edges / warm[len(warm) // 2]
        result = {
            "edges": summary.edges,
            "coldSeconds": summary.seconds,
            "coldEdgesPerSecond": round(summary.edges / summary.seconds),
            "warmSecondsMedian": warm[len(warm) // 2],
            "edgesPerSecond": round(ours),
            "peakMemoryMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
        if not args.skip_baseline:
            edges, seconds = naive(store, net)
            result.update(
                baselineSeconds=round(seconds, 3),
                baselineEdgesPerSecond=round(edges / seconds),
                speedup=round(ours / (edges / seconds), 2),
            )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("ingest 784-256x4-10 MLP into the embedded store")
    for key, value in result.items():
        print(f"  {key:24s} {value}")


if __name__ == "__main__":
    main()
