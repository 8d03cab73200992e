"""Served by default: the first command leaves an embedded store served by a background process
that later commands reuse, and that stops by itself when idle (real processes throughout)."""

from __future__ import annotations

import json
import os
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
from neurongraph.store.autoserve import IDLE_ENV, SERVE_ENV, log_path
from neurongraph.store.embedded import find_served, pid_alive, read_serve_info

#: Seconds a test waits for a served process to stop or start before it fails.
WAIT = 120
#: The idle time of stores served in these tests, unless a test needs a short one.
TEST_IDLE = "300"
STARTED = "started the embedded store"


def ng(directory, *args, env=None, check=True):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from neurongraph.cli import main; main()",
            "--store",
            str(directory),
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, SERVE_ENV: "1", IDLE_ENV: TEST_IDLE, **(env or {})},
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def wait_gone(pid):
    deadline = time.monotonic() + WAIT
    while pid_alive(pid):
        assert time.monotonic() < deadline, f"the served process {pid} did not stop"
        time.sleep(0.2)


@pytest.fixture
def served_dirs():
    """Store directories whose background servers are stopped after the test, whatever it did."""
    directories = []
    yield directories
    for directory in directories:
        info = read_serve_info(directory)
        if info is None or not pid_alive(info["pid"]):
            continue
        os.kill(info["pid"], signal.SIGTERM)
        try:
            wait_gone(info["pid"])
        except AssertionError:
            os.kill(info["pid"], signal.SIGKILL)
            raise


@pytest.fixture
def serve_here(monkeypatch):
    """Stores opened by this process are left served, as by a command."""
    monkeypatch.setenv(SERVE_ENV, "1")
    monkeypatch.setenv(IDLE_ENV, TEST_IDLE)


def test_the_first_command_leaves_the_store_served_and_the_next_reuses_it(tmp_path, served_dirs):
    directory = tmp_path / "store"
    served_dirs.append(directory)
    first = ng(directory, "-v", "networks", "--json")
    status = json.loads(ng(directory, "db", "status", "--json").stdout)
    assert status["serving"] and status["uri"] == f"bolt://127.0.0.1:{status['port']}"
    assert status["idleLimitSeconds"] == float(TEST_IDLE)
    assert 0 <= status["secondsSinceLastUse"] < float(TEST_IDLE)
    second = ng(directory, "-v", "networks", "--json")
    # neither command ran the store in its own process: the served one did, once
    assert STARTED not in first.stderr and STARTED not in second.stderr
    assert log_path(directory).read_text().count(STARTED) == 1
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert json.loads(ng(directory, "db", "status", "--json").stdout)["pid"] == status["pid"]
    stopped = json.loads(ng(directory, "db", "stop", "--json").stdout)
    assert stopped == {"store": str(directory), "stopped": True, "pid": status["pid"]}
    assert not pid_alive(status["pid"])
    assert not json.loads(ng(directory, "db", "status", "--json").stdout)["serving"]
    assert read_serve_info(directory) is None


def test_a_served_store_stops_when_idle_but_not_while_a_command_is_connected(
    tmp_path, served_dirs, serve_here, monkeypatch
):
    idle = 2.0
    monkeypatch.setenv(IDLE_ENV, str(idle))
    directory = tmp_path / "store"
    served_dirs.append(directory)
    with open_store(directory) as store:
        pid = store._served.pid
        assert store._server is None and pid != os.getpid()
        time.sleep(3 * idle)  # connected all along: still served
        assert pid_alive(pid) and find_served(directory).pid == pid
        assert store.networks() == []
    wait_gone(pid)
    assert read_serve_info(directory) is None
    with open_store(directory) as again:  # the next command serves it afresh
        assert again._served.pid != pid


def test_a_killed_server_is_detected_and_replaced_and_keeps_committed_data(
    tmp_path, served_dirs, serve_here
):
    directory = tmp_path / "store"
    served_dirs.append(directory)
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    store = open_store(directory)
    try:
        ingest_model(store, model, "before-kill", torch.zeros(2, 8))  # the served bulk import
        store.set_network_properties("before-kill", {"note": "committed"})
        killed = store._served.pid
        os.kill(killed, signal.SIGKILL)
        wait_gone(killed)
        with pytest.raises(StoreError) as lost:
            store.networks()
        message = str(lost.value)
        assert f"pid {killed}) stopped or died" in message and "\n" not in message
    finally:
        store.close()
    assert read_serve_info(directory)["pid"] == killed  # the stale port file is still there
    listed = json.loads(ng(directory, "networks", "--json").stdout)
    (network,) = listed["networks"]
    assert network["name"] == "before-kill" and network["status"] == "complete"
    assert network["note"] == "committed" and network["nEdges"] == 8 * 6 + 6 * 3
    replacement = find_served(directory)
    assert replacement is not None and replacement.pid != killed


def test_two_commands_at_once_on_a_fresh_store_start_one_server(tmp_path, served_dirs):
    directory = tmp_path / "store"
    served_dirs.append(directory)
    env = {**os.environ, SERVE_ENV: "1", IDLE_ENV: TEST_IDLE}
    command = [sys.executable, "-c", "from neurongraph.cli import main; main()"]
    runs = [
        subprocess.Popen(
            [*command, "--store", str(directory), "networks", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
    assert log_path(directory).read_text().count(STARTED) == 1


def test_serve_0_keeps_the_store_in_the_command(run_cli, tmp_path):
    """The suite runs with NEURONGRAPH_SERVE=0 (tests/conftest.py): nothing is served."""
    assert os.environ[SERVE_ENV] == "0"
    directory = tmp_path / "store"
    run_cli("networks", store=directory)
    assert read_serve_info(directory) is None and not log_path(directory).exists()
    assert "is not being served" in run_cli("db", "status", store=directory).stdout


def test_a_bad_idle_time_is_a_one_line_error(run_cli, tmp_path, serve_here, monkeypatch):
    monkeypatch.setenv(IDLE_ENV, "ten minutes")
    result = run_cli("networks", store=tmp_path / "store", expect=2)
    assert f"{IDLE_ENV}='ten minutes' is not a number of seconds" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert read_serve_info(tmp_path / "store") is None


def test_commands_run_while_the_served_store_imports_a_network(tmp_path, served_dirs):
    """The serving process writes imports one at a time on one thread; the check that a store
    is served must not queue behind an import (it timed out, and the next command then took
    the store for one nobody serves and could not open it)."""
    directory = tmp_path / "store"
    served_dirs.append(directory)
    torch.manual_seed(0)
    script = tmp_path / "wide.pt"
    torch.jit.save(torch.jit.script(nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
        nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10),
    )), str(script))  # fmt: skip
    ng(directory, "networks")
    env = {**os.environ, SERVE_ENV: "1", IDLE_ENV: TEST_IDLE}
    ingest = subprocess.Popen(
        [sys.executable, "-c", "from neurongraph.cli import main; main()",
         "--store", str(directory), "ingest", str(script), "--name", "wide"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + WAIT
    while "bulk import of wide" not in log_path(directory).read_text():
        assert ingest.poll() is None, ingest.communicate()
        assert time.monotonic() < deadline, "the import did not start"
        time.sleep(0.05)
    during = [ng(directory, "networks", "--json", check=False) for _ in range(3)]
    importing = ingest.poll() is None
    _, stderr = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, stderr
    for result in during:
        assert result.returncode == 0, result.stderr
        assert {n["name"] for n in json.loads(result.stdout)["networks"]} <= {"wide"}
    assert importing, "the import ended before the commands ran: make the model larger"
    assert log_path(directory).read_text().count(STARTED) == 1
