"""`analyze importance` and `analyze coherence` through the CLI and the real store: the
properties they write, p values, seeds, re-runs, INTERACTS edges, the planted two-tasks network
and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from neurongraph.analysis.importance import DEFAULT_N_RANDOM, IMPORTANT_P
from neurongraph.cli import cli
from neurongraph.model.datasets import load_dataset

ARCH = "64-32-32-10"
HIDDEN = (1, 2)
WIDTH = 32
RANDOM_SETS = 4
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

CLUSTER_PROPS = (
    "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster) "
    "RETURN c.uid AS uid, properties(c) AS props"
)
NEURON_PROPS = (
    "MATCH (n:Neuron {network: $name}) WHERE n.position IN $positions "
    "RETURN n.position AS position, n.index AS index, properties(n) AS props"
)
INTERACTS = (
    "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(a:Cluster)-[i:INTERACTS]->(b:Cluster) "
    "RETURN a.uid AS a, b.uid AS b, i.delta AS delta, i.interaction AS interaction, i.p AS p"
)
IMPORTANCE_CLUSTER_KEYS = (
    "importanceDelta",
    "importanceP",
    "important",
    "importanceClassDeltas",
    "importanceLayers",
    "importanceLayerDelta",
    "importanceLayerP",
    "importanceLayerImportant",
)
COHERENCE_CLUSTER_KEYS = (
    "visObjective",
    "visEntropy",
    "visObjectiveP",
    "visEntropyP",
    "visPath",
    "exampleEntropy",
    "exampleEntropyP",
    "classConsistency",
)
COHERENCE_NEURON_KEYS = ("visObjectiveP", "visEntropyP", "exampleEntropyP", "classConsistency")


pytestmark = pytest.mark.usefixtures("one_thread")


def invoke(store_dir, *args):
    """The CLI against the session store, from a module-scoped fixture."""
    result = CliRunner().invoke(cli, ["--store", str(store_dir), *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def train_cli(out: Path, arch: str, data: str) -> Path:
    result = CliRunner().invoke(
        cli,
        ["train", "--arch", arch, "--data", data, "--epochs", 6, "--lr", 0.01, "--out", out],
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A 64-32-32-10 ReLU MLP trained on digits by `neurongraph train`."""
    return train_cli(tmp_path_factory.mktemp("importance") / "mlp.pt", ARCH, "digits")


@pytest.fixture(scope="module")
def network(store, store_dir, model_file):
    """The digits MLP ingested, with a spectral (k=4) and a Louvain partition."""
    name = "importance-coherence-mlp"
    invoke(store_dir, "ingest", model_file, "--name", name, "--data", "digits", "--replace")
    invoke(store_dir, "analyze", "spectral", name, "-k", 4, "--no-null", "--seed", 0)
    invoke(store_dir, "analyze", "louvain", name, "--shuffles", 0, "--seed", 0)
    return name


def run_json(run_cli, command, name, *args):
    return json.loads(run_cli("analyze", command, name, "--json", *args).stdout)


def importance(run_cli, name, *args):
    return run_json(run_cli, "importance", name, "--random-sets", RANDOM_SETS, *args)


def coherence(run_cli, name, *args):
    return run_json(
        run_cli, "coherence", name, "--random-sets", 3, "--steps", 8, "--top-k", 10, *args
    )


def clusters(store, name, method="spectral-weights"):
    return {r["uid"]: r["props"] for r in store.read(CLUSTER_PROPS, {"uid": f"{name}/{method}"})}


def neurons(store, name, positions=HIDDEN):
    rows = store.read(NEURON_PROPS, {"name": name, "positions": list(positions)})
    return {(r["position"], r["index"]): r["props"] for r in rows}


