"""The store itself: locking, credentials, serving, crash safety, both write paths."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import stat
import subprocess
import sys
import time

import psutil
import pytest
import torch
from torch import nn

from neurongraph.errors import StoreError
from neurongraph.ingest import ingest_model
from neurongraph.store import embedded, open_store
from neurongraph.store.embedded import ROOT_USER, read_password
from neurongraph.store.rows import neuron_uid
from neurongraph.store.schema import ARCADEDB_HASH_INDEXES


def ng(store_dir, *args, check=True, **kwargs):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from neurongraph.cli import main; main()",
            "--store",
            str(store_dir),
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def big_mlp(width=256, depth=4, inputs=784):
    layers, prev = [], inputs
    for _ in range(depth):
        layers += [nn.Linear(prev, width), nn.ReLU()]
        prev = width
    return nn.Sequential(*layers, nn.Linear(prev, 10))


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def test_password_file_is_private_and_server_binds_loopback(store, store_dir):
    mode = stat.S_IMODE(os.stat(store_dir / ".neurongraph" / "password").st_mode)
    assert mode == 0o600
    listening = [
        c.laddr
        for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening, "the embedded server listens somewhere"
    assert all(_loopback(addr.ip) for addr in listening), listening


def test_unreachable_bolt_fails_fast_via_cli_option(store, run_cli):
    started = time.monotonic()
    result = run_cli("networks", expect=2, store="bolt://127.0.0.1:1")
    assert time.monotonic() - started < 10
    assert result.stderr.startswith("error: cannot reach a Bolt server")


def test_wrong_credentials(store, monkeypatch):
    uri = f"bolt://127.0.0.1:{store._server.bolt_port}"
    monkeypatch.setenv("NEO4J_USERNAME", ROOT_USER)
    monkeypatch.setenv("NEO4J_PASSWORD", "not-the-password")
    with pytest.raises(StoreError, match="wrong credentials"):
        open_store(uri)


def test_right_credentials_reach_the_embedded_server_as_a_bolt_server(
    store, store_dir, monkeypatch
):
    monkeypatch.setenv("NEO4J_USERNAME", ROOT_USER)
    monkeypatch.setenv("NEO4J_PASSWORD", read_password(store_dir))
    monkeypatch.setenv("NEO4J_DATABASE", "neurongraph")
    with open_store(f"bolt://127.0.0.1:{store._server.bolt_port}") as remote:
        assert remote.flavour == "arcadedb"
        assert [n["name"] for n in remote.networks()] == [n["name"] for n in store.networks()]


def test_store_open_in_another_process_is_a_clear_error(store, store_dir):
    result = ng(store_dir, "networks", check=False)
    assert result.returncode == 2
    assert f"in use by another process (pid {os.getpid()})" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_not_a_store_directory(tmp_path, run_cli):
    (tmp_path / "notes.txt").write_text("hello")
    result = run_cli("networks", expect=2, store=tmp_path)
    assert "not a neurongraph store" in result.stderr


def stored_graph(store, name):
    """Every WEIGHT edge and every neuron's bias, sorted."""
    edges = sorted(
        (r["layer"], r["source"], t, w, g)
        for r in store.read_weights(name)
        for t, w, g in zip(r["targets"], r["weights"], r["signed"], strict=True)
    )
    biases = store.read(
        "MATCH (n:Neuron {network: $name}) RETURN n.uid AS u, n.bias AS b ORDER BY u",
        {"name": name},
    )
    return edges, biases


def test_a_served_store_writes_the_same_graph_by_bulk_import_and_over_bolt(
    tmp_path, mlp, monkeypatch
):
    """db start serves the store; another process's ingest hands the graph to the serving
    process's bulk importer, and a client that only speaks Bolt (the store's URI) writes
    with UNWIND batches: both write exactly what the in-process bulk path writes."""
    directory = tmp_path / "served"
    script = tmp_path / "mlp.pt"
    torch.jit.save(torch.jit.script(mlp), str(script))
    status = json.loads(ng(directory, "db", "start", "--json").stdout)
    try:
        assert status["serving"] and status["uri"].startswith("bolt://127.0.0.1:")
        assert json.loads(ng(directory, "db", "status", "--json").stdout)["pid"] == status["pid"]
        ng(directory, "ingest", script, "--name", "viabulk")
        monkeypatch.setenv("NEO4J_USERNAME", ROOT_USER)
        monkeypatch.setenv("NEO4J_PASSWORD", read_password(directory))
        with open_store(status["uri"]) as over_bolt:
            ingest_model(over_bolt, mlp, "viabolt", torch.zeros(2, 64))
        with open_store(directory) as served:  # connects to the serving process
            assert served._server is None and served._served.pid == status["pid"]
            assert served.get_network("viabulk")["status"] == "complete"
            via_served_bulk = stored_graph(served, "viabulk")
            via_bolt = stored_graph(served, "viabolt")
    finally:
        ng(directory, "db", "stop")
    assert not json.loads(ng(directory, "db", "status", "--json").stdout)["serving"]
    with open_store(tmp_path / "bulk") as bulk:
        ingest_model(bulk, mlp, "viabulk", torch.zeros(2, 64))
        via_bulk = stored_graph(bulk, "viabulk")
    assert via_served_bulk == via_bulk
    assert via_bolt[0] == via_bulk[0]
    assert [b["b"] for b in via_bolt[1]] == [b["b"] for b in via_bulk[1]]
    assert len(via_bulk[0]) == 64 * 32 + 32 * 16 + 16 * 10


