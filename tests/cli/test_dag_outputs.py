"""Every weight-graph output on residual/DAG networks, through the CLI: the edge list of a
hand-made residual MLP exact through `cypher --json`, the nulls read back from the store (sum
edges fixed, each weight block shuffled on its own), every named query, `report`, `view` and
`bloom`, on that MLP and on a ResNet-style CNN trained briefly on digits."""

from __future__ import annotations

import html
import json
import re
from collections import Counter

import numpy as np
import pytest
import torch
import zoo
from conftest import train
from numpy.testing import assert_allclose
from test_view import NODE_ID, SVG_EDGE, assert_renders
from zoo import RESNET_FEEDS, RESNET_LAYERS

from neurongraph.analysis.nulls import dag_clusterability
from neurongraph.queries import list_queries

#: The hand-made residual MLP: fc1 = Linear(2, 3), fc2 = Linear(3, 3), add = fc2(relu(fc1)) + fc1.
W1 = [[1.0, 0.0], [0.0, -2.0], [0.5, 0.5]]
B1 = [0.1, 0.2, 0.3]
W2 = [[0.0, 3.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -4.0]]
B2 = [0.0, -0.5, 0.25]
#: Its every WEIGHT edge, worked out by hand: (source layer, index, target layer, index, signed).
SKIP_EDGES = {
    ("input", 0, "fc1", 0, 1.0),
    ("input", 1, "fc1", 1, -2.0),
    ("input", 0, "fc1", 2, 0.5),
    ("input", 1, "fc1", 2, 0.5),
    ("fc1", 1, "fc2", 0, 3.0),
    ("fc1", 0, "fc2", 1, 1.0),
    ("fc1", 2, "fc2", 2, -4.0),
    *(("fc1", i, "add", i, 1.0) for i in range(3)),
    *(("fc2", i, "add", i, 1.0) for i in range(3)),
}
SKIP_LAYERS = [
    ("input", "input", 2, 0, []),
    ("fc1", "linear", 3, 1, ["input"]),
    ("fc2", "linear", 3, 2, ["fc1"]),
    ("add", "sum", 3, 3, ["fc1", "fc2"]),
]
SKIP_FEEDS = {("input", "fc1"), ("fc1", "fc2"), ("fc1", "add"), ("fc2", "add")}
#: TinyResNet's sum layers.
SUMS = {name for name, kind, _ in RESNET_LAYERS if kind == "sum"}
WEIGHTS = "spectral-weights"
EDGES = (
    "MATCH (a:Neuron {network: $n})-[w:WEIGHT]->(b:Neuron) RETURN a.layer AS sl, a.index AS si, "
    "b.layer AS tl, b.index AS ti, w.weight AS w, w.signed AS g"
)
FEEDS = (
    "MATCH (a:Layer {network: $n})-[:FEEDS]->(b:Layer) RETURN a.name AS src, b.name AS dst, "
    "b.kind AS kind"
)
CLUSTERS = (
    "MATCH (n:Neuron {network: $n}) RETURN n.layer AS layer, n.index AS index, "
    "n.spectralWeightsCluster AS c ORDER BY n.position, n.index"
)
PARTITION = (
    "MATCH (:Network {name: $n})-[:HAS_PARTITION]->(p:Partition {method: 'spectral-weights'}) "
    "RETURN p.ncut AS ncut, p.nullNcuts AS nulls, p.nullStd AS nullStd, p.nShuffles AS shuffles"
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder for the test networks' weights."""
    return tmp_path_factory.mktemp("weights")


def cypher(run_cli, query, **params):
    """Rows of a read-only Cypher query run with `neurongraph cypher --json`."""
    args = [a for key, value in params.items() for a in ("-p", f"{key}={value}")]
    return json.loads(run_cli("cypher", query, *args, "--json").stdout)["rows"]


def named(run_cli, name, **params):
    """Rows of a named query run with `neurongraph query --json`."""
    args = [a for key, value in params.items() for a in ("-p", f"{key}={value}")]
    return json.loads(run_cli("query", name, *args, "--json").stdout)["rows"]


def save(model, folder, stem):
    path = folder / f"{stem}.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def skip_weights(folder):
    model = zoo.Skip()
    with torch.no_grad():
        for layer, w, b in ((model.fc1, W1, B1), (model.fc2, W2, B2)):
            layer.weight.copy_(torch.tensor(w))
            layer.bias.copy_(torch.tensor(b))
    return save(model, folder, "skip")


@pytest.fixture
def skip_net(run_cli, skip_weights, name):
    """The hand-made residual MLP, ingested and partitioned into 2 clusters with 4 nulls."""
    run_cli("ingest", "zoo:Skip", "--weights", skip_weights, "--name", name)
    run_cli("analyze", "spectral", name, "-k", 2, "--shuffles", 4, "--seed", 0, "--jobs", 1)
    return name


@pytest.fixture(scope="module")
def resnet_weights(folder, digits):
    """The ResNet-style CNN trained briefly on digits (8 x 8 images as 1 x 8 x 8 maps)."""
    X, y = digits
    model = train(zoo.TinyResNet(), X.reshape(-1, 1, 8, 8), y, epochs=20)
    accuracy = (model(torch.as_tensor(X.reshape(-1, 1, 8, 8))).argmax(1).numpy() == y).mean()
    assert accuracy > 0.5  # it learned something: the weights are not the initial ones
    return save(model, folder, "resnet")


def test_the_hand_made_skip_mlp_gives_every_edge_through_cypher(run_cli, skip_weights, name):
    args = ("ingest", "zoo:Skip", "--weights", skip_weights, "--name", name, "--json")
    out = json.loads(run_cli(*args).stdout)
    assert (out["layers"], out["neurons"], out["edges"]) == (4, 11, len(SKIP_EDGES))
    edges = cypher(run_cli, EDGES, n=name)
    assert len(edges) == len(SKIP_EDGES)
    assert {(e["sl"], e["si"], e["tl"], e["ti"], e["g"]) for e in edges} == SKIP_EDGES
    assert all(e["w"] == abs(e["g"]) for e in edges)
    feeds = cypher(run_cli, FEEDS, n=name)
    assert {(f["src"], f["dst"]) for f in feeds} == SKIP_FEEDS
    biases = cypher(
        run_cli,
        "MATCH (n:Neuron {network: $n}) RETURN n.layer AS layer, n.bias AS bias "
        "ORDER BY n.position, n.index",
        n=name,
    )
    assert [b["bias"] for b in biases if b["layer"] == "fc1"] == pytest.approx(B1)
    assert [b["bias"] for b in biases if b["layer"] == "fc2"] == pytest.approx(B2)
    assert all(b["bias"] is None for b in biases if b["layer"] in ("input", "add"))
    summary = named(run_cli, "layer-summary", network=name)
    assert [
        (r["layer"], r["kind"], r["width"], r["position"], r["inputs"]) for r in summary
    ] == SKIP_LAYERS
    flow = named(run_cli, "data-flow", network=name)
    assert {(r["l"]["name"], r["m"]["name"]) for r in flow if r["f"]} == SKIP_FEEDS
    assert {r["f"]["type"] for r in flow if r["f"]} == {"FEEDS"}
    assert [r["l"]["name"] for r in flow if r["f"] is None] == ["add"]  # the output
    assert {r["net"]["dataFlow"] for r in flow} == {"dag"}


def test_every_named_query_answers_for_the_skip_mlp(run_cli, store, skip_net):
    """What each query must return on a DAG: the skip edges fc1 -> add and the sum edges count
    as weights between and inside clusters, as in the graph the partition cut."""
    name = skip_net
    labels = {(r["layer"], r["index"]): r["c"] for r in cypher(run_cli, CLUSTERS, n=name)}
    assert set(labels.values()) == {0, 1}
    edges = cypher(run_cli, EDGES, n=name)
    between = Counter()
    for e in edges:
        between[labels[e["sl"], e["si"]], labels[e["tl"], e["ti"]]] += e["w"]
    sums = named(run_cli, "cluster-weight-sums", network=name, method=WEIGHTS)
    assert {(r["source"], r["target"]): r["weight"] for r in sums} == pytest.approx(between)
    assert sum(r["edges"] for r in sums) == len(SKIP_EDGES)
    parts = Counter()
    for e in edges:
        parts[e["sl"], labels[e["sl"], e["si"]], e["tl"], labels[e["tl"], e["ti"]]] += e["w"]
    layered = named(run_cli, "cluster-layer-weights", network=name, method=WEIGHTS)
    assert {
        (r["sourceLayer"], r["source"], r["targetLayer"], r["target"]): r["weight"] for r in layered
    } == pytest.approx(parts)
    sizes = Counter((layer, c) for (layer, _), c in labels.items())
    got = named(run_cli, "cluster-layers", network=name, method=WEIGHTS)
    assert {(r["layer"], r["label"]): r["neurons"] for r in got} == sizes
    for source, target in between:
        rows = named(
            run_cli,
            "cluster-weights",
            network=name,
            method=WEIGHTS,
            source=source,
            target=target,
            limit=100,
        )
        expected = [
            e
            for e in edges
            if (labels[e["sl"], e["si"]], labels[e["tl"], e["ti"]]) == (source, target)
        ]
        assert sorted((r["source"], r["target"], r["signed"]) for r in rows) == sorted(
            (f"{name}/{e['sl']}/{e['si']}", f"{name}/{e['tl']}/{e['ti']}", e["g"]) for e in expected
        )
    for label in (0, 1):
        members = {key for key, c in labels.items() if c == label}
        (row,) = named(run_cli, "cluster-graph", network=name, method=WEIGHTS, label=label)
        assert {(n["layer"], n["index"]) for n in row["neurons"]} == members
        inside = {
            (f"{name}/{e['sl']}/{e['si']}", f"{name}/{e['tl']}/{e['ti']}")
            for e in edges
            if (e["sl"], e["si"]) in members and (e["tl"], e["ti"]) in members
        }
        assert {tuple(pair) for pair in row["edges"]} == inside
        assert len(row["edges"]) == len(row["weights"]) == len(inside)
        neurons = named(run_cli, "cluster-neurons", network=name, method=WEIGHTS, label=label)
        assert {(r["layer"], r["index"]) for r in neurons} == members
    clusters = named(run_cli, "partition-clusters", network=name, method=WEIGHTS)
    assert sorted(r["size"] for r in clusters) == sorted(Counter(labels.values()).values())
    for row in clusters:  # per layer, in data-flow order: input, fc1, fc2, add
        assert row["layerSizes"] == [
            sum(labels[layer, i] == row["label"] for i in range(width))
            for layer, _, width, _, _ in SKIP_LAYERS
        ]
    layer = named(run_cli, "layer-graph", network=name, layer="add")
    assert {(r["l"]["kind"], r["n"]["index"]) for r in layer} == {("sum", i) for i in range(3)}
    graph = named(run_cli, "network-graph", network=name)
    assert {r["c"]["label"] for r in graph} == {0, 1}
    (partition,) = named(run_cli, "partitions", network=name)
    assert (partition["method"], partition["k"], partition["nShuffles"]) == (WEIGHTS, 2, 4)
    listed = {r["network"]: r for r in named(run_cli, "networks")}
    assert (listed[name]["layers"], listed[name]["edges"]) == (4, len(SKIP_EDGES))
    assert listed[name]["dataFlow"] == "dag"
    table = run_cli("networks").stdout.splitlines()
    assert table[0].split()[:3] == ["name", "status", "dataFlow"]
    assert [line.split()[:3] for line in table if line.startswith(name)] == [
        [name, "complete", "dag"]
    ]
    assert name in {r["network"] for r in named(run_cli, "clusterability")}
    # the runtime analyses refuse DAG networks: their queries answer with nothing
    assert named(run_cli, "neurons-by-entropy", network=name) == []
    assert named(run_cli, "louvain-vs-spectral", network=name) == []
    assert named(run_cli, "cluster-interactions", network=name, method=WEIGHTS) == []
    assert named(run_cli, "important-cluster-graph", network=name) == []
    assert named(run_cli, "selective-neurons", network=name) == []  # no activations recorded
    into_add = named(run_cli, "strongest-weights", network=name, position=3, limit=100)
    assert sorted((r["source"], r["target"], r["weight"]) for r in into_add) == sorted(
        (f"{name}/{e['sl']}/{e['si']}", f"{name}/{e['tl']}/{e['ti']}", e["g"])
        for e in edges
        if e["tl"] == "add"
    )  # the skip edges from fc1 and the edges from fc2, whatever their kind
    checked = {
        "data-flow",
        "layer-summary",
        "cluster-weight-sums",
        "cluster-layer-weights",
        "cluster-layers",
        "cluster-weights",
        "cluster-graph",
        "cluster-neurons",
        "partition-clusters",
        "layer-graph",
        "network-graph",
        "partitions",
        "networks",
        "clusterability",
        "neurons-by-entropy",
        "louvain-vs-spectral",
        "cluster-interactions",
        "important-cluster-graph",
        "selective-neurons",
        "strongest-weights",
        # across networks or series, nothing DAG-specific: important-clusters, neuron-evolution
    }
    assert checked | {"important-clusters", "neuron-evolution"} == {q.name for q in list_queries()}


def _hand_blocks(a: float, b: float, pattern: np.ndarray) -> tuple[list, list, list, list]:
    """The wide skip MLP's graph worked out by hand, blocks in the order FEEDS are read (by
    target, then source): input -> fc1, fc1 -> fc2, fc1 -> add, fc2 -> add."""
    widths = [4, 4, 4, 4]
    blocks = [a * pattern, b * pattern, np.eye(4), np.eye(4)]
    pairs = [(0, 1), (1, 2), (1, 3), (2, 3)]
    return widths, blocks, pairs, [False, False, True, True]


@pytest.mark.parametrize("method", ["layer", "layer_nonzero"])
def test_the_nulls_keep_sum_edges_and_shuffle_each_weight_matrix_on_its_own(
    run_cli, folder, method, name
):
    """A wide skip MLP (4 -> 4 -> 4, skip of fc1's output) with two modules in each weight
    matrix (one edge between them in fc2), every non-zero weight of fc1 equal to a and of fc2 to
    b: the 8 sum edges must stay, the 9 + 9 weights be permuted within fc1 and within fc2."""
    a, b = 0.5, 2.0
    pattern = np.kron(np.eye(2), np.ones((2, 2)))
    pattern[2, 1] = 1.0  # one edge between the modules keeps the graph connected
    model = zoo.wide_skip()
    with torch.no_grad():
        model.fc1.weight.copy_(torch.tensor(a * pattern))
        model.fc2.weight.copy_(torch.tensor(b * pattern))
    weights = save(model, folder, f"wide-skip-{method}")
    run_cli("ingest", "zoo:wide_skip", "--weights", weights, "--name", name)
    fixed = cypher(
        run_cli,
        "MATCH (:Neuron {network: $n})-[w:WEIGHT]->(t:Neuron {layer: 'add'}) "
        "RETURN count(w) AS edges, collect(DISTINCT w.weight) AS weights",
        n=name,
    )
    assert fixed == [{"edges": 8, "weights": [1.0]}]
    args = ("-k", 2, "--shuffles", 6, "--seed", 3, "--jobs", 1, "--shuffle-method", method)
    run_cli("analyze", "spectral", name, *args)
    (stored,) = cypher(run_cli, PARTITION, n=name)
    assert stored["shuffles"] == 6 and len(stored["nulls"]) == 6
    # the nulls the store recorded are those of the graph worked out by hand, sum blocks fixed
    widths, blocks, pairs, keep = _hand_blocks(a, b, pattern)
    options = dict(n_shuffles=6, method=method, random_state=3, n_jobs=1)
    expected = dag_clusterability(widths, blocks, pairs, 2, fixed=keep, **options)
    assert_allclose(stored["nulls"], expected.null_ncuts, rtol=1e-9)
    assert stored["ncut"] == pytest.approx(expected.ncut, rel=1e-9)
    shuffled_sums = dag_clusterability(widths, blocks, pairs, 2, fixed=[False] * 4, **options)
    if method == "layer":  # shuffling the identity blocks too would have given other nulls
        assert not np.allclose(stored["nulls"], shuffled_sums.null_ncuts)
    else:
        # a non-zero shuffle of a matrix whose non-zero weights are equal leaves it as it is:
        # every null is the network itself, which a shuffle pooling fc1 with fc2 would not be
        assert_allclose(stored["nulls"], [stored["ncut"]] * 6, rtol=1e-9)
        assert stored["nullStd"] == pytest.approx(0.0, abs=1e-12)
        mixed = [a * pattern, b * pattern, np.eye(4), np.eye(4)]
        mixed[0][0, 0], mixed[1][2, 1] = b, a  # one value of fc1 traded with one of fc2
        other = dag_clusterability(widths, mixed, pairs, 2, fixed=keep, n_shuffles=0)
        assert other.ncut != pytest.approx(stored["ncut"], rel=1e-6)
    # the analysis read the weights and wrote only its results: the edges are as ingested
    assert len(cypher(run_cli, EDGES, n=name)) == 9 + 9 + 8


CIRCLE = r'<g class="node" data-id="([^"]+)">\s*<circle cx="([-\d.]+)" cy="([-\d.]+)" r="([\d.]+)"'
CURVE = (
    r'data-source="([^"]+)" data-target="([^"]+)" '
    r'd="M([-\d.,]+) C([-\d.,]+) ([-\d.,]+) ([-\d.,]+)"'
)


def _height_at(curve: list[tuple[float, float]], x: float) -> float:
    """The y of a cubic Bezier curve (its four points, x rising or falling) where it is at
    ``x``, by bisection on its parameter."""

    def at(t: float) -> tuple[float, float]:
        weights = ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3)
        return tuple(sum(w * p[i] for w, p in zip(weights, curve, strict=True)) for i in (0, 1))

    lo, hi = 0.0, 1.0
    rising = curve[-1][0] > curve[0][0]
    for _ in range(60):
        mid = (lo + hi) / 2
        if (at(mid)[0] < x) == rising:
            lo = mid
        else:
            hi = mid
    return at(lo)[1]


