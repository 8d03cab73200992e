"""`neurongraph ingest`, `networks`, `drop` and `cypher` through the CLI, good and bad input."""

from __future__ import annotations

import json
import textwrap
import warnings

import numpy as np
import pytest
import torch
from conftest import one_line_error, snapshot
from safetensors.torch import save_file
from torch import nn
from zoo import FunctionalRelu, ResidualOnInput

from neurongraph.model.datasets import load_dataset
from neurongraph.model.recorded import activation_cache


@pytest.fixture
def script_file(tmp_path, mlp):
    path = tmp_path / "mlp.pt"
    torch.jit.save(torch.jit.script(mlp), str(path))
    return path


@pytest.fixture
def factory(tmp_path, monkeypatch, mlp):
    """A package.module:factory on sys.path, with .pt and .safetensors weights."""
    (tmp_path / "zoo_models.py").write_text(
        textwrap.dedent("""
        from torch import nn

        def mlp():
            return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(),
                                 nn.Linear(16, 10))
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.save(mlp.state_dict(), tmp_path / "w.pt")
    save_file({k: v.contiguous() for k, v in mlp.state_dict().items()}, tmp_path / "w.safetensors")
    return tmp_path


def test_ingest_torchscript_file_json(run_cli, store, script_file, name, mlp):
    result = run_cli("ingest", script_file, "--name", name, "--json")
    out = json.loads(result.stdout)
    assert out["network"] == name
    assert (out["layers"], out["neurons"], out["edges"]) == (4, 122, 64 * 32 + 32 * 16 + 16 * 10)
    assert out["seconds"] > 0
    network = store.get_network(name)
    assert network["status"] == "complete"
    assert network["modelFile"] == str(script_file)
    assert len(network["sha256"]) == 64
    listed = json.loads(run_cli("networks", "--json").stdout)["networks"]
    assert name in [n["name"] for n in listed]
    assert name in run_cli("networks").stdout


@pytest.mark.parametrize("weights", ["w.pt", "w.safetensors"])
def test_ingest_factory_with_weights(run_cli, store, factory, name, mlp, weights):
    run_cli("ingest", "zoo_models:mlp", "--weights", factory / weights, "--name", name)
    w = mlp[2].weight.detach().double()
    row = store.read(
        "MATCH (a:Neuron {uid: $a})-[w:WEIGHT]->(b:Neuron {uid: $b}) RETURN w.signed AS s",
        {"a": f"{name}/0/4", "b": f"{name}/2/7"},
    )
    assert row == [{"s": w[7, 4].item()}]


def test_pickle_needs_trust(run_cli, store, tmp_path, mlp, name):
    path = tmp_path / "whole.pt"
    torch.save(mlp, path)
    before = snapshot(store)
    result = run_cli("ingest", path, "--name", name, expect=2)
    assert "--trust-pickle" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert snapshot(store) == before
    run_cli("ingest", path, "--name", name, "--trust-pickle")
    assert store.get_network(name)["modelKind"] == "pickle"


def test_replace_needed_and_replaces_whole(run_cli, store, script_file, name):
    run_cli("ingest", script_file, "--name", name)
    store.write("MATCH (n:Neuron {network: $name}) SET n.mark = 1", {"name": name})
    before = snapshot(store)
    result = run_cli("ingest", script_file, "--name", name, expect=2)
    assert "--replace" in result.stderr
    assert snapshot(store) == before
    out = json.loads(run_cli("ingest", script_file, "--name", name, "--replace", "--json").stdout)
    assert out["replaced"] is True
    assert store.count_network(name) == {"neurons": 122, "edges": out["edges"]}
    marked = store.read(
        "MATCH (n:Neuron {network: $name}) WHERE n.mark = 1 RETURN count(n) AS c", {"name": name}
    )
    assert marked == [{"c": 0}]
    assert len(store.read("MATCH (n:Network {name: $name}) RETURN n", {"name": name})) == 1


def bad_models(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a model")
    unsupported = tmp_path / "glu.pt"
    torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(4, 4), nn.GLU())), str(unsupported))
    nan = tmp_path / "nan.pt"
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    torch.jit.save(torch.jit.script(model), str(nan))
    state = tmp_path / "state.pt"
    torch.save(model.state_dict(), state)
    return {
        "missing": (tmp_path / "nope.pt", "not found"),
        "corrupt": (corrupt, "not a TorchScript"),
        "unsupported": (unsupported, "aten::glu in module '1' (GLU)"),
        "nan": (nan, "NaN or Inf"),
        "state-dict-only": (state, "package.module:factory"),
    }


@pytest.mark.parametrize("case", ["missing", "corrupt", "unsupported", "nan", "state-dict-only"])
def test_bad_model_files(run_cli, store, tmp_path, name, case):
    path, message = bad_models(tmp_path)[case]
    before = snapshot(store)
    result = run_cli("ingest", path, "--name", name, expect=2)
    assert message in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty"),
        ("x" * 101, "at most 100"),
        ("a b", "outside"),
        ("a/b", "outside"),
        ("..", "'..'"),
        (".", "dot"),
        ("...", "dot"),
        (".hidden", "dot"),
        ("a..b", "'..'"),
    ],
)
def test_bad_network_names(run_cli, store, script_file, bad, message):
    before = snapshot(store)
    result = run_cli("ingest", script_file, "--name", bad, expect=2)
    assert message in result.stderr
    assert snapshot(store) == before


class DefinedOutOfOrder(nn.Module):
    """A chain whose modules are defined in another order than they are called."""

    def __init__(self):
        super().__init__()
        self.fc2 = nn.Linear(32, 10)
        self.fc1 = nn.Linear(64, 32)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


#: Layers of the scripted models that the chain reader refuses, read through their data flow.
CHAIN_LAYERS = [("input", "input", ""), ("fc1", "linear", "relu"), ("fc2", "linear", "")]
RESIDUAL_LAYERS = [
    ("input", "input", ""),
    ("fc1", "linear", "relu"),
    ("add", "sum", ""),
    ("fc2", "linear", ""),
]


@pytest.mark.parametrize(
    ("model", "layers", "flow"),
    [
        (ResidualOnInput, RESIDUAL_LAYERS, "dag"),
        (FunctionalRelu, CHAIN_LAYERS, "chain"),
        (DefinedOutOfOrder, CHAIN_LAYERS, "chain"),
    ],
)
def test_scripted_models_that_are_not_chains_of_modules_are_read_correctly(
    run_cli, store, tmp_path, name, model, layers, flow
):
    """Zeros as the only check input made the first two misreads pass (issue 12); the chain
    reader refuses all three on random inputs, and their data flow reads them: every weight
    where the model has it, the residual as a sum layer, the functional ReLU on fc1."""
    torch.manual_seed(0)
    eager = model().eval()
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(eager), str(path))
    run_cli("ingest", path, "--name", name, "--input-shape", 64)
    stored = store.read(
        "MATCH (l:Layer {network: $n}) RETURN l.name AS name, l.kind AS kind, "
        "l.activation AS activation ORDER BY l.position",
        {"n": name},
    )
    assert [(la["name"], la["kind"], la["activation"] or "") for la in stored] == layers
    network = store.get_network(name)
    assert (network["dataFlow"], network["status"]) == (flow, "complete")
    edges = store.read(
        "MATCH (a:Neuron {network: $n})-[w:WEIGHT]->(b:Neuron) WHERE b.layer STARTS WITH 'fc' "
        "RETURN a.index AS i, b.layer AS layer, b.index AS o, w.signed AS w",
        {"n": name},
    )
    for layer in ("fc1", "fc2"):
        weight = getattr(eager, layer).weight.detach().double().numpy()
        found = np.zeros_like(weight)
        for e in edges:
            if e["layer"] == layer:
                found[e["o"], e["i"]] = e["w"]
        np.testing.assert_allclose(found, weight, rtol=1e-12)
    if flow == "dag":
        adds = store.read(
            "MATCH (a:Neuron {network: $n})-[w:WEIGHT]->(b:Neuron {layer: 'add'}) "
            "RETURN a.layer AS layer, a.index AS i, b.index AS o, w.weight AS w",
            {"n": name},
        )
        expected = {(src, i, i, 1.0) for src in ("input", "fc1") for i in range(64)}
        assert {(e["layer"], e["i"], e["o"], e["w"]) for e in adds} == expected


@pytest.mark.parametrize("model", [ResidualOnInput, FunctionalRelu])
def test_activations_of_scripted_models_read_through_their_data_flow(
    run_cli, store, tmp_path, name, model
):
    """Recorded through the view, where the model computes them: fc1's after its ReLU."""
    torch.manual_seed(0)
    scripted = torch.jit.script(model())
    path = tmp_path / "model.pt"
    torch.jit.save(scripted, str(path))
    args = ["ingest", path, "--name", name, "--input-shape", 64, "--data", "digits", "--json"]
    out = json.loads(run_cli(*args).stdout)
    assert out["activations"]["examples"] == 1797
    data = load_dataset("digits")
    X = torch.as_tensor(np.concatenate([data.X_train, data.X_test]))
    with torch.no_grad():
        hidden = torch.relu(scripted.fc1(X)).numpy()
    cache = activation_cache(store, name)
    np.testing.assert_allclose(cache.layer(1), hidden, rtol=1e-5, atol=1e-6)


def test_a_directory_as_model_is_one_line(run_cli, store, tmp_path, script_file, name):
    before = snapshot(store)
    message = one_line_error(run_cli("ingest", tmp_path, "--name", name, expect=2))
    assert "is a directory" in message and "--series" in message
    assert snapshot(store) == before
    run_cli("ingest", script_file, "--name", name)
    run_cli("analyze", "spectral", name, "-k", 3, "--no-null", "--seed", 0)
    before = snapshot(store)
    for command in (
        ["activations", name, "--data", "digits"],
        ["analyze", "importance", name, "--data", "digits"],
    ):
        refused = run_cli(*command, "--model", tmp_path, expect=2)
        assert "is a directory" in one_line_error(refused)
    assert snapshot(store) == before


def test_a_wrong_input_shape_is_one_short_line(run_cli, store, script_file, name):
    """The TorchScript interpreter's error carries two tracebacks; only what went wrong is kept."""
    before = snapshot(store)
    message = one_line_error(
        run_cli("ingest", script_file, "--name", name, "--input-shape", "3", expect=2)
    )
    assert "shape (2, 3)" in message and "mat1 and mat2 shapes cannot be multiplied" in message
    assert "HERE" not in message and len(message) < 300
    assert snapshot(store) == before


@pytest.mark.parametrize("where", ["first", "hidden"])
def test_a_zero_width_layer_is_refused(run_cli, store, tmp_path, name, where):
    widths = (64, 0, 10) if where == "first" else (64, 16, 0, 10)
    layers = []
    path = tmp_path / "zero.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "Initializing zero-element tensors is a no-op"
        for a, b in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(a, b), nn.ReLU()]
        torch.jit.save(torch.jit.script(nn.Sequential(*layers[:-1])), str(path))
    before = snapshot(store)
    message = one_line_error(run_cli("ingest", path, "--name", name, expect=2))
    assert "zero-width" in message
    assert snapshot(store) == before


def test_a_misread_seen_only_on_the_data_is_read_through_the_view(run_cli, store, tmp_path, name):
    """A functional ReLU that is inactive on the random check inputs but not on the dataset:
    only the check on the dataset's examples finds that the chain misses it; the view reads it."""
    model = FunctionalRelu()
    with torch.no_grad():
        model.fc1.weight.zero_()
        model.fc1.weight[:, 0] = -1.0  # pre-activation 5 - x0: negative only where x0 > 5
        model.fc1.bias = nn.Parameter(torch.full((32,), 5.0))
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    X = np.random.default_rng(0).random((40, 64), dtype=np.float32)
    X[:, 0] = 16.0  # raw pixel values
    data = tmp_path / "raw.npz"
    np.savez(data, X=X, y=np.arange(40) % 10)
    run_cli("ingest", path, "--name", name)  # without data the misread cannot be seen
    run_cli("ingest", path, "--name", f"{name}-data", "--data", f"npz:{data}")
    # the chain reader misses the ReLU there; the view reads it: fc1's activations are
    # relu(5 - x0) = 0 on every example
    assert store.get_network(f"{name}-data")["dataFlow"] == "chain"
    cache = activation_cache(store, f"{name}-data")
    np.testing.assert_array_equal(cache.layer(1), np.zeros((40, 32), dtype=np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_dataset_with_non_finite_inputs_is_refused(run_cli, store, tmp_path, script_file, bad):
    X = np.random.default_rng(0).random((40, 64), dtype=np.float32)
    X[7, 3] = bad
    path = tmp_path / "bad.npz"
    np.savez(path, X=X, y=np.arange(40) % 10)
    before = snapshot(store)
    message = one_line_error(
        run_cli("ingest", script_file, "--name", "nonfinite", "--data", f"npz:{path}", expect=2)
    )
    assert f"dataset 'npz:{path}'" in message and "NaN or infinite" in message
    assert snapshot(store) == before


def test_unknown_network(run_cli, store):
    before = snapshot(store)
    assert "no network named" in run_cli("drop", "ghost", expect=2).stderr
    assert snapshot(store) == before


def test_drop(run_cli, store, script_file, name):
    run_cli("ingest", script_file, "--name", name)
    out = json.loads(run_cli("drop", name, "--json").stdout)
    assert out["nodesDeleted"] == 1 + 4 + 122
    assert store.get_network(name) is None
    assert store.read("MATCH (n {network: $name}) RETURN count(n) AS c", {"name": name}) == [
        {"c": 0}
    ]


def test_cypher_is_read_only_unless_write(run_cli, store, script_file, name):
    run_cli("ingest", script_file, "--name", name)
    result = run_cli(
        "cypher",
        "MATCH (n:Neuron {network: $net, position: $p}) RETURN count(n) AS n",
        "-p",
        f"net={name}",
        "-p",
        "p=1",
        "--json",
    )
    assert json.loads(result.stdout)["rows"] == [{"n": 32}]
    before = snapshot(store)
    for query in (
        "MATCH (n:Neuron {network: $net}) SET n.x = 1 RETURN count(n) AS c",
        "CREATE (n:Scratch {a: 1})",
        "MATCH (n:Neuron {network: $net}) DETACH DELETE n",
    ):
        refused = run_cli("cypher", query, "-p", f"net={name}", expect=2)
        assert "--write" in refused.stderr
        assert snapshot(store) == before
    written = run_cli(
        "cypher",
        "MATCH (n:Neuron {network: $net}) SET n.x = 1",
        "-p",
        f"net={name}",
        "--write",
        "--json",
    )
    assert json.loads(written.stdout)["counters"]["properties_set"] == 122
    csv = run_cli(
        "cypher",
        "MATCH (n:Layer {network: $net}) RETURN n.name AS layer ORDER BY n.position",
        "-p",
        f"net={name}",
        "--csv",
    ).stdout
    assert csv.splitlines() == ["layer", "input", "0", "2", "4"]
    bad = run_cli("cypher", "MATCH (n RETURN n", expect=2)
    assert bad.stderr.startswith("error: ")
    assert "key=value" in run_cli("cypher", "RETURN 1", "-p", "novalue", expect=2).stderr
