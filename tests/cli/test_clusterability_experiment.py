"""`experiment clusterability` end to end on a tiny MLP, and the input it refuses."""

from __future__ import annotations

import csv
import json

import pytest

from neurongraph.experiments.clusterability import (
    CSV_NAME,
    L2,
    PLOT_NAME,
    PRUNE,
    RUNS_CSV_NAME,
    TABLE_COLUMNS,
    VARIANTS,
    network_name,
)
from neurongraph.experiments.filan_reference import REFERENCE_ROWS, paper_figures
from neurongraph.training import read_sidecar

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
    assert {"l2", "dropout-pruned"} <= set(VARIANTS) == set(REFERENCE_ROWS)
    for row in result["table"]:
        assert list(row) == list(TABLE_COLUMNS)
        assert (row["shuffleMethod"], row["method"]) == ("layer", "papers")
        assert row["runs"] == 1 and row["clusterable"] in (0, 1)
        assert 0 < row["ncut"] <= 3 and 0 < row["percentile"] <= 1
        assert row["nullMean"] > 0 and row["nullStd"] is not None
        # beside every row the paper's MNIST figures of that row, and whether the signs agree
        paper = paper_figures(row["variant"])
        if paper is None:
            assert row["paperZScore"] is None and row["signAgrees"] is None
        else:
            assert row["paperZScore"] == pytest.approx(paper.z_score)
            assert row["paperNullStd"] == pytest.approx(paper.null_std)
            assert row["signAgrees"] == ((row["zScore"] > 0) == (paper.z_score > 0))
    assert [r["variant"] for r in result["table"] if r["paperZScore"] is None] == [
        "spectral",
        "random",
    ]
    accuracy = {row["variant"]: row["accuracy"] for row in result["table"]}
    assert accuracy["plain"] > accuracy["random"]
    png = out / PLOT_NAME
    assert result["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    table = _read_csv(out / CSV_NAME)
    assert list(table[0]) == list(TABLE_COLUMNS)
    assert [row["variant"] for row in table] == list(VARIANTS)
    for written, printed in zip(table, result["table"], strict=True):
        assert float(written["ncut"]) == pytest.approx(printed["ncut"])
        assert int(written["clusterable"]) == printed["clusterable"]
        assert written["paperZScore"] == (
            "" if printed["paperZScore"] is None else str(printed["paperZScore"])
        )
    runs = _read_csv(out / RUNS_CSV_NAME)
    assert [row["network"] for row in runs] == [network_name(name, v, 0) for v in VARIANTS]
    # the new variants are trained as named: L2, and dropout with pruning
    options = {v: read_sidecar(out / f"{network_name(name, v, 0)}.pt")["options"] for v in VARIANTS}
    assert options["l2"]["l2"] == L2 and options["plain"]["l2"] == 0
    assert options["dropout-pruned"]["dropout"] > 0 and options["dropout-pruned"]["prune"] == PRUNE
    sparsity = {row["variant"]: float(row["sparsity"]) for row in runs}
    assert sparsity["dropout-pruned"] == pytest.approx(PRUNE, abs=0.02) and sparsity["l2"] == 0

    assert result["networks"] == [network_name(name, v, 0) for v in VARIANTS]
    for network, row in zip(result["networks"], result["runRows"], strict=True):
        assert (out / f"{network}.pt").is_file() and (out / f"{network}.pt.json").is_file()
        assert row["trained"] and row["ingested"]
        assert _partitions(store, network) == [
            {"method": "spectral-weights", "shuffles": 3, "seed": 0}
        ]
        assert store.get_network(network)["variant"] == row["variant"]

    # a rerun with both shuffle methods and both partition methods reuses the models and
    # networks and analyses again: a row per variant and methods, still one partition per network
    plain = network_name(name, "plain", 0)
    created = store.get_network(plain)["createdAt"]
    trained_at = (out / f"{plain}.pt").stat().st_mtime_ns
    text = run_cli(
        "experiment",
        "clusterability",
        *TINY,
        "--variants",
        "plain,l1,random",
        "--shuffle-method",
        "both",
        "--method",
        "papers",
        "--method",
        "ncut-refined",
        "--out",
        out,
        "--prefix",
        name,
    ).stdout
    assert store.get_network(plain)["createdAt"] == created
    assert (out / f"{plain}.pt").stat().st_mtime_ns == trained_at
    assert len(_partitions(store, plain)) == 1
    lines = [line.split() for line in text.splitlines()]
    rows = [tuple(cells[:3]) for cells in lines if cells and cells[0] in ("plain", "l1", "random")]
    assert rows == [
        (v, s, m)
        for v in ("plain", "l1", "random")
        for s in ("layer", "layer_nonzero")
        for m in ("papers", "ncut-refined")
    ]
    cells = {tuple(c[:3]): c for c in lines if c and tuple(c[:3]) in rows}
    assert cells["plain", "layer", "papers"][5] == f"{result['table'][0]['ncut']:.4f}"
    # each method's row holds its own partition of the same network
    assert 0 < float(cells["plain", "layer", "ncut-refined"][5]) <= 3
    l1_row = cells["l1", "layer", "papers"]
    assert f"{paper_figures('l1').z_score:+.2f}" in l1_row and l1_row[-1] in ("yes", "no")
    assert cells["random", "layer_nonzero", "ncut-refined"][-5:] == ["n/a"] * 5
    assert "clustering_factors_mlp.csv" in text and f"plot: {png}" in text
    both = _read_csv(out / CSV_NAME)
    assert [(r["variant"], r["shuffleMethod"], r["method"]) for r in both] == rows


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
