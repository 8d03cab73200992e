"""`analyze importance` on residual/DAG networks through the CLI and the real store: the ResNet
partitioned and lesioned (sum layers included), `--metric output-change` on a model without
labels, and planted modules in a residual network saved as TorchScript."""

from __future__ import annotations

import json

import pytest
import torch
import zoo
from conftest import one_line_error, snapshot, train
from torch import nn
from zoo import RESNET_LAYERS

from neurongraph.analysis.importance import DEFAULT_N_RANDOM
from neurongraph.model.datasets import load_dataset

#: The ResNet's hidden layers: all but the input and the head.
RESNET_HIDDEN = [name for name, _, _ in RESNET_LAYERS[1:-1]]
NEURON_IMPORTANCE = (
    "MATCH (n:Neuron {network: $n}) RETURN n.layer AS layer, n.index AS index, "
    "n.importance AS importance, n.importanceP AS p"
)
CLUSTER_IMPORTANCE = (
    "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster) RETURN c.label AS label, "
    "c.importanceP AS p, c.importanceLayers AS layers, c.importanceDelta AS delta"
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("dag-importance")


def _json(run_cli, *args):
    return json.loads(run_cli(*args, "--json").stdout)


def test_a_resnet_partitioned_then_lesioned_writes_importance(run_cli, store, folder, digits, name):
    X, y = digits
    torch.manual_seed(0)
    model = train(zoo.TinyResNet(), X[:600].reshape(-1, 1, 8, 8), y[:600], epochs=15)
    weights = folder / "resnet.pt"
    torch.save(model.state_dict(), weights)
    run_cli(
        "ingest", "zoo:TinyResNet", "--weights", weights, "--input-shape", "1,8,8", "--name", name
    )
    run_cli("analyze", "spectral", name, "-k", 4, "--no-null", "--seed", 0)
    args = ["analyze", "importance", name, "--data", "digits", "--model", "zoo:TinyResNet"]
    args += ["--random-sets", 3, "--seed", 0]
    out = _json(run_cli, *args)
    assert out["metric"] == "accuracy" and out["baselineAccuracy"] > 0.3  # chance: 0.1
    tested = {g["layer"] for g in out["groups"]}
    assert tested <= set(RESNET_HIDDEN) and tested & {"layer1.add", "layer2.add"}
    assert {s["layer"] for s in out["skipped"]} <= set(RESNET_HIDDEN)  # too small or whole
    # single-neuron lesions of every hidden neuron, sums included; none of the head's
    rows = store.read(NEURON_IMPORTANCE, {"n": name})
    scored = {(r["layer"], r["index"]) for r in rows if r["importance"] is not None}
    widths = {n: w for n, _, w in RESNET_LAYERS}
    assert scored == {(layer, i) for layer in RESNET_HIDDEN for i in range(widths[layer])}
    assert any(r["importance"] > 0.01 for r in rows if r["importance"] is not None)
    # the clusters carry their parts' p values, as for chains
    clusters = store.read(CLUSTER_IMPORTANCE, {"uid": f"{name}/spectral-weights"})
    written = [c for c in clusters if c["p"] is not None]
    assert written and all(0 < c["p"] <= 1 and set(c["layers"]) <= tested for c in written)
    best = {g["cluster"]: g for g in out["groups"]}
    assert {str(c["label"]) for c in written} == {str(label) for label in best}
    # the same seed gives the same answers; the text form names the metric
    assert _json(run_cli, *args)["groups"] == out["groups"]
    assert "accuracy" in run_cli(*args).stdout.splitlines()[0]


@pytest.fixture(scope="module")
def poly_weights(folder):
    """The 2 -> 6 -> 6 residual MLP fitted briefly to `poly` (regression: no labels)."""
    ds = load_dataset("poly")
    X, y = torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train, dtype=torch.float32)
    torch.manual_seed(0)
    model = zoo.poly_skip()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.mse_loss(model(X), y).backward()
        opt.step()
    path = folder / "poly.pt"
    torch.save(model.eval().state_dict(), path)
    return path


