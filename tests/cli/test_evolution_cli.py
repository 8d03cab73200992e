"""`neurongraph experiment evolution`: a short real run, its outputs and the series in the store."""

from __future__ import annotations

import csv
import json

import pytest
from scipy import stats

from neurongraph.experiments.evolution import METRICS

ARCH = "64-16-16-10"
EPOCHS = 2
COLUMNS = ("epoch", "network", "testAccuracy", "modularity", "entropy", "classEntropy")
#: One neuron of every network of a series, in epoch order.
FOLLOW_NEURON = (
    "MATCH (net:Network {series: $series})-[:HAS_LAYER]->(:Layer {name: '0'})"
    "-[:HAS_NEURON]->(n:Neuron {index: 3}) "
    "RETURN net.name AS network, net.epoch AS epoch, n.entropy AS entropy, "
    "n.louvainCommunity AS community ORDER BY epoch"
)

CLUSTERS = "MATCH (c:Cluster {network: $name}) RETURN c.uid AS uid"


def evolution(run_cli, out, name, epochs, *extra, expect=0):
    return run_cli(
        "experiment",
        "evolution",
        "--data",
        "digits",
        "--arch",
        ARCH,
        "--epochs",
        epochs,
        "--lr",
        "0.01",
        "--seed",
        "0",
        "--out",
        out,
        "--name",
        name,
        *extra,
        expect=expect,
    )


