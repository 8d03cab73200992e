"""Token models through the CLI: text data (`text-task`, `text:FILE`) encoded with a model
directory's own tokenizer, token activations at every neuron layer (the residual stream's sum
layers included) reduced over positions with padding left out, Louvain and entropy on them,
and a tiny transformer trained on the built-in text task and ingested with its text."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
import torch
from conftest import clusterability_rows, one_line_error, snapshot
from test_view import assert_captions_fit, assert_renders
from zoo import save_text_bert

from neurongraph.model.recorded import activation_cache
from neurongraph.model.texts import TOPICS, WORDS

HIDDEN = 32


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A BERT-style encoder whose tokenizer knows the text task's words."""
    return save_text_bert(tmp_path_factory.mktemp("bert-text"), hidden=HIDDEN)


def _layers(store, name):
    return store.read(
        "MATCH (l:Layer {network: $n}) RETURN l.name AS name, l.kind AS kind ORDER BY l.position",
        {"n": name},
    )


def test_a_bert_directory_records_text_activations_louvain_and_entropy(
    run_cli, store, bert_dir, name, tmp_path
):
    result = run_cli("ingest", bert_dir, "--name", name, "--data", "text-task", "--json")
    summary = json.loads(result.stdout)["activations"]
    assert summary["examples"] == len(TOPICS) * 100 and summary["correlates"] > 0
    assert summary["accuracy"] is None  # an encoder gives hidden states, not class scores
    network = store.require_network(name)
    assert network["tokenReduce"] == "mean"
    # [CLS] + 5 to 7 words + [SEP]: the longest text's tokens
    assert network["inputShape"] == [9]
    layers = _layers(store, name)
    assert "sum" in {layer["kind"] for layer in layers}
    cache = activation_cache(store, name)
    matrix = np.asarray(cache.matrix())
    assert matrix.shape == (summary["examples"], sum(cache.widths))
    assert np.isfinite(matrix).all() and matrix.std(axis=0).max() > 0
    sums = store.read(
        "MATCH (n:Neuron {network: $n}) WHERE n.layer = $layer RETURN n.actStd AS std",
        {"n": name, "layer": next(x["name"] for x in layers if x["kind"] == "sum")},
    )
    assert len(sums) == HIDDEN and all(row["std"] > 0 for row in sums)

    sum_layers = {x["name"] for x in layers if x["kind"] == "sum"}
    louvain = json.loads(run_cli("analyze", "louvain", name, "--shuffles", 0, "--json").stdout)
    assert sum_layers <= {x["layer"] for x in louvain["layers"]}
    entropy = json.loads(run_cli("analyze", "entropy", name, "--json").stdout)
    assert sum_layers <= {x["layer"] for x in entropy["layers"]}
    assert 0 <= entropy["entropy"] <= 1
    written = store.read(
        "MATCH (n:Neuron {network: $n}) WHERE n.entropy IS NOT NULL "
        "AND n.louvainCommunity IS NOT NULL RETURN count(n) AS c",
        {"n": name},
    )[0]["c"]
    assert written >= HIDDEN * len(sum_layers)
    # its layers' long module paths slant above their columns, inside the drawing
    page = tmp_path / "louvain.html"
    run_cli("view", name, "--partition", "louvain", "--out", page)
    assert assert_captions_fit(page.read_text()), "long layer names slant"
    assert_renders(page, tmp_path / "profile")


def test_text_files_and_token_reductions(run_cli, store, bert_dir, name, tmp_path):
    lines = [f"{label}\t{text}" for label, text in enumerate(["the cat sleeps", "a warm soup"])]
    text = tmp_path / "texts.txt"
    text.write_text("\n".join(lines * 5) + "\n")
    run_cli("ingest", bert_dir, "--name", name, "--data", f"text:{text}")
    means = np.asarray(activation_cache(store, name).matrix()).copy()
    for how in ("max", "last"):
        out = run_cli(
            "activations", name, "--data", f"text:{text}", "--token-reduce", how, "--json"
        )
        assert json.loads(out.stdout)["examples"] == 10
        assert store.require_network(name)["tokenReduce"] == how
        other = np.asarray(activation_cache(store, name).matrix())
        assert other.shape == means.shape and not np.allclose(other, means)


def test_data_that_does_not_fit_is_one_line(run_cli, store, bert_dir, mlp, name, tmp_path):
    before = snapshot(store)
    result = run_cli("ingest", bert_dir, "--name", name, "--data", "digits", expect=2)
    assert "text" in one_line_error(result)
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("0\tthe cat sleeps\nthe dog runs\n")
    result = run_cli("ingest", bert_dir, "--name", name, "--data", f"text:{mixed}", expect=2)
    assert "line 2 has no label" in one_line_error(result)
    torch.jit.save(torch.jit.script(mlp), tmp_path / "mlp.pt")
    result = run_cli("ingest", tmp_path / "mlp.pt", "--name", name, "--data", "text-task", expect=2)
    assert "feature vectors" in one_line_error(result)
    assert snapshot(store) == before


