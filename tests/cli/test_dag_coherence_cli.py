"""`analyze coherence` on a network that is not a chain: a residual CNN (zoo.TinyResNet) trained
briefly on digits, its inputs optimised through the view of its exported graph, PNGs written,
scores stored and read back by `report` and `view`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import zoo
from conftest import train

from neurongraph.formatting import cell
from neurongraph.model.view import read_view
from neurongraph.report.view import FIGURES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RANDOM_SETS = 3
STEPS = 40
TOP_K = 20
CLUSTER_PROPS = (
    "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster) "
    "RETURN c.label AS label, properties(c) AS props"
)
NEURON_PROPS = (
    "MATCH (n:Neuron {network: $name}) WHERE n.visObjectiveP IS NOT NULL "
    "RETURN n.layer AS layer, n.index AS index, n.coherencePartition AS partition"
)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def resnet(tmp_path_factory, digits):
    """TinyResNet trained briefly on digits (8 x 8 images), its state dict saved."""
    X, y = digits
    torch.manual_seed(0)
    model = train(zoo.TinyResNet(), X.reshape(-1, 1, 8, 8), y, epochs=15)
    path = tmp_path_factory.mktemp("coherence-resnet") / "resnet.pt"
    torch.save(model.state_dict(), path)
    return model, path


def _coherence(run_cli, name, *args):
    return json.loads(
        run_cli(
            "analyze",
            "coherence",
            name,
            "--random-sets",
            RANDOM_SETS,
            "--steps",
            STEPS,
            "--top-k",
            TOP_K,
            "--seed",
            0,
            "--model",
            "zoo:TinyResNet",
            "--json",
            *args,
        ).stdout
    )


def test_a_resnet_gets_coherence_pngs_report_and_view(
    run_cli, store, resnet, digits, name, tmp_path
):
    model, weights = resnet
    run_cli(
        "ingest", "zoo:TinyResNet", "--weights", weights, "--input-shape", "1,8,8",
        "--name", name, "--data", "digits",
    )  # fmt: skip
    assert store.get_network(name)["dataFlow"] == "dag"
    run_cli("analyze", "spectral", name, "-k", 4, "--no-null", "--seed", 0)
    out = _coherence(run_cli, name)
    assert out["notes"] == [] and out["groups"]
    hidden = {layer for layer, _, _ in zoo.RESNET_LAYERS[1:-1]}
    assert {g["layer"] for g in out["groups"]} <= hidden
    assert any(g["layer"].endswith(".add") for g in out["groups"])  # sum layers are scored

    # every tested group has its PNG, its scores stored on its cluster and its neurons
    clusters = {
        str(r["label"]): r["props"]
        for r in store.read(CLUSTER_PROPS, {"uid": f"{name}/spectral-weights"})
    }
    for g in out["groups"]:
        png = Path(g["visPath"])
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert 0 < g["visObjectiveP"] <= 1 and 0 < g["exampleEntropyP"] <= 1
        assert len(g["exampleIndices"]) == TOP_K
    for label in {str(g["cluster"]) for g in out["groups"]}:
        props = clusters[label]
        assert props["coherenceLayer"] in hidden
        assert (store.files.root / props["visPath"]).read_bytes()[:8] == PNG_MAGIC
    stored = store.read(NEURON_PROPS, {"name": name})
    assert {r["partition"] for r in stored} == {"spectral-weights"}
    assert {r["layer"] for r in stored} == {g["layer"] for g in out["groups"]}

    # the optimised input drives its group above what the dataset's examples do on average,
    # for most groups above 9 examples in 10
    X, _ = digits
    view = read_view(model, torch.as_tensor(X[:8]).reshape(-1, 1, 8, 8))
    acts, _ = view.activations(torch.as_tensor(X).reshape(-1, 1, 8, 8))
    position = {layer: p for p, (layer, _, _) in enumerate(zoo.RESNET_LAYERS)}
    above = []
    for g in out["groups"]:
        units = [int(i) for (p, i) in _members(store, name, g["cluster"]) if p == g["layer"]]
        on_data = acts[position[g["layer"]]][:, units].sum(1)
        assert g["visObjective"] > on_data.mean().item(), g
        above.append(float((on_data < g["visObjective"]).double().mean()))
    assert sorted(above)[len(above) // 2] > 0.9, above

    # report and view read the stored coherence
    report = tmp_path / "report.html"
    run_cli("report", name, "--out", report)
    text = report.read_text()
    scored = {str(g["cluster"]) for g in out["groups"]}
    assert text.count('alt="feature visualisation of cluster ') == len(scored)
    assert f"neurongraph analyze coherence {name} " not in text.replace("</code>", " ")
    page = tmp_path / "view.html"
    drawn = json.loads(run_cli("view", name, "--out", page, "--json").stdout)
    parts = store.read(
        "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster)<-[:IN_CLUSTER]-(n:Neuron) "
        "RETURN count(DISTINCT [c.label, n.layer]) AS parts",
        {"uid": f"{name}/spectral-weights"},
    )
    assert drawn["nodes"] == parts[0]["parts"]  # one circle per cluster and layer
    legend = page.read_text()
    for row in store.read(
        "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster) WHERE c.visObjectiveP "
        "IS NOT NULL RETURN c.label AS label, c.visObjectiveP AS p",
        {"uid": f"{name}/spectral-weights"},
    ):
        assert f"coherence p: visualisation {cell(row['p'], FIGURES)}" in legend, row


def _members(store, name, label):
    rows = store.read(
        "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster {label: $label})"
        "<-[:IN_CLUSTER]-(n:Neuron) RETURN n.layer AS layer, n.index AS index",
        {"uid": f"{name}/spectral-weights", "label": label},
    )
    return [(r["layer"], r["index"]) for r in rows]
