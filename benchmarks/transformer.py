"""Ingest and spectral analysis at transformer scale: a 6-layer, 384-wide, 1536-FFN encoder.

The model is one function. :func:`bert` saves ``transformers.BertModel(BertConfig(
hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=1536))``,
randomly initialised, as a local model directory, ingested as ``neurongraph ingest DIR``
(about 10.8 M WEIGHT edges). Should the reader refuse it, the benchmark says so in one line and
falls back to :func:`stand_in`: an eager module with the BERT encoder's layer shapes in plain
Linear layers and residual adds (per block q, k, v, o ``Linear(384, 384)``, the FFN
``Linear(384, 1536)`` -> GELU -> ``Linear(1536, 384)``; no norms). Six blocks hold 10,616,832
weights, plus 18,432 weight-1 edges into the sum layers: 10,635,264 WEIGHT edges on 30,336
neurons.

The stand-in is ingested as a user would: this file is copied into a temporary module
directory on PYTHONPATH, its weights saved as safetensors, and ``neurongraph ingest
MODULE:stand_in --weights FILE.safetensors`` runs as a separate process, timed whole (Python
start-up, imports and the JVM's start-up included). Its phases are timed from the ``-v`` log
lines the command prints on stderr, stamped as they arrive. Then ``neurongraph analyze
spectral NAME -k 12 --shuffles 20`` runs the same way. Peak memory is the sampled RSS of the
command's process tree (the JVM runs inside the Python process).

The baseline, in the same run: the bare driver's flat ``UNWIND $rows ... CREATE`` (one row per
edge, as ``benchmarks/ingest.py``'s baseline) writing the first block's value projection
(147,456 edges) into the same store, in this process; its edges/s against the command's.

    python benchmarks/transformer.py [--json] [--skip-baseline] [--skip-spectral] [--skip-bert]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from torch import nn

from neurongraph.store.autoserve import SERVE_ENV

HIDDEN = 384
INTERMEDIATE = 1536
N_BLOCKS = 6
N_HEADS = 6
#: Clusters and shuffled nulls of the spectral analysis.
K = 12
N_NULLS = 20
#: Seconds between samples of the command's memory.
SAMPLE_EVERY = 0.1
#: Name of the module the stand-in is imported from by the ingest command.
MODULE = "ng_transformer_bench"
#: Edges per transaction of the baseline (as benchmarks/ingest.py).
NAIVE_BATCH = 5_000
NAIVE_QUERY = (
    "UNWIND $rows AS r MATCH (a:Neuron {uid: r.s}) MATCH (b:Neuron {uid: r.t}) "
    "CREATE (a)-[:WEIGHT {weight: r.w, signed: r.g}]->(b)"
)
#: Phases of the ingest command, each ended by the first stderr log line matching its pattern
#: (after the previous phase's): start-up ends when the command starts loading the model.
INGEST_PHASES = (
    ("startImports", r"loading the model"),
    ("readModel", r"loaded the model"),
    ("openStore", r"started the embedded store"),
    ("readView", r"read the model's data flow|read the model as a chain"),
    ("buildGraph", r"built the graph"),
    ("writeNodes", r"wrote \d+ layers and \d+ neurons"),
    ("writeEdges", r"wrote \d+ WEIGHT edges"),
    ("activations", r"recorded activations|no activations to record"),
    ("finish", r"ingested "),
)
SPECTRAL_PHASES = (
    ("startImports", r"reading the weight graph"),
    ("readAdjacency", r"read the weight graph"),
    ("partitionAndNulls", r"writing partition"),
    ("writeResults", r"wrote partition"),
)


class Block(nn.Module):
    """One encoder block of the stand-in: attention's projections and the FFN, two residual
    adds. Without token mixing, q and k are added into the attention output so that they are
    part of the data flow."""

    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)
        self.output = nn.Linear(HIDDEN, HIDDEN)
        self.intermediate = nn.Linear(HIDDEN, INTERMEDIATE)
        self.act = nn.GELU()
        self.ffn_output = nn.Linear(INTERMEDIATE, HIDDEN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = self.output(self.value(x)) + self.query(x) + self.key(x)
        x = x + attended
        return x + self.ffn_output(self.act(self.intermediate(x)))


class StandIn(nn.Module):
    """Six blocks on a 384-wide stream."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(Block() for _ in range(N_BLOCKS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def stand_in() -> nn.Module:
    """The stand-in encoder, randomly initialised (the factory the ingest command imports)."""
    return StandIn()


