"""Bulk writes to a served store: the serving process runs ArcadeDB's importer for a command.

A command connected to a served embedded store has no JVM of its own, and the Bolt path writes
a few times slower than the in-process importer. So the command sends the network graph (layer
list and weight arrays, as JSON and an ``.npz`` without pickles) to the serving process on a
loopback port authenticated with the store's password (``multiprocessing.connection``'s HMAC
challenge; only bytes cross, nothing is unpickled), and that process writes it with
:func:`neurongraph.store.rows.bulk_write`, sending progress back.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import threading
from dataclasses import asdict, dataclass
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

import numpy as np

from neurongraph.errors import StoreError
from neurongraph.progress import Progress
from neurongraph.store import rows
from neurongraph.store.embedded import LOOPBACK, EmbeddedServer, ServedStore

__all__ = ["ImportListener", "send_graph"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Layer:
    name: str
    position: int
    kind: str
    width: int
    activation: str = ""


@dataclass(frozen=True)
class _Block:
    source: int
    target: int
    weight: np.ndarray
    signed: np.ndarray


@dataclass(frozen=True)
class _Graph:
    """The parts of a network graph that :func:`rows.bulk_write` reads."""

    layers: list[_Layer]
    blocks: list[_Block]
    biases: list[np.ndarray | None]
    feeds: list[tuple[int, int]]
    n_edges: int

    @property
    def n_neurons(self) -> int:
        return sum(layer.width for layer in self.layers)


def _encode(name: str, graph: Any, network_props: dict) -> tuple[bytes, bytes]:
    header = {
        "name": name,
        "props": network_props,
        "layers": [asdict(_Layer(**_layer_fields(layer))) for layer in graph.layers],
        "blocks": [[b.source, b.target] for b in graph.blocks],
        "biases": [b is not None for b in graph.biases],
        "feeds": [list(f) for f in graph.feeds],
        "nEdges": graph.n_edges,
    }
    arrays = {}
    for i, block in enumerate(graph.blocks):
        arrays[f"w{i}"] = np.asarray(block.weight, dtype=np.float64)
        arrays[f"g{i}"] = np.asarray(block.signed, dtype=np.float64)
    for i, bias in enumerate(graph.biases):
        if bias is not None:
            arrays[f"b{i}"] = np.asarray(bias, dtype=np.float64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return json.dumps(header).encode(), buffer.getvalue()


def _layer_fields(layer: Any) -> dict:
    return {k: getattr(layer, k) for k in ("name", "position", "kind", "width", "activation")}


def _decode(header: bytes, data: bytes) -> tuple[str, _Graph, dict]:
    head = json.loads(header)
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        blocks = [
            _Block(source, target, arrays[f"w{i}"], arrays[f"g{i}"])
            for i, (source, target) in enumerate(head["blocks"])
        ]
        biases = [arrays[f"b{i}"] if has else None for i, has in enumerate(head["biases"])]
    graph = _Graph(
        layers=[_Layer(**layer) for layer in head["layers"]],
        blocks=blocks,
        biases=biases,
        feeds=[tuple(f) for f in head["feeds"]],
        n_edges=int(head["nEdges"]),
    )
    return head["name"], graph, head["props"]


def send_graph(
    served: ServedStore,
    location: str,
    name: str,
    graph: Any,
    network_props: dict,
    progress: Progress | None,
) -> None:
    """Have the process serving the store write ``graph`` as network ``name`` with its bulk
    importer (see :func:`rows.bulk_write`); StoreError if it fails or dies meanwhile."""
    header, data = _encode(name, graph, network_props)
    died = (
        f"the process serving {location} (pid {served.pid}) stopped during the write; "
        "run the command again (the store is served afresh)"
    )
    try:
        conn = Client((LOOPBACK, served.import_port), authkey=served.password.encode())
    except (OSError, EOFError, AuthenticationError) as err:
        raise StoreError(died) from err
    with conn:
        try:
            conn.send_bytes(header)
            conn.send_bytes(data)
            while True:
                message = json.loads(conn.recv_bytes())
                if "error" in message:
                    raise StoreError(f"the bulk write into {location} failed: {message['error']}")
                if message.get("finished"):
                    return
                if progress is not None:
                    progress(message["done"], message["total"])
        except (OSError, EOFError) as err:
            raise StoreError(died) from err


#: Connections that may wait for the import thread (imports are written one at a time).
IMPORT_BACKLOG = 16


class ImportListener:
    """The serving process's side: a thread that writes each graph sent to it, one at a time."""

    def __init__(self, server: EmbeddedServer) -> None:
        self._server = server
        # imports queue in the backlog while one is written
        self._listener = Listener(
            (LOOPBACK, 0), backlog=IMPORT_BACKLOG, authkey=server.password.encode()
        )
        self.port: int = self._listener.address[1]
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="bulk-import", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop taking imports (an import under way finishes first)."""
        self._closed = True
        # closing a listening socket does not wake a thread blocked in accept(): a connection
        # that says nothing does (its challenge fails, and the thread sees it is closed)
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, self.port)):
            pass
        self._thread.join()
        self._listener.close()

    def _run(self) -> None:
        while not self._closed:
            try:
                conn = self._listener.accept()
            except (OSError, EOFError, AuthenticationError) as err:
                # a closed listener, or a peer that did not authenticate (a port check)
                if not self._closed:
                    log.debug("refused an import connection: %s", err)
                continue
            with conn:
                self._handle(conn)

    def _handle(self, conn: Connection) -> None:
        def progress(done: int, total: int) -> None:
            conn.send_bytes(json.dumps({"done": done, "total": total}).encode())

        try:
            name, graph, props = _decode(conn.recv_bytes(), conn.recv_bytes())
        except (OSError, EOFError):
            return
        log.info("bulk import of %s: %d WEIGHT edges", name, graph.n_edges)
        try:
            rows.bulk_write(self._server, name, graph, props, progress)
        except (OSError, EOFError):
            log.warning("the command importing %s went away", name)
            return
        except Exception as err:  # reported to the command, which raises it there
            log.exception("bulk import of %s failed", name)
            conn.send_bytes(json.dumps({"error": " ".join(str(err).split())}).encode())
            return
        conn.send_bytes(json.dumps({"finished": True}).encode())
