"""Replacing a partition: any number of clusters, whole or not at all."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from neurongraph.ingest import ingest_model
from neurongraph.store.rows import cluster_uid, neuron_uid, partition_uid

SCRATCH_KEY = "scratchCluster"


def whole_partition(store, network, uid, key):
    """Check that partition ``uid`` is whole and return its property map.

    Whole: as many clusters as its ``k``, each with as many members as its ``size``, every
    member carrying its cluster's label (Louvain: community) in ``key``, and no other neuron of
    the network carrying a label.
    """
    partition = store.partition(uid)
    assert partition is not None, f"no partition {uid}"
    clusters = store.clusters(uid)
    assert len(clusters) == partition["k"], (uid, len(clusters), partition["k"])
    values = {(r["layer"], r["index"]): r["value"] for r in store.neuron_property(network, key)}
    members = 0
    for row in clusters:
        cluster = row["cluster"]
        expected = cluster.get("community", cluster["label"])
        assert len(row["members"]) == cluster["size"], cluster["uid"]
        for position, index in row["members"]:
            assert values[(position, index)] == expected, (cluster["uid"], position, index)
        members += len(row["members"])
    labelled = [v for v in values.values() if v is not None and v != -1]
    assert len(labelled) == members
    return partition


def flat_network(store, name, width):
    """A network with ``width`` neurons in its one hidden layer and no WEIGHT edges (zero
    weights), quick to write."""
    model = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    ingest_model(store, model, name, torch.zeros(2, 4))
    return [neuron_uid(name, "0", i) for i in range(width)]


def scratch_partition(name, neurons, k, tag):
    """``replace_partition`` arguments: neurons dealt round-robin into ``k`` clusters."""
    uid = partition_uid(name, "scratch")
    groups = [neurons[c::k] for c in range(k)]
    clusters = [
        {
            "uid": cluster_uid(name, "scratch", c),
            "network": name,
            "partition": uid,
            "label": c,
            "size": len(g),
        }
        for c, g in enumerate(groups)
    ]
    members = [{"cluster": c["uid"], "neurons": g} for c, g in zip(clusters, groups, strict=True)]
    rows = [{"uid": u, "props": {SCRATCH_KEY: c}} for c, g in enumerate(groups) for u in g]
    partition = {"uid": uid, "network": name, "method": "scratch", "k": k, "tag": tag}
    return partition, clusters, members, SCRATCH_KEY, rows


def test_partitions_of_hundreds_of_clusters_replace_each_other(store, name):
    """DETACH DELETE of the partition and its clusters in one streamed statement failed on
    ArcadeDB past ~107 clusters (the partition's first edge segment), so such a partition could
    never be replaced. Sizes around and well past several delete batches."""
    neurons = flat_network(store, name, 1_050)
    uid = partition_uid(name, "scratch")
    for k, tag in ((300, "a"), (1_050, "b"), (108, "c")):
        store.replace_partition(name, *scratch_partition(name, neurons, k, tag))
        partition = whole_partition(store, name, uid, SCRATCH_KEY)
        assert (partition["k"], partition["tag"]) == (k, tag)
    count = "MATCH (c:Cluster {network: $name}) RETURN count(c) AS c"
    assert store.read(count, {"name": name}) == [{"c": 108}]
    assert store.read("MATCH (p:Partition {uid: $uid}) RETURN count(p) AS c", {"uid": uid}) == [
        {"c": 1}
    ]


def test_spectral_with_120_clusters_runs_twice(run_cli, store, name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 96), nn.ReLU(), nn.Linear(96, 32))
    ingest_model(store, model, name, torch.zeros(2, 64))
    for seed in (0, 1):
        args = ("analyze", "spectral", name, "-k", 120, "--no-null", "--seed", seed, "--json")
        out = json.loads(run_cli(*args).stdout)
        assert out["k"] == 120
        partition = whole_partition(
            store, name, partition_uid(name, "spectral-weights"), "spectralWeightsCluster"
        )
        assert (partition["k"], partition["seed"]) == (120, seed)


@pytest.fixture
def activations_network(run_cli, name, tmp_path):
    """An untrained MLP ingested with its activations on digits."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    script = tmp_path / "wide.pt"
    torch.jit.save(torch.jit.script(model), str(script))
    run_cli("ingest", script, "--name", name, "--data", "digits")
    return name


def test_louvain_with_hundreds_of_communities_runs_twice(run_cli, store, activations_network):
    name = activations_network
    uid = partition_uid(name, "louvain")
    for seed in (0, 1):
        args = ("analyze", "louvain", name, "--resolution", 20, "--seed", seed, "--json")
        out = json.loads(run_cli(*args).stdout)
        communities = sum(layer["communities"] for layer in out["layers"])
        assert communities > 150
        partition = whole_partition(store, name, uid, "louvainCommunity")
        assert (partition["k"], partition["seed"]) == (communities, seed)
