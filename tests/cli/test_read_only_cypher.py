"""`cypher` without --write and read-only named queries never change the store.

On ArcadeDB, procedures (``merge.node``, ``apoc.merge.node``, ``apoc.do.when``) write without
touching the update counters, so a query that looks read-only may have written: such a query
runs in a transaction that is always rolled back. What a rollback does not undo (schema
commands, ``CALL { } IN TRANSACTIONS``, and ``LOAD CSV``, which reads local files) is refused
before it runs.
"""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from neurongraph.ingest import ingest_model
from neurongraph.queries import QUERIES_ENV
from neurongraph.store import open_store

NEO4J_URI_ENV = "NEURONGRAPH_TEST_NEO4J_URI"

#: Reads that write through a procedure, which ArcadeDB's counters do not report. ``$net`` is
#: the network's name; each leaves a Scratch node keyed by it or marks the network partial.
PROCEDURE_WRITES = {
    "merge.node": "CALL merge.node(['Scratch'], {key: $net}, {}, {}) YIELD node "
    "RETURN node.key AS key",
    "apoc.merge.node": "CALL apoc.merge.node(['Scratch'], {key: $net}) YIELD node "
    "RETURN node.key AS key",
    "apoc.do.when": "CALL apoc.do.when(true, "
    "'MATCH (n:Network {name: $net}) SET n.status = \"partial\" RETURN n.name AS key', '', "
    "{net: $net}) YIELD value RETURN value.key AS key",
}


@pytest.fixture
def network(store, name):
    """A small complete network; its Scratch nodes go when the test ends."""
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    ingest_model(store, model, name, torch.zeros(2, 6))
    yield name
    store.write("MATCH (x:Scratch {key: $net}) DETACH DELETE x", {"net": name})


def state(store, name):
    """The network's status, its Scratch nodes, every node and relationship, and the indexes."""
    return (
        store.get_network(name)["status"],
        store.read("MATCH (x:Scratch {key: $net}) RETURN count(x) AS c", {"net": name})[0]["c"],
        store.read("MATCH (n) RETURN count(n) AS c")[0]["c"],
        store.read("MATCH ()-[r]->() RETURN count(r) AS c")[0]["c"],
        sorted(r["name"] for r in store.read("SHOW INDEXES")),
    )


@pytest.mark.parametrize("procedure", sorted(PROCEDURE_WRITES))
def test_procedure_writes_without_write_are_rolled_back(run_cli, store, network, procedure):
    query = PROCEDURE_WRITES[procedure]
    before = state(store, network)
    assert before[:2] == ("complete", 0)
    run_cli("cypher", query, "-p", f"net={network}")
    assert state(store, network) == before
    # the same query with --write does write: the rollback above is what kept the store as it was
    run_cli("cypher", query, "-p", f"net={network}", "--write")
    assert state(store, network)[:2] != before[:2]


def test_read_only_named_query_writing_through_a_procedure_is_rolled_back(
    run_cli, store, network, tmp_path, monkeypatch
):
    (tmp_path / "sneak-status.cypher").write_text(
        "// Marks a network partial through a procedure (for the tests; no @writes).\n"
        "//\n"
        "// @param network: the network's name\n"
        'CALL apoc.do.when(true, \'MATCH (n:Network {name: $net}) SET n.status = "partial" '
        "RETURN n.name AS name', '', {net: $network}) YIELD value RETURN value.name AS name\n"
    )
    monkeypatch.setenv(QUERIES_ENV, str(tmp_path))
    before = state(store, network)
    run_cli("query", "sneak-status", "-p", f"network={network}")
    assert state(store, network) == before


@pytest.mark.parametrize(
    "query",
    [
        "LOAD CSV FROM 'file:///etc/hostname' AS row RETURN row",
        "load  /* spaced */ csv from 'file:///etc/hostname' AS row RETURN row",
        "CALL apoc.do.when(true, 'LOAD CSV FROM \"file:///etc/hostname\" AS r RETURN r', '', "
        "{}) YIELD value RETURN value",
    ],
)
def test_load_csv_is_refused_without_write(run_cli, store, network, query):
    before = state(store, network)
    refused = run_cli("cypher", query, expect=2)
    assert refused.stdout == ""
    assert refused.stderr.startswith("error: ") and "LOAD CSV" in refused.stderr
    assert "--write" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert state(store, network) == before


@pytest.mark.parametrize(
    "query",
    [
        "UNWIND range(1, 3) AS i CALL (i) { CREATE (:Scratch {key: $net, i: i}) } "
        "IN TRANSACTIONS OF 1 ROWS",
        "CREATE INDEX scratch_key FOR (x:Scratch) ON (x.key)",
        "CREATE CONSTRAINT scratch_unique FOR (x:Scratch) REQUIRE x.key IS UNIQUE",
        "CALL apoc.do.when(true, 'CREATE INDEX scratch_i FOR (x:Scratch) ON (x.i)', '', {}) "
        "YIELD value RETURN value",
    ],
)
def test_what_a_rollback_cannot_undo_is_refused_before_it_runs(run_cli, store, network, query):
    """ArcadeDB commits the inner transactions of CALL { } IN TRANSACTIONS and applies schema
    commands at once, whatever becomes of the surrounding transaction."""
    before = state(store, network)
    refused = run_cli("cypher", query, "-p", f"net={network}", expect=2)
    assert "--write" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert state(store, network) == before


def test_a_failing_procedure_is_a_one_line_error(run_cli, store):
    """ArcadeDB reports an unknown procedure as a DatabaseError, not a ClientError."""
    failed = run_cli("cypher", "CALL apoc.no.such.procedure()", expect=2)
    assert failed.stderr.startswith("error: the query failed: ")
    assert "apoc.no.such.procedure" in failed.stderr
    assert len(failed.stderr.splitlines()) == 1


@pytest.fixture(
    params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)],
)
def any_store(request, store):
    """The session's embedded store, and a real Neo4j when NEURONGRAPH_TEST_NEO4J_URI is set."""
    if request.param == "embedded":
        yield store
    else:
        with open_store(os.environ[NEO4J_URI_ENV]) as neo4j_store:
            yield neo4j_store


def test_procedure_write_without_write_is_not_committed_on_either_server(any_store, name):
    """ArcadeDB runs the procedure and the rollback undoes it; Neo4j refuses it before it runs
    (EXPLAIN calls it a write; without APOC it is an unknown procedure). Plain writes are
    refused on both, and nothing is left either way."""
    from neurongraph.errors import UsageError

    def scratch():
        query = "MATCH (x:Scratch {key: $key}) RETURN count(x) AS c"
        return any_store.read(query, {"key": name})[0]["c"]

    procedure = "CALL apoc.merge.node(['Scratch'], {key: $net}) YIELD node RETURN node.key AS key"
    try:
        any_store.run_cypher(procedure, {"net": name})
    except UsageError as refused:
        assert any_store.flavour == "neo4j", refused
    assert scratch() == 0
    for query in (
        "CREATE (x:Scratch {key: $key}) RETURN x.key AS key",
        "MERGE (x:Scratch {key: $key}) SET x.n = 1",
    ):
        with pytest.raises(UsageError, match="add `write=`"):
            any_store.run_cypher(query, {"key": name})
        assert scratch() == 0
    assert any_store.run_cypher("RETURN $key AS key", {"key": name}).rows == [{"key": name}]
    any_store.run_cypher("CREATE (x:Scratch {key: $key})", {"key": name}, write=True)
    assert scratch() == 1
    any_store.write("MATCH (x:Scratch {key: $key}) DETACH DELETE x", {"key": name})