def assert_edges_pass_beside_circles(page) -> int:
    """Every edge that passes over a column passes beside each circle of it that a level curve
    (leaving and reaching its ends level, as an edge between neighbouring columns does) would
    go through; the number of such circles."""
    text = page.read_text()
    circles = {
        uid: tuple(map(float, rest)) for uid, *rest in re.findall(CIRCLE, html.unescape(text))
    }
    avoided = 0
    for source, target, *points in re.findall(CURVE, html.unescape(text)):
        curve = [tuple(map(float, p.split(","))) for p in points]
        (ax, ay), (bx, by) = curve[0], curve[-1]
        level = [curve[0], (curve[1][0], ay), (curve[2][0], by), curve[-1]]
        for uid, (x, y, r) in circles.items():
            if uid in (source, target) or not min(ax, bx) + 1 < x < max(ax, bx) - 1:
                continue
            if abs(_height_at(level, x) - y) < r:
                assert abs(_height_at(curve, x) - y) > r, f"{source} -> {target} crosses {uid}"
                avoided += 1
    return avoided


def test_view_of_the_skip_mlp_draws_the_skip_edges(run_cli, skip_net, tmp_path):
    name = skip_net
    labels = {(r["layer"], r["index"]): r["c"] for r in cypher(run_cli, CLUSTERS, n=name)}
    clusters = tmp_path / "clusters.html"
    summary = json.loads(run_cli("view", name, "--out", clusters, "--json").stdout)
    assert summary["nodes"] == len(set(((layer, c) for (layer, _), c in labels.items())))
    assert_renders(clusters, tmp_path / "profile")
    # the skip edges fc1 -> add pass over fc2's column, beside its circles
    assert assert_edges_pass_beside_circles(clusters) >= 1
    # the cluster holding most of the add layer, with the skip edges fc1 -> add inside it
    label = Counter(c for (layer, _), c in labels.items() if layer == "add").most_common(1)[0][0]
    page = tmp_path / "cluster.html"
    run_cli("view", name, "--cluster", label, "--out", page)
    text = html.unescape(page.read_text())
    layers = {uid: uid.split("/")[1] for uid in re.findall(NODE_ID, text)}
    assert "add" in layers.values()
    drawn = {(layers[a], layers[b]) for a, b in re.findall(SVG_EDGE, text)}
    skips = {
        (e["sl"], e["tl"])
        for e in cypher(run_cli, EDGES, n=name)
        if labels[e["sl"], e["si"]] == labels[e["tl"], e["ti"]] == label and e["tl"] == "add"
    }
    assert ("fc1", "add") in skips and skips <= drawn
    assert_renders(page, tmp_path / "profile")