def snapshot(store, name):
    """Everything a refused command must leave alone: counts and the network's properties."""
    labels = store.read("MATCH (n) RETURN labels(n) AS labels, count(*) AS count")
    types = store.read("MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS count")
    nodes = store.read(
        "MATCH (n {network: $name}) RETURN n.uid AS uid, properties(n) AS props", {"name": name}
    )
    partitions = store.read(
        "MATCH (:Network {name: $name})-[:HAS_PARTITION]->(p:Partition) "
        "RETURN p.uid AS uid, properties(p) AS props",
        {"name": name},
    )
    return (
        sorted((str(r["labels"]), r["count"]) for r in labels),
        sorted((r["type"], r["count"]) for r in types),
        sorted((r["uid"], json.dumps(r["props"], sort_keys=True)) for r in nodes + partitions),
        json.dumps(store.get_network(name), sort_keys=True),
    )


def assert_refused(run_cli, store, name, *args, match):
    """Exit 2, one `error: ` line on stderr that contains ``match``, store unchanged."""
    before = snapshot(store, name)
    result = run_cli(*args, expect=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert match in lines[0], lines[0]
    assert snapshot(store, name) == before
    return lines[0]


# --------------------------------------------------------------------------------------------
# importance


def test_importance_writes_clusters_neurons_and_partition(run_cli, store, network):
    out = importance(run_cli, network, "--seed", 0)
    assert out["randomSets"] == RANDOM_SETS and out["seed"] == 0
    assert out["minP"] == pytest.approx(1 / (RANDOM_SETS + 1))
    assert out["groups"]
    grid = {k / (RANDOM_SETS + 1) for k in range(1, RANDOM_SETS + 2)}
    for g in out["groups"]:
        assert set(g) >= {"layer", "cluster", "size", "delta", "p", "important", "taskDeltas"}
        assert min(grid, key=lambda v: abs(v - g["p"])) == pytest.approx(g["p"], abs=1e-12)
        assert -1 <= g["delta"] <= 1
        assert not g["important"]  # p >= 1/5 can never be below 0.01
    # ... and the output says so
    assert out["importantP"] == IMPORTANT_P == 0.01
    (note,) = out["notes"]
    assert f"with {RANDOM_SETS} random sets the smallest p is 1/{RANDOM_SETS + 1} = 0.2" in note
    text = run_cli("analyze", "importance", network, "--random-sets", RANDOM_SETS, "--seed", 0)
    assert f"note: {note}" in text.stdout
    # every cluster with a tested group carries its scores, per layer part too
    tested = {g["cluster"] for g in out["groups"]}
    props = clusters(store, network)
    scored = {uid.rsplit("/", 1)[1]: p for uid, p in props.items()}
    for label in tested:
        p = scored[str(label)]
        assert all(key in p for key in IMPORTANCE_CLUSTER_KEYS), p
        parts = [g for g in out["groups"] if g["cluster"] == label]
        assert sorted(p["importanceLayers"]) == sorted(g["layer"] for g in parts)
        assert sorted(p["importanceLayerP"]) == pytest.approx(sorted(g["p"] for g in parts))
        assert p["importanceP"] == pytest.approx(min(g["p"] for g in parts))
        assert len(p["importanceClassDeltas"]) == 10
    # every hidden neuron has its own lesion score; the partition the Fisher p
    hidden = neurons(store, network)
    assert len(hidden) == len(HIDDEN) * WIDTH
    assert all(isinstance(n.get("importance"), float) for n in hidden.values())
    assert all(n["importancePartition"] == "spectral-weights" for n in hidden.values())
    assert not any("importance" in n for n in neurons(store, network, (0, 3)).values())
    partition = store.partition(f"{network}/spectral-weights")
    assert partition["importanceFisherP"] == pytest.approx(out["fisherP"])
    assert 0 < partition["importanceFisherP"] <= 1
    assert partition["importanceRandomSets"] == RANDOM_SETS


def test_importance_is_reproducible_and_reruns_replace(run_cli, store, network):
    first = importance(run_cli, network, "--partition", "louvain", "--seed", 3)
    second = importance(run_cli, network, "--partition", "louvain", "--seed", 3)
    assert first == second
    assert {n["importancePartition"] for n in neurons(store, network).values()} == {"louvain"}
    # the spectral run replaces every neuron's importance properties, none left from louvain
    spectral = importance(run_cli, network, "--seed", 3)
    hidden = neurons(store, network)
    assert {n["importancePartition"] for n in hidden.values()} == {"spectral-weights"}
    grouped = {
        (position, index)
        for row in store.clusters(f"{network}/spectral-weights")
        for position, index in row["members"]
        if position in HIDDEN
    }
    for key, props in hidden.items():
        assert ("importanceDelta" in props) == (key in grouped and bool(spectral["groups"]))


def test_importance_double_writes_interactions(run_cli, store, network):
    out = importance(run_cli, network, "--double", "--seed", 1)
    deltas = {f"{g['layer']}:{g['cluster']}": g["delta"] for g in out["groups"]}
    n = len(deltas)
    assert len(out["pairs"]) == n * (n - 1) // 2 > 0
    for pair in out["pairs"]:
        expected = pair["delta"] - deltas[pair["first"]] - deltas[pair["second"]]
        assert pair["interaction"] == pytest.approx(expected, abs=1e-11)
    edges = store.read(INTERACTS, {"uid": f"{network}/spectral-weights"})
    assert len(edges) == len(out["pairs"])
    stored = sorted((e["delta"], e["interaction"], e["p"]) for e in edges)
    expected = sorted((p["delta"], p["interaction"], p["p"]) for p in out["pairs"])
    np.testing.assert_allclose(stored, expected, atol=1e-9)
    # a second run replaces the edges rather than adding to them
    importance(run_cli, network, "--double", "--seed", 1)
    assert len(store.read(INTERACTS, {"uid": f"{network}/spectral-weights"})) == len(edges)


# --------------------------------------------------------------------------------------------
# the planted two-tasks network


def block_masks() -> list[torch.Tensor]:
    """128-64-64-20, hidden units 0-31 of both layers serve task A (channel 0), 32-63 task B."""
    m1, m2, m3 = torch.zeros(64, 128), torch.zeros(64, 64), torch.zeros(20, 64)
    m1[:32, :64] = m1[32:, 64:] = 1
    m2[:32, :32] = m2[32:, 32:] = 1
    m3[:10, :32] = m3[10:, 32:] = 1
    return [m1, m2, m3]


@pytest.fixture(scope="module")
def two_tasks_file(tmp_path_factory):
    """A modular 128-64-64-20 MLP trained on `two-tasks` with dropout 0.3 and block-diagonal
    masks, saved as TorchScript without its dropout."""
    ds = load_dataset("two-tasks")
    X, y = torch.as_tensor(ds.X_train[:3000]), torch.as_tensor(ds.y_train[:3000])
    masks = block_masks()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        linears = [nn.Linear(128, 64), nn.Linear(64, 64), nn.Linear(64, 20)]
        train_net = nn.Sequential(
            linears[0], nn.ReLU(), nn.Dropout(0.3), linears[1], nn.ReLU(), nn.Dropout(0.3)
        )
        train_net.append(linears[2])
        opt = torch.optim.Adam(train_net.parameters(), lr=3e-3)

        def project():
            with torch.no_grad():
                for lin, mask in zip(linears, masks, strict=True):
                    lin.weight.mul_(mask)

        project()
        for _ in range(6):
            for idx in torch.randperm(len(X)).split(64):
                opt.zero_grad()
                out = train_net(X[idx])
                loss = nn.functional.cross_entropy(out[:, :10], y[idx, 0])
                loss = loss + nn.functional.cross_entropy(out[:, 10:], y[idx, 1])
                loss.backward()
                opt.step()
                project()
    model = nn.Sequential(linears[0], nn.ReLU(), linears[1], nn.ReLU(), linears[2]).eval()
    path = tmp_path_factory.mktemp("two-tasks") / "two-tasks.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    return path


@pytest.fixture(scope="module")
def two_tasks_network(store, store_dir, two_tasks_file):
    name = "importance-coherence-two-tasks"
    invoke(store_dir, "ingest", two_tasks_file, "--name", name, "--data", "two-tasks", "--replace")
    invoke(store_dir, "analyze", "spectral", name, "-k", 2, "--no-null", "--seed", 0)
    return name


def module_labels(store, name):
    """Each spectral cluster's hidden members: the two modules, by their task."""
    rows = store.clusters(f"{name}/spectral-weights")
    members = {}
    for row in rows:
        hidden = {(int(p), int(i)) for p, i in row["members"] if p in HIDDEN}
        members[row["cluster"]["label"]] = hidden
    return members


def test_two_tasks_modules_are_important_for_their_task_only(run_cli, store, two_tasks_network):
    name = two_tasks_network
    # spectral k=2 recovers the modules: hidden units 0-31 (task A) and 32-63 (task B)
    module_a = {(p, i) for p in HIDDEN for i in range(32)}
    module_b = {(p, i) for p in HIDDEN for i in range(32, 64)}
    members = module_labels(store, name)
    assert sorted(map(sorted, members.values())) == sorted([sorted(module_a), sorted(module_b)])
    task_of = {label: "A" if hidden == module_a else "B" for label, hidden in members.items()}
    n = DEFAULT_N_RANDOM  # the fewest that let p get below 0.01
    out = importance(run_cli, name, "--random-sets", n, "--seed", 0)
    assert out["notes"] == []
    assert out["baselineAccuracy"] > 0.8  # about 90 % on each task
    assert len(out["groups"]) == 4  # two modules in two layers
    for g in out["groups"]:
        hit = task_of[g["cluster"]]
        spared = "B" if hit == "A" else "A"
        assert g["taskDeltas"][hit] < -0.6  # from about 90 % to near chance (10 %)
        assert g["taskDeltas"][spared] == pytest.approx(0.0, abs=1e-8)  # disjoint modules
        assert g["p"] == pytest.approx(1 / (n + 1))
        assert g["important"]
    assert out["fisherP"] < 0.05


# --------------------------------------------------------------------------------------------
# coherence


def test_coherence_writes_clusters_neurons_and_partition(run_cli, store, network):
    out = coherence(run_cli, network, "--seed", 0)
    assert out["groups"] and out["steps"] == 8 and out["randomSets"] == 3
    props = {uid.rsplit("/", 1)[1]: p for uid, p in clusters(store, network).items()}
    for label in {g["cluster"] for g in out["groups"]}:
        p = props[str(label)]
        assert all(key in p for key in COHERENCE_CLUSTER_KEYS), p
        assert not Path(p["visPath"]).is_absolute()  # relative to the store's files
        png = store.files.root / p["visPath"]
        assert png.exists() and png.read_bytes()[:8] == PNG_MAGIC
        for key in ("visObjectiveP", "visEntropyP", "exampleEntropyP"):
            assert 0 < p[key] <= 1
        assert 0 <= p["exampleEntropy"] <= np.log(10) / np.log(2) + 1e-9  # at most log2(10)
        assert 0 <= p["classConsistency"] <= 1
    # member neurons carry their group's scores
    hidden = neurons(store, network)
    grouped = {
        (position, index)
        for row in store.clusters(f"{network}/spectral-weights")
        for position, index in row["members"]
        if position in HIDDEN
    }
    for key in grouped:
        # a group of neurons that never fire (the papers' partitioner may group dead neurons)
        # has no class consistency: it is None, not written
        alive = hidden[key]["fracActive"] > 0
        required = COHERENCE_NEURON_KEYS if alive else COHERENCE_NEURON_KEYS[:-1]
        assert all(k in hidden[key] for k in required), hidden[key]
        assert hidden[key]["coherencePartition"] == "spectral-weights"
    partition = store.partition(f"{network}/spectral-weights")
    assert out["fisherP"]
    for key, value in out["fisherP"].items():
        assert key.endswith("FisherP")
        if value is not None:
            assert partition[key] == pytest.approx(value)
    assert partition["coherenceSteps"] == 8


def test_coherence_is_deterministic_and_fourier_runs(run_cli, store, network):
    assert coherence(run_cli, network, "--seed", 5) == coherence(run_cli, network, "--seed", 5)
    out = coherence(run_cli, network, "--seed", 5, "--parameterisation", "fourier", "--jitter", 1)
    assert out["groups"]
    assert all(Path(g["visPath"]).exists() for g in out["groups"] if g["visPath"])


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "args, match",
    [
        (("importance", "--random-sets", 0), "--random-sets"),
        (("coherence", "--steps", 0), "--steps"),
        (("coherence", "--random-sets", 0), "--random-sets"),
        (("importance", "--data", "halves"), "dataset 'halves' has examples of shape (128,)"),
        (("coherence", "--data", "halves"), "model takes input of shape (64,)"),
    ],
)
def test_bad_options_are_refused(run_cli, store, network, args, match):
    command, *rest = args
    assert_refused(run_cli, store, network, "analyze", command, network, *rest, match=match)


