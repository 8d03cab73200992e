"""Residual/DAG networks through the CLI: `ingest` from a factory, the graph written (sum
layers, FEEDS, every WEIGHT edge worked out by hand), `analyze spectral` on it, and the runtime
analyses that refuse it cleanly without touching the store."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
import zoo
from conftest import one_line_error, snapshot, train
from numpy.testing import assert_allclose
from sklearn.metrics import adjusted_rand_score
from zoo import RESNET_FEEDS, RESNET_LAYERS

from neurongraph.analysis.cuts import ncut
from neurongraph.errors import IngestError
from neurongraph.model.datasets import load_dataset
from neurongraph.model.export import SavedProgram
from neurongraph.model.loading import load_recorded_model
from neurongraph.model.recorded import activation_cache
from neurongraph.runs.graphs import weight_adjacency, weight_graph
from neurongraph.store.files import sha256_file

#: The hand-made residual MLP's weights.
W1 = [[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, -3.0], [0.5, 0.0, 0.0, 0.0]]
B1 = [0.1, -0.2, 0.3, 0.0]
W2 = [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, -1.0]]
#: Every WEIGHT edge of it: (source layer, index, target layer, index, signed weight).
HAND_EDGES = {
    ("input", 0, "fc1", 0, 1.0),
    ("input", 1, "fc1", 1, 2.0),
    ("input", 3, "fc1", 2, -3.0),
    ("input", 0, "fc1", 3, 0.5),
    ("fc1", 1, "fc2", 0, 1.0),
    ("fc1", 0, "fc2", 1, 1.0),
    ("fc1", 2, "fc2", 2, 4.0),
    ("fc1", 3, "fc2", 3, -1.0),
    *(("fc2", i, "add", i, 1.0) for i in range(4)),
    *(("input", i, "add", i, 1.0) for i in range(4)),
}
#: 1x4 + 4x4 + 4x4 + 4x8 + 4x8 + 8x8 + 8x10 weight edges, 2 x (4 + 8) sum edges.
RESNET_EDGES = 4 + 16 + 16 + 32 + 32 + 64 + 80 + 24


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder for the test networks' weights."""
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="module")
def resnet_weights(folder, digits):
    """TinyResNet trained briefly on digits (8 x 8 images), its state dict saved."""
    X, y = digits
    torch.manual_seed(0)
    model = train(zoo.TinyResNet(), X.reshape(-1, 1, 8, 8), y, epochs=15)
    path = folder / "resnet.pt"
    torch.save(model.state_dict(), path)
    return model, path


def _graph(store, name):
    layers = store.read(
        "MATCH (l:Layer {network: $n}) RETURN l.name AS name, l.kind AS kind, l.width AS width, "
        "l.position AS position, l.activation AS activation ORDER BY l.position",
        {"n": name},
    )
    feeds = store.read(
        "MATCH (a:Layer {network: $n})-[:FEEDS]->(b:Layer) RETURN a.name AS src, b.name AS dst",
        {"n": name},
    )
    edges = store.read(
        "MATCH (a:Neuron {network: $n})-[w:WEIGHT]->(b:Neuron) RETURN a.layer AS sl, "
        "a.index AS si, b.layer AS tl, b.index AS ti, w.weight AS w, w.signed AS g",
        {"n": name},
    )
    return layers, {(f["src"], f["dst"]) for f in feeds}, edges


def _hand_made(folder):
    """The residual MLP with the weights of HAND_EDGES, and its saved state dict."""
    model = zoo.ResidualMLP()
    with torch.no_grad():
        model.fc1.weight.copy_(torch.tensor(W1))
        model.fc1.bias.copy_(torch.tensor(B1))
        model.fc2.weight.copy_(torch.tensor(W2))
    weights = folder / "hand_made.pt"
    torch.save(model.state_dict(), weights)
    return model, weights


