"""The embedded store's directory: private to its owner, and a clear error when it cannot be one."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from neurongraph.store import embedded
from neurongraph.store.embedded import STATE_DIR


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_store_directory_is_private(run_cli, tmp_path):
    directory = tmp_path / "parent" / "new-store"
    old = os.umask(0o022)
    try:
        run_cli("networks", store=directory)
    finally:
        os.umask(old)
    assert mode(directory) == 0o700
    assert mode(directory / STATE_DIR) == 0o700
    assert mode(directory / STATE_DIR / "password") == 0o600


def test_opening_a_store_of_ours_that_others_can_read_makes_it_private(run_cli, tmp_path):
    directory = tmp_path / "shared-store"
    run_cli("networks", store=directory)
    directory.chmod(0o755)
    (directory / STATE_DIR).chmod(0o775)
    run_cli("networks", store=directory)
    assert mode(directory) == 0o700
    assert mode(directory / STATE_DIR) == 0o700


@pytest.mark.parametrize(
    "command", [("networks",), ("db", "start"), ("db", "status"), ("db", "stop")]
)
@pytest.mark.parametrize("where", ["file", "below a file"])
def test_a_store_that_is_a_file_is_a_one_line_error(run_cli, tmp_path, command, where):
    path = tmp_path / "model.pt"
    path.write_bytes(b"not a directory")
    store = path if where == "file" else path / "store"
    refused = run_cli(*command, store=store, expect=2)
    assert refused.stderr.startswith("error: ") and str(path) in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert path.read_bytes() == b"not a directory"


def _password_after_init(directory: str) -> str:
    embedded.init_directory(Path(directory))
    return embedded.read_password(Path(directory))


def test_processes_creating_one_store_at_once_all_get_its_one_password(tmp_path):
    """Two commands on a new store both create its password file: one wins, none fails, and
    none reads a half-written password (CI saw 'cannot use ... as a store: File exists')."""
    for trial in range(3):
        directory = str(tmp_path / f"store-{trial}")
        with multiprocessing.get_context("fork").Pool(8) as pool:
            passwords = pool.map(_password_after_init, [directory] * 8)
        assert len(set(passwords)) == 1 and passwords[0]
        assert sorted(p.name for p in (Path(directory) / ".neurongraph").iterdir()) == ["password"]
