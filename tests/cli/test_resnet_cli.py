"""`train --arch resnet:...` through the CLI: a residual CNN trained on digits images, saved as
TorchScript, ingested with its activations and partitioned; its training options; the
experiments on it; and the specs and options it refuses."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from conftest import clusterability_rows, one_line_error, snapshot

from neurongraph.cli import cli
from neurongraph.training.architectures import count_neurons, parse_architecture

ARCH = "resnet:c8x1-c16x1-10"
#: The same ResNet with the input shape the digits images give it.
SPEC = "resnet:1x8x8-c8x1-c16x1-10"
#: A smaller one for the experiments.
TINY = "resnet:c4x1-c8x1-10"
#: The clusterability variants run on it (the others train alike).
VARIANTS = "plain,spectral,random"
#: Its layers as the ingest names them: the Sequential's stem conv, two blocks, the head.
LAYERS = [
    ("input", "input", 1),
    ("0", "conv2d", 8),
    ("3.conv1", "conv2d", 8),
    ("3.conv2", "conv2d", 8),
    ("3.add", "sum", 8),
    ("4.shortcut.0", "conv2d", 16),
    ("4.conv1", "conv2d", 16),
    ("4.conv2", "conv2d", 16),
    ("4.add", "sum", 16),
    ("7", "linear", 10),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``train --arch resnet:c8x1-c16x1-10`` on digits for a few epochs."""
    out = tmp_path_factory.mktemp("resnet") / "resnet.pt"
    args = ["train", "--arch", ARCH, "--data", "digits", "--epochs", 4, "--lr", 0.01]
    result = CliRunner().invoke(cli, [*map(str, args), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_train_saves_a_scripted_resnet_above_chance(trained):
    out, summary = trained
    assert summary["testAccuracy"] > 0.5  # chance is 0.1
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["architecture"] == SPEC and side["inputShape"] == [1, 8, 8]
    assert side["testAccuracy"] == pytest.approx(summary["testAccuracy"])
    model = torch.jit.load(str(out))
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


def _layers(store, name):
    return [
        (row["name"], row["kind"], row["width"])
        for row in store.read(
            "MATCH (l:Layer {network: $n}) RETURN l.name AS name, l.kind AS kind, "
            "l.width AS width ORDER BY l.position",
            {"n": name},
        )
    ]


def test_ingest_with_digits_and_spectral(run_cli, store, trained, name):
    out, summary = trained
    ingested = json.loads(
        run_cli("ingest", out, "--name", name, "--data", "digits", "--json").stdout
    )
    # the scripted blocks are read with their BatchNorms folded and their sums as layers
    assert _layers(store, name) == LAYERS
    n_neurons = count_neurons(parse_architecture(SPEC))
    assert n_neurons == sum(width for _, _, width in LAYERS)
    assert ingested["activations"]["neurons"] == n_neurons
    network = store.get_network(name)
    assert network["nNeurons"] == n_neurons
    assert network["accuracy"] == pytest.approx(summary["testAccuracy"], abs=0.01)

    args = ("-k", 4, "--shuffles", 3, "--seed", 0, "--jobs", 1, "--json")
    result = json.loads(run_cli("analyze", "spectral", name, *args).stdout)
    assert result["k"] == 4 and 0 < result["ncut"] < 4 and result["nullStd"] > 0
    labels = store.read(
        "MATCH (n:Neuron {network: $n}) RETURN n.spectralWeightsCluster AS c", {"n": name}
    )
    assert len(labels) == n_neurons and {row["c"] for row in labels} == {0, 1, 2, 3}


@pytest.mark.parametrize(
    "spec",
    ["resnet:c16x2", "resnet:c16-10", "resnet:c16x0-10", "resnet:c16x2-p-10", "resnet:10"],
)
def test_malformed_resnet_specs_are_refused(run_cli, store, tmp_path, spec):
    before = snapshot(store)
    out = tmp_path / "model.pt"
    result = run_cli("train", "--arch", spec, "--data", "digits", "--out", out, expect=2)
    message = one_line_error(result)
    assert spec in message and "resnet:c16x2-c32x2-10" in message
    assert not out.exists() and snapshot(store) == before


def test_regularisers_and_pruning_on_the_resnet(run_cli, tmp_path):
    out = tmp_path / "pruned.pt"
    options = ("--prune", 0.5, "--l1", 1e-4, "--dropout", 0.1, "--modular-init", 2)
    options += ("--spectral-reg", 0.1, "--reg-k", 3)
    args = ("train", "--arch", TINY, "--data", "digits", "--epochs", 4, "--lr", 0.01, *options)
    summary = json.loads(run_cli(*args, "--out", out, "--json").stdout)
    assert summary["testAccuracy"] > 0.2
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert side["options"]["modular_init"] == 2 and side["options"]["dropout"] == 0.1
    assert all(0 < epoch["spectral"] < 1 for epoch in side["history"])
    # every conv of the saved model (shortcut included) and the head were pruned
    model = torch.jit.load(str(out))
    weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]
    assert len(weights) == 7
    assert all((w == 0).float().mean() == pytest.approx(0.5, abs=0.05) for w in weights)


def test_an_option_out_of_range_is_refused_before_training(run_cli, store, tmp_path):
    out = tmp_path / "too-many.pt"
    before = snapshot(store)
    args = ("train", "--arch", TINY, "--data", "digits", "--spectral-reg", 1, "--reg-k", 59)
    message = one_line_error(run_cli(*args, "--out", out, expect=2))
    assert "from 1 to 58" in message and "59 neurons" in message
    assert not out.exists() and snapshot(store) == before


def test_clusterability_experiment_on_a_resnet(run_cli, store, tmp_path, name):
    out = tmp_path / "clu"
    args = ("--arch", TINY, "--runs", 1, "--epochs", 2, "--lr", 0.02, "--shuffles", 3, "-k", 3)
    result, rows = clusterability_rows(run_cli, out, name, *args, "--variants", VARIANTS)
    assert result["arch"] == "resnet:1x8x8-c4x1-c8x1-10"
    assert ",".join(rows) == VARIANTS
    assert rows["plain"]["accuracy"] > rows["random"]["accuracy"]
    assert rows["spectral"]["accuracy"] > rows["random"]["accuracy"]
    for row in rows.values():
        assert 0 < row["ncut"] <= 3 and row["nullStd"] > 0 and 0 < row["percentile"] <= 1
    for network in result["networks"]:
        layers = _layers(store, network)
        assert [kind for _, kind, _ in layers].count("sum") == 2


def test_evolution_experiment_on_a_resnet(run_cli, store, tmp_path, name):
    out = tmp_path / "evo"
    args = ("--data", "digits", "--arch", TINY, "--epochs", 2, "--lr", 0.02, "--seed", 0)
    args += ("--model", "none")
    result = json.loads(
        run_cli("experiment", "evolution", *args, "--out", out, "--name", name, "--json").stdout
    )
    assert result["networks"] == [f"{name}@0", f"{name}@1", f"{name}@2"]
    assert result["models"] == [] and result["modelsCsv"] is None
    for epoch in result["epochs"]:
        assert 0 < epoch["testAccuracy"] <= 1 and epoch["entropy"] > 0
        # Louvain and entropy ran on every neuron layer, the residual sums included
        assert {"3.add", "4.add"} <= set(epoch["layerModularity"])
        assert {"3.add", "4.add"} <= set(epoch["layerEntropy"])
    assert (out / "evolution.csv").is_file() and (out / "evolution.png").is_file()
