"""The one owner of the database driver: every read and write of neurongraph goes through here."""

from __future__ import annotations

import logging
import os
import random
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j
import numpy as np
from neo4j import GraphDatabase
from neo4j import exceptions as neo4j_errors

from neurongraph import __version__
from neurongraph.errors import StoreError, UsageError, arg, step
from neurongraph.progress import Progress
from neurongraph.store import autoserve, cypher, embedded
from neurongraph.store.defaults import DEFAULT_STORE, STORE_ENV
from neurongraph.store.files import StoreFiles
from neurongraph.store.rows import PartitionCluster, neuron_property_rows, partition_rows
from neurongraph.store.schema import (
    DATABASE,
    NEO4J_SCHEMA,
    NETWORK_LABELS,
    NETWORK_NAME_MAX,
    NETWORK_NAME_PATTERN,
    STAGING_MARK,
    Status,
)

__all__ = [
    "DEFAULT_STORE",
    "CypherResult",
    "Store",
    "check_network_name",
    "open_store",
]

log = logging.getLogger(__name__)

USER_ENV = "NEO4J_USERNAME"
PASSWORD_ENV = "NEO4J_PASSWORD"
DATABASE_ENV = "NEO4J_DATABASE"
DEFAULT_NEO4J_DATABASE = "neo4j"
DEFAULT_NEO4J_USER = "neo4j"
#: Seconds to wait for a Bolt server before saying it cannot be reached.
CONNECT_TIMEOUT = 5.0
#: Rows per write transaction.
NODE_BATCH = 5_000
#: WEIGHT edges per write transaction on the Bolt path.
EDGE_BATCH = 20_000
#: Nodes deleted per transaction when a network is dropped.
DELETE_BATCH = 2_000
#: Clusters deleted per statement when a partition is replaced (all in the one transaction of
#: the replace).
CLUSTER_DELETE_BATCH = 1_000
#: Times a write transaction is tried when a concurrent writer conflicts with it (a transient
#: error, or a unique key that another transaction took first) before the write fails.
WRITE_ATTEMPTS = 5
#: Seconds before the second try of a conflicting write; each later try waits twice as long
#: (with jitter, so that two writers do not retry in step).
RETRY_DELAY = 0.2
USER_AGENT = f"neurongraph/{__version__}"
#: The columns of :meth:`Store.read_weight_columns`.
WEIGHT_COLUMNS = ("layer", "targetLayer", "source", "target", "weight")
_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")


def check_network_name(name: str) -> str:
    """Return ``name`` if it is a valid network name, else raise UsageError."""
    if not name:
        raise UsageError(f"the network name is empty; give one with {arg('name')}")
    if len(name) > NETWORK_NAME_MAX:
        raise UsageError(
            f"the network name is {len(name)} characters long; use at most {NETWORK_NAME_MAX}"
        )
    if not re.fullmatch(NETWORK_NAME_PATTERN, name):
        raise UsageError(
            f"the network name {name!r} has characters outside [A-Za-z0-9_.@-]; "
            "use only letters, digits and _ . @ -"
        )
    if name.startswith(".") or ".." in name:
        raise UsageError(
            f"the network name {name!r} starts with a dot or contains '..'; names can end up in "
            "file paths: start with a letter, digit, _ or - and use single dots"
        )
    return name


@dataclass(frozen=True)
class CypherResult:
    """Rows of a query with their column names and the write counters."""

    keys: list[str]
    rows: list[dict[str, Any]]
    counters: dict[str, int]


def _plain(value: Any) -> Any:
    """Driver values (nodes, relationships, temporal types) as JSON-friendly Python values."""
    if isinstance(value, neo4j.graph.Node):
        return {"labels": sorted(value.labels), **{k: _plain(v) for k, v in value.items()}}
    if isinstance(value, neo4j.graph.Relationship):
        return {"type": value.type, **{k: _plain(v) for k, v in value.items()}}
    if isinstance(value, neo4j.graph.Path):
        return [_plain(n) for n in value.nodes]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value


