"""The embedded store: an ArcadeDB server started inside this process, reached over Bolt.

A store directory (mode 0700, tightened to that when its owner opens it) holds ArcadeDB's files
plus ``.neurongraph/``:

- ``password``: the random root password, made at creation, mode 0600;
- ``owner.lock``: an ``fcntl`` lock held by the one process serving the directory (its pid inside);
- ``serve.json``: the serving process's pid, Bolt and import ports and idle limit, while a
  background process (``neurongraph db start``, or the first command: see
  :mod:`neurongraph.store.autoserve`) serves the store to other processes.

Within one process, servers are shared: opening a directory that this process already serves
reuses that server (one JVM can host it only once anyway), and it stops when its last user closes.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import json
import logging
import os
import secrets
import socket
import stat
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from neurongraph.errors import StoreError, arg, step
from neurongraph.store.schema import ARCADEDB_HASH_INDEXES, ARCADEDB_SCHEMA, DATABASE

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "EmbeddedServer",
    "ServedStore",
    "acquire",
    "find_served",
    "read_serve_info",
    "release",
    "serve_info_path",
    "serves",
]

log = logging.getLogger(__name__)

STATE_DIR = ".neurongraph"
PASSWORD_FILE = "password"
LOCK_FILE = "owner.lock"
SERVE_FILE = "serve.json"
ROOT_USER = "root"
#: Mode of the store directory and its state directory: only their owner reads the store.
STORE_MODE = 0o700
LOOPBACK = "127.0.0.1"
#: Seconds to wait for a served store's port to accept a connection before calling it stale.
PORT_CHECK_SECONDS = 1.0
#: Maximum Java heap of the embedded server.
JVM_HEAP = "2g"
#: Bytes of randomness in a new store's password.
PASSWORD_BYTES = 24
#: PBKDF2 rounds ArcadeDB hashes the root password with (its default is 65,536). Rounds slow
#: down guessing a weak password from a leaked hash; the store's password is PASSWORD_BYTES of
#: randomness kept in a 0600 file beside that hash, so they protect nothing here, and on a cold
#: JVM 65,536 rounds cost about half a second of every store's start.
SALT_ITERATIONS = 1000
_RID = "com.arcadedb.database.RID"
_LOGGING_PROPERTIES = "handlers=java.util.logging.ConsoleHandler\n.level=SEVERE\n"


def _state(directory: Path) -> Path:
    return directory / STATE_DIR


def serve_info_path(directory: Path) -> Path:
    """Where a serving process records its Bolt port."""
    return _state(directory) / SERVE_FILE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _make_private(path: Path) -> None:
    """Take the group's and others' permissions off ``path`` if this user owns it."""
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == os.getuid() and mode & ~STORE_MODE:
        log.info("making %s private (mode %o, was %o)", path, mode & STORE_MODE, mode)
        path.chmod(mode & STORE_MODE)


def check_directory(directory: Path) -> None:
    """StoreError unless ``directory`` can be a store: a neurongraph store, an empty directory,
    or a path that can become one (its first existing ancestor is a directory)."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StoreError(
            f"{existing} is a file, not a store directory; give {arg('location')} a directory "
            "(a new one, or a neurongraph store) or a bolt:// URI"
        )
    # the state directory itself does not count: another process may be creating it right now
    others = directory.exists() and any(p.name != STATE_DIR for p in directory.iterdir())
    if others and not _state(directory).exists():
        raise StoreError(
            f"{directory} is not a neurongraph store (it has files but no {STATE_DIR}/); "
            f"choose an empty or new directory as {arg('location')}"
        )


def _init_directory(directory: Path) -> None:
    state = _state(directory)
    try:
        check_directory(directory)
        directory.mkdir(mode=STORE_MODE, parents=True, exist_ok=True)
        state.mkdir(mode=STORE_MODE, exist_ok=True)
        _make_private(directory)
        _make_private(state)
        password = state / PASSWORD_FILE
        if not password.exists():
            _write_password(password)
    except OSError as err:
        raise StoreError(
            f"cannot use {directory} as a store: {err.strerror or err}; check {arg('location')}"
        ) from err


def _write_password(path: Path) -> None:
    """Create a new store's password file whole, once. Two commands creating the store at
    once both get here: each writes its own file and links it into place, the first link
    wins, and nobody reads a half-written password."""
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(PASSWORD_BYTES))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def read_password(directory: Path) -> str:
    """The store's root password."""
    return (_state(directory) / PASSWORD_FILE).read_text().strip()


