"""Process-wide facts and settings: PyTorch's work on the CPU, forking workers, and exit.

PyTorch takes every CPU tensor from ``malloc``. glibc serves blocks of more than a few hundred
KiB with fresh ``mmap`` pages and gives them back on ``free``, so each large temporary (a batch
of lesions' activations is several MiB) pays its page faults again: about 3 ms per 8 MiB on the
reference machine, as long as the arithmetic on it. PyTorch's CPU performance guide treats this
by preloading jemalloc or tcmalloc; :func:`retain_freed_memory` gets the same effect from glibc's
own ``mallopt``, for the applications (the CLI, the benchmarks) that choose it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

__all__ = ["RETAINED_BYTES", "can_fork", "configure_torch", "exit_now", "retain_freed_memory"]

#: ``mallopt`` parameters, from glibc's ``malloc.h``.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap, and this much freed memory is kept for reuse.
RETAINED_BYTES = 1 << 30
#: Extra memory asked of the system each time the heap grows.
HEAP_PAD_BYTES = 64 << 20


def retain_freed_memory() -> bool:
    """Keep freed memory in the process for reuse instead of returning it to the system.

    Sets glibc's mmap and trim thresholds to ``RETAINED_BYTES`` for the whole process: large
    temporaries then reuse memory that is already mapped. The process keeps up to that much
    freed memory. Returns False, changing nothing, where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = (
        (M_MMAP_THRESHOLD, RETAINED_BYTES),
        (M_TRIM_THRESHOLD, RETAINED_BYTES),
        (M_TOP_PAD, HEAP_PAD_BYTES),
    )
    return all(mallopt(option, value) == 1 for option, value in settings)


def configure_torch(threads: int) -> None:
    """What a process does before it runs PyTorch: ``threads`` threads
    (``torch.set_num_threads``) and freed memory kept for reuse (:func:`retain_freed_memory`).

    torch is imported here, by the commands that use it, so that the others never load it.
    """
    import torch

    torch.set_num_threads(threads)
    retain_freed_memory()


def can_fork() -> bool:
    """Whether worker processes may be forked from this process.

    Forked workers start in milliseconds, where spawned ones import NumPy and SciPy again
    (a second or more). Forking needs a platform that forks, a process that is not itself a
    daemonic worker (those may not have children), and no JVM in the process: an embedded
    store's JVM runs threads whose locks a forked child would inherit held.
    """
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    if multiprocessing.current_process().daemon:
        return False
    jpype = sys.modules.get("jpype")
    return jpype is None or not jpype.isJVMStarted()


def exit_now(code: int) -> NoReturn:
    """End the process with status ``code`` once its exit handlers have run, without tearing
    down the interpreter.

    Everything a process does at exit still happens: the threading module's exit callbacks run
    and non-daemon threads are waited for, :mod:`atexit` handlers run (they also run
    ``weakref.finalize`` callbacks, flush logging and stop an embedded store), and standard
    output and error are flushed. What is skipped is the interpreter's own teardown, freeing
    every object of every module one by one, which takes about a second once torch is
    imported, after the command's last output. For entry points only: the caller's process
    ends.
    """
    # as the interpreter does: the threading module's exit callbacks (executors of
    # concurrent.futures, and joblib's, shut down their workers there), then non-daemon threads
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe or stream: nothing more can be said
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