_WRITE_REFUSED = f"this query writes to the store; add {arg('write')} to run it"
#: Cypher that a rollback does not undo (measured on ArcadeDB), refused before it runs unless
#: ``--write`` is given: what it does, for the message. The patterns are matched against the
#: whole text, string literals included (``apoc.do.when`` runs Cypher given as a string), and
#: again with comments removed (``LOAD /* */ CSV``).
_NOT_UNDONE = (
    (re.compile(r"\bLOAD\s+CSV\b", re.IGNORECASE), "uses LOAD CSV, which reads local files"),
    (
        re.compile(r"\bIN\s+TRANSACTIONS\b", re.IGNORECASE),
        "uses CALL { ... } IN TRANSACTIONS, which commits its own transactions",
    ),
    (
        re.compile(
            r"\b(?:CREATE|DROP|ALTER)\s+(?:OR\s+REPLACE\s+)?(?:[A-Z]+\s+)?(?:INDEX|CONSTRAINT)\b",
            re.IGNORECASE,
        ),
        "changes the schema, which a rollback does not undo",
    ),
)
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_COUNTERS = (
    "nodes_created",
    "nodes_deleted",
    "relationships_created",
    "relationships_deleted",
    "properties_set",
    "labels_added",
    "labels_removed",
    "contains_updates",
)


def _refuse_unsafe_read(query: str) -> None:
    """UsageError if ``query`` does something that rolling back its transaction would not undo."""
    for text in (query, _COMMENTS.sub(" ", query)):
        for pattern, what in _NOT_UNDONE:
            if pattern.search(text):
                raise UsageError(f"this query {what}; add {arg('write')} to run it")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _collect_work(query: str, params: dict | None) -> Callable[[Any], CypherResult]:
    """A transaction function that runs ``query`` and collects rows and counters."""

    def work(tx: Any) -> CypherResult:
        result = tx.run(query, params or {})
        keys = list(result.keys())
        rows = [{k: _plain(v) for k, v in record.items()} for record in result]
        counters = result.consume().counters
        stats = {k: getattr(counters, k) for k in _COUNTERS}
        stats["contains_updates"] = bool(
            counters.contains_updates or counters.contains_system_updates
        )
        return CypherResult(keys, rows, stats)

    return work