@pytest.mark.parametrize("command", ["importance", "coherence"])
def test_missing_partition_names_the_command_that_makes_it(run_cli, store, network, command):
    line = assert_refused(
        run_cli,
        store,
        network,
        "analyze",
        command,
        network,
        "--partition",
        "spectral-activations",
        match=f"`neurongraph analyze spectral {network}` with --graph activations",
    )
    assert "spectral-activations" in line


def test_missing_or_changed_model_file_is_refused(
    run_cli, store, store_dir, name, model_file, tmp_path
):
    copy = tmp_path / "copy.pt"
    shutil.copy(model_file, copy)
    run_cli("ingest", copy, "--name", name, "--input-shape", 64)  # no activations: faster
    run_cli("analyze", "spectral", name, "-k", 4, "--no-null", "--seed", 0)
    importance_args = ("analyze", "importance", name, "--data", "digits")
    copy.unlink()  # the store keeps its own copy
    importance(run_cli, name, "--data", "digits", "--seed", 0)
    kept = store.files.root / "models" / f"{store.get_network(name)['sha256']}.pt"
    # another TorchScript in the store's copy's place
    other = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
    other.append(nn.Linear(32, 10))
    torch.jit.save(torch.jit.script(other.eval()), str(kept))
    assert_refused(run_cli, store, name, *importance_args, match="sha256")
    args = ("analyze", "coherence", name, "--data", "digits")
    assert_refused(run_cli, store, name, *args, match="sha256")
    kept.unlink()
    line = assert_refused(run_cli, store, name, *importance_args, match="not in the store")
    assert "--model" in line
    # --model with the original file passes the check
    out = importance(run_cli, name, "--data", "digits", "--model", model_file, "--seed", 0)
    assert out["groups"]


def test_unknown_image_shape_names_the_option(run_cli, store, name, tmp_path):
    # an untrained 2-16-16-6 regression MLP for `poly`, whose inputs have no image layout
    path = tmp_path / "poly.pt"
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh())
    model.append(nn.Linear(16, 6))
    torch.jit.save(torch.jit.script(model.eval()), str(path))
    run_cli("ingest", path, "--name", name, "--input-shape", 2)  # no activations: faster
    run_cli("analyze", "spectral", name, "-k", 2, "--no-null", "--seed", 0)
    args = ("analyze", "coherence", name, "--data", "poly", "--steps", 2)
    assert_refused(run_cli, store, name, *args, match="--image-shape")
