"""What `cypher`, `query` and `networks` print: "no rows" for an empty read, `--limit`, CSV
and JSON, 0.0 never printed as -0.0, and an unknown network in a named query refused."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from conftest import Cli, one_line_error, snapshot

from neurongraph.ingest import ingest_model

NET = "output-mlp"
WEIGHTS = "spectral-weights"
K = 3
TEN = "UNWIND range(1, 10) AS i RETURN i"


@pytest.fixture(scope="module")
def network(store, store_dir, mlp):
    """The session's trained MLP, ingested and split into K spectral clusters."""
    ingest_model(store, mlp, NET, torch.zeros(2, 64))
    Cli(store_dir)("analyze", "spectral", NET, "-k", K, "--no-null", "--seed", 0)
    return NET


def test_an_empty_read_prints_no_rows(run_cli, network):
    result = run_cli("cypher", "MATCH (n:Network {name: 'no-such'}) RETURN n.name AS name")
    assert result.stdout == "no rows\n"
    result = run_cli("query", "neurons-by-entropy", "-p", f"network={network}")
    assert result.stdout == "no rows\n", "no entropy analysed yet"
    rows = json.loads(run_cli("cypher", "MATCH (n:Nothing) RETURN n", "--json").stdout)["rows"]
    assert rows == []
    result = run_cli("cypher", "MATCH (n:Network {name: 'no-such'}) SET n.x = 1", "--write")
    assert result.stdout == "no changes\n"


def test_a_named_query_refuses_an_unknown_network(run_cli, store, network):
    before = snapshot(store)
    result = run_cli("query", "partitions", "-p", "network=no-such-net", expect=2)
    line = one_line_error(result)
    assert "'no-such-net'" in line and "`neurongraph networks`" in line
    assert snapshot(store) == before


def test_limit_on_cypher(run_cli):
    result = run_cli("cypher", TEN, "--limit", 3)
    assert [line.strip() for line in result.stdout.splitlines()[2:]] == ["1", "2", "3"]
    assert "7 more rows not shown" in result.stderr
    assert len(json.loads(run_cli("cypher", TEN, "--limit", 4, "--json").stdout)["rows"]) == 4
    table = list(csv.DictReader(io.StringIO(run_cli("cypher", TEN, "--limit", 2, "--csv").stdout)))
    assert table == [{"i": "1"}, {"i": "2"}]
    assert len(json.loads(run_cli("cypher", TEN, "--json").stdout)["rows"]) == 10
    assert "--limit" in run_cli("cypher", TEN, "--limit", 0, expect=2).stderr


def test_limit_on_a_named_query_fills_its_limit_parameter(run_cli, network):
    base = ["-p", f"network={network}", "-p", f"method={WEIGHTS}"]
    sums = json.loads(run_cli("query", "cluster-weight-sums", *base, "--json").stdout)["rows"]
    pair = max(sums, key=lambda r: r["edges"])
    args = ["cluster-weights", *base, "-p", f"source={pair['source']}"]
    args += ["-p", f"target={pair['target']}"]
    assert pair["edges"] > 25, "the pair must have more edges than the query's default (20)"
    rows = json.loads(run_cli("query", *args, "--limit", 25, "--json").stdout)["rows"]
    assert len(rows) == 25, "--limit sets the query's own limit parameter"
    rows = json.loads(run_cli("query", *args, "--json").stdout)["rows"]
    assert len(rows) == 20
    neurons = ["cluster-neurons", *base, "-p", "label=0"]
    everything = json.loads(run_cli("query", *neurons, "--json").stdout)["rows"]
    rows = json.loads(run_cli("query", *neurons, "--limit", 2, "--json").stdout)["rows"]
    assert rows == everything[:2] and len(everything) > 2


def test_negative_zero_prints_as_zero(run_cli):
    query = "RETURN -0.0 AS z, [-0.0, -1.5] AS l"
    table = run_cli("cypher", query).stdout.splitlines()
    assert table[2].split(maxsplit=1) == ["0", "[0.0, -1.5]"]
    assert run_cli("cypher", query, "--csv").stdout.splitlines()[1] == '0.0,"[0.0, -1.5]"'
    text = run_cli("cypher", query, "--json").stdout
    assert "-0.0" not in text
    assert json.loads(text)["rows"] == [{"z": 0.0, "l": [0.0, -1.5]}]


def test_networks_as_csv_and_json(run_cli, network):
    table = list(csv.DictReader(io.StringIO(run_cli("networks", "--csv").stdout)))
    row = next(r for r in table if r["name"] == network)
    assert row["status"] == "complete" and row["dataFlow"] == "chain"
    assert row["nNeurons"] == str(64 + 32 + 16 + 10)
    listed = json.loads(run_cli("networks", "--json").stdout)["networks"]
    assert next(n for n in listed if n["name"] == network)["nLayers"] == 4
    text = run_cli("networks").stdout.splitlines()
    assert text[0].split()[:3] == ["name", "status", "dataFlow"]
    assert any(line.split()[:2] == [network, "complete"] for line in text)
