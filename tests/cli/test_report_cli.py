"""`neurongraph report`: one self-contained page; sections say which command fills them."""

from __future__ import annotations

import base64
import json
import re

import pytest


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from click.testing import CliRunner

    from neurongraph.cli import cli

    out = tmp_path_factory.mktemp("report") / "r.pt"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--arch",
            "64-24-24-10",
            "--data",
            "digits",
            "--epochs",
            "5",
            "--lr",
            "0.01",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_report_before_and_after_analyses(run_cli, small_model, name, tmp_path):
    run_cli("ingest", small_model, "--name", name, "--data", "digits")
    bare = tmp_path / "bare.html"
    out = json.loads(run_cli("report", name, "--out", bare, "--json").stdout)
    assert out["report"] == str(bare.resolve())
    page = bare.read_text()
    for command in (
        f"neurongraph analyze spectral {name}",
        f"neurongraph analyze louvain {name}",
        f"neurongraph analyze entropy {name}",
    ):
        assert command in page
    assert 'src="http' not in page and "<script" not in page  # self-contained, static
    run_cli("analyze", "spectral", name, "-k", "4", "--shuffles", "5", "--seed", "0")
    run_cli("analyze", "louvain", name, "--shuffles", "0", "--seed", "0")
    run_cli("analyze", "entropy", name)
    run_cli("analyze", "importance", name, "--random-sets", "3", "--seed", "0")
    full = tmp_path / "full.html"
    run_cli("report", name, "--out", full)
    page = full.read_text()
    pngs = images(page)
    assert len(pngs) == 4  # weights, n-cut vs nulls, importance map, modularity+entropy
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    assert f"neurongraph analyze louvain {name}" not in page
    assert f"neurongraph analyze importance {name} --partition louvain" in page
    assert "Fisher-combined p" in page
    assert f"neurongraph analyze coherence {name} --partition spectral-weights" in page


def test_report_unknown_network(run_cli, tmp_path):
    result = run_cli("report", "ghost", "--out", tmp_path / "x.html", expect=2)
    assert "no network named" in result.stderr
    assert not (tmp_path / "x.html").exists()
