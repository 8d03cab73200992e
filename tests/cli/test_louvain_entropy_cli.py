"""`analyze louvain` and `analyze entropy` through the CLI, on small models trained for real."""

from __future__ import annotations

import json
import logging
from collections import Counter

import networkx as nx
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from neurongraph.analysis.communities import (
    DEFAULT_N_SHUFFLES,
    coactivation_graph,
    modularity_null,
)
from neurongraph.analysis.entropy import binary_entropy
from neurongraph.analysis.firing import firing
from neurongraph.cli import cli
from neurongraph.model.recorded import activation_cache

ARCH = "64-32-32-10"
#: Layer positions of the hidden layers of ARCH (input 0, output 3).
HIDDEN = (1, 2)
WIDTH = 32

NEURON_COMMUNITIES = (
    "MATCH (n:Neuron {network: $name}) WHERE n.position IN $positions "
    "RETURN n.uid AS uid, n.position AS position, n.index AS index, "
    "n.louvainCommunity AS community"
)
MEMBERSHIP = (
    "MATCH (n:Neuron {network: $name})-[:IN_CLUSTER]->(c:Cluster) "
    "RETURN n.uid AS uid, c.uid AS cluster, c.community AS community, c.position AS position"
)
PARTITIONS = (
    "MATCH (:Network {name: $name})-[:HAS_PARTITION]->(p:Partition) "
    "RETURN p.method AS method, p.uid AS uid"
)
CLUSTERS = (
    "MATCH (c:Cluster {network: $name}) RETURN c.uid AS uid, c.position AS position, "
    "c.community AS community, c.size AS size, c.layerModularity AS q"
)


