"""Serving an embedded store without asking: the first command leaves it served.

The first command on an embedded store starts ``python -m neurongraph.store.serve DIR`` in the
background (unless ``NEURONGRAPH_SERVE=0``) and connects to it over Bolt, as every later command
does, until the served process has seen no command for its idle time
(``NEURONGRAPH_SERVE_IDLE`` seconds, default 10 minutes) and stops by itself.

Files in ``DIR/.neurongraph/``:

- ``start.lock``: held (``fcntl``, exclusive) by the command that starts the server, so that two
  commands starting at once on a fresh store start one server;
- ``clients.lock``: every command connected to the served store holds it shared and touches it
  when it lets go; the served process is idle when it can take it exclusively and it was last
  touched longer ago than the idle time, and it keeps it exclusively while it stops;
- ``serve.log``: what the served process wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from neurongraph.errors import StoreError, UsageError
from neurongraph.store import embedded

__all__ = [
    "DEFAULT_IDLE_SECONDS",
    "IDLE_ENV",
    "SERVE_ENV",
    "Lease",
    "enabled",
    "idle_from_env",
    "last_use",
    "lease",
    "log_path",
    "start",
]

SERVE_ENV = "NEURONGRAPH_SERVE"
IDLE_ENV = "NEURONGRAPH_SERVE_IDLE"
#: Seconds a store served without asking stays up with no command connected.
DEFAULT_IDLE_SECONDS = 600.0
#: Seconds to wait for the served process to come up, or for a stopping one to go.
START_TIMEOUT = 120.0
#: How often to look whether the served process is up (or gone).
POLL_SECONDS = 0.05
START_LOCK = "start.lock"
CLIENTS_LOCK = "clients.lock"
LOG_FILE = "serve.log"


def enabled() -> bool:
    """Whether commands leave an embedded store served (``NEURONGRAPH_SERVE`` is not ``0``)."""
    return os.environ.get(SERVE_ENV, "1").strip() != "0"


def idle_from_env() -> float:
    """The idle time from ``NEURONGRAPH_SERVE_IDLE`` (seconds), or the default."""
    raw = os.environ.get(IDLE_ENV, "").strip()
    if not raw:
        return DEFAULT_IDLE_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise UsageError(
            f"{IDLE_ENV}={raw!r} is not a number of seconds above 0; set it to e.g. 600"
        )
    return seconds


def log_path(directory: Path) -> Path:
    """Where the served process writes its log."""
    return directory / embedded.STATE_DIR / LOG_FILE


def _lock_path(directory: Path, name: str) -> Path:
    return directory / embedded.STATE_DIR / name


@contextlib.contextmanager
def _locked(path: Path, how: int) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, how)
        yield fd
    finally:
        os.close(fd)


class Lease:
    """A command's hold on a served store: while held, the served process does not stop for
    idleness. Release it after closing the driver."""

    def __init__(self, directory: Path) -> None:
        self._path = _lock_path(directory, CLIENTS_LOCK)
        self._fd: int | None = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        """Mark the store used now and let go of it."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.utime(self._path)
            os.close(self._fd)
            self._fd = None


def lease(directory: Path) -> tuple[embedded.ServedStore, Lease] | None:
    """The process serving ``directory`` and a lease on it, or None if none serves it."""
    held = Lease(directory)
    served = embedded.find_served(directory)
    if served is None:
        held.release()
        return None
    return served, held


def last_use(directory: Path) -> float | None:
    """When a command last let go of the served store (seconds since the epoch)."""
    try:
        return _lock_path(directory, CLIENTS_LOCK).stat().st_mtime
    except OSError:
        return None


def try_exclusive(directory: Path) -> int | None:
    """A file descriptor holding ``clients.lock`` exclusively (no command connected), or None.
    Close it to let go."""
    fd = os.open(_lock_path(directory, CLIENTS_LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _wait_until(done, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            raise StoreError(f"{what} did not happen within {START_TIMEOUT:.0f} s")
        time.sleep(POLL_SECONDS)


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def start(directory: Path, idle: float | None) -> embedded.ServedStore:
    """Serve ``directory`` from a background process, unless one already does; return it.

    ``idle`` is the served process's idle time in seconds (None: until ``db stop``). Two
    callers at once start one process: the second waits for the first's.
    """
    with _locked(_lock_path(directory, START_LOCK), fcntl.LOCK_EX):
        served = embedded.find_served(directory)
        if served is not None:
            return served
        stopping = embedded.read_serve_info(directory)
        if stopping is not None and embedded.pid_alive(int(stopping["pid"])):
            _wait_until(
                lambda: not embedded.pid_alive(int(stopping["pid"])),
                f"the stop of the process serving {directory} (pid {stopping['pid']})",
            )
        command = [sys.executable, "-m", "neurongraph.store.serve", str(directory)]
        if idle is not None:
            command += ["--idle", str(idle)]
        log = log_path(directory)
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

        found: list[embedded.ServedStore] = []

        def up() -> bool:
            if process.poll() is not None:
                raise StoreError(
                    _last_line(log)
                    or f"the process to serve {directory} exited at start-up "
                    f"(status {process.returncode}); see {log}"
                )
            served = embedded.find_served(directory)
            if served is not None:
                found.append(served)
            return bool(found)

        # the command connects with the neo4j driver once the server answers: load it meanwhile
        importlib.import_module("neo4j")
        _wait_until(up, f"the start of a process to serve {directory}")
        return found[0]