def test_a_resnet_trained_on_digits_end_to_end(run_cli, store, resnet_weights, name, tmp_path):
    args = ["ingest", "zoo:TinyResNet", "--weights", resnet_weights, "--input-shape", "1,8,8"]
    out = json.loads(run_cli(*args, "--name", name, "--json").stdout)
    widths = {layer: width for layer, _, width in RESNET_LAYERS}
    assert (out["layers"], out["neurons"]) == (len(widths), sum(widths.values()))
    feeds = cypher(run_cli, FEEDS, n=name)
    assert {(f["src"], f["dst"]) for f in feeds} == RESNET_FEEDS
    # every FEEDS into a weight layer is a dense block of edges; into a sum, one per unit
    edges = cypher(run_cli, EDGES, n=name)
    count = Counter((e["sl"], e["tl"]) for e in edges)
    for src, dst in RESNET_FEEDS:
        expected = widths[dst] if dst in SUMS else widths[src] * widths[dst]
        assert count[src, dst] == expected, (src, dst)
    assert {e["w"] for e in edges if e["tl"] in SUMS} == {1.0}
    assert out["edges"] == len(edges) == sum(count.values())

    result = json.loads(
        run_cli(
            "analyze",
            "spectral",
            name,
            *("-k", 4, "--shuffles", 4, "--seed", 0, "--jobs", 1, "--json"),
        ).stdout
    )
    assert 0 < result["ncut"] < 4 and len(cypher(run_cli, PARTITION, n=name)[0]["nulls"]) == 4

    # the queries: the data flow, layer inputs, cluster weights along skip paths
    flow = named(run_cli, "data-flow", network=name)
    assert {(r["l"]["name"], r["m"]["name"]) for r in flow if r["f"]} == RESNET_FEEDS
    kinds = {r["l"]["name"]: r["l"]["kind"] for r in flow}
    assert {la for la, kind in kinds.items() if kind == "sum"} == set(SUMS)
    assert kinds["layer2.shortcut.0"] == "conv2d"
    rows = named(run_cli, "layer-summary", network=name)
    assert [r["layer"] for r in rows] == result["layers"] and set(result["layers"]) == set(widths)
    summary = {r["layer"]: r["inputs"] for r in rows}
    assert summary["layer1.add"] == ["stem.0", "layer1.conv2"]
    assert summary["layer2.add"] == ["layer2.shortcut.0", "layer2.conv2"]
    sums = named(run_cli, "cluster-weight-sums", network=name, method=WEIGHTS)
    assert sum(r["edges"] for r in sums) == len(edges)
    assert sum(r["weight"] for r in sums) == pytest.approx(sum(e["w"] for e in edges))

    # the report: one weight panel per FEEDS, named as the graph names the layers
    report = tmp_path / "report.html"
    run_cli("report", name, "--out", report)
    text = report.read_text()
    (listed,) = re.findall(r'<p class="panels">One panel per FEEDS relationship: (.*?)\.</p>', text)
    panels = html.unescape(listed).split("; ")
    assert sorted(panels) == sorted(
        f"{src} -> {dst}{' (sum)' if dst in SUMS else ''}" for src, dst in RESNET_FEEDS
    )
    assert 'alt="weights reordered by cluster, with colour bar and cluster boundaries"' in text
    assert "<td>dataFlow</td><td>dag</td>" in text
    # every section says which command fills it: every analysis runs on a residual network
    assert "Not for this network" not in text
    assert f"neurongraph analyze importance {name} " in text.replace("</code>", " ")
    assert f"neurongraph analyze coherence {name} " in text.replace("</code>", " ")
    assert f"neurongraph analyze spectral {name} --graph activations" in text

    # the view: the clusters, and one cluster's neurons
    page = tmp_path / "view.html"
    members = cypher(run_cli, CLUSTERS, n=name)
    parts = {(r["layer"], r["c"]) for r in members if r["c"] is not None}
    assert json.loads(run_cli("view", name, "--out", page, "--json").stdout)["nodes"] == len(parts)
    assert {c for _, c in parts} == {0, 1, 2, 3}, "each of the 4 clusters is drawn"
    assert_renders(page, tmp_path / "profile")
    labels = Counter(r["c"] for r in members)
    one = tmp_path / "cluster.html"
    label = labels.most_common(1)[0][0]
    drawn = json.loads(run_cli("view", name, "--cluster", label, "--out", one, "--json").stdout)
    assert drawn["nodes"] == labels[label]
    assert_renders(one, tmp_path / "profile")