def invoke(store_dir, *args):
    """The CLI against the session store, from a module-scoped fixture."""
    result = CliRunner().invoke(cli, ["--store", str(store_dir), *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A 64-32-32-10 ReLU MLP trained on digits by `neurongraph train`."""
    out = tmp_path_factory.mktemp("louvain") / "mlp.pt"
    result = CliRunner().invoke(
        cli,
        ["train", "--arch", ARCH, "--data", "digits", "--epochs", 6, "--lr", 0.01]
        + ["--out", out, "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["testAccuracy"] > 0.8
    return out


@pytest.fixture(scope="module")
def network(store, store_dir, model_file):
    """The trained model ingested with its activations on digits."""
    name = "louvain-entropy-mlp"
    invoke(store_dir, "ingest", model_file, "--name", name, "--data", "digits", "--replace")
    return name


@pytest.fixture(scope="module")
def cache(store, network):
    return activation_cache(store, network)


def louvain(run_cli, name, *args):
    return json.loads(run_cli("analyze", "louvain", name, "--json", *args).stdout)


def communities(store, name, positions=HIDDEN):
    rows = store.read(NEURON_COMMUNITIES, {"name": name, "positions": list(positions)})
    return {(r["position"], r["index"]): r["community"] for r in rows}


def snapshot(store, name):
    """Everything a refused command must leave alone: counts and the network's properties."""
    labels = store.read("MATCH (n) RETURN labels(n) AS labels, count(*) AS count")
    types = store.read("MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS count")
    nodes = store.read(
        "MATCH (n {network: $name}) RETURN n.uid AS uid, properties(n) AS props", {"name": name}
    )
    network = store.get_network(name)
    return (
        sorted((str(r["labels"]), r["count"]) for r in labels),
        sorted((r["type"], r["count"]) for r in types),
        sorted((r["uid"], json.dumps(r["props"], sort_keys=True)) for r in nodes),
        json.dumps(network, sort_keys=True),
    )


def test_louvain_writes_neurons_partition_and_clusters(run_cli, store, network):
    out = louvain(run_cli, network, "--seed", "0")  # the default null runs
    assert out["seed"] == 0 and out["method"] == "louvain"
    assert out["nShuffles"] == DEFAULT_N_SHUFFLES
    assert all(layer["percentile"] is not None for layer in out["layers"])
    assert [layer["skipped"] for layer in out["layers"]] == [False, False]
    for layer in out["layers"]:
        assert -0.5 <= layer["modularity"] <= 1
        assert layer["communities"] == len(layer["sizes"]) >= 1
        assert sum(layer["sizes"]) <= WIDTH
    assert out["modularity"] == pytest.approx(np.mean([r["modularity"] for r in out["layers"]]))
    # every hidden neuron has a community; input and output neurons have none
    labels = communities(store, network)
    assert len(labels) == len(HIDDEN) * WIDTH
    assert all(isinstance(c, int) and c >= -1 for c in labels.values())
    assert not any(v is not None for v in communities(store, network, (0, 3)).values())
    # one louvain partition with the per-layer modularity of the JSON output
    partitions = store.read(PARTITIONS, {"name": network})
    assert [p["method"] for p in partitions].count("louvain") == 1
    partition = store.partition(f"{network}/louvain")
    assert partition["layerModularity"] == pytest.approx([r["modularity"] for r in out["layers"]])
    assert partition["modularity"] == pytest.approx(out["modularity"])
    assert partition["seed"] == 0
    # clusters: one per (layer, community), sizes equal the JSON sizes and the labels
    clusters = store.read(CLUSTERS, {"name": network})
    assert partition["k"] == len(clusters) == sum(r["communities"] for r in out["layers"])
    for position, layer in zip(HIDDEN, out["layers"], strict=True):
        sizes = sorted((c["community"], c["size"]) for c in clusters if c["position"] == position)
        assert [s for _, s in sizes] == layer["sizes"]
        counted = Counter(c for (p, _), c in labels.items() if p == position and c >= 0)
        assert dict(counted) == dict(sizes)
    # IN_CLUSTER edges agree with the neuron property, one per non-isolated neuron
    members = store.read(MEMBERSHIP, {"name": network})
    assert len(members) == sum(c >= 0 for c in labels.values()) == sum(c["size"] for c in clusters)
    assert len({m["uid"] for m in members}) == len(members)
    for m in members:
        _, layer, index = m["uid"].rsplit("/", 2)
        assert labels[(m["position"], int(index))] == m["community"]


def test_louvain_text_output(run_cli, network):
    result = run_cli("analyze", "louvain", network, "--shuffles", 0, "--seed", "0")
    assert "modularity" in result.stdout and "communities" in result.stdout
    assert result.stdout.count("\n") >= 4  # header, rule, one row per hidden layer


def test_modularity_equals_networkx_on_rebuilt_graph(run_cli, store, network, cache):
    out = louvain(run_cli, network, "--shuffles", 0, "--seed", "3")
    labels = communities(store, network)
    for position, layer in zip(HIDDEN, out["layers"], strict=True):
        adjacency = coactivation_graph(firing(cache.layer(position), relu_like=True))
        graph = nx.from_scipy_sparse_array(adjacency)
        community = [labels[(position, i)] for i in range(WIDTH)]
        groups = {}
        for node, c in enumerate(community):
            groups.setdefault(c if c >= 0 else ("alone", node), set()).add(node)
        q = nx.community.modularity(graph, list(groups.values()), weight="weight")
        assert layer["modularity"] == pytest.approx(q, abs=1e-9)
        assert layer["edges"] == graph.number_of_edges()


NULL_KEYS = ("nullMean", "nullStd", "zScore", "percentile")


def test_louvain_judges_each_layers_q_against_permuted_firing(run_cli, store, network, cache):
    n = 4
    out = louvain(run_cli, network, "--seed", "5", "--shuffles", n)
    assert out["nShuffles"] == n
    for position, layer in zip(HIDDEN, out["layers"], strict=True):
        # the same null rebuilt from the recorded activations with the command's seed
        fired = firing(cache.layer(position), relu_like=True)
        null = modularity_null(fired, n_shuffles=n, random_state=5)
        assert layer["modularity"] == pytest.approx(null.modularity)
        expected = (null.null_mean, null.null_std, null.z_score, null.percentile)
        assert [layer[key] for key in NULL_KEYS] == pytest.approx(expected)
        assert layer["percentile"] in [pytest.approx(k / (n + 1)) for k in range(1, n + 2)]
        assert layer["nullStd"] == pytest.approx(np.std(null.null_modularities))  # population
    # measured: the first hidden layer is one community (Q = 0, as every null: z 0, percentile
    # 1); in the second, neurons fire together more than their rates make them (Q 0.008, z ~50)
    assert any(
        layer["zScore"] > 2 and layer["percentile"] == pytest.approx(1 / (n + 1))
        for layer in out["layers"]
    )
    partition = store.partition(f"{network}/louvain")
    assert partition["nShuffles"] == n
    for key in NULL_KEYS:
        stored = partition[f"layer{key[0].upper()}{key[1:]}"]
        assert stored == pytest.approx([r[key] for r in out["layers"]])
    rows = store.read(
        "MATCH (c:Cluster {network: $name}) "
        "RETURN c.position AS position, c.layerZScore AS z, c.layerPercentile AS p",
        {"name": network},
    )
    by_position = dict(zip(HIDDEN, out["layers"], strict=True))
    for row in rows:
        assert row["z"] == pytest.approx(by_position[row["position"]]["zScore"])
        assert row["p"] == pytest.approx(by_position[row["position"]]["percentile"])
    text = run_cli("analyze", "louvain", network, "--seed", "5", "--shuffles", n).stdout
    assert "null mean" in text and "percentile" in text and f"{n} graphs per layer" in text


def test_no_shuffles_no_null(run_cli, store, network):
    out = louvain(run_cli, network, "--seed", "5", "--shuffles", 0)
    assert out["nShuffles"] == 0
    assert all(layer[key] is None for layer in out["layers"] for key in NULL_KEYS)
    partition = store.partition(f"{network}/louvain")
    assert partition["nShuffles"] == 0 and "layerZScore" not in partition
    text = run_cli("analyze", "louvain", network, "--seed", "5", "--shuffles", 0).stdout
    assert "null mean" not in text
    refused = run_cli("analyze", "louvain", network, "--shuffles", -1, expect=2)
    assert "--shuffles" in refused.stderr


def test_same_seed_same_labels_and_rerun_replaces(run_cli, store, network):
    first = louvain(run_cli, network, "--shuffles", 0, "--seed", "7")
    labels = communities(store, network)
    n_clusters = len(store.read(CLUSTERS, {"name": network}))
    n_members = len(store.read(MEMBERSHIP, {"name": network}))
    louvain(
        run_cli, network, "--shuffles", 0, "--seed", "11"
    )  # replaced by a different run in between
    again = louvain(run_cli, network, "--shuffles", 0, "--seed", "7")
    assert communities(store, network) == labels
    assert again["layers"] == first["layers"]
    clusters = store.read(CLUSTERS, {"name": network})
    assert len(clusters) == n_clusters == len({c["uid"] for c in clusters})
    assert len(store.read(MEMBERSHIP, {"name": network})) == n_members
    assert [p["method"] for p in store.read(PARTITIONS, {"name": network})].count("louvain") == 1


def test_per_class(run_cli, store, network):
    out = louvain(run_cli, network, "--shuffles", 2, "--seed", "0", "--per-class")
    assert sorted(out["classModularity"], key=int) == [str(c) for c in range(10)]
    assert all(-0.5 <= q <= 1 for q in out["classModularity"].values())
    assert out["params"]["perClass"] is True
    partition = store.partition(f"{network}/louvain")
    assert partition["classes"] == list(range(10))
    assert partition["classModularity"] == pytest.approx(
        [out["classModularity"][str(c)] for c in range(10)]
    )
    # the whole-data results do not depend on --per-class
    plain = louvain(run_cli, network, "--shuffles", 2, "--seed", "0")
    assert plain["layers"] == out["layers"]


def test_entropy_matches_direct_computation(run_cli, store, network, cache):
    out = json.loads(run_cli("analyze", "entropy", network, "--json").stdout)
    y = cache.labels()
    rows = store.read(
        "MATCH (n:Neuron {network: $name}) WHERE n.position IN $positions "
        "RETURN n.position AS position, n.index AS index, n.entropy AS h, "
        "n.classEntropy AS hc",
        {"name": network, "positions": list(HIDDEN)},
    )
    stored = {(r["position"], r["index"]): (r["h"], r["hc"]) for r in rows}
    layers = {layer["name"]: layer for layer in store.layers(network)}
    pooled, pooled_class = [], []
    for position, summary in zip(HIDDEN, out["layers"], strict=True):
        fired = cache.layer(position) > 0  # ReLU layers: fires when > 0
        h = binary_entropy(fired.mean(axis=0))
        hc = np.mean([binary_entropy(fired[y == c].mean(axis=0)) for c in np.unique(y)], axis=0)
        np.testing.assert_allclose([stored[(position, i)][0] for i in range(WIDTH)], h, atol=1e-9)
        np.testing.assert_allclose([stored[(position, i)][1] for i in range(WIDTH)], hc, atol=1e-9)
        assert summary["entropyMean"] == pytest.approx(h.mean())
        assert summary["classEntropyMean"] == pytest.approx(hc.mean())
        layer = layers[summary["layer"]]
        assert layer["entropyMean"] == pytest.approx(h.mean())
        assert layer["classEntropyMean"] == pytest.approx(hc.mean())
        pooled.append(h)
        pooled_class.append(hc)
    net = store.get_network(network)
    assert net["entropy"] == pytest.approx(np.concatenate(pooled).mean()) == out["entropy"]
    assert net["classEntropy"] == pytest.approx(np.concatenate(pooled_class).mean())
    assert 0 < out["entropy"] < 1
    text = run_cli("analyze", "entropy", network).stdout
    assert "bits" in text and "class entropy" in text


@pytest.fixture(scope="module")
def bare_network(store, store_dir, model_file):
    """The trained model ingested without activations."""
    name = "louvain-entropy-bare"
    invoke(store_dir, "ingest", model_file, "--name", name, "--replace")
    return name


@pytest.mark.parametrize("command", ["louvain", "entropy"])
def test_refusals_leave_the_store_unchanged(run_cli, store, network, bare_network, command):
    extra = ["--seed", "0"] if command == "louvain" else []
    # unknown network
    before = snapshot(store, network)
    unknown = run_cli("analyze", command, "no-such-net", *extra, expect=2)
    assert unknown.stderr.startswith("error: ") and "'no-such-net'" in unknown.stderr
    assert unknown.stderr.count("\n") == 1 and "Traceback" not in unknown.stderr
    assert snapshot(store, network) == before
    # a network without activations: the message names the command that records them
    before = snapshot(store, bare_network)
    bare = run_cli("analyze", command, bare_network, *extra, expect=2)
    assert "neurongraph activations" in bare.stderr and repr(bare_network) in bare.stderr
    assert snapshot(store, bare_network) == before
    # a partial network (its ingest did not finish)
    partial = f"partial-{command}"
    store.write(
        "MERGE (n:Network {name: $name}) SET n.status = 'partial', n.nNeurons = 0",
        {"name": partial},
    )
    try:
        before = snapshot(store, partial)
        refused = run_cli("analyze", command, partial, *extra, expect=2)
        assert "partial" in refused.stderr and "--replace" in refused.stderr
        assert snapshot(store, partial) == before
    finally:
        store.drop_network(partial)


@pytest.fixture(scope="module")
def dead_layer_network(store, store_dir, tmp_path_factory):
    """64-16-8-10 ReLU MLP whose second hidden layer has one firing neuron: the other biases are
    so negative that they never fire on digits (inputs in [0, 1])."""
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 10)
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=generator) - 0.5)
        model[2].bias.fill_(-1000.0)
        model[2].bias[0] = 1000.0  # neuron 0 always fires, alone
    path = tmp_path_factory.mktemp("dead") / "dead.pt"
    torch.jit.save(torch.jit.script(model.eval()), str(path))
    name = "louvain-entropy-dead"
    invoke(store_dir, "ingest", path, "--name", name, "--data", "digits", "--replace")
    return name