def bert(directory: Path) -> Path:
    """Save a randomly initialised BERT-style encoder as a local model directory."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=HIDDEN,
        num_hidden_layers=N_BLOCKS,
        num_attention_heads=N_HEADS,
        intermediate_size=INTERMEDIATE,
    )
    BertModel(config).save_pretrained(directory)
    return directory


def weight_edges(model: nn.Module) -> int:
    """WEIGHT edges of the model's Linear layers."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


class Command:
    """A neurongraph command in its own process: wall time, stderr lines stamped as they
    arrive, stdout, and the peak RSS of its process tree."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.env = env
        self.lines: list[tuple[float, str]] = []
        self.peak_rss = 0

    def run(self) -> Command:
        import psutil

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.started = time.perf_counter()
        process = subprocess.Popen(
            self.args,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        reader = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        reader.start()
        root = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                self.peak_rss = max(self.peak_rss, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(SAMPLE_EVERY)
        self.stdout = process.stdout.read()
        self.seconds = time.perf_counter() - self.started
        reader.join()
        self.returncode = process.returncode
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_seconds = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        self.load = os.getloadavg()[0]
        return self

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append((time.perf_counter() - self.started, line.rstrip("\n")))

    def check(self) -> dict:
        if self.returncode != 0:
            tail = "\n".join(line for _, line in self.lines[-5:])
            raise SystemExit(f"{' '.join(self.args[1:4])} failed ({self.returncode}):\n{tail}")
        return json.loads(self.stdout)

    def phases(self, patterns: tuple[tuple[str, str], ...]) -> dict[str, float]:
        """Seconds of each phase, plus ``exit`` (last phase's end to the process's end)."""
        out: dict[str, float] = {}
        last, position = 0.0, 0
        for name, pattern in patterns:
            regex = re.compile(pattern)
            for j in range(position, len(self.lines)):
                if regex.search(self.lines[j][1]):
                    out[name] = round(self.lines[j][0] - last, 3)
                    last, position = self.lines[j][0], j + 1
                    break
        out["exit"] = round(self.seconds - last, 3)
        return out


def neurongraph(store: Path, *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "neurongraph"), "-v", "--store", str(store), *args]


def environment(module_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(module_dir), env.get("PYTHONPATH")]))
    # the store runs inside each command, so that its wall, CPU and peak RSS include the
    # store's work (a served store works in a background process outside the command's tree)
    env[SERVE_ENV] = "0"
    return env


def try_bert(tmp: Path, store: Path, env: dict[str, str]) -> tuple[Command | None, str]:
    """Ingest the BERT model directory; None and the reader's one-line refusal if it fails."""
    try:
        directory = bert(tmp / "bert")
    except ImportError as err:
        return None, f"transformers is not installed ({err})"
    command = Command(neurongraph(store, "ingest", str(directory), "--name", "bert", "--json"), env)
    command.run()
    if command.returncode == 0:
        return command, ""
    message = command.lines[-1][1] if command.lines else f"exit status {command.returncode}"
    return None, message


def ingest_stand_in(tmp: Path, store: Path, env: dict[str, str]) -> tuple[Command, int]:
    from safetensors.torch import save_file

    module_dir = tmp / "modules"
    module_dir.mkdir()
    shutil.copy(__file__, module_dir / f"{MODULE}.py")
    torch.manual_seed(0)
    model = stand_in()
    weights = tmp / "stand-in.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    args = ["ingest", f"{MODULE}:stand_in", "--weights", str(weights), "--name", "stand-in"]
    command = Command(neurongraph(store, *args, "--json"), environment(module_dir))
    return command.run(), weight_edges(model)