def test_bloom_perspective_covers_a_dag_network(run_cli, skip_net, tmp_path):
    """The export has FEEDS, the Layer `kind` (and colours layers by it) and the data-flow
    search phrase; every Layer property and relationship type stored for a DAG network is in
    it."""
    out = tmp_path / "dag.bloom.json"
    run_cli("bloom", "--out", out)
    perspective = json.loads(out.read_text())
    types = {t["name"] for t in perspective["relationshipTypes"]}
    stored_types = cypher(
        run_cli,
        "MATCH (a {network: $n})-[r]->() RETURN DISTINCT type(r) AS t",
        n=skip_net,
    )
    assert {r["t"] for r in stored_types} | {"FEEDS", "HAS_LAYER"} <= types
    layer_keys = {p["propertyKey"] for p in perspective["labels"]["Layer"]}
    stored_keys = cypher(
        run_cli, "MATCH (l:Layer {network: $n}) RETURN keys(l) AS keys", n=skip_net
    )
    assert {k for r in stored_keys for k in r["keys"]} <= layer_keys
    assert "dataFlow" in {p["propertyKey"] for p in perspective["labels"]["Network"]}
    layer = next(c for c in perspective["categories"] if c["name"] == "Layer")
    assert [(r["basedOn"], r["type"], r["applyColor"]) for r in layer["styleRules"]] == [
        ("kind_string", "unique", True)
    ]
    (template,) = [t for t in perspective["templates"] if t["text"].startswith("Data flow")]
    assert template["text"] == "Data flow of network $network"
    assert [p["name"] for p in template["params"]] == ["$network"]
    assert "FEEDS" in template["cypher"]
    segments = {
        (s["source"], s["relationshipType"], s["target"])
        for s in perspective["metadata"]["pathSegments"]
    }
    assert ("Layer", "FEEDS", "Layer") in segments