def test_layer_with_fewer_than_two_firing_neurons_is_skipped(
    run_cli, store, dead_layer_network, caplog
):
    name = dead_layer_network
    with caplog.at_level(logging.WARNING, logger="neurongraph"):
        result = run_cli("analyze", "louvain", name, "--shuffles", 2, "--seed", "0", "--json")
    out = json.loads(result.stdout)
    live, dead = out["layers"]
    assert not live["skipped"] and live["modularity"] is not None
    assert dead["skipped"] and dead["modularity"] is None and dead["sizes"] == []
    assert "only 1 of 8 neurons fire" in " ".join(out["warnings"])
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == out["warnings"]
    assert set(communities(store, name, (2,)).values()) == {-1}
    partition = store.partition(f"{name}/louvain")
    assert partition["modularity"] == pytest.approx(live["modularity"])
    # the skipped layer has no null; the live one has
    assert dead["zScore"] is None and dead["percentile"] is None
    assert partition["layerPercentile"] == [pytest.approx(live["percentile"]), None]
    assert {c["position"] for c in store.read(CLUSTERS, {"name": name})} == {1}
    text = run_cli("analyze", "louvain", name, "--shuffles", 0, "--seed", "0")
    assert "skipped" in text.stdout
    # entropy: a neuron that never (or always) fires has entropy 0
    entropy = json.loads(run_cli("analyze", "entropy", name, "--json").stdout)
    assert entropy["layers"][1]["entropyMean"] == 0.0
    assert entropy["layers"][1]["classEntropyMean"] == 0.0