def test_a_killed_ingest_leaves_no_network_and_the_next_ingest_cleans_up(tmp_path):
    directory = tmp_path / "killed"
    model = big_mlp(width=128, depth=3)  # four blocks of WEIGHT edges, ~134k edges
    script = tmp_path / "big.pt"
    torch.jit.save(torch.jit.script(model), str(script))
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from neurongraph.cli import main; main()",
            "--store",
            str(directory),
            "-v",
            "ingest",
            str(script),
            "--name",
            "big",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:  # wait until the first block of WEIGHT edges is written
        if "WEIGHT edges written" in line:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert json.loads(ng(directory, "networks", "--json").stdout)["networks"] == []
    with open_store(directory) as killed:  # what it wrote is hidden under a staging name
        assert [r["name"].split("~")[0] for r in killed.read(
            "MATCH (n:Network) RETURN n.name AS name")] == ["big"]  # fmt: skip
    out = json.loads(ng(directory, "ingest", script, "--name", "big", "--json").stdout)
    assert out["replaced"] is False
    with open_store(directory) as again:
        assert again.get_network("big")["status"] == "complete"
        assert again.count_network("big") == {"neurons": 784 + 3 * 128 + 10, "edges": out["edges"]}
        assert len(again.read("MATCH (n:Network) RETURN n")) == 1


def _ordered_indexes(directory) -> dict[str, bool]:
    """Each index of the store by name: whether it is an LSM tree (ordered iterations)."""
    server = embedded.acquire(directory)
    try:
        rows = server.database.query(
            "sql", "SELECT name, supportsOrderedIterations AS ordered FROM schema:indexes"
        ).to_list()
    finally:
        embedded.release(server)
    return {r["name"]: bool(r["ordered"]) for r in rows if "[" in r["name"]}


def test_a_store_made_with_lsm_tree_indexes_gets_hash_indexes_and_keeps_its_data(tmp_path):
    """Stores made before the hash indexes hold LSM trees on uids and networks, beside which
    ArcadeDB refuses a hash index: opening one replaces them, data and lookups intact."""
    directory = tmp_path / "old"
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    with open_store(directory) as store:
        ingest_model(store, model, "old", torch.zeros(2, 6))
    server = embedded.acquire(directory)
    try:  # the indexes as a store made before had them
        for name in sorted(ARCADEDB_HASH_INDEXES):
            label, key = name.rstrip("]").split("[")
            server.database.command("sql", f"DROP INDEX `{name}`")
            kind = "UNIQUE" if key == "uid" else "NOTUNIQUE"
            server.database.command("sql", f"CREATE INDEX ON `{label}` (`{key}`) {kind}")
    finally:
        embedded.release(server)
    before = _ordered_indexes(directory)  # opening it already replaced them
    assert set(ARCADEDB_HASH_INDEXES) <= set(before)
    assert not any(before[name] for name in ARCADEDB_HASH_INDEXES)
    assert before["Network[name]"]  # ranges over network names keep their LSM tree
    networks = json.loads(ng(directory, "networks", "--json").stdout)["networks"]
    assert [(n["name"], n["status"]) for n in networks] == [("old", "complete")]
    with open_store(directory) as store:
        assert store.count_network("old") == {"neurons": 6 + 5 + 3, "edges": 6 * 5 + 5 * 3}
        uid = neuron_uid("old", store.layers("old")[1]["name"], 4)
        found = store.read("MATCH (n:Neuron {uid: $uid}) RETURN n.network AS n", {"uid": uid})
        assert found == [{"n": "old"}]
