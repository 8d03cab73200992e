"""`analyze spectral` through the CLI against the real store: what it writes and what it refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import adjusted_rand_score
from torch import nn

from neurongraph.analysis.cuts import ncut
from neurongraph.analysis.nulls import shuffle_layer
from neurongraph.cli import cli
from neurongraph.runs.graphs import activation_graph, weight_adjacency
from neurongraph.store.rows import partition_uid

WEIGHTS = "spectral-weights"
ACTIVATIONS = "spectral-activations"
WEIGHTS_KEY = "spectralWeightsCluster"
ACTIVATIONS_KEY = "spectralActivationsCluster"
#: The trained MLP: 64 inputs, 32 + 32 hidden units, 10 outputs.
WIDTHS = (64, 32, 32, 10)
N_NEURONS = sum(WIDTHS)
N_HIDDEN = sum(WIDTHS[1:-1])
#: The hand-built modular MLP: MODULES modules of MODULE_WIDTH neurons in every layer.
MODULES = 3
MODULE_WIDTH = 4
PLANTED_LAYERS = 4
PLANTED_SHUFFLES = 19
JSON_KEYS = {"ncut", "nullMean", "nullStd", "zScore", "percentile", "k", "clusterSizes"}
PARTITION_KEYS = {
    "k",
    "ncut",
    "nullMean",
    "nullStd",
    "zScore",
    "percentile",
    "nShuffles",
    "seed",
    "params",
}


def _invoke(store_dir, *args):
    result = CliRunner().invoke(cli, ["--store", str(store_dir), *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def trained_net(tmp_path_factory, store, store_dir):
    """A 64-32-32-10 MLP trained on digits by `neurongraph train`, ingested with activations."""
    out = tmp_path_factory.mktemp("spectral") / "mlp.pt"
    _invoke(
        store_dir,
        "train",
        "--arch",
        "-".join(map(str, WIDTHS)),
        "--data",
        "digits",
        "--epochs",
        "6",
        "--lr",
        "0.01",
        "--out",
        out,
        "--json",
    )
    name = "spectral-cli-mlp"
    _invoke(store_dir, "ingest", out, "--name", name, "--data", "digits", "--replace", "--json")
    return name


def _spectral(run_cli, network, *args, expect=0):
    result = run_cli("analyze", "spectral", network, *args, "--json", expect=expect)
    return json.loads(result.stdout) if expect == 0 else result


def _partitions(store, network, method):
    return [
        r["p"]
        for r in store.read(
            "MATCH (p:Partition {network: $name, method: $method}) RETURN properties(p) AS p",
            {"name": network, "method": method},
        )
    ]


def _clusters(store, network, method):
    return [
        r["c"]
        for r in store.read(
            "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster) "
            "RETURN properties(c) AS c ORDER BY c.label",
            {"uid": partition_uid(network, method)},
        )
    ]


def _labels(store, network, key):
    """The stored labels in weight-graph order (layer position, then index); None if unset."""
    rows = sorted(
        store.neuron_property(network, key), key=lambda r: (int(r["layer"]), int(r["index"]))
    )
    return [None if r["value"] is None else int(r["value"]) for r in rows]


def _memberships(store, network, method, key):
    return store.read(
        "MATCH (n:Neuron {network: $name})-[:IN_CLUSTER]->(c:Cluster {partition: $uid}) "
        f"RETURN n.uid AS neuron, n.`{key}` AS prop, c.label AS label",
        {"name": network, "uid": partition_uid(network, method)},
    )


def _counts(store):
    nodes = store.read("MATCH (n) RETURN count(n) AS n")[0]["n"]
    rels = store.read("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
    return nodes, rels


def test_weights_partition_is_written_and_scored(run_cli, store, trained_net):
    k = 6
    result = _spectral(run_cli, trained_net, "-k", k, "--shuffles", 5, "--seed", 0, "--jobs", 1)
    assert result.keys() >= JSON_KEYS
    assert result["k"] == k and result["nShuffles"] == 5 and result["warnings"] == []
    assert sum(result["clusterSizes"]) == N_NEURONS

    (partition,) = _partitions(store, trained_net, WEIGHTS)
    assert partition.keys() >= PARTITION_KEYS
    assert partition["k"] == k and partition["nShuffles"] == 5 and partition["seed"] == 0
    assert json.loads(partition["params"])["shuffleMethod"] == "layer"
    for key in ("ncut", "nullMean", "nullStd", "zScore", "percentile"):
        assert partition[key] == pytest.approx(result[key])
    assert 1 / 6 <= partition["percentile"] <= 1

    labels = _labels(store, trained_net, WEIGHTS_KEY)
    assert len(labels) == N_NEURONS and None not in labels  # a trained MLP has no isolated neuron
    clusters = _clusters(store, trained_net, WEIGHTS)
    assert [c["label"] for c in clusters] == sorted(set(labels)) == list(range(k))
    for cluster in clusters:
        assert cluster["size"] == labels.count(cluster["label"])
        assert sum(cluster["layerSizes"]) == cluster["size"]
        assert len(cluster["layerSizes"]) == len(WIDTHS)
    assert np.sum([c["layerSizes"] for c in clusters], axis=0).tolist() == list(WIDTHS)
    assert sum(c["size"] for c in clusters) == N_NEURONS

    members = _memberships(store, trained_net, WEIGHTS, WEIGHTS_KEY)
    assert len(members) == N_NEURONS
    assert len({m["neuron"] for m in members}) == N_NEURONS
    assert all(m["prop"] == m["label"] for m in members)

    # the stored n-cut is the n-cut of the stored labels on the stored weight graph
    adjacency = weight_adjacency(store, trained_net)
    assert adjacency.shape == (N_NEURONS, N_NEURONS)
    assert_allclose(partition["ncut"], ncut(adjacency, np.asarray(labels)), rtol=1e-9)


def test_the_partitioner_is_chosen_by_name_and_recorded(run_cli, store, trained_net):
    args = ("-k", 6, "--shuffles", 3, "--seed", 2, "--jobs", 1)
    papers = _spectral(run_cli, trained_net, *args)
    (partition,) = _partitions(store, trained_net, WEIGHTS)
    assert papers["spectralMethod"] == partition["spectralMethod"] == "papers"
    assert json.loads(partition["params"])["spectralMethod"] == "papers"

    refined = _spectral(run_cli, trained_net, *args, "--method", "ncut-refined")
    (partition,) = _partitions(store, trained_net, WEIGHTS)
    assert refined["spectralMethod"] == partition["spectralMethod"] == "ncut-refined"
    assert refined["ncut"] < papers["ncut"]  # it keeps the restart with the lowest n-cut
    text = run_cli("analyze", "spectral", trained_net, *args).stdout
    assert "(papers, k=6" in text


def test_rerun_replaces_and_same_seed_reproduces(run_cli, store, trained_net):
    first = _spectral(run_cli, trained_net, "-k", 5, "--shuffles", 4, "--seed", 3, "--jobs", 1)
    labels = _labels(store, trained_net, WEIGHTS_KEY)
    # nulls are reproducible from the seed whatever the number of processes
    again = _spectral(run_cli, trained_net, "-k", 5, "--shuffles", 4, "--seed", 3, "--jobs", 2)
    assert _labels(store, trained_net, WEIGHTS_KEY) == labels
    assert again["ncut"] == pytest.approx(first["ncut"], rel=1e-12)
    assert again["nullMean"] == pytest.approx(first["nullMean"], rel=1e-12)
    assert again["clusterSizes"] == first["clusterSizes"]
    assert len(_partitions(store, trained_net, WEIGHTS)) == 1
    assert len(_clusters(store, trained_net, WEIGHTS)) == 5
    assert len(_memberships(store, trained_net, WEIGHTS, WEIGHTS_KEY)) == N_NEURONS


def test_no_null_and_labels_from(run_cli, store, trained_net):
    plain = _spectral(run_cli, trained_net, "-k", 4, "--no-null", "--seed", 1)
    assert plain["nShuffles"] == 0
    assert plain["nullMean"] is None and plain["percentile"] is None
    (partition,) = _partitions(store, trained_net, WEIGHTS)
    assert partition["nShuffles"] == 0 and "nullMean" not in partition
    assert partition["k"] == 4

    scored = _spectral(
        run_cli, trained_net, "--labels-from", WEIGHTS_KEY, "--shuffles", 3, "--seed", 1
    )
    assert scored["ncut"] == pytest.approx(plain["ncut"], rel=1e-9)
    assert scored["k"] == 4 and scored["nullMean"] is not None
    # scoring a labelling leaves the spectral-weights partition and the labels alone
    assert _partitions(store, trained_net, WEIGHTS)[0]["nShuffles"] == 0
    assert len(_partitions(store, trained_net, WEIGHTS)) == 1


def test_labels_from_scores_any_integer_labels(run_cli, store, trained_net):
    # labels need not be 0..k-1: inputs and first hidden layer 0, the rest 5, outputs none
    store.write(
        "MATCH (n:Neuron {network: $name}) SET n.someLabels = CASE WHEN n.position <= 1 "
        "THEN 0 WHEN n.position = 2 THEN 5 ELSE -1 END",
        {"name": trained_net},
    )
    result = _spectral(run_cli, trained_net, "--labels-from", "someLabels", "--no-null")
    method = "someLabels-weights"
    assert result["method"] == method and result["k"] == 2
    assert result["clusterSizes"] == [WIDTHS[0] + WIDTHS[1], WIDTHS[2]]
    clusters = _clusters(store, trained_net, method)
    assert [(c["label"], c["size"]) for c in clusters] == [(0, 96), (5, 32)]
    assert [c["layerSizes"] for c in clusters] == [[64, 32, 0, 0], [0, 0, 32, 0]]
    labels = np.asarray(_labels(store, trained_net, "someLabels"))
    expected = ncut(weight_adjacency(store, trained_net), labels)
    assert_allclose(result["ncut"], expected, rtol=1e-9)


def test_activation_graph(run_cli, store, trained_net):
    result = _spectral(
        run_cli, trained_net, "--graph", "activations", "-k", 4, "--shuffles", 3, "--seed", 0
    )
    assert result["method"] == ACTIVATIONS and result["k"] == 4
    (partition,) = _partitions(store, trained_net, ACTIVATIONS)
    assert json.loads(partition["params"])["shuffleMethod"] == "upper_triangle"
    labels = _labels(store, trained_net, ACTIVATIONS_KEY)
    # only hidden neurons are in the activation graph; those without any correlation (dead
    # ReLUs) are isolated there and get -1
    assert labels[: WIDTHS[0]] == [None] * WIDTHS[0]
    assert labels[-WIDTHS[-1] :] == [None] * WIDTHS[-1]
    hidden = np.asarray(labels[WIDTHS[0] : -WIDTHS[-1]])
    adjacency, _ = activation_graph(store, trained_net)
    assert_array_equal(hidden == -1, adjacency.sum(axis=1) == 0)
    assert sorted(set(hidden[hidden >= 0].tolist())) == [0, 1, 2, 3]
    assert sum(result["clusterSizes"]) == np.count_nonzero(hidden >= 0)
    members = _memberships(store, trained_net, ACTIVATIONS, ACTIVATIONS_KEY)
    assert len(members) == np.count_nonzero(hidden >= 0)
    assert all(m["prop"] == m["label"] for m in members)


def _modular_weights(rng: np.random.Generator) -> list[np.ndarray]:
    """Block-diagonal signed weights (modules strong, cross-module weights 100x weaker)."""
    width = MODULES * MODULE_WIDTH
    module = np.repeat(np.arange(MODULES), MODULE_WIDTH)
    same = module[:, None] == module[None, :]
    blocks = []
    for _ in range(PLANTED_LAYERS - 1):
        magnitude = np.where(same, rng.uniform(0.5, 1.0, (width, width)), 0.01)
        blocks.append(magnitude * rng.choice([-1.0, 1.0], size=(width, width)))
    return blocks


def _save_mlp(weights: list[np.ndarray], path) -> str:
    layers: list[nn.Module] = []
    for i, w in enumerate(weights):
        linear = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
            linear.bias.zero_()
        layers.append(linear)
        if i < len(weights) - 1:
            layers.append(nn.ReLU())
    torch.jit.save(torch.jit.script(nn.Sequential(*layers).eval()), str(path))
    return str(path)


def test_planted_modules_are_found_and_shuffles_are_not_clusterable(run_cli, store, tmp_path, name):
    weights = _modular_weights(np.random.default_rng(0))
    truth = np.tile(np.repeat(np.arange(MODULES), MODULE_WIDTH), PLANTED_LAYERS)
    args = ("-k", MODULES, "--shuffles", PLANTED_SHUFFLES, "--seed", 0, "--jobs", 1)

    run_cli("ingest", _save_mlp(weights, tmp_path / "modular.pt"), "--name", name)
    planted = _spectral(run_cli, name, *args)
    labels = _labels(store, name, WEIGHTS_KEY)
    assert adjusted_rand_score(truth, labels) >= 0.95
    assert planted["percentile"] == pytest.approx(1 / (PLANTED_SHUFFLES + 1))
    assert planted["clusterable"] is True and planted["zScore"] < -3

    # one layer shuffle of the same weights (the percentile of such a network is uniform over
    # 1/20 .. 1; this draw sits mid-range, where a typical shuffle does)
    rng = np.random.default_rng(2)
    shuffled_weights = [shuffle_layer(w, rng) for w in weights]
    shuffled = f"{name}-shuffled"
    run_cli("ingest", _save_mlp(shuffled_weights, tmp_path / "shuffled.pt"), "--name", shuffled)
    null = _spectral(run_cli, shuffled, *args)
    assert null["clusterable"] is False
    assert null["percentile"] >= 5 / (PLANTED_SHUFFLES + 1)
    assert null["zScore"] > -2
    assert null["ncut"] > planted["ncut"]


@pytest.fixture
def empty_net(store, name):
    """A complete network with one layer and no WEIGHT edges."""
    store.write(
        "CREATE (net:Network {name: $name, status: 'complete', nNeurons: 0, nEdges: 0})"
        "-[:HAS_LAYER]->(:Layer {uid: $uid, network: $name, name: 'input', position: 0, "
        "kind: 'input', width: 3})",
        {"name": name, "uid": f"{name}/input"},
    )
    yield name
    store.drop_network(name)


@pytest.fixture
def bare_net(run_cli, tmp_path, name):
    """A small network ingested without activations."""
    run_cli(
        "ingest",
        _save_mlp(_modular_weights(np.random.default_rng(2)), tmp_path / "m.pt"),
        "--name",
        name,
    )
    return name


@pytest.mark.parametrize(
    ("case", "args", "message"),
    [
        ("trained", ["-k", 1], "k must be"),
        ("trained", ["-k", N_NEURONS + 1], "k must be"),
        ("ghost", [], "no network named"),
        ("empty", [], "no WEIGHT edges"),
        ("bare", ["--graph", "activations"], "neurongraph activations"),
        ("trained", ["--labels-from", "nobodyHasThis"], "nobodyHasThis"),
        ("one-label", ["--labels-from", "oneLabel"], "at least 2"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    request, run_cli, store, trained_net, case, args, message
):
    network = {
        "trained": lambda: trained_net,
        "ghost": lambda: "no-such-network",
        "empty": lambda: request.getfixturevalue("empty_net"),
        "bare": lambda: request.getfixturevalue("bare_net"),
        "one-label": lambda: trained_net,
    }[case]()
    if case == "one-label":
        store.write("MATCH (n:Neuron {network: $name}) SET n.oneLabel = 0", {"name": network})
    before = _counts(store)
    result = _spectral(run_cli, network, *args, "--seed", 0, "--shuffles", 2, expect=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert result.stdout == ""
    assert _counts(store) == before
