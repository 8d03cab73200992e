"""How a process that hosts the embedded store ends: it must end, keep its writes, and not crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from neurongraph.store import open_store

ROOT = Path(__file__).resolve().parents[2]
#: A run that hangs at exit would wait forever; this is long enough for a slow start.
EXIT_TIMEOUT = 120


def python(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        cwd=cwd,
    )


@pytest.mark.parametrize("jvm_started_by", ["neurongraph", "the script"])
def test_a_script_that_never_closes_its_store_exits_and_keeps_what_it_wrote(
    tmp_path, jvm_started_by
):
    """An open Bolt connection keeps a server thread, and so the JVM, alive: without closing
    the store's clients at exit the interpreter waited for it forever."""
    directory = tmp_path / "left-open"
    start = "jvm.start_jvm()" if jvm_started_by == "the script" else ""
    result = python(
        f"""
        import sys
        import torch
        from arcadedb_embedded import jvm
        from torch import nn
        from neurongraph.ingest import ingest_model
        from neurongraph.store import open_store

        {start}
        store = open_store(sys.argv[1])
        model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
        ingest_model(store, model, "open", torch.zeros(2, 8))
        """,
        str(directory),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with open_store(directory) as again:  # the lock was released
        assert again.get_network("open")["status"] == "complete"
        assert again.count_network("open")["neurons"] == 8 + 4 + 2


def test_the_jvm_keeps_its_fault_handler_through_a_pytest_session_of_this_project(tmp_path):
    """HotSpot takes SIGSEGV for its own null checks and safepoints. pytest's faulthandler
    plugin, if loaded, resets SIGSEGV to the default when the session ends, and the JVM's
    next fault before exit kills the process; this project's pytest settings must not load it."""
    seen = tmp_path / "handler"
    (tmp_path / "test_probe.py").write_text(
        textwrap.dedent(
            f"""
            import atexit
            import ctypes
            import signal

            from neurongraph.store import open_store

            libc = ctypes.CDLL(None)


            def segv_handler():
                action = ctypes.create_string_buffer(256)  # struct sigaction; handler first
                assert libc.sigaction(signal.SIGSEGV, None, action) == 0
                return ctypes.c_void_p.from_buffer(action).value or 0


            def test_start_the_store(tmp_path):
                open_store(tmp_path / "s").close()
                jvm = segv_handler()
                assert jvm
                atexit.register(
                    lambda: open({str(seen)!r}, "w").write(str(segv_handler() == jvm))
                )
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_probe.py"),
        ],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert seen.read_text() == "True"