def test_evolution_run_outputs_and_series(run_cli, store, tmp_path, name):
    out = tmp_path / "evo"
    models = ("--model", "width=0.25/epochs=1", "--model", "noise=0.6")
    result = json.loads(evolution(run_cli, out, name, EPOCHS, *models, "--json").stdout)
    networks = [f"{name}@{epoch}" for epoch in range(EPOCHS + 1)]
    assert result["networks"] == networks and result["series"] == name
    # the CSV: one row per epoch from the untrained network (epoch 0) on, and the plot
    with open(out / "evolution.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS + 1))
    assert rows[0]["trainLoss"] == "" and float(rows[1]["trainLoss"]) > 0
    assert set(COLUMNS) <= set(rows[0])
    assert {"modularity:0", "modularity:2", "entropy:0", "entropy:2"} <= set(rows[0])
    for row, epoch in zip(rows, result["epochs"], strict=True):
        assert row["network"] == epoch["network"]
        assert float(row["testAccuracy"]) == pytest.approx(epoch["testAccuracy"])
        assert float(row["entropy"]) == pytest.approx(epoch["entropy"])
        assert 0 <= epoch["entropy"] <= 1 and 0 <= epoch["classEntropy"] <= 1
    accuracy = [r["testAccuracy"] for r in result["epochs"]]
    assert accuracy[0] < 0.3 < 0.5 < accuracy[-1]  # untrained: about chance (10 classes)
    png = out / "evolution.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert result["csv"] == str(out / "evolution.csv") and result["plot"] == str(png)
    # correlations of every metric with the accuracy
    assert set(result["correlations"]) == set(METRICS)
    for metric in METRICS:
        c = result["correlations"][metric]
        assert set(c) == {"n", "pearson", "pearsonP", "spearman", "spearmanP"}
        for key in ("pearson", "spearman"):
            assert c[key] is None or -1 <= c[key] <= 1
    assert result["correlations"]["entropy"]["n"] == EPOCHS + 1
    # the series in the store: complete networks with series, epoch and the analyses
    for epoch, network in enumerate(networks):
        props = store.get_network(network)
        assert props["status"] == "complete"
        assert (props["series"], props["epoch"]) == (name, epoch)
        assert props["accuracy"] == pytest.approx(result["epochs"][epoch]["testAccuracy"])
        assert store.partition(f"{network}/louvain") is not None
        assert props["entropy"] == pytest.approx(result["epochs"][epoch]["entropy"])
    followed = store.read(FOLLOW_NEURON, {"series": name})
    assert [r["epoch"] for r in followed] == list(range(EPOCHS + 1))
    assert all(r["entropy"] is not None and r["community"] is not None for r in followed)
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == [
        f"epoch-{e:03d}.pt" for e in range(EPOCHS + 1)
    ]
    # across models of different quality: the base (the last checkpoint) and the set asked for
    models = result["models"]
    assert [m["model"] for m in models] == ["base", "width=0.25/epochs=1", "noise=0.6"]
    assert models[0]["network"] == networks[-1]
    assert models[0]["testAccuracy"] == pytest.approx(accuracy[-1])
    by_spec = {m["model"]: m for m in models}
    assert by_spec["width=0.25/epochs=1"]["arch"] == "64-4-4-10"
    assert by_spec["width=0.25/epochs=1"]["epochs"] == 1
    assert by_spec["noise=0.6"]["labelNoise"] == 0.6
    for index, model in enumerate(models[1:], start=1):
        assert model["network"] == f"{name}-model{index}"
        props = store.get_network(model["network"])
        assert (props["modelSet"], props["modelSpec"]) == (name, model["model"])
        assert props["accuracy"] == pytest.approx(model["testAccuracy"])
    with open(out / "evolution-models.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert [r["network"] for r in written] == [m["network"] for m in models]
    # the correlation across the models is Spearman's rho of the written columns
    expected = stats.spearmanr(
        [float(r["testAccuracy"]) for r in written], [float(r["entropy"]) for r in written]
    )
    across = result["modelCorrelations"]["entropy"]
    assert across["n"] == len(models)
    assert across["spearman"] == pytest.approx(expected.statistic)
    assert across["spearmanP"] == pytest.approx(expected.pvalue)
    png = out / "evolution-models.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and result["modelsPlot"] == str(png)
    # a shorter rerun replaces the series: same names, no left-over networks or checkpoints
    first_created = store.get_network(networks[0])["createdAt"]
    text = evolution(run_cli, out, name, EPOCHS - 1, "--model", "epochs=1").stdout
    assert "correlation with test accuracy over the epochs" in text and "pearson" in text
    assert "correlation with test accuracy across the models" in text
    assert f"{name}-model2" in text.split("dropped from an earlier")[-1]
    assert store.get_network(networks[-1]) is None
    assert store.get_network(networks[0])["createdAt"] >= first_created
    assert store.count_network(networks[0]) == {"neurons": 106, "edges": 64 * 16 + 16 * 16 + 160}
    assert len(store.read(CLUSTERS, {"name": networks[0]})) == len(
        {tuple(c.values()) for c in store.read(CLUSTERS, {"name": networks[0]})}
    )
    assert [n["name"] for n in store.networks() if n.get("series") == name] == networks[:-1]
    assert [n["name"] for n in store.networks() if n.get("modelSet") == name] == [f"{name}-model1"]
    assert not (out / "checkpoints" / f"epoch-{EPOCHS:03d}.pt").exists()
    with open(out / "evolution.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == EPOCHS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "digits", "--epochs", "0"], "--epochs"),
        (["--data", "nosuchset", "--epochs", "2"], "nosuchset"),
        (["--data", "digits", "--epochs", "2", "--name", "bad@name"], "@"),
        (["--data", "digits", "--epochs", "2", "--arch", "64-x-10"], "64-x-10"),
        (["--data", "digits", "--epochs", "2", "--model", "width=x"], "width=x"),
        (["--data", "digits", "--epochs", "2", "--model", "depth=2"], "depth=2"),
        (["--data", "digits", "--epochs", "2", "--model", "noise=1.5"], "noise in [0, 1)"),
    ],
)
def test_bad_input(run_cli, store, tmp_path, args, message):
    before = [n["name"] for n in store.networks()]
    result = run_cli("experiment", "evolution", *args, "--out", tmp_path / "evo", expect=2)
    assert message in result.stderr
    assert not (tmp_path / "evo").exists()
    assert [n["name"] for n in store.networks()] == before