def test_a_residual_mlp_gives_every_edge_worked_out_by_hand(run_cli, store, folder, name):
    _, weights = _hand_made(folder)
    out = json.loads(
        run_cli("ingest", "zoo:ResidualMLP", "--weights", weights, "--name", name, "--json").stdout
    )
    assert (out["layers"], out["neurons"], out["edges"]) == (4, 16, len(HAND_EDGES))
    layers, feeds, edges = _graph(store, name)
    assert [(la["name"], la["kind"], la["width"], la["position"]) for la in layers] == [
        ("input", "input", 4, 0),
        ("fc1", "linear", 4, 1),
        ("fc2", "linear", 4, 2),
        ("add", "sum", 4, 3),
    ]
    assert layers[1]["activation"] == "relu"
    assert feeds == {("input", "fc1"), ("fc1", "fc2"), ("fc2", "add"), ("input", "add")}
    assert {(e["sl"], e["si"], e["tl"], e["ti"], e["g"]) for e in edges} == HAND_EDGES
    assert all(e["w"] == abs(e["g"]) for e in edges)
    biases = store.read(
        "MATCH (n:Neuron {network: $n}) RETURN n.layer AS layer, n.index AS i, n.bias AS bias "
        "ORDER BY n.position, n.index",
        {"n": name},
    )
    assert [b["bias"] for b in biases if b["layer"] == "fc1"] == pytest.approx(B1)
    assert all(b["bias"] is None for b in biases if b["layer"] in ("input", "add"))
    assert [b["bias"] for b in biases if b["layer"] == "fc2"] == [0.0] * 4
    network = store.get_network(name)
    assert (network["dataFlow"], network["status"]) == ("dag", "complete")


def test_the_eager_residual_on_input_is_read_as_a_dag(run_cli, store, folder, name):
    """The trust issue's scripted misread, as an eager module: read correctly, not refused."""
    torch.manual_seed(0)
    weights = folder / "residual_on_input.pt"
    torch.save(zoo.ResidualOnInput().state_dict(), weights)
    out = json.loads(
        run_cli(
            "ingest", "zoo:ResidualOnInput", "--weights", weights, "--name", name, "--json"
        ).stdout
    )
    assert (out["layers"], out["neurons"], out["edges"]) == (4, 64 + 64 + 64 + 10, 4096 + 128 + 640)
    layers, feeds, _ = _graph(store, name)
    assert [(la["name"], la["kind"]) for la in layers] == [
        ("input", "input"),
        ("fc1", "linear"),
        ("add", "sum"),
        ("fc2", "linear"),
    ]
    assert feeds == {("input", "fc1"), ("fc1", "add"), ("input", "add"), ("add", "fc2")}


def test_a_resnet_is_ingested_listed_and_partitioned(run_cli, store, folder, resnet_weights, name):
    model, weights = resnet_weights
    args = ["ingest", "zoo:TinyResNet", "--weights", weights, "--input-shape", "1,8,8"]
    out = json.loads(run_cli(*args, "--name", name, "--json").stdout)
    assert (out["layers"], out["neurons"], out["edges"]) == (10, 59, RESNET_EDGES)
    layers, feeds, edges = _graph(store, name)
    assert [(la["name"], la["kind"], la["width"]) for la in layers] == RESNET_LAYERS
    assert feeds == RESNET_FEEDS
    sums = [e for e in edges if e["tl"].endswith(".add")]
    assert len(sums) == 24 and {e["w"] for e in sums} == {1.0}
    assert {(e["sl"], e["si"]) for e in sums if e["tl"] == "layer1.add"} == {
        (src, i) for src in ("stem.0", "layer1.conv2") for i in range(4)
    }
    # a conv edge: the L1 norm of the kernel slice with the following BatchNorm folded in
    bn = {k: v.double() for k, v in model.layer1.bn1.state_dict().items()}
    scale = bn["weight"] / torch.sqrt(bn["running_var"] + model.layer1.bn1.eps)
    kernel = model.layer1.conv1.weight.detach().double()[2, 3] * scale[2]
    (edge,) = [
        e for e in edges if (e["sl"], e["si"], e["tl"], e["ti"]) == ("stem.0", 3, "layer1.conv1", 2)
    ]
    assert edge["w"] == pytest.approx(float(kernel.abs().sum()), rel=1e-12)
    assert edge["g"] == pytest.approx(float(kernel.sum()), rel=1e-12)
    listed = json.loads(run_cli("networks", "--json").stdout)["networks"]
    assert [n["nNeurons"] for n in listed if n["name"] == name] == [59]

    for method in ("layer", "layer_nonzero"):
        result = json.loads(
            run_cli(
                "analyze",
                "spectral",
                name,
                "-k",
                4,
                "--shuffles",
                3,
                "--seed",
                0,
                "--jobs",
                1,
                "--shuffle-method",
                method,
                "--json",
            ).stdout
        )
        assert result["k"] == 4 and result["nShuffles"] == 3 and 0 < result["ncut"] < 4
        assert np.isfinite(result["nullMean"])
    labels = store.read(
        "MATCH (n:Neuron {network: $n}) RETURN n.spectralWeightsCluster AS c "
        "ORDER BY n.position, n.index",
        {"n": name},
    )
    labels = np.asarray([row["c"] for row in labels])
    assert set(labels.tolist()) == {0, 1, 2, 3}
    # the n-cut reported is the n-cut of the labels over every WEIGHT edge, sums included
    adjacency = weight_adjacency(store, name)
    assert adjacency.shape == (59, 59) and adjacency.nnz == 2 * RESNET_EDGES
    assert_allclose(ncut(adjacency, labels), result["ncut"], rtol=1e-9)
    graph = weight_graph(store, name)
    assert not graph.is_chain
    assert [f for f, (_, t) in zip(graph.fixed, graph.pairs, strict=True) if f] == [True] * 4
    report = weights.parent / f"{name}.html"
    run_cli("report", name, "--out", report)  # the weight panels follow FEEDS
    assert report.stat().st_size > 0


