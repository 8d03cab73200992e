"""Serve an embedded store over Bolt until asked to stop: ``python -m neurongraph.store.serve DIR``.

Started in the background by ``neurongraph db start``. It records its Bolt port in
``DIR/.neurongraph/serve.json`` and stops cleanly on SIGTERM, SIGINT or when ``stop_request_path``
appears.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from neurongraph.store import embedded

__all__ = ["POLL_SECONDS", "serve", "stop_request_path"]

#: How often the serving process looks for a stop request.
POLL_SECONDS = 0.2
STOP_FILE = "stop"


def stop_request_path(directory: Path) -> Path:
    """Creating this file asks the serving process to stop."""
    return embedded.serve_info_path(directory).with_name(STOP_FILE)


def serve(directory: Path) -> None:
    """Serve ``directory`` until a stop request, then shut down cleanly."""
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
    info = embedded.serve_info_path(directory)
    try:
        tmp = info.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"pid": os.getpid(), "boltPort": server.bolt_port, "httpPort": server.http_port}
            )
        )
        tmp.replace(info)
        while not stopping and not stop_file.exists():
            time.sleep(POLL_SECONDS)
    finally:
        info.unlink(missing_ok=True)
        stop_file.unlink(missing_ok=True)
        embedded.release(server)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
