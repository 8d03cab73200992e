"""Process-wide runtime settings."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from neurongraph.runtime import retain_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# A fresh process allocates and frees a 16 MiB tensor and reports glibc's mallinfo2: the bytes
# in mmapped blocks while the tensor lives, and the free bytes kept in the heap after it died.
HEAP_PROBE = """
import ctypes, sys, torch
from neurongraph.runtime import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
before = libc.mallinfo2().hblkhd
block = torch.ones(4 << 20)
during = libc.mallinfo2().hblkhd
del block
print(during - before, libc.mallinfo2().fordblks)
"""
BLOCK_BYTES = 16 << 20


def _heap_probe(mode: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", HEAP_PROBE, mode], capture_output=True, text=True, check=True
    )
    mapped, kept = out.stdout.split()
    return int(mapped), int(kept)


def test_retain_freed_memory_reports_whether_it_took_effect_and_is_idempotent():
    assert retain_freed_memory() is GLIBC
    assert retain_freed_memory() is GLIBC


@pytest.mark.skipif(not GLIBC, reason="mallopt and mallinfo2 are glibc's")
def test_a_large_freed_tensor_stays_in_the_heap_only_when_memory_is_retained():
    mapped, kept = _heap_probe("default")
    assert mapped >= BLOCK_BYTES  # glibc's default: a fresh mmap, returned on free
    assert kept < BLOCK_BYTES
    mapped, kept = _heap_probe("retain")
    assert mapped == 0  # taken from the heap ...
    assert kept >= BLOCK_BYTES  # ... and kept there for the next temporary


# The console entry point after a script registered an exit handler: the handler must still run
# and click's exit status come out, although the interpreter's teardown is skipped.
ENTRY = """
import atexit, sys
atexit.register(lambda: print("exit handler ran", flush=True))
from neurongraph.cli import main
sys.argv = ["neurongraph", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(
    ("args", "status"), [(["--help"], 0), (["--no-such-option"], 2), (["networks", "--nope"], 2)]
)
def test_the_entry_point_runs_exit_handlers_and_keeps_the_status(args, status):
    result = subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True)
    assert result.returncode == status, result.stderr
    assert result.stdout.rstrip().endswith("exit handler ran")
    assert ("Usage:" in result.stdout) == (status == 0)
    assert ("No such option" in result.stderr) == (status == 2)


# joblib's worker processes (scikit-learn's n_jobs) are shut down by a threading exit callback;
# a process that skipped it hung joining their manager thread, or leaked their shared memory.
WORKERS = """
from joblib import Parallel, delayed
from neurongraph.runtime import exit_now
print(sum(Parallel(n_jobs=2)(delayed(abs)(-i) for i in range(8))), flush=True)
exit_now(3)
"""


def test_exit_now_shuts_down_worker_processes_first():
    result = subprocess.run(
        [sys.executable, "-c", WORKERS], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == "28"
    assert "leaked" not in result.stderr, result.stderr