def test_a_resnet_records_activations_louvain_and_entropy(
    run_cli, store, folder, resnet_weights, name
):
    model, weights = resnet_weights
    args = ["ingest", "zoo:TinyResNet", "--weights", weights, "--input-shape", "1,8,8"]
    out = json.loads(run_cli(*args, "--name", name, "--data", "digits", "--json").stdout)
    assert out["activations"]["neurons"] == 59 and out["activations"]["examples"] == 1797
    # each layer's activations are the model's own, each channel's mean over H x W: a sum
    # layer's are its block's output (the ReLU after the add)
    data = load_dataset("digits")
    X = torch.as_tensor(np.concatenate([data.X_train, data.X_test])).reshape(-1, 1, 8, 8)
    seen = {}
    hooks = [
        getattr(model, block).register_forward_hook(
            lambda _m, _i, output, block=block: seen.__setitem__(block, output)
        )
        for block in ("layer1", "layer2")
    ]
    with torch.no_grad():
        logits = model.eval()(X)
    for hook in hooks:
        hook.remove()
    cache = activation_cache(store, name)
    names = [name for name, _, _ in RESNET_LAYERS]
    for block in ("layer1", "layer2"):
        expected = seen[block].mean(dim=(2, 3)).numpy()
        got = cache.layer(names.index(f"{block}.add"))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cache.layer(len(names) - 1), logits.numpy(), rtol=1e-4, atol=1e-4)
    accuracy = float((logits[len(data.X_train) :].argmax(1).numpy() == data.y_test).mean())
    assert store.get_network(name)["accuracy"] == pytest.approx(accuracy)

    louvain = json.loads(run_cli("analyze", "louvain", name, "--shuffles", 0, "--json").stdout)
    assert {la["layer"] for la in louvain["layers"]} >= {"layer1.add", "layer2.add"}
    entropy = json.loads(run_cli("analyze", "entropy", name, "--json").stdout)
    assert entropy["layers"]
    rows = store.read(
        "MATCH (n:Neuron {network: $n, layer: 'layer2.add'}) "
        "RETURN n.louvainCommunity AS c, n.entropy AS e",
        {"n": name},
    )
    assert len(rows) == 8 and all(r["c"] is not None and r["e"] is not None for r in rows)


def test_an_unsupported_op_is_refused_by_name(run_cli, store, folder, name):
    weights = folder / "gated.pt"
    torch.save(zoo.Gated().state_dict(), weights)
    before = snapshot(store)
    message = one_line_error(
        run_cli("ingest", "zoo:Gated", "--weights", weights, "--name", name, expect=2)
    )
    assert "aten.mul" in message and "the model's forward" in message
    assert snapshot(store) == before


