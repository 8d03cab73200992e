"""Serve an embedded store over Bolt until asked to stop or idle:
``python -m neurongraph.store.serve DIR [--idle SECONDS]``.

Started in the background by ``neurongraph db start`` or by the first command on a store (see
:mod:`neurongraph.store.autoserve`). It records its pid, Bolt and import ports and idle limit in
``DIR/.neurongraph/serve.json``, takes bulk imports (:mod:`neurongraph.store.bulk`), and stops
cleanly on SIGTERM, SIGINT, when ``stop_request_path`` appears, or (with ``--idle``) when no
command has been connected for that many seconds. Before it stops it marks ``serve.json``
stopping and waits for connected commands to let go (at most ``STOP_WAIT_SECONDS``), so their
drivers are closed when the server stops.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from neurongraph.errors import StoreError
from neurongraph.store import autoserve, embedded

__all__ = ["POLL_SECONDS", "serve", "stop_request_path"]

log = logging.getLogger(__name__)

#: How often the serving process looks for a stop request.
POLL_SECONDS = 0.2
#: How often it looks whether it is idle.
IDLE_CHECK_SECONDS = 1.0
#: Seconds a stop request waits for connected commands to finish before stopping anyway.
STOP_WAIT_SECONDS = 30.0
STOP_FILE = "stop"


def stop_request_path(directory: Path) -> Path:
    """Creating this file asks the serving process to stop."""
    return embedded.serve_info_path(directory).with_name(STOP_FILE)


def _record(directory: Path, info: dict) -> None:
    path = embedded.serve_info_path(directory)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(path)


def _wait_exclusive(directory: Path, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while (fd := autoserve.try_exclusive(directory)) is None:
        if time.monotonic() > deadline:
            log.warning("stopping with commands still connected")
            return None
        time.sleep(POLL_SECONDS)
    return fd


def serve(directory: Path, *, idle: float | None = None) -> None:
    """Serve ``directory`` until a stop request or ``idle`` seconds without a command, then
    shut down cleanly."""
    from neurongraph.store import bulk

    directory = directory.resolve()
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stop_file = stop_request_path(directory)
    stop_file.unlink(missing_ok=True)
    server = embedded.acquire(directory)
    importer = bulk.ImportListener(server)
    info = {
        "pid": os.getpid(),
        "boltPort": server.bolt_port,
        "httpPort": server.http_port,
        "importPort": importer.port,
        "idleSeconds": idle,
        "startedAt": time.time(),
    }
    exclusive: int | None = None
    try:
        _record(directory, info)
        last_use, next_check = time.time(), time.monotonic()
        while not stopping and not stop_file.exists():
            time.sleep(POLL_SECONDS)
            if idle is None or time.monotonic() < next_check:
                continue
            next_check = time.monotonic() + IDLE_CHECK_SECONDS
            fd = autoserve.try_exclusive(directory)
            if fd is None:
                last_use = time.time()
                continue
            last_use = max(last_use, autoserve.last_use(directory) or 0.0)
            if time.time() - last_use >= idle:
                log.info("no command for %.0f s: stopping", time.time() - last_use)
                exclusive = fd
                break
            os.close(fd)
        _record(directory, {**info, "stopping": True})
        if exclusive is None:
            exclusive = _wait_exclusive(directory, STOP_WAIT_SECONDS)
    finally:
        importer.close()
        embedded.release(server)
        embedded.serve_info_path(directory).unlink(missing_ok=True)
        stop_file.unlink(missing_ok=True)
        if exclusive is not None:
            os.close(exclusive)


def main(argv: list[str] | None = None) -> None:
    """Parse ``DIR [--idle SECONDS]`` and serve; a store that cannot be served is one line on
    stderr (for the command that started this process to show) and exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m neurongraph.store.serve")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--idle", type=float, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        serve(args.directory, idle=args.idle)
    except StoreError as err:
        print(err, file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
