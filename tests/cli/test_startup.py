"""What a command loads: ``--help`` and the store commands never import the numerical stack.

Each check runs the real command in a fresh Python process and asserts on the modules that
process loaded (never on how long it took: the times are in ``benchmarks/``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import torch
from torch import nn

from neurongraph.cli import cli
from neurongraph.ingest import ingest_model
from neurongraph.store import open_store

#: Libraries that take seconds to import; help and store commands must not load them.
HEAVY = {"torch", "scipy", "sklearn", "matplotlib"}
#: What help does not need either: the store's driver, its JVM bridge and numpy.
STORE_STACK = {"neo4j", "jpype", "arcadedb_embedded", "numpy"}
#: A process that never starts would hang the test; this is long for a start under load.
TIMEOUT = 300

#: Runs ``neurongraph ARGS`` (each JSON list of arguments in argv is one invocation) in this
#: process, then prints the invocations' outputs and the top-level modules loaded, as JSON.
_RUN = """
import contextlib, io, json, sys
from neurongraph.cli import cli
outputs = []
for args in map(json.loads, sys.argv[1:]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(args=args, prog_name="neurongraph", standalone_mode=False)
    outputs.append({"args": args, "code": code, "stdout": out.getvalue()})
modules = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"outputs": outputs, "modules": modules}))
"""


def run(*invocations: list[str], cwd: Path) -> dict:
    """Run the invocations in one fresh process; its outputs and loaded modules."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_RUN), *map(json.dumps, invocations)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        env={**os.environ, "NEURONGRAPH_SERVE": "0"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``group``, as argument paths."""
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


def test_help_of_every_command_imports_no_heavy_library(tmp_path):
    paths = command_paths(cli)
    assert {("analyze", "spectral"), ("ingest",), ("networks",), ("db", "status")} <= set(paths)
    result = run(["--help"], *([*path, "--help"] for path in paths), cwd=tmp_path)
    for output in result["outputs"]:
        assert output["code"] == 0, output
        assert output["stdout"].startswith("Usage: neurongraph"), output
    assert len(result["outputs"]) == len(paths) + 1
    loaded = (HEAVY | STORE_STACK) & set(result["modules"])
    assert not loaded, sorted(loaded)


def test_store_commands_import_no_heavy_library(tmp_path):
    directory = tmp_path / "store"
    with open_store(directory) as store:
        model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
        ingest_model(store, model, "tiny", torch.zeros(2, 8))
    base = ["--store", str(directory)]
    result = run([*base, "networks"], [*base, "query", "networks", "--json"], cwd=tmp_path)
    listed, queried = result["outputs"]
    assert "tiny" in listed["stdout"] and "complete" in listed["stdout"]
    assert [row["network"] for row in json.loads(queried["stdout"])["rows"]] == ["tiny"]
    assert not HEAVY & set(result["modules"]), sorted(HEAVY & set(result["modules"]))


def test_a_torch_command_still_sets_torch_up_with_threads(tmp_path):
    out = tmp_path / "m.pt"
    args = ["--threads", "3", "train", "--arch", "64-8-10", "--data", "digits", "--epochs", "1"]
    code = _RUN + "import torch; print(torch.get_num_threads())\n"
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps([*args, "--out", str(out), "--json"])],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    *_, summary, threads = result.stdout.splitlines()
    assert int(threads) == 3
    assert json.loads(json.loads(summary)["outputs"][0]["stdout"])["epochs"] == 1
    assert out.exists()
