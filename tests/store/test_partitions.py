"""Replacing a partition: any number of clusters, whole or not at all."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from neurongraph.errors import StoreError
from neurongraph.ingest import ingest_model
from neurongraph.store import open_store
from neurongraph.store.rows import cluster_uid, neuron_uid, partition_uid
from neurongraph.store.store import WRITE_ATTEMPTS

SCRATCH_KEY = "scratchCluster"
#: Rounds of two concurrent writers to run until one of them had to retry.
CONCURRENT_ROUNDS = 3
#: When to SIGKILL a partition write, one run each, as fractions of the time an uninterrupted
#: one took (3 to 5 s for ~500 clusters on 2 busy cores): early, midway, around the commit.
KILL_AT = (0.05, 0.6, 1.2)


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
        args = (
            "analyze",
            "louvain",
            name,
            "--resolution",
            20,
            "--shuffles",
            0,
            "--seed",
            seed,
            "--json",
        )
        out = json.loads(run_cli(*args).stdout)
        communities = sum(layer["communities"] for layer in out["layers"])
        assert communities > 150
        partition = whole_partition(store, name, uid, "louvainCommunity")
        assert (partition["k"], partition["seed"]) == (communities, seed)


def test_a_conflict_that_outlasts_the_retries_is_a_one_line_error(store, name):
    """A Cluster that holds one of the partition's uids but is not one of its clusters (nothing
    a rerun can fix): the write is tried WRITE_ATTEMPTS times, then refused, and the partition
    written before stays whole."""
    neurons = flat_network(store, name, 40)
    uid = partition_uid(name, "scratch")
    store.replace_partition(name, *scratch_partition(name, neurons, 4, "old"))
    squatter = {"uid": cluster_uid(name, "scratch", 7), "network": name}
    store.write("CREATE (c:Cluster) SET c += $props", {"props": squatter})
    with pytest.raises(StoreError) as refused:
        store.replace_partition(name, *scratch_partition(name, neurons, 8, "new"))
    message = str(refused.value)
    assert f"after {WRITE_ATTEMPTS} tries" in message and "\n" not in message
    assert whole_partition(store, name, uid, SCRATCH_KEY)["tag"] == "old"
    store.write("MATCH (c:Cluster {uid: $uid}) DELETE c", {"uid": squatter["uid"]})


def neurongraph_command(store_dir, *args):
    return [
        sys.executable,
        "-c",
        "from neurongraph.cli import main; main()",
        "--store",
        str(store_dir),
        *map(str, args),
    ]


def ng(store_dir, *args):
    result = subprocess.run(
        neurongraph_command(store_dir, *args), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result


def test_concurrent_spectral_runs_on_a_served_store_both_succeed(tmp_path):
    """Two `analyze spectral` of one network at once, through `db start`: the second commit
    took unique keys the first had just written (`Duplicated key ... on index 'Cluster[uid]'`)
    and failed; now it tries again and replaces the first one's partition."""
    directory = tmp_path / "served"
    with open_store(directory) as store:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64))
        ingest_model(store, model, "net", torch.zeros(2, 64))
    ng(directory, "db", "start")
    try:
        retried = False
        for _ in range(CONCURRENT_ROUNDS):
            runs = [
                subprocess.Popen(
                    neurongraph_command(
                        directory,
                        "-v",
                        "analyze",
                        "spectral",
                        "net",
                        "-k",
                        12,
                        "--no-null",
                        "--seed",
                        seed,
                    ),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for seed in (0, 1)
            ]
            errors = [run.communicate(timeout=300)[1] for run in runs]
            for run, stderr in zip(runs, errors, strict=True):
                assert run.returncode == 0, stderr
            retried = any("conflicted with another writer" in e for e in errors)
            with open_store(directory) as store:
                partition = whole_partition(
                    store, "net", partition_uid("net", "spectral-weights"), "spectralWeightsCluster"
                )
                assert partition["k"] == 12 and partition["seed"] in (0, 1)
            if retried:
                break
        assert retried, "the two runs never wrote at the same time"
    finally:
        ng(directory, "db", "stop")


def test_a_killed_partition_write_leaves_the_old_or_the_new_partition_whole(run_cli, tmp_path):
    """SIGKILL an `analyze louvain` while it replaces a partition of hundreds of clusters, at
    several points of its write; the reopened store holds one whole partition: the old one or
    the new one, never a mix or a part."""
    directory = tmp_path / "killed"
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )
    script = tmp_path / "wide.pt"
    torch.jit.save(torch.jit.script(model), str(script))
    run_cli("ingest", script, "--name", "net", "--data", "digits", store=directory)
    louvain = ("analyze", "louvain", "net", "--resolution", 20, "--shuffles", 0)
    run_cli(*louvain, "--seed", 0, store=directory)
    uid = partition_uid("net", "louvain")

    def start(seed):
        return subprocess.Popen(
            neurongraph_command(directory, "-v", *louvain, "--seed", seed),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_for(process, text):
        for line in process.stderr:
            if text in line:
                return time.monotonic()
        raise AssertionError(f"{text!r} never logged; exit {process.wait()}")

    timed = start(1)  # an uninterrupted replace, to time the write
    began = wait_for(timed, "writing partition")
    took = wait_for(timed, "wrote partition") - began
    assert timed.wait() == 0
    seed, outcomes = 1, []
    for attempt, fraction in enumerate(KILL_AT, start=2):
        process = start(attempt)
        wait_for(process, "writing partition")
        time.sleep(fraction * took)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode in (-signal.SIGKILL, 0), process.stderr.read()
        with open_store(directory) as store:
            partition = whole_partition(store, "net", uid, "louvainCommunity")
        assert partition["k"] > 150
        assert partition["seed"] in (seed, attempt)
        killed = process.returncode == -signal.SIGKILL
        outcomes.append(
            (fraction, "killed" if killed else "finished", partition["seed"] == attempt)
        )
        seed = partition["seed"]
    print(f"write {took:.1f} s; (fraction of it, run, new partition there):", outcomes)
    assert (KILL_AT[0], "killed", False) in outcomes, f"no kill landed mid-write: {outcomes}"