def _edge_lists(store, name):
    """A network's layers, FEEDS and signed WEIGHT edges, read back through Cypher."""
    layers, feeds, edges = _graph(store, name)
    return (
        [(la["name"], la["kind"], la["width"], la["activation"]) for la in layers],
        feeds,
        {(e["sl"], e["si"], e["tl"], e["ti"]): e["g"] for e in edges},
    )


def _save(model, form: str, shape: tuple[int, ...], path) -> None:
    """``model`` as a scripted or traced TorchScript file, or a saved torch.export program."""
    model = model.eval()
    example = torch.randn(3, *shape)
    if form == "script":
        torch.jit.save(torch.jit.script(model), str(path))
    elif form == "trace":
        torch.jit.save(torch.jit.trace(model, example), str(path))
    else:
        torch.export.save(torch.export.export(model, (example,)), path)


@pytest.mark.parametrize(
    ("which", "form"),
    [
        ("ResidualMLP", "script"),
        ("ResidualMLP", "pt2"),
        ("TinyResNet", "trace"),
        ("TinyResNet", "script"),
        ("TinyResNet", "pt2"),
    ],
)
def test_torchscript_and_saved_programs_give_the_eager_graph(
    run_cli, store, folder, resnet_weights, name, which, form
):
    if which == "TinyResNet":
        (model, weights), shape = resnet_weights, (1, 8, 8)
    else:
        (model, weights), shape = _hand_made(folder), (4,)
    given = ["--input-shape", ",".join(map(str, shape))] if which == "TinyResNet" else []
    run_cli("ingest", f"zoo:{which}", "--weights", weights, *given, "--name", f"{name}-eager")
    path = folder / f"{name}.{'pt2' if form == 'pt2' else 'pt'}"
    _save(model, form, shape, path)
    if form == "pt2":  # a saved program knows its input shape
        given = ["--trust-pickle"]
    out = json.loads(run_cli("ingest", path, *given, "--name", name, "--json").stdout)
    eager = store.get_network(f"{name}-eager")
    assert (out["layers"], out["neurons"], out["edges"]) == (
        len(eager_layers := _edge_lists(store, f"{name}-eager")[0]),
        eager["nNeurons"],
        eager["nEdges"],
    )
    assert _edge_lists(store, name) == _edge_lists(store, f"{name}-eager")
    if which == "ResidualMLP":
        assert {(*k, v) for k, v in _edge_lists(store, name)[2].items()} == HAND_EDGES
    else:
        assert [la[:3] for la in eager_layers] == RESNET_LAYERS
    network = store.get_network(name)
    kind = {"script": "torchscript", "trace": "torchscript", "pt2": "export"}[form]
    assert (network["dataFlow"], network["modelKind"], network["status"]) == (
        "dag",
        kind,
        "complete",
    )


def test_a_saved_program_is_kept_and_loaded_back_by_its_sha(run_cli, store, resnet_weights, name):
    model, weights = resnet_weights
    path = weights.parent / f"{name}.pt2"
    _save(model, "pt2", (1, 8, 8), path)
    run_cli("ingest", path, "--trust-pickle", "--name", name)
    network = store.get_network(name)
    assert network["sha256"] == sha256_file(path)
    path.unlink()  # from now on only the store's copy exists
    assert store.files.model(network["sha256"]) is not None
    with pytest.raises(IngestError, match="`trust_pickle=`"):
        load_recorded_model(network, store.files)
    loaded = load_recorded_model(network, store.files, trust_pickle=True)
    assert isinstance(loaded.module, SavedProgram) and loaded.sha256 == network["sha256"]
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert_allclose(loaded.module(x).detach().numpy(), model(x).detach().numpy(), atol=1e-6)


