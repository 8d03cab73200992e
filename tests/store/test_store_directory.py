"""The embedded store's directory: private to its owner, and a clear error when it cannot be one."""

from __future__ import annotations

import os
import stat

import pytest

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
