"""Interactive speed: whole `neurongraph` processes, timed from start to exit, against the floor.

Medians over ``--repeats`` runs (default 5) of: ``neurongraph --help``; ``networks`` on an
embedded store as the first command (a fresh store: it starts the served process) and as a later
command while the store is served; the same with ``NEURONGRAPH_SERVE=0`` (the store started and
stopped inside the command, as before serving by default); ``cypher`` and ``query networks``
while served; ``ingest`` of the 784-256x4-10 MLP (399,872 WEIGHT edges) into the served store,
as edges/s. The floor is a bare ``neo4j`` driver query against the served store with Python's
start-up included (a ``python -c`` subprocess). Every figure is printed with its ratio to the
floor.

    python benchmarks/cli.py [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from ingest import model

from neurongraph.store.autoserve import SERVE_ENV
from neurongraph.store.embedded import ROOT_USER, find_served
from neurongraph.store.schema import DATABASE

NG = [sys.executable, "-c", "from neurongraph.cli import main; main()"]
FLOOR = """
import sys
from neo4j import GraphDatabase
with GraphDatabase.driver(sys.argv[1], auth=(sys.argv[2], sys.argv[3])) as driver:
    driver.execute_query("MATCH (n:Network) RETURN n.name AS name", database_=sys.argv[4])
"""
EDGES = 399_872


def timed(command: list[str], env: dict | None = None) -> float:
    """Seconds from starting ``command`` to its exit; it must succeed."""
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command} failed: {result.stderr.strip()}")
    return seconds


def median(runs: int, make) -> float:
    return statistics.median(make() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    served = {SERVE_ENV: "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        script = root / "mlp.pt"
        torch.jit.save(torch.jit.script(model()), str(script))
        store = root / "store"

        def first() -> float:
            fresh = root / f"fresh-{time.monotonic_ns()}"
            seconds = timed([*NG, "--store", str(fresh), "networks"], served)
            timed([*NG, "--store", str(fresh), "db", "stop"])
            return seconds

        def ingest() -> float:
            name = f"mlp-{time.monotonic_ns()}"
            return timed(
                [*NG, "--store", str(store), "ingest", str(script), "--name", name], served
            )

        figures = {"help": median(args.repeats, lambda: timed([*NG, "--help"]))}
        figures["networksFirst"] = median(args.repeats, first)
        timed([*NG, "--store", str(store), "networks"], served)  # leaves it served
        later = [*NG, "--store", str(store)]
        figures["networksServed"] = median(
            args.repeats, lambda: timed([*later, "networks"], served)
        )
        figures["cypherServed"] = median(
            args.repeats,
            lambda: timed([*later, "cypher", "MATCH (n:Network) RETURN n.name AS name"], served),
        )
        figures["queryNetworksServed"] = median(
            args.repeats, lambda: timed([*later, "query", "networks"], served)
        )
        figures["ingestServed"] = median(args.repeats, ingest)
        info = find_served(store)
        floor = [sys.executable, "-c", FLOOR, info.uri, ROOT_USER, info.password, DATABASE]
        figures["floor"] = median(args.repeats, lambda: timed(floor))
        timed([*later, "db", "stop"])
        own = root / "own"
        figures["networksInProcess"] = median(
            args.repeats, lambda: timed([*NG, "--store", str(own), "networks"], {SERVE_ENV: "0"})
        )
    result = {
        key: {"seconds": round(value, 2), "timesFloor": round(value / figures["floor"], 1)}
        for key, value in figures.items()
    }
    result["ingestServed"]["edgesPerSecond"] = round(EDGES / figures["ingestServed"])
    result["repeats"] = args.repeats
    result["loadAverage"] = [round(x, 1) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"whole neurongraph processes, medians of {args.repeats} (load {result['loadAverage']})")
    for key, value in result.items():
        if isinstance(value, dict):
            extra = f"  {value['edgesPerSecond']} edges/s" if "edgesPerSecond" in value else ""
            print(
                f"  {key:22s} {value['seconds']:7.2f} s  {value['timesFloor']:5.1f}x floor{extra}"
            )


if __name__ == "__main__":
    main()