class Store:
    """A graph store reached with the official ``neo4j`` driver.

    Build it with :func:`open_store`; close it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        driver: neo4j.Driver,
        *,
        database: str | None,
        location: str,
        server: embedded.EmbeddedServer | None = None,
        served: embedded.ServedStore | None = None,
        lease: autoserve.Lease | None = None,
    ) -> None:
        self._driver = driver
        self._database = database
        self.location = location
        self._server = server
        self._served = served
        self._lease = lease
        if server is not None:
            server.attach(self)
        agent = driver.get_server_info().agent
        self.flavour = "arcadedb" if "ArcadeDB" in agent else "neo4j"
        self.agent = agent
        self.files = StoreFiles.for_store(location, database, self.directory)
        if self.flavour == "neo4j":
            for statement in NEO4J_SCHEMA:
                self._run(statement, write=True)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the driver, then let go of the served store, or release the embedded server
        if this store started it."""
        if self._driver is not None:
            self._driver.close()
            self._driver = None
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        if self._server is not None:
            embedded.release(self._server)
            self._server = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def directory(self) -> Path | None:
        """The embedded store's directory, or None for a Neo4j server."""
        path = Path(self.location)
        return path if "://" not in self.location else None

    # -- running Cypher --------------------------------------------------------------------
    def _session(self) -> neo4j.Session:
        return self._driver.session(database=self._database)

    def _run(self, query: str, params: dict | None = None, *, write: bool) -> CypherResult:
        work = _collect_work(query, params)
        if write:
            return self._transact(work, what="the query")
        try:
            with self._session() as session:
                return session.execute_read(work)
        except neo4j_errors.Neo4jError as err:
            raise StoreError(f"the database refused the query: {_one_line(err.message)}") from err
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired) as err:
            raise self._lost(err) from err

    def _lost(self, err: Exception) -> StoreError:
        """The error for a connection lost mid-command."""
        if self._served is not None:
            return StoreError(
                f"the process serving {self.location} (pid {self._served.pid}) stopped or died; "
                "run the command again (it serves the store afresh)"
            )
        return StoreError(f"lost the connection to the store at {self.location}: {err}")

    def _transact(self, work: Callable[[Any], Any], *, what: str) -> Any:
        """Run ``work(tx)`` in one managed write transaction and return what it returns.

        A try that conflicts with a concurrent writer (a transient error, or a unique key that
        another transaction committed first) is rolled back and the whole of ``work`` runs again,
        up to WRITE_ATTEMPTS tries; a conflict that outlasts them is a StoreError.
        """
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self._session() as session:
                    return session.execute_write(work)
            except (neo4j_errors.TransientError, neo4j_errors.ConstraintError) as err:
                if attempt == WRITE_ATTEMPTS:
                    raise StoreError(
                        f"{what} still conflicted with the store after {WRITE_ATTEMPTS} tries "
                        f"(another process writing the same nodes, or nodes left by one): "
                        f"{_one_line(err.message)}"
                    ) from err
                delay = RETRY_DELAY * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
                log.info(
                    "%s conflicted with another writer (%s); trying again in %.1f s",
                    what,
                    _one_line(err.message),
                    delay,
                )
                time.sleep(delay)
            except neo4j_errors.Neo4jError as err:
                raise StoreError(f"the database refused {what}: {_one_line(err.message)}") from err
            except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired) as err:
                raise self._lost(err) from err
        raise AssertionError("unreachable")

    def read(self, query: str, params: dict | None = None) -> list[dict[str, Any]]:
        """Run a read query and return its rows."""
        return self._run(query, params, write=False).rows

    def write(self, query: str, params: dict | None = None) -> CypherResult:
        """Run a write query in a managed transaction, retried on conflicts."""
        return self._run(query, params, write=True)

    def run_cypher(
        self, query: str, params: dict | None = None, *, write: bool = False
    ) -> CypherResult:
        """Run a user's Cypher in one explicit transaction.

        With ``write`` the transaction is committed. Without it, the transaction is always
        rolled back, never committed: on ArcadeDB a rollback also undoes writes made through
        procedures (``merge.node``, ``apoc.do.when``), which its update counters do not report.
        Before it runs, a query that a rollback would not undo (schema commands, ``LOAD CSV``,
        ``CALL { } IN TRANSACTIONS``) is refused, and on Neo4j so is any query that ``EXPLAIN``
        does not call read-only (ArcadeDB's ``EXPLAIN`` calls every query a write). A query
        whose counters show a write is refused after it ran (and was rolled back), so that the
        user learns to add ``--write``.
        """
        if not write:
            _refuse_unsafe_read(query)
        try:
            with self._session() as session:
                if not write and self.flavour == "neo4j":
                    kind = session.run("EXPLAIN " + query, params or {}).consume().query_type
                    if kind != "r":
                        raise UsageError(_WRITE_REFUSED)
                tx = session.begin_transaction()
                try:
                    result = _collect_work(query, params)(tx)
                    if write:
                        tx.commit()
                finally:
                    if not tx.closed():
                        tx.rollback()
        except neo4j_errors.Neo4jError as err:
            raise UsageError(f"the query failed: {_one_line(err.message)}") from err
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired) as err:
            raise self._lost(err) from err
        if not write and result.counters["contains_updates"]:
            raise UsageError(_WRITE_REFUSED)
        return result

    # -- networks --------------------------------------------------------------------------
    def get_network(self, name: str) -> dict | None:
        """The network node's properties, or None (query GET_NETWORK, read)."""
        rows = self.read(cypher.GET_NETWORK, {"name": name})
        return rows[0]["network"] if rows else None

    def networks(self) -> list[dict]:
        """Every network node's properties, by name (query LIST_NETWORKS, read)."""
        return [r["network"] for r in self.read(cypher.LIST_NETWORKS)]

    def require_network(self, name: str) -> dict:
        """The properties of a complete network; UsageError if it is unknown or partial."""
        network = self.get_network(name)
        if network is None:
            known = ", ".join(n["name"] for n in self.networks()[:10]) or "none"
            raise UsageError(
                f"no network named {name!r} in {self.location} (known: {known}); "
                f"ingest it with {step('ingest')}"
            )
        if network.get("status") != Status.COMPLETE:
            raise UsageError(
                f"network {name!r} is partial (its ingest did not finish); "
                f"re-ingest it with {step('ingest')}, replacing the network ({arg('replace')})"
            )
        return network

    def require_series(self, series: str) -> list[dict]:
        """The networks of a checkpoint series (named ``series@EPOCH``, or with ``series`` set),
        each complete; UsageError if there are none or one is partial (as ``require_network``)."""
        members = [
            n
            for n in self.networks()
            if n.get("series") == series or n["name"].startswith(f"{series}@")
        ]
        if not members:
            raise UsageError(
                f"no network of a series {series!r} in {self.location} (series members are "
                f"named {series}@EPOCH); ingest a directory of checkpoints with {step('ingest')} "
                f"as a series ({arg('series')})"
            )
        return [self.require_network(n["name"]) for n in members]

    def layers(self, name: str) -> list[dict]:
        """The network's layers in order (query LIST_LAYERS, read)."""
        return [r["layer"] for r in self.read(cypher.LIST_LAYERS, {"name": name})]

    def drop_network(self, name: str) -> int:
        """Delete a network, everything that belongs to it and the files it owns (activation
        caches, images, and its model file unless another network uses it); returns nodes
        deleted (writes)."""
        network = self.get_network(name) or {}
        images = [r["path"] for r in self.read(cypher.NETWORK_IMAGES, {"name": name})]
        deleted = 0
        for label in NETWORK_LABELS:
            query = cypher.DELETE_NETWORK_NODES.format(label=label)
            while True:
                rows = self.write(query, {"name": name, "batch": DELETE_BATCH}).rows
                count = int(rows[0]["deleted"]) if rows else 0
                deleted += count
                if count < DELETE_BATCH:
                    break
        deleted += self.write(cypher.DELETE_NETWORK, {"name": name}).counters["nodes_deleted"]
        if network:
            self.files.remove_network_activations(network)
            self.files.remove_activations(network.get("activationsCache"))
        self.files.remove_images(images)
        sha = network.get("sha256")
        if sha and not self.read(cypher.COUNT_MODEL_USERS, {"sha": sha})[0]["users"]:
            self.files.remove_model(sha)
        return deleted

    # -- replacing a network whole -----------------------------------------------------------
    def stage_name(self, name: str) -> str:
        """A fresh hidden name to write network ``name``'s replacement under."""
        return f"{name}{STAGING_MARK}{secrets.token_hex(6)}"

    def drop_staged(self, name: str) -> list[str]:
        """Drop what killed ingests of ``name`` left: its hidden staged or replaced copies."""
        staged = [r["name"] for r in self.read(cypher.LIST_STAGED, {"name": name})]
        for hidden in staged:
            log.info("dropping %s, left by an interrupted ingest", hidden)
            self.drop_network(hidden)
        return staged

    def swap_network(self, staged: str, name: str) -> str | None:
        """Make the complete staged network ``staged`` the network ``name``, in ONE transaction:
        a network already called ``name`` is renamed to a hidden name (returned, for the caller
        to drop) and ``staged`` takes its place with status complete. At every instant the
        store holds the old network or the new one under ``name``, each complete (writes)."""
        old = self.get_network(name)
        replaced = self.stage_name(name) if old is not None else None
        statements = []
        for src, dst, status in ((name, replaced, Status.PARTIAL), (staged, name, Status.COMPLETE)):
            if dst is None:
                continue
            rename = {"old": src, "new": dst}
            statements += [
                (cypher.RENAME_NETWORK_NODES.format(label=label), rename)
                for label in NETWORK_LABELS
            ]
            statements.append((cypher.RENAME_CLUSTER_PARTITIONS, rename))
            statements.append((cypher.RENAME_NETWORK, {**rename, "status": status}))

        def check(rows: list[list[dict]]) -> None:
            if rows[-1] != [{"renamed": 1}]:
                raise StoreError(
                    f"the new network {name!r} went missing while it was written (another "
                    "process dropped it); nothing changed: run the ingest again"
                )

        self.write_all(statements, check)
        return replaced

    def write_network(
        self,
        name: str,
        graph: Any,
        props: dict,
        *,
        progress: Progress | None = None,
        complete: bool = True,
    ) -> None:
        """Write a network graph (``neurongraph.ingest.graph.NetworkGraph``) in status partial,
        then (``complete``) mark it complete. No network of that name may exist yet."""
        from neurongraph.store import rows

        created = datetime.now(UTC).isoformat(timespec="seconds")
        network = {
            **props,
            "name": name,
            "status": Status.PARTIAL,
            "createdAt": created,
            "nNeurons": graph.n_neurons,
            "nEdges": graph.n_edges,
            "nLayers": len(graph.layers),
        }
        if self._server is not None:
            rows.bulk_write(self._server, name, graph, network, progress)
        elif self._served is not None and self._served.import_port:
            from neurongraph.store import bulk

            bulk.send_graph(self._served, self.location, name, graph, network, progress)
        else:
            self.write(cypher.CREATE_NETWORK, {"props": network})
            self.write(cypher.CREATE_LAYERS, {"name": name, "rows": rows.layer_rows(name, graph)})
            self.write(cypher.CREATE_FEEDS, {"rows": rows.feed_rows(name, graph)})
            for layer, neurons in rows.neuron_rows(name, graph):
                for start in range(0, len(neurons), NODE_BATCH):
                    self.write(
                        cypher.CREATE_NEURONS,
                        {"layer": layer, "rows": neurons[start : start + NODE_BATCH]},
                    )
            done = 0
            for batch in rows.weight_batches(name, graph, EDGE_BATCH):
                self.write(cypher.CREATE_WEIGHTS, {"rows": batch})
                done += sum(len(r["t"]) for r in batch)
                log.info("%d of %d WEIGHT edges written", done, graph.n_edges)
                if progress is not None:
                    progress(done, graph.n_edges)
        if complete:
            self.write(cypher.SET_NETWORK, {"name": name, "props": {"status": Status.COMPLETE}})

    def count_network(self, name: str) -> dict:
        """Neurons and WEIGHT edges actually stored for a network (query COUNT_NETWORK, read)."""
        return self.read(cypher.COUNT_NETWORK, {"name": name})[0]

    # -- analysis results ------------------------------------------------------------------
    def write_all(
        self,
        statements: list[tuple[str, dict]],
        check: Callable[[list[list[dict]]], None] | None = None,
    ) -> None:
        """Run several write statements in ONE transaction: all of them happen or none.

        ``check`` gets every statement's rows before the commit; what it raises rolls the
        transaction back and reaches the caller."""

        def work(tx: neo4j.ManagedTransaction) -> None:
            rows = [tx.run(query, params).data() for query, params in statements]
            if check is not None:
                check(rows)

        self._transact(work, what="the write")

    def set_neuron_properties(self, rows: list[dict]) -> None:
        """``rows`` = [{uid, props}] (query SET_NEURONS, writes; one transaction)."""
        self.write_all([(cypher.SET_NEURONS, {"rows": b}) for b in _batches(rows)])

    def set_layer_properties(self, rows: list[dict]) -> None:
        """``rows`` = [{uid, props}] (query SET_LAYERS, writes)."""
        self.write(cypher.SET_LAYERS, {"rows": rows})

    def set_network_properties(self, name: str, props: dict) -> None:
        """Merge ``props`` into the network node (query SET_NETWORK, writes)."""
        self.write(cypher.SET_NETWORK, {"name": name, "props": props})

    def neuron_property(self, name: str, key: str) -> list[dict]:
        """``layer``, ``index`` and ``value`` of one property on every neuron of a network
        (query READ_NEURON_PROPERTY, read)."""
        return self.read(cypher.with_key(cypher.READ_NEURON_PROPERTY, key), {"name": name})

    def replace_correlations(self, name: str, rows: list[dict]) -> None:
        """Replace the network's CORRELATES edges; ``rows`` = [{s, t: [uid], r: [rho]}]
        (queries DELETE_CORRELATES, CREATE_CORRELATES, writes)."""
        while True:
            deleted = self.write(cypher.DELETE_CORRELATES, {"name": name, "batch": EDGE_BATCH})
            if int(deleted.rows[0]["deleted"]) < EDGE_BATCH:
                break
        for batch in _batches(rows, NODE_BATCH // 5):
            self.write(cypher.CREATE_CORRELATES, {"rows": batch})

    def correlations(self, name: str) -> list[dict]:
        """``source``, ``target`` and ``r`` of every CORRELATES edge (query READ_CORRELATES)."""
        return self.read(cypher.READ_CORRELATES, {"name": name})

    def replace_partition(
        self,
        name: str,
        partition: dict,
        clusters: list[dict],
        members: list[dict],
        neuron_key: str | None = None,
        neuron_rows: list[dict] | None = None,
    ) -> None:
        """Replace a partition (same ``uid``) with its clusters, IN_CLUSTER edges and neuron
        properties, in one transaction: a reader, or a store reopened after a crash, sees the
        old partition complete or the new one complete.

        ``partition`` and each of ``clusters`` are property maps with ``uid``; ``members`` =
        [{cluster: uid, neurons: [uid]}]; ``neuron_key`` is removed from every neuron first;
        ``neuron_rows`` = [{uid, props}] are then set. The old clusters go CLUSTER_DELETE_BATCH
        at a time within the transaction. A concurrent replace of the same partition makes
        this one try again (see ``_transact``) (queries DELETE_PARTITION_CLUSTERS,
        DELETE_PARTITION, REMOVE_NEURON_PROPERTY, CREATE_PARTITION, CREATE_CLUSTERS,
        CREATE_MEMBERSHIP, SET_NEURONS; writes). The old clusters' images are deleted after the
        commit (query PARTITION_IMAGES).
        """
        uid = partition["uid"]
        statements = []
        if neuron_key is not None:
            statements.append(
                (cypher.with_key(cypher.REMOVE_NEURON_PROPERTY, neuron_key), {"name": name})
            )
        statements.append((cypher.CREATE_PARTITION, {"name": name, "props": partition}))
        statements += [
            (cypher.CREATE_CLUSTERS, {"uid": uid, "rows": b}) for b in _batches(clusters)
        ]
        statements += [(cypher.CREATE_MEMBERSHIP, {"rows": b}) for b in _batches(members, 50)]
        statements += [(cypher.SET_NEURONS, {"rows": b}) for b in _batches(neuron_rows or [])]

        def work(tx: neo4j.ManagedTransaction) -> None:
            deleted = 0
            while True:
                params = {"uid": uid, "batch": CLUSTER_DELETE_BATCH}
                count = int(tx.run(cypher.DELETE_PARTITION_CLUSTERS, params).single()["deleted"])
                deleted += count
                if count < CLUSTER_DELETE_BATCH:
                    break
            tx.run(cypher.DELETE_PARTITION, {"uid": uid}).consume()
            log.debug("deleted %d clusters of the old partition %s", deleted, uid)
            for query, params in statements:
                tx.run(query, params).consume()

        log.info(
            "writing partition %s: %d clusters, %d neuron properties",
            uid,
            len(clusters),
            len(neuron_rows or []),
        )
        images = [r["path"] for r in self.read(cypher.PARTITION_IMAGES, {"uid": uid})]
        self._transact(work, what=f"the write of partition {uid}")
        self.files.remove_images(images)
        log.info("wrote partition %s", uid)

    def write_partition(
        self,
        name: str,
        method: str,
        props: dict,
        clusters: Sequence[PartitionCluster],
        neuron_key: str | None = None,
        neuron_labels: Mapping[tuple[str, int], int] | None = None,
    ) -> None:
        """Replace the network's ``method`` partition with one of ``clusters``
        (:func:`~neurongraph.store.rows.partition_rows`), and, with ``neuron_key``, set that
        property of each neuron of ``neuron_labels`` ((layer name, index) -> label) after
        removing it from every neuron, in one transaction (see :meth:`replace_partition`;
        writes)."""
        partition, cluster_rows, members = partition_rows(name, method, props, clusters)
        labels = {node: {neuron_key: label} for node, label in (neuron_labels or {}).items()}
        self.replace_partition(
            name,
            partition,
            cluster_rows,
            members,
            neuron_key,
            neuron_property_rows(name, labels),
        )

    def partition(self, uid: str) -> dict | None:
        """A partition's properties, or None (query GET_PARTITION, read)."""
        rows = self.read(cypher.GET_PARTITION, {"uid": uid})
        return rows[0]["partition"] if rows else None

    def clusters(self, uid: str) -> list[dict]:
        """A partition's clusters: ``cluster`` (properties) and ``members`` ([layer position,
        index] pairs) (query READ_CLUSTERS, read)."""
        return self.read(cypher.READ_CLUSTERS, {"uid": uid})

    def replace_neuron_properties(self, name: str, keys: list[str], rows: list[dict]) -> None:
        """Remove ``keys`` from every neuron of a network, then set ``rows`` = [{uid, props}],
        in one transaction (queries REMOVE_NEURON_PROPERTY, SET_NEURONS; writes)."""
        statements = [
            (cypher.with_key(cypher.REMOVE_NEURON_PROPERTY, key), {"name": name}) for key in keys
        ]
        statements += [(cypher.SET_NEURONS, {"rows": b}) for b in _batches(rows)]
        self.write_all(statements)

    def replace_interactions(self, uid: str, rows: list[dict]) -> None:
        """Replace the INTERACTS edges among a partition's clusters; ``rows`` = [{a, b, props}]
        (queries DELETE_INTERACTS, CREATE_INTERACTS; writes, one transaction)."""
        statements = [(cypher.DELETE_INTERACTS, {"uid": uid})]
        statements += [(cypher.CREATE_INTERACTS, {"rows": b}) for b in _batches(rows) if b]
        self.write_all(statements)

    def set_cluster_properties(self, rows: list[dict]) -> None:
        """``rows`` = [{uid, props}] (query SET_CLUSTERS, writes)."""
        self.write_all([(cypher.SET_CLUSTERS, {"rows": b}) for b in _batches(rows)])

    def set_partition_properties(self, uid: str, props: dict) -> None:
        """Merge ``props`` into a partition (query SET_PARTITION, writes)."""
        self.write(cypher.SET_PARTITION, {"uid": uid, "props": props})

    def read_weights(self, name: str) -> list[dict]:
        """WEIGHT edges grouped by source neuron and target layer: layer and targetLayer
        positions, source index, targets, weights, signed (query READ_WEIGHTS, read)."""
        return self.read(cypher.READ_WEIGHTS, {"name": name})

    def read_weight_columns(self, name: str) -> dict[str, np.ndarray]:
        """Every WEIGHT edge of a network as columns ``layer``, ``targetLayer`` (positions),
        ``source``, ``target`` (neuron indices) and ``weight``, in no particular order.

        An embedded store this process serves is read in-process, as numpy columns (query
        READ_WEIGHT_EDGES, read): no Bolt records, no Python object per edge, which for the
        10.6M edges of a transformer-sized network is most of the read. Elsewhere the grouped
        Bolt read (query READ_WEIGHTS) is flattened into the same columns.
        """
        if self._server is not None:
            found = self._server.read_columns(cypher.READ_WEIGHT_EDGES, {"name": name})
            if found is not None:
                return {key: np.asarray(found.get(key, ())) for key in WEIGHT_COLUMNS}
        rows = self.read_weights(name)
        counts = np.asarray([len(r["targets"]) for r in rows], dtype=np.int64)
        return {
            "layer": np.repeat(np.asarray([r["layer"] for r in rows], dtype=np.int64), counts),
            "targetLayer": np.repeat(
                np.asarray([r["targetLayer"] for r in rows], dtype=np.int64), counts
            ),
            "source": np.repeat(np.asarray([r["source"] for r in rows], dtype=np.int64), counts),
            "target": np.fromiter(
                (t for r in rows for t in r["targets"]), dtype=np.int64, count=int(counts.sum())
            ),
            "weight": np.fromiter(
                (w for r in rows for w in r["weights"]), dtype=np.float64, count=int(counts.sum())
            ),
        }

    def feeds(self, name: str) -> list[tuple[int, int]]:
        """The FEEDS relationships of a network as (source, target) layer positions, empty for
        networks ingested before they were written (query READ_FEEDS, read)."""
        return [
            (int(r["source"]), int(r["target"]))
            for r in self.read(cypher.READ_FEEDS, {"name": name})
        ]


def _batches(rows: list, size: int = NODE_BATCH) -> list[list]:
    return [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]


def _neo4j_auth() -> tuple[str, str]:
    return (
        os.environ.get(USER_ENV, DEFAULT_NEO4J_USER),
        os.environ.get(PASSWORD_ENV, ""),
    )


def _connect(uri: str, auth: tuple[str, str], location: str) -> neo4j.Driver:
    driver = GraphDatabase.driver(
        uri,
        auth=auth,
        user_agent=USER_AGENT,
        connection_timeout=CONNECT_TIMEOUT,
        connection_acquisition_timeout=CONNECT_TIMEOUT,
        max_transaction_retry_time=CONNECT_TIMEOUT,
    )
    try:
        driver.verify_connectivity()
    except neo4j_errors.AuthError as err:
        driver.close()
        raise StoreError(
            f"wrong credentials for {location}; set {USER_ENV} and {PASSWORD_ENV}"
        ) from err
    except (neo4j_errors.ServiceUnavailable, neo4j_errors.DriverError, OSError) as err:
        driver.close()
        raise StoreError(
            f"cannot reach a Bolt server at {location} ({type(err).__name__}); "
            f"start it (e.g. `docker compose up -d`) or check {arg('location')}"
        ) from err
    return driver


def open_store(location: str | os.PathLike | None = None) -> Store:
    """Open a store.

    Parameters
    ----------
    location : str or path, optional
        A ``bolt://`` / ``neo4j://`` URI (a Neo4j server; credentials from ``NEO4J_USERNAME`` /
        ``NEO4J_PASSWORD``) or a directory (the embedded store, created if missing). Defaults to
        ``NEURONGRAPH_STORE`` or ``./neurongraph-store``.

    Notes
    -----
    An embedded store that another process serves is reached over Bolt through that process.
    One that nobody serves is left served by a background process that stops after
    ``NEURONGRAPH_SERVE_IDLE`` seconds without a command (see
    :mod:`neurongraph.store.autoserve`), unless ``NEURONGRAPH_SERVE=0``: then this process
    starts the server itself and stops it when the store is closed.
    """
    location = str(location or os.environ.get(STORE_ENV) or DEFAULT_STORE)
    if location.startswith(_SCHEMES):
        database = os.environ.get(DATABASE_ENV, DEFAULT_NEO4J_DATABASE)
        return Store(
            _connect(location, _neo4j_auth(), location), database=database, location=location
        )
    if "://" in location:
        raise UsageError(
            f"unknown store address {location!r}; use a directory or a bolt:// or neo4j:// URI"
        )
    directory = Path(location).expanduser().resolve()
    embedded.init_directory(directory)
    if not embedded.serves(directory):
        found = autoserve.lease(directory)
        if found is None and autoserve.enabled():
            autoserve.start(directory, autoserve.idle_from_env())
            found = autoserve.lease(directory)
        if found is not None:
            served, lease = found
            try:
                driver = _connect(served.uri, (embedded.ROOT_USER, served.password), str(directory))
            except BaseException:
                lease.release()
                raise
            return Store(
                driver, database=DATABASE, location=str(directory), served=served, lease=lease
            )
    server = embedded.acquire(directory)
    try:
        driver = _connect(server.uri, (embedded.ROOT_USER, server.password), str(directory))
        return Store(driver, database=DATABASE, location=str(directory), server=server)
    except BaseException:
        embedded.release(server)
        raise
