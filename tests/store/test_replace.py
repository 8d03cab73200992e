"""`ingest --replace` is all or nothing: at every instant the store holds the old complete network
or the new complete one, also when the process is killed, and refused input changes nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import torch
from test_store import ng
from torch import nn

from neurongraph.errors import StoreError
from neurongraph.ingest import ingest_model
from neurongraph.ingest.graph import network_graph
from neurongraph.model.extract import extract_chain
from neurongraph.store import open_store
from neurongraph.store.files import FILES_DIR

OLD_WIDTH, NEW_WIDTH = 96, 384


def mlp(width: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10),
    )  # fmt: skip


def neurons(width: int) -> int:
    return 64 + 3 * width + 10


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    paths = {}
    for kind, width, seed in (("old", OLD_WIDTH, 0), ("new", NEW_WIDTH, 1)):
        paths[kind] = directory / f"{kind}.pt"
        torch.jit.save(torch.jit.script(mlp(width, seed)), str(paths[kind]))
    two_outputs = directory / "two.pt"
    torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(64, 8), nn.Linear(8, 2))), two_outputs)
    paths["two-outputs"] = two_outputs
    return paths


def old_store(directory, models) -> None:
    """A store with the old network complete, with activations and a Louvain partition."""
    ng(directory, "ingest", models["old"], "--name", "net", "--data", "digits")
    ng(directory, "analyze", "louvain", "net", "--shuffles", "0")


def state(directory) -> dict:
    """What the store holds under the name, checked for completeness."""
    with open_store(directory) as store:
        visible = store.networks()
        assert [(n["name"], n["status"]) for n in visible] == [("net", "complete")]
        network = visible[0]
        counted = store.count_network("net")
        assert counted == {"neurons": network["nNeurons"], "edges": network["nEdges"]}
        clusters = store.read(
            "MATCH (:Partition {network: 'net'})-[:HAS_CLUSTER]->(c:Cluster) RETURN count(c) AS c"
        )[0]["c"]
        members = store.read(
            "MATCH (n:Neuron {network: 'net'}) WHERE n.louvainCommunity IS NOT NULL "
            "RETURN count(n) AS c"
        )[0]["c"]
        correlates = store.read(
            "MATCH (:Neuron {network: 'net'})-[c:CORRELATES]->() RETURN count(c) AS c"
        )[0]["c"]
        assert correlates == network["nCorrelates"]
        all_networks = store.read("MATCH (n:Network) RETURN count(n) AS c")[0]["c"]
    which = {neurons(OLD_WIDTH): "old", neurons(NEW_WIDTH): "new"}[network["nNeurons"]]
    if which == "old":  # its analyses came along, whole
        assert clusters > 0 and members == 3 * OLD_WIDTH
    else:
        assert clusters == 0 and members == 0
    return {"which": which, "hidden": all_networks - 1, "cache": network["activationsCache"]}


def test_a_refused_replace_leaves_the_old_network_as_it_was(tmp_path, models):
    directory = tmp_path / "s"
    old_store(directory, models)
    before = state(directory)
    files = sorted((directory / FILES_DIR).rglob("*"))
    refused = ng(
        directory, "ingest", models["two-outputs"], "--name", "net", "--replace",
        "--data", "digits", check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "outputs" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert state(directory) == before
    assert sorted((directory / FILES_DIR).rglob("*")) == files


@pytest.mark.parametrize(
    "after",
    [
        "WEIGHT edges written",  # while the new network's edges are written
        "wrote net as",  # while its activations are recorded
        "is the new net",  # while the replaced network is dropped
    ],
)
def test_sigkill_during_replace_leaves_old_or_new_whole(tmp_path, models, after):
    directory = tmp_path / "s"
    old_store(directory, models)
    process = subprocess.Popen(
        [
            sys.executable, "-c", "from neurongraph.cli import main; main()",
            "--store", str(directory), "-v",
            "ingest", str(models["new"]), "--name", "net", "--replace", "--data", "digits",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    seen = []
    for line in process.stderr:
        seen.append(line)
        if after in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL, "".join(seen)
    killed = state(directory)
    expected = "old" if after != "is the new net" else "new"
    assert killed["which"] == expected

    # the next ingest of the name cleans up what the killed one left, files included
    out = json.loads(
        ng(directory, "ingest", models["new"], "--name", "net", "--replace", "--data", "digits",
           "--json").stdout
    )  # fmt: skip
    assert out["replaced"] is True
    final = state(directory)
    assert final["which"] == "new" and final["hidden"] == 0
    files = sorted(
        p.relative_to(directory / FILES_DIR).as_posix()
        for p in (directory / FILES_DIR).rglob("*")
        if p.is_file()
    )
    caches = [f for f in files if f.startswith("activations/")]
    assert [f for f in caches if f.endswith(".npy") and not f.endswith(".labels.npy")] == [
        final["cache"]
    ]
    assert len([f for f in files if f.startswith("models/")]) == 1


def test_a_swap_whose_new_network_went_missing_changes_nothing(store, mlp, name):
    example = torch.zeros(2, 64)
    ingest_model(store, mlp, name, example)
    before = store.count_network(name)
    staged = store.stage_name(name)
    store.write_network(staged, network_graph(extract_chain(mlp, example)), {}, complete=False)
    store.drop_network(staged)  # what a concurrent `drop` does to an ingest's hidden copy
    with pytest.raises(StoreError, match="went missing"):
        store.swap_network(staged, name)
    assert store.get_network(name)["status"] == "complete"
    assert store.count_network(name) == before
    assert store.read("MATCH (n:Network) WHERE n.name STARTS WITH $p RETURN n.name AS n",
                      {"p": name}) == [{"n": name}]  # fmt: skip