def naive(store_dir: Path) -> tuple[int, float]:
    """The baseline: the first value projection written with the flat UNWIND, in this
    process (one row per edge, NAIVE_BATCH rows a transaction, over Bolt)."""
    from neurongraph.store import open_store

    torch.manual_seed(0)
    weight = stand_in().blocks[0].value.weight.detach().double().numpy()
    out, inp = weight.shape
    with open_store(store_dir) as store:
        for layer, width in (("a", inp), ("b", out)):
            rows = [{"uid": f"naive/{layer}/{i}", "index": i} for i in range(width)]
            store.write("UNWIND $rows AS r CREATE (n:Neuron) SET n = r", {"rows": rows})
        started = time.perf_counter()
        rows = []
        for o in range(out):
            for i in range(inp):
                w = float(weight[o, i])
                rows.append({"s": f"naive/a/{i}", "t": f"naive/b/{o}", "w": abs(w), "g": w})
                if len(rows) == NAIVE_BATCH:
                    store.write(NAIVE_QUERY, {"rows": rows})
                    rows = []
        if rows:
            store.write(NAIVE_QUERY, {"rows": rows})
        return out * inp, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-spectral", action="store_true")
    parser.add_argument("--skip-bert", action="store_true", help="Go straight to the stand-in.")
    args = parser.parse_args()
    result: dict = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        store = tmp / "store"
        env = environment(tmp)
        command, refusal = (None, "skipped (--skip-bert)")
        if not args.skip_bert:
            command, refusal = try_bert(tmp, store, env)
        if command is not None:
            result["model"] = "bert"
            network = "bert"
        else:
            print(f"note: the BERT model directory was not ingested: {refusal}", file=sys.stderr)
            print("note: falling back to the stand-in encoder (plain Linears)", file=sys.stderr)
            result["model"] = "stand-in"
            result["bertRefusal"] = refusal
            command, _ = ingest_stand_in(tmp, store, env)
            network = "stand-in"
        summary = command.check()
        edges = int(summary["edges"])
        phases = command.phases(INGEST_PHASES)
        result["ingest"] = {
            "neurons": int(summary["neurons"]),
            "edges": edges,
            "seconds": round(command.seconds, 3),
            "edgesPerSecond": round(edges / command.seconds),
            "inProcessSeconds": float(summary["seconds"]),
            "inProcessEdgesPerSecond": round(edges / float(summary["seconds"])),
            "writeEdgesPerSecond": round(edges / phases["writeEdges"])
            if phases.get("writeEdges")
            else None,
            "cpuSeconds": round(command.cpu_seconds, 1),
            "peakRssMiB": round(command.peak_rss / 2**20),
            "loadAverage": command.load,
            "phases": phases,
        }
        if not args.skip_spectral:
            spectral = Command(
                neurongraph(
                    store,
                    "analyze",
                    "spectral",
                    network,
                    "-k",
                    str(K),
                    "--shuffles",
                    str(N_NULLS),
                    "--seed",
                    "0",
                    "--json",
                ),
                env,
            ).run()
            out = spectral.check()
            result["spectral"] = {
                "seconds": round(spectral.seconds, 3),
                "cpuSeconds": round(spectral.cpu_seconds, 1),
                "peakRssMiB": round(spectral.peak_rss / 2**20),
                "loadAverage": spectral.load,
                "phases": spectral.phases(SPECTRAL_PHASES),
                "ncut": out["ncut"],
                "nullMean": out["nullMean"],
                "zScore": out["zScore"],
            }
        if not args.skip_baseline:
            base_edges, seconds = naive(store)
            result["baseline"] = {
                "edges": base_edges,
                "seconds": round(seconds, 3),
                "edgesPerSecond": round(base_edges / seconds),
            }
            result["speedup"] = round(result["ingest"]["edgesPerSecond"] * seconds / base_edges, 2)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"transformer-scale ingest ({result['model']}) into the embedded store")
    for key, value in result.items():
        print(f"  {key:12s} {value}")


if __name__ == "__main__":
    main()
