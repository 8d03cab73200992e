"""`experiment clusterability` end to end on a tiny MLP, and the input it refuses."""

from __future__ import annotations

import csv
import json

import pytest

from neurongraph.experiments.clusterability import (
    CSV_NAME,
    RUNS_CSV_NAME,
    TABLE_COLUMNS,
    VARIANTS,
    network_name,
)

ARCH = "64-8-8-10"
TINY = (
    "--arch",
    ARCH,
    "--runs",
    1,
    "--epochs",
    2,
    "--lr",
    0.02,
    "--shuffles",
    3,
    "-k",
    3,
    "--jobs",
    1,
)


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _partitions(store, network):
    return store.read(
        "MATCH (:Network {name: $name})-[:HAS_PARTITION]->(p:Partition) "
        "RETURN p.method AS method, p.nShuffles AS shuffles, p.seed AS seed",
        {"name": network},
    )


def test_tiny_experiment_writes_table_csv_and_partitions(run_cli, store, tmp_path, name):
    out = tmp_path / "out"
    result = json.loads(
        run_cli(
            "experiment", "clusterability", *TINY, "--out", out, "--prefix", name, "--json"
        ).stdout
    )
    assert result["columns"] == list(TABLE_COLUMNS)
    assert [row["variant"] for row in result["table"]] == list(VARIANTS)
    for row in result["table"]:
        assert list(row) == list(TABLE_COLUMNS)
        assert row["runs"] == 1 and row["clusterable"] in (0, 1)
        assert 0 < row["ncut"] <= 3 and 0 < row["percentile"] <= 1
        assert row["nullMean"] > 0 and row["nullStd"] is not None
    accuracy = {row["variant"]: row["accuracy"] for row in result["table"]}
    assert accuracy["plain"] > accuracy["random"]

    table = _read_csv(out / CSV_NAME)
    assert list(table[0]) == list(TABLE_COLUMNS)
    assert [row["variant"] for row in table] == list(VARIANTS)
    for written, printed in zip(table, result["table"], strict=True):
        assert float(written["ncut"]) == pytest.approx(printed["ncut"])
        assert int(written["clusterable"]) == printed["clusterable"]
    runs = _read_csv(out / RUNS_CSV_NAME)
    assert [row["network"] for row in runs] == [network_name(name, v, 0) for v in VARIANTS]

    assert result["networks"] == [network_name(name, v, 0) for v in VARIANTS]
    for network, row in zip(result["networks"], result["runRows"], strict=True):
        assert (out / f"{network}.pt").is_file() and (out / f"{network}.pt.json").is_file()
        assert row["trained"] and row["ingested"]
        assert _partitions(store, network) == [
            {"method": "spectral-weights", "shuffles": 3, "seed": 0}
        ]
        assert store.get_network(network)["variant"] == row["variant"]

    # a rerun reuses the models and networks, analyses again and still has one partition each
    again = json.loads(
        run_cli(
            "experiment",
            "clusterability",
            *TINY,
            "--variants",
            "plain,random",
            "--out",
            out,
            "--prefix",
            name,
            "--json",
        ).stdout
    )
    assert [row["variant"] for row in again["table"]] == ["plain", "random"]
    assert not any(row["trained"] or row["ingested"] for row in again["runRows"])
    assert again["table"][0]["ncut"] == pytest.approx(result["table"][0]["ncut"])
    assert len(_partitions(store, network_name(name, "plain", 0))) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs", 0], "--runs"),
        (["--shuffles", 0], "--shuffles"),
        (["-k", 1], "-k"),
        (["--epochs", 0], "--epochs"),
        (["--variants", "plain,bogus"], "bogus"),
        (["--arch", "64-x-10"], "64-x-10"),
        (["--arch", "32-8-10"], "32-8-10"),
        (["--arch", "resnet:c4x1-c8x1-10", "-k", 60], "59 neurons"),
        (["--arch", "resnet:c4x1-c8x1-10", "--data", "poly"], "no image layout"),
        (["--arch", "resnet:c4x1-10x2-10"], "is not a stage cWxN"),
    ],
)
def test_bad_input_is_refused_before_any_work(run_cli, store, tmp_path, name, args, message):
    nodes = store.read("MATCH (n) RETURN count(n) AS n")[0]["n"]
    out = tmp_path / "out"
    result = run_cli(
        "experiment",
        "clusterability",
        *TINY,
        *args,
        "--out",
        out,
        "--prefix",
        name,
        expect=2,
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not out.exists()
    assert store.read("MATCH (n) RETURN count(n) AS n")[0]["n"] == nodes