def test_a_transformer_trained_on_the_text_task_runs_every_analysis(run_cli, store, name, tmp_path):
    out = tmp_path / "transformer.pt"
    trained = run_cli(
        "train",
        "--arch",
        "transformer:d16-h2-b1-4",
        "--data",
        "text-task",
        "--epochs",
        8,
        "--out",
        out,
        "--json",
    )
    accuracy = json.loads(trained.stdout)["testAccuracy"]
    assert accuracy > 0.6  # four topics: chance is 0.25
    result = run_cli("ingest", out, "--name", name, "--data", "text-task", "--json")
    summary = json.loads(result.stdout)
    assert summary["activations"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    layers = _layers(store, name)
    assert {"sum", "attention-q", "attention-k", "attention-v", "linear"} <= {
        layer["kind"] for layer in layers
    }
    # the blocks sit in a ModuleList, which TorchScript's module paths leave out
    sums = [layer["name"] for layer in layers if layer["kind"] == "sum"]
    assert sums == ["blocks.0.add", "blocks.0.add_1"]
    network = store.require_network(name)
    assert (network["inputKind"], network["tokenizer"]) == ("tokens", "words")
    rerun = run_cli("activations", name, "--data", "text-task", "--json")
    assert json.loads(rerun.stdout)["cached"] is True

    # every analysis runs on it: spectral, louvain, entropy, importance, coherence
    run_cli("analyze", "spectral", name, "-k", 4, "--no-null", "--seed", 0)
    louvain = json.loads(run_cli("analyze", "louvain", name, "--shuffles", 0, "--json").stdout)
    assert any(layer["layer"].endswith("add") for layer in louvain["layers"])
    assert json.loads(run_cli("analyze", "entropy", name, "--json").stdout)["layers"]
    scoring = ["--data", "text-task", "--random-sets", 3, "--seed", 0, "--json"]
    lesions = json.loads(run_cli("analyze", "importance", name, *scoring).stdout)
    assert lesions["metric"] == "accuracy"
    assert lesions["baselineAccuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert lesions["groups"] and all(0 < g["p"] <= 1 for g in lesions["groups"])
    single = store.read(
        "MATCH (n:Neuron {network: $n}) WHERE n.importance IS NOT NULL RETURN count(n) AS c",
        {"n": name},
    )[0]["c"]
    assert single > 0
    coherence = json.loads(
        run_cli("analyze", "coherence", name, *scoring, "--steps", 4, "--top-k", 5).stdout
    )
    (note,) = coherence["notes"]
    assert "token" in note  # no feature visualisation of discrete token ids, and why
    assert all(g["visPath"] is None for g in coherence["groups"])
    texts = store.read(
        "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster) "
        "WHERE c.exampleTexts IS NOT NULL RETURN c.exampleTexts AS texts",
        {"uid": f"{name}/spectral-weights"},
    )
    assert texts and all(len(r["texts"]) == 5 for r in texts)
    assert all(t and set(t.split()) <= set(WORDS) for r in texts for t in r["texts"])

    # the report and the view read what was stored
    report = tmp_path / "report.html"
    run_cli("report", name, "--out", report)
    page = html.unescape(report.read_text())
    for analysis in ("importance", "coherence"):  # the scored partition is shown, not asked for
        assert f"analyze {analysis} {name} --partition spectral-weights" not in page
    assert texts[0]["texts"][0] in page  # the clusters' most activating texts
    # the per-cluster table scrolls in a box of its own; its layer names may wrap at their dots
    assert '<div class="wide"><table class="clusters"' in page
    names = [n.split(" (")[0] for n in re.findall(r'<td class="name">(.*?)</td>', page)]
    assert {n.replace("<wbr>", "") for n in names} <= {layer["name"] for layer in layers}
    assert any(n.startswith("blocks.<wbr>0.<wbr>") for n in names)
    assert all(n.count("<wbr>") == n.count(".") for n in names)
    view = tmp_path / "view.html"
    drawn = json.loads(run_cli("view", name, "--out", view, "--json").stdout)
    parts = store.read(
        "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster)<-[:IN_CLUSTER]-(n:Neuron) "
        "RETURN count(DISTINCT [c.label, n.layer]) AS parts",
        {"uid": f"{name}/spectral-weights"},
    )
    assert drawn["nodes"] == parts[0]["parts"] >= 4  # one circle per cluster and layer


def test_clusterability_experiment_on_a_transformer(run_cli, store, tmp_path, name):
    """Filan et al.'s variants of the tiny transformer on the text task, dropout included (on
    each block's two outputs), partitioned against their shuffles like any DAG network."""
    out = tmp_path / "clu"
    arch = "transformer:d16-h2-b1-4"
    args = ("--arch", arch, "--data", "text-task", "--runs", 1, "--epochs", 8, "--shuffles", 3)
    variants = ("--variants", "plain,dropout,random")
    result, rows = clusterability_rows(run_cli, out, name, *args, "-k", 4, *variants)
    assert result["arch"] == arch
    assert list(rows) == ["plain", "dropout", "random"]
    assert rows["plain"]["accuracy"] > rows["random"]["accuracy"] + 0.2
    assert rows["dropout"]["accuracy"] > rows["random"]["accuracy"] + 0.2
    for row in rows.values():
        assert 0 < row["ncut"] <= 4 and row["nullStd"] > 0 and 0 < row["percentile"] <= 1
    plain, dropout = (torch.jit.load(str(out / f"{name}-{v}-s0.pt")) for v in ("plain", "dropout"))
    weight = "blocks.0.ff2.weight"
    assert not torch.equal(plain.state_dict()[weight], dropout.state_dict()[weight])
    for network in result["networks"]:
        sums = [layer["name"] for layer in _layers(store, network) if layer["kind"] == "sum"]
        assert sums == ["blocks.0.add", "blocks.0.add_1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "a transformer takes text"),  # the default data, digits
        (("--data", "text-task", "-k", 197), "196 neurons"),
    ],
)
def test_a_transformer_experiment_that_cannot_run_is_one_line(
    run_cli, store, tmp_path, name, args, message
):
    out = tmp_path / "never"
    before = snapshot(store)
    arch = ("--arch", "transformer:d16-h2-b1-4", "--runs", 1, "--epochs", 1)
    result = run_cli(
        "experiment", "clusterability", *arch, *args, "--out", out, "--prefix", name, expect=2
    )
    assert message in one_line_error(result)
    assert not out.exists() and snapshot(store) == before
