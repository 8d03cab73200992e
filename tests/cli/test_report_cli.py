"""`neurongraph report`: one self-contained page; sections say which command fills them."""

from __future__ import annotations

import base64
import json
import re

import pytest

from neurongraph.report.figures import _wrapped


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


CLUSTERS = (
    "MATCH (:Partition {uid: $uid})-[:HAS_CLUSTER]->(c:Cluster) "
    "RETURN c.label AS label, c.importanceLayers AS layers, "
    "c.importanceLayerDelta AS deltas, c.importanceLayerRandomDeltas AS randoms"
)
LAYER_NAMES = (
    "MATCH (:Network {name: $name})-[:HAS_LAYER]->(l:Layer) RETURN l.name AS name "
    "ORDER BY l.position"
)
ROW = re.compile(r'<tr data-cluster="(\d+)" data-layer="([^"]*)" data-delta="([^"]+)"')
#: The page of a small MLP with spectral, importance and coherence stays under this many bytes.
SMALL_REPORT_BYTES = 300_000
RANDOM_SETS = 3


@pytest.fixture(scope="module")
def analysed(small_model, store, store_dir, tmp_path_factory):
    """A small trained MLP after spectral, importance and coherence, and its report."""
    from click.testing import CliRunner

    from neurongraph.cli import cli

    name = "report-analysed"

    def invoke(*args):
        result = CliRunner().invoke(cli, ["--store", str(store_dir), *map(str, args)])
        assert result.exit_code == 0, result.output

    invoke("ingest", small_model, "--name", name, "--data", "digits")
    invoke("analyze", "spectral", name, "-k", "4", "--shuffles", "5", "--seed", "0")
    invoke("analyze", "importance", name, "--random-sets", RANDOM_SETS, "--seed", "0")
    invoke("analyze", "coherence", name, "--random-sets", "2", "--steps", "5", "--seed", "0")
    out = tmp_path_factory.mktemp("analysed") / "report.html"
    invoke("report", name, "--out", out)
    return name, out


def test_report_tables_the_stored_lesions(analysed, store):
    name, out = analysed
    page = out.read_text()
    clusters = store.read(CLUSTERS, {"uid": f"{name}/spectral-weights"})
    stored = {
        (str(c["label"]), layer): delta
        for c in clusters
        for layer, delta in zip(c["layers"], c["deltas"], strict=True)
    }
    rows = {(label, layer): float(delta) for label, layer, delta in ROW.findall(page)}
    assert len(rows) == len(stored) > 0  # one row per lesioned (cluster, layer) group
    assert rows == pytest.approx(stored)
    for c in clusters:  # every group's random-group deltas are stored beside its own delta
        assert len(c["randoms"]) == RANDOM_SETS * len(c["layers"])
    assert "random groups&#x27; Δ: mean ± sd [min, max]" in page
    table = page[page.index('<table class="clusters"') :]
    table = table[: table.index("</table>")]
    # every row's p is given with its fraction of n + 1
    assert len(re.findall(rf"\(\d+/{RANDOM_SETS + 1}\)", table)) == len(stored)


def test_report_summary_figures_and_names(analysed, store):
    name, out = analysed
    page = out.read_text()
    summary = page[page.index("<h2>Summary</h2>") : page.index("<h2>", page.index("Summary") + 20)]
    assert re.search(r"spectral clusterability of the weights: n-cut \d\.\d{3} ", summary)
    assert re.search(
        r"cluster \d+ of layer \S+ \(hidden \d\): lesion Δ [+-]\d+\.\d points", summary
    )
    assert "smallest possible p is 1/4: rerun with --random-sets 100" in summary
    for command in (
        f"neurongraph analyze louvain {name}",
        f"neurongraph analyze entropy {name}",
        f"neurongraph analyze spectral {name} --graph activations",
    ):
        assert f"<code>{command}</code>" in summary
    assert "--partition louvain" not in page  # no Louvain partition: nothing to lesion there
    alts = re.findall(r'<img alt="([^"]+)"', page)
    assert "weights reordered by cluster, with colour bar and cluster boundaries" in alts
    assert any("lesion delta against random groups" in a for a in alts)
    assert any("coherence p-values" in a for a in alts)
    n_clusters = len(store.read(CLUSTERS, {"uid": f"{name}/spectral-weights"}))
    assert sum(a.startswith("most activating examples of cluster") for a in alts) == n_clusters
    assert sum(a.startswith("feature visualisation of cluster") for a in alts) == n_clusters
    layers = [r["name"] for r in store.read(LAYER_NAMES, {"name": name})]
    for position, layer in enumerate(layers[1:-1], start=1):
        assert f"{layer} (hidden {position})" in page
    assert f"{layers[-1]} (output)" in page
    assert all(p.startswith(b"\x89PNG") for p in images(page))
    assert out.stat().st_size < SMALL_REPORT_BYTES


@pytest.mark.parametrize("width", [16, 31, 60])
def test_a_weight_panel_title_wraps_after_dots_within_its_width(width):
    """A Hugging Face model's module paths would run into the next panel's title."""
    title = (
        "model.encoder.layer.0.attention.output.dense (hidden 4) -> "
        "model.encoder.layer.0.attention.output.add (hidden 5) (sum)"
    )
    lines = _wrapped(title, width).split("\n")
    assert all(len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == title.replace(" ", "")  # nothing lost
    assert sum(line.startswith("-> model.") for line in lines) == 1  # the target on its own line
    assert all(line.endswith((".", ")", "dense", "add")) for line in lines)  # after a dot
    assert all(line.count("(") == line.count(")") for line in lines)  # "(hidden 4)" whole
    assert _wrapped("fc1 (hidden 1) -> fc2 (hidden 2)", 31) == "fc1 (hidden 1)\n-> fc2 (hidden 2)"