class _Marker:
    """Unpickling this creates a file: what a hostile archive could do instead."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_saved_program_is_not_loaded_without_trust_pickle(
    run_cli, store, resnet_weights, tmp_path, name
):
    """torch.export.load unpickles from the archive (its sample inputs fall back to
    weights_only=False): a program runs code from the file, like a pickled module."""
    model, _ = resnet_weights
    honest = tmp_path / "resnet.pt2"
    _save(model, "pt2", (1, 8, 8), honest)
    marker = tmp_path / "ran"
    payload = io.BytesIO()
    torch.save(_Marker(marker), payload)
    hostile = tmp_path / "hostile.pt"  # told apart by its content, not its suffix
    with zipfile.ZipFile(honest) as source, zipfile.ZipFile(hostile, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, payload.getvalue() if "sample_inputs" in item.filename else data)
    before = snapshot(store)
    for path in (honest, hostile):
        message = one_line_error(run_cli("ingest", path, "--name", name, expect=2))
        assert "saved torch.export program" in message and "--trust-pickle" in message
    assert not marker.exists()
    assert snapshot(store) == before


def test_a_torchscript_op_that_cannot_be_read_is_one_line(run_cli, store, tmp_path, name):
    torch.manual_seed(0)
    path = tmp_path / "lstm.pt"
    torch.jit.save(torch.jit.script(zoo.Recurrent()), str(path))
    before = snapshot(store)
    message = one_line_error(
        run_cli("ingest", path, "--input-shape", "3,4", "--name", name, expect=2)
    )
    assert message.startswith("error: aten::lstm in module 'rnn' (LSTM)")
    assert snapshot(store) == before and store.get_network(name) is None


def test_a_chain_records_its_feeds_and_data_flow(run_cli, store, tmp_path, mlp, name):
    path = tmp_path / "mlp.pt"
    torch.jit.save(torch.jit.script(mlp), str(path))
    run_cli("ingest", path, "--name", name)
    layers, feeds, _ = _graph(store, name)
    names = [la["name"] for la in layers]
    assert feeds == set(zip(names, names[1:], strict=False))
    assert {la["kind"] for la in layers[1:]} == {"linear"}
    assert store.get_network(name)["dataFlow"] == "chain"
    assert weight_graph(store, name).is_chain


def test_a_traced_cnn_chain_gives_the_scripted_chains_graph(run_cli, store, tmp_path, cnn, name):
    """A traced Conv2d keeps its weights but not its settings: the chain reader cannot rebuild
    it (it raised a TypeError), its data flow reads it as the same chain."""
    scripted, traced = tmp_path / "scripted.pt", tmp_path / "traced.pt"
    torch.jit.save(torch.jit.script(cnn.eval()), str(scripted))
    torch.jit.save(torch.jit.trace(cnn.eval(), torch.zeros(2, 1, 8, 8)), str(traced))
    for path in (scripted, traced):
        run_cli("ingest", path, "--input-shape", "1,8,8", "--name", f"{name}-{path.stem}")
    ours, theirs = _edge_lists(store, f"{name}-traced"), _edge_lists(store, f"{name}-scripted")
    assert ours[:2] == theirs[:2]
    assert ours[2].keys() == theirs[2].keys()
    assert list(ours[2].values()) == pytest.approx([theirs[2][k] for k in ours[2]], rel=1e-9)
    assert store.get_network(f"{name}-traced")["dataFlow"] == "chain"


def test_planted_modules_of_a_residual_mlp_are_found_and_beat_the_nulls(
    run_cli, store, folder, name
):
    """Three modules through every layer, the skip connection inside them: the partition finds
    them and the network is more clusterable than every null (sum edges kept)."""
    model = zoo.Planted()
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for layer, rows in ((model.fc1, 4), (model.fc2, 4), (model.head, 2)):
            mask = np.kron(np.eye(3), np.ones((rows, 4)))
            weights = np.where(mask > 0, rng.uniform(0.5, 1.0, mask.shape), 0.01)
            layer.weight.copy_(torch.tensor(weights * rng.choice([-1, 1], mask.shape)))
    weights = folder / "planted.pt"
    torch.save(model.state_dict(), weights)
    run_cli("ingest", "zoo:Planted", "--weights", weights, "--name", name)
    args = ("-k", 3, "--shuffles", 9, "--seed", 0, "--jobs", 1, "--json")
    result = json.loads(run_cli("analyze", "spectral", name, *args).stdout)
    assert result["percentile"] == pytest.approx(0.1)  # below all 9 nulls
    assert result["zScore"] < 0
    rows = store.read(
        "MATCH (n:Neuron {network: $n}) RETURN n.spectralWeightsCluster AS c "
        "ORDER BY n.position, n.index",
        {"n": name},
    )
    modules = [i // 4 for _ in range(4) for i in range(12)] + [i // 2 for i in range(6)]
    assert adjusted_rand_score(modules, [r["c"] for r in rows]) == 1.0