def test_output_change_is_the_metric_without_labels(run_cli, store, poly_weights, name):
    run_cli(
        "ingest", "zoo:poly_skip", "--weights", poly_weights, "--input-shape", 2, "--name", name
    )
    run_cli("analyze", "spectral", name, "-k", 2, "--no-null", "--seed", 0)
    args = ["analyze", "importance", name, "--data", "poly", "--model", "zoo:poly_skip"]
    args += ["--random-sets", 3, "--seed", 0]
    before = snapshot(store)
    refused = run_cli(*args, "--metric", "accuracy", expect=2)
    assert "--metric output-change" in one_line_error(refused)
    assert snapshot(store) == before
    out = _json(run_cli, *args)
    assert out["metric"] == "output-change" and out["baselineAccuracy"] == 0
    assert out["groups"] and all(g["delta"] < 0 for g in out["groups"])  # every lesion moves it
    explicit = _json(run_cli, *args, "--metric", "output-change")
    assert explicit["groups"] == out["groups"]
    rows = store.read(NEURON_IMPORTANCE, {"n": name})
    scored = {
        (r["layer"], r["index"]): r["importance"] for r in rows if r["importance"] is not None
    }
    assert set(scored) == {(layer, i) for layer in ("fc1", "fc2") for i in range(6)}
    assert all(value >= 0 for value in scored.values()) and max(scored.values()) > 0.01
    assert "output-change" in run_cli(*args).stdout.splitlines()[0]


@pytest.fixture(scope="module")
def planted_file(folder):
    """:class:`zoo.PlantedResidual` trained on `two-tasks` with its block masks, saved as
    TorchScript."""
    ds = load_dataset("two-tasks")
    X, y = torch.as_tensor(ds.X_train[:3000]), torch.as_tensor(ds.y_train[:3000])
    torch.manual_seed(0)
    model = zoo.PlantedResidual()
    masks = model.masks()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()

    def project():
        with torch.no_grad():
            for layer, mask in masks.items():
                getattr(model, layer).weight.mul_(mask)

    project()
    for _ in range(6):
        for idx in torch.randperm(len(X)).split(64):
            opt.zero_grad()
            out = model(X[idx])
            loss = nn.functional.cross_entropy(out[:, :10], y[idx, 0])
            loss = loss + nn.functional.cross_entropy(out[:, 10:], y[idx, 1])
            loss.backward()
            opt.step()
            project()
    path = folder / "planted.pt"
    torch.jit.save(torch.jit.script(model.eval()), str(path))
    return path


def test_planted_modules_of_a_residual_network_are_important_for_their_task(
    run_cli, store, planted_file, name
):
    run_cli("ingest", planted_file, "--name", name)
    run_cli("analyze", "spectral", name, "-k", 2, "--no-null", "--seed", 0)
    n = DEFAULT_N_RANDOM  # the fewest that let p get below 0.01
    args = ["analyze", "importance", name, "--data", "two-tasks", "--random-sets", n]
    out = _json(run_cli, *args, "--seed", 0)
    assert out["baselineAccuracy"] > 0.8
    groups = {(g["layer"], g["cluster"]): g for g in out["groups"]}
    assert {layer for layer, _ in groups} == {"fc1", "fc2", "add"}
    assert len(groups) == 6  # the two modules in each hidden layer
    for g in out["groups"]:
        deltas = g["taskDeltas"]
        hit, spared = sorted(deltas, key=deltas.get)
        # each module's half serves one task only: the other is untouched
        assert deltas[spared] == pytest.approx(0.0, abs=1e-8)
        assert deltas[hit] < deltas[spared]
        if g["layer"] in ("fc1", "add"):  # the whole stream of one task
            assert deltas[hit] < -0.6
            assert g["p"] == pytest.approx(1 / (n + 1)) and g["important"]
    # the two modules serve different tasks
    for layer in ("fc1", "fc2", "add"):
        hits = {
            min(g["taskDeltas"], key=g["taskDeltas"].get)
            for (la, _), g in groups.items()
            if la == layer
        }
        assert hits == {"A", "B"}