@dataclass(frozen=True)
class ServedStore:
    """A store served by another process: where to reach it.

    ``import_port`` is where it takes bulk imports (:mod:`neurongraph.store.bulk`);
    ``idle_seconds`` is how long it stays up unused (None: until stopped); ``started_at`` is
    when it started (seconds since the epoch).
    """

    pid: int
    bolt_port: int
    password: str
    import_port: int | None = None
    idle_seconds: float | None = None
    started_at: float | None = None

    @property
    def uri(self) -> str:
        return f"bolt://{LOOPBACK}:{self.bolt_port}"


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat_line.rpartition(")")[2].split()[:1] != ["Z"]


def read_serve_info(directory: Path) -> dict | None:
    """What the serving process recorded in ``serve.json`` (None if nothing readable)."""
    try:
        data = json.loads(serve_info_path(directory).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "pid" in data and "boltPort" in data else None


def _answers(port: int) -> bool:
    """Whether something accepts connections on the loopback ``port``."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=PORT_CHECK_SECONDS):
            return True
    except OSError:
        return False


def find_served(directory: Path) -> ServedStore | None:
    """The process serving ``directory``, if one is alive, answers on its port and is not
    stopping; a port file left by a process that died (SIGKILL) or no longer answers is
    stale and gives None."""
    data = read_serve_info(directory)
    if data is None or data.get("stopping") or not pid_alive(int(data["pid"])):
        return None
    # Bolt, which serves many connections at once: the import port's one thread is busy for
    # the length of an import, and a check queued behind it timed out, so a second command
    # took a store being imported into for one nobody serves
    if not _answers(int(data["boltPort"])):
        return None
    import_port = data.get("importPort")
    idle = data.get("idleSeconds")
    return ServedStore(
        int(data["pid"]),
        int(data["boltPort"]),
        read_password(directory),
        import_port=int(import_port) if import_port else None,
        idle_seconds=float(idle) if idle is not None else None,
        started_at=data.get("startedAt"),
    )


def serves(directory: Path) -> bool:
    """Whether this process runs the embedded server of ``directory``."""
    with _servers_lock:
        return directory.resolve() in _servers


def _lock_owner(directory: Path) -> str:
    try:
        return (_state(directory) / LOCK_FILE).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


class Client(Protocol):
    """Something connected to a server that must be closed before the server stops."""

    def close(self) -> None: ...


class EmbeddedServer:
    """An ArcadeDB server with the Bolt plugin for one store directory, owned by this process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.password = read_password(directory)
        self.bolt_port = _free_port()
        self.http_port = _free_port()
        self._lock_fd: int | None = None
        self._server = None
        self.database = None
        self._clients: weakref.WeakSet[Client] = weakref.WeakSet()

    @property
    def uri(self) -> str:
        return f"bolt://{LOOPBACK}:{self.bolt_port}"

    def _lock(self) -> None:
        path = _state(self.directory) / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = _lock_owner(self.directory)
            raise StoreError(
                f"store {self.directory} is in use by another process (pid {owner}); "
                f"wait for it to finish, or serve the store with {step('db start')} so that "
                "several commands can share it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def start(self) -> None:
        """Take the directory's lock, start the server on loopback and ensure the schema."""
        self._lock()
        try:
            self._start_server()
        except BaseException:
            if self._server is not None:  # its threads would keep the process from ending
                self._server.stop()
                self._server = self.database = None
            self._unlock()
            raise

    def _start_server(self) -> None:
        import arcadedb_embedded

        _start_jvm(self.directory)
        self._server = arcadedb_embedded.ArcadeDBServer(
            root_path=str(self.directory),
            root_password=self.password,
            config={
                "host": LOOPBACK,
                "http_port": self.http_port,
                "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
                "bolt_port": self.bolt_port,
            },
        )
        try:
            self._server.start()
            if (self.directory / "databases" / DATABASE).exists():
                self.database = self._server.get_database(DATABASE)
            else:
                self.database = self._server.create_database(DATABASE)
        except Exception as err:
            if "locked" in str(err).lower():
                raise StoreError(
                    f"store {self.directory} is locked by another process; "
                    f"stop it or serve the store with {step('db start')} to share it"
                ) from err
            raise
        _drop_ordered_indexes(self.database)
        # one script, not one command per statement: the first commands of a fresh JVM pay
        # for loading and compiling the SQL engine, once per command
        self.database.command("sqlscript", ";\n".join(ARCADEDB_SCHEMA) + ";")
        log.info("started the embedded store %s", self.directory)

    def attach(self, client: Client) -> None:
        """Record a client to close at exit if it is still open then.

        An open Bolt connection keeps a server thread alive, and the JVM does not end while it
        runs: a process that exits with a store still open would hang.
        """
        self._clients.add(client)

    def stop(self) -> None:
        """Stop the server (every driver must be closed first) and release the lock."""
        if self._server is not None:
            self._server.stop()
            self._server = None
            self.database = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def read_columns(self, query: str, params: dict) -> dict | None:
        """The rows of a read-only openCypher ``query`` as columns (numpy arrays for numbers),
        run in-process; None where the package cannot return columns."""
        return self.database.query("opencypher", query, params).to_columns()

    def graph_batch(self):
        """ArcadeDB's bulk importer for this store's database."""
        return self.database.graph_batch()

    @staticmethod
    def add_edges(
        batch,
        edge_type: str,
        endpoints: tuple[Sequence, Sequence],
        indices: tuple[np.ndarray, np.ndarray],
        columns: dict[str, np.ndarray],
    ) -> None:
        """Buffer edges ``endpoints[0][indices[0][i]] -> endpoints[1][indices[1][i]]`` with
        float properties given as columns (one array per property).

        ``GraphBatch.new_edges`` takes one dict per edge, checks every value and encodes the
        whole batch as JSON, which the JVM parses again; one JPype call of the Java batch's
        ``newEdge`` per edge crosses into Java 400k times for a small MLP. Here the loop runs
        in Java: a method handle (:func:`_edge_loop`) built from ``newEdge``, array getters and
        ``MethodHandles.countedLoop`` takes the endpoints' record ids, the two index arrays
        and the property columns as Java arrays, each copied in one piece. Where the
        package's Java batch is not reachable, the public per-dict path is used.
        """
        import jpype
        import numpy as np

        sources, targets = indices
        try:
            java_batch = batch._java_graph_batch
            rid = jpype.JClass(_RID)
        except (AttributeError, RuntimeError):
            values = [np.asarray(c, dtype=np.float64).tolist() for c in columns.values()]
            props = [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
            src = np.asarray(endpoints[0], dtype=object)[sources].tolist()
            dst = np.asarray(endpoints[1], dtype=object)[targets].tolist()
            batch.new_edges(src, edge_type, dst, props)
            return
        loop = _edge_loop(java_batch, edge_type, tuple(columns))
        rids = jpype.JArray(rid)
        ints = jpype.JArray(jpype.JInt)
        doubles = jpype.JArray(jpype.JDouble)
        arguments = [
            rids([rid(r) for r in endpoints[0]]),
            ints(np.ascontiguousarray(sources, dtype=np.int32)),
            rids([rid(r) for r in endpoints[1]]),
            ints(np.ascontiguousarray(targets, dtype=np.int32)),
        ]
        arguments += [doubles(np.ascontiguousarray(c, dtype=np.float64)) for c in columns.values()]
        loop.invokeWithArguments(arguments)


def _drop_ordered_indexes(database) -> None:
    """Drop the LSM-tree indexes that stores made before hash indexes hold on the properties
    of ARCADEDB_HASH_INDEXES: ArcadeDB refuses to create a hash index beside them, and the
    schema script then builds the hash indexes from the stored data."""
    rows = database.query(
        "sql", "SELECT name, supportsOrderedIterations AS ordered FROM schema:indexes"
    ).to_list()
    for row in rows:
        if row["ordered"] and row["name"] in ARCADEDB_HASH_INDEXES:
            log.info("replacing the index %s by a hash index", row["name"])
            database.command("sql", f"DROP INDEX `{row['name']}`")


def _edge_loop(java_batch, edge_type: str, names: tuple[str, ...]):
    """A Java method handle ``(RID[] a, int[] s, RID[] b, int[] t, double[]... columns)`` that
    calls ``java_batch.newEdge(a[s[i]], edge_type, b[t[i]], name_1, columns[0][i], ...)`` for
    every i, in a loop that runs in the JVM."""
    import jpype

    handles = jpype.JClass("java.lang.invoke.MethodHandles")
    method_type = jpype.JClass("java.lang.invoke.MethodType").methodType
    rid = jpype.JClass(_RID)
    string = jpype.JClass("java.lang.String")
    objects = jpype.JArray(jpype.JClass("java.lang.Object"))
    rids, ints, doubles = jpype.JArray(rid), jpype.JArray(jpype.JInt), jpype.JArray(jpype.JDouble)
    void = jpype.JClass("java.lang.Void").TYPE
    double = jpype.JClass("java.lang.Double").TYPE
    new_edge = handles.publicLookup().findVirtual(
        jpype.JClass("com.arcadedb.graph.GraphBatch"),
        "newEdge",
        method_type(void, rid, [string, rid, objects]),
    )
    h = handles.insertArguments(new_edge, 0, [java_batch])  # (RID, String, RID, Object[])
    h = handles.insertArguments(h, 1, [jpype.JString(edge_type)])  # (RID, RID, Object[])
    props = handles.identity(objects).asCollector(objects, 2 * len(names))
    props = props.asType(method_type(objects, [string, double] * len(names)))
    for k, name in enumerate(names):
        props = handles.insertArguments(props, k, [jpype.JString(name)])  # (double...)
    h = handles.collectArguments(h, 2, props)  # (RID, RID, double...)
    rid_at = handles.collectArguments(  # (RID[] a, int[] s, int i) -> a[s[i]]
        handles.arrayElementGetter(rids), 1, handles.arrayElementGetter(ints)
    )
    h = handles.collectArguments(h, 0, rid_at)  # (RID[], int[], int, RID, double...)
    h = handles.collectArguments(h, 3, rid_at)  # (RID[], int[], int, RID[], int[], int, double...)
    for k in range(len(names)):
        h = handles.collectArguments(h, 6 + 2 * k, handles.arrayElementGetter(doubles))
    int_type = jpype.JClass("java.lang.Integer").TYPE
    body_type = method_type(void, int_type, [rids, ints, rids, ints] + [doubles] * len(names))
    order = [1, 2, 0, 3, 4, 0] + [x for k in range(len(names)) for x in (5 + k, 0)]
    body = handles.permuteArguments(h, body_type, ints(order))
    count = handles.dropArguments(handles.arrayLength(ints), 0, [rids])
    count = handles.dropArguments(count, 2, [rids, ints] + [doubles] * len(names))
    return handles.countedLoop(count, None, body)


_jvm_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the JVM's start-up notices, which it writes straight to file descriptor 2."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _start_jvm(directory: Path) -> None:
    from arcadedb_embedded import jvm

    with _jvm_lock:
        if not jvm.jpype.isJVMStarted():
            props = _state(directory) / "logging.properties"
            props.write_text(_LOGGING_PROPERTIES)
            os.environ.setdefault(
                "ARCADEDB_JVM_ERROR_FILE", str(_state(directory) / "hs_err_%p.log")
            )
            with _quiet_stderr():
                jvm.start_jvm(
                    heap_size=JVM_HEAP,
                    jvm_args=[
                        f"-Djava.util.logging.config.file={props}",
                        f"-Darcadedb.server.saltIterations={SALT_ITERATIONS}",
                        "-Xrs",
                    ],
                )
        _stop_all_at_exit()


@functools.cache
def _stop_all_at_exit() -> None:
    """Register :func:`_stop_all` once, after ``import jpype`` registered JPype's own exit
    handler: handlers run last-registered first, and JPype's destroys the JVM, which waits for
    every running server's threads."""
    atexit.register(_stop_all)


_servers: dict[Path, tuple[EmbeddedServer, int]] = {}
_servers_lock = threading.Lock()


def acquire(directory: Path) -> EmbeddedServer:
    """Start (or reuse, within this process) the embedded server of ``directory``."""
    directory = directory.resolve()
    with _servers_lock:
        if directory in _servers:
            server, users = _servers[directory]
            _servers[directory] = (server, users + 1)
            return server
        _init_directory(directory)
        server = EmbeddedServer(directory)
        server.start()
        _servers[directory] = (server, 1)
        return server


def release(server: EmbeddedServer) -> None:
    """Drop one use of a server; the last one stops it."""
    with _servers_lock:
        entry = _servers.get(server.directory)
        if entry is None:
            return
        _, users = entry
        if users > 1:
            _servers[server.directory] = (server, users - 1)
            return
        del _servers[server.directory]
    server.stop()


def init_directory(directory: Path) -> None:
    """Create the store's state directory and password if they do not exist."""
    _init_directory(directory.resolve())


def _stop_all() -> None:
    """At exit, close the clients of servers still running, then stop the servers."""
    with _servers_lock:
        servers = [s for s, _ in _servers.values()]
        _servers.clear()
    for server in servers:
        for client in list(server._clients):
            with contextlib.suppress(Exception):
                client.close()
        with contextlib.suppress(Exception):
            server.stop()
