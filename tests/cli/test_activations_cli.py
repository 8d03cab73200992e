"""`train`, `ingest --data`, `ingest --series` and `activations` through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats

from neurongraph.model.datasets import load_dataset
from neurongraph.model.recorded import activation_cache


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 64-32-16-10 MLP trained on digits by `neurongraph train`, with checkpoints."""
    from click.testing import CliRunner

    from neurongraph.cli import cli

    out = tmp_path_factory.mktemp("train") / "small.pt"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--arch",
            "64-32-16-10",
            "--data",
            "digits",
            "--epochs",
            "6",
            "--checkpoint-every",
            "3",
            "--lr",
            "0.01",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_train_writes_torchscript_and_sidecar(trained):
    out, summary = trained
    assert summary["testAccuracy"] > 0.8
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["architecture"] == "64-32-16-10" and side["dataset"] == "digits"
    assert side["testAccuracy"] == pytest.approx(summary["testAccuracy"])
    model = torch.jit.load(str(out))
    assert model(torch.zeros(3, 64)).shape == (3, 10)
    assert sorted(p.name for p in (out.parent / "small-checkpoints").glob("*.pt")) == [
        "epoch-003.pt",
        "epoch-006.pt",
    ]


def test_activation_properties_and_correlates_match_direct_computation(
    run_cli, store, trained, name
):
    out, _ = trained
    result = json.loads(
        run_cli(
            "ingest", out, "--name", name, "--data", "digits", "--corr-top-k", "4", "--json"
        ).stdout
    )
    acts = result["activations"]
    assert acts["examples"] == 1797 and not acts["cached"]
    network = store.get_network(name)
    assert network["dataset"] == "digits"
    assert network["accuracy"] == pytest.approx(acts["accuracy"])
    # the cached matrix equals a direct forward pass
    data = load_dataset("digits")
    X = torch.as_tensor(np.concatenate([data.X_train, data.X_test]))
    state = torch.jit.load(str(out)).state_dict()
    hidden = torch.relu(X @ state["0.weight"].T + state["0.bias"])
    cache = activation_cache(store, name)
    np.testing.assert_allclose(cache.layer(1), hidden.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cache.layer(0), X.numpy())
    # neuron properties equal a direct computation
    props = {
        r["index"]: r
        for r in store.read(
            "MATCH (n:Neuron {network: $name, position: 1}) RETURN n.index AS index, "
            "n.actMean AS mean, n.actStd AS std, n.fracActive AS frac, n.selectivity AS sel, "
            "n.preferredClass AS cls",
            {"name": name},
        )
    }
    h = hidden.detach().double().numpy()
    y = np.concatenate([data.y_train, data.y_test])
    for j in (0, 5, 31):
        assert props[j]["mean"] == pytest.approx(h[:, j].mean(), rel=1e-5)
        assert props[j]["std"] == pytest.approx(h[:, j].std(), rel=1e-4)
        assert props[j]["frac"] == pytest.approx((h[:, j] > 0).mean())
        if h[:, j].std() > 0:
            corr = [abs(np.corrcoef(h[:, j], y == c)[0, 1]) for c in range(10)]
            assert props[j]["sel"] == pytest.approx(max(corr), rel=1e-4)
            assert props[j]["cls"] == int(np.argmax(corr))
    # CORRELATES edges carry scipy's Spearman rho of the cached columns
    edges = store.correlations(name)
    assert edges, "hidden neurons correlate"
    hidden_cols = np.hstack([cache.layer(1), cache.layer(2)])
    offsets = {1: 0, 2: 32}
    for edge in edges[:25]:
        (_, la, ia), (_, lb, ib) = (e.rsplit("/", 2) for e in (edge["source"], edge["target"]))
        a = offsets[int(la) // 2 + 1] + int(ia)
        b = offsets[int(lb) // 2 + 1] + int(ib)
        rho = stats.spearmanr(hidden_cols[:, a], hidden_cols[:, b]).statistic
        assert edge["r"] == pytest.approx(rho, abs=1e-5)
    # at most top_k partners per hidden neuron (48 of them), each pair once
    assert len(edges) <= 48 * 4
    # a second run reuses the cache and replaces (not duplicates) the edges
    again = json.loads(
        run_cli("activations", name, "--data", "digits", "--corr-top-k", "4", "--json").stdout
    )
    assert again["cached"] is True
    assert len(store.correlations(name)) == len(edges)


def test_series_ingest(run_cli, store, trained, name):
    out, _ = trained
    result = json.loads(
        run_cli(
            "ingest", out.parent / "small-checkpoints", "--series", "--name", name, "--json"
        ).stdout
    )
    assert [n["network"] for n in result["networks"]] == [f"{name}@3", f"{name}@6"]
    assert store.get_network(f"{name}@6")["epoch"] == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--arch", "64-x-10", "--data", "digits"], "64-x-10"),
        (["train", "--arch", "64-32-10", "--data", "nosuchset"], "nosuchset"),
        (["train", "--arch", "10-10", "--data", "digits"], "shape"),
    ],
)
def test_bad_training_input(run_cli, tmp_path, args, message):
    result = run_cli(*args, "--out", tmp_path / "m.pt", expect=2)
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert not (tmp_path / "m.pt").exists()


def test_empty_checkpoint_directory(run_cli, tmp_path):
    result = run_cli("ingest", tmp_path, "--series", "--name", "empty", expect=2)
    assert "epoch-NNN.pt" in result.stderr


def test_truncated_idx_and_mismatched_data(run_cli, store, trained, tmp_path, name):
    out, _ = trained
    (tmp_path / "train-images-idx3-ubyte").write_bytes(
        b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 5
    )
    result = run_cli("ingest", out, "--name", name, "--data", f"mnist:{tmp_path}", expect=2)
    assert "truncated" in result.stderr or "idx" in result.stderr.lower()
    assert store.get_network(name) is None
    shape = run_cli("ingest", out, "--name", name, "--data", "halves", expect=2)
    assert "shape" in shape.stderr
    assert store.get_network(name) is None


def test_activations_for_unknown_network(run_cli):
    assert (
        "no network named" in run_cli("activations", "ghost", "--data", "digits", expect=2).stderr
    )
