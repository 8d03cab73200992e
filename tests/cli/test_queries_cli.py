"""`neurongraph query`: every named query against a store filled by the real pipeline.

One digits MLP (64-32-16-10) is trained, ingested with activations and analysed (spectral with
nulls, Louvain, entropy, importance with pairs, coherence), plus a two-checkpoint series; each
query's rows are checked against the analyses' own output or the store's properties.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict

import pytest
from click.testing import CliRunner

from neurongraph.cli import cli
from neurongraph.queries import QUERIES_DIR, QUERIES_ENV, get_query, list_queries, run_query
from neurongraph.store.rows import partition_uid

NET = "queries-mlp"
SERIES = "queries-series"
EPOCHS = (3, 6)
ARCH = "64-32-16-10"
WIDTHS = (64, 32, 16, 10)
LAYERS = ("input", "0", "2", "4")
WEIGHTS = "spectral-weights"
LOUVAIN = "louvain"
BIG = 100_000
#: Parameter values that name something in the test store, for queries run generically.
SAMPLE_PARAMS = {
    "network": NET,
    "method": WEIGHTS,
    "label": 0,
    "source": 0,
    "target": 1,
    "limit": 5,
    "series": SERIES,
    "layer": "0",
    "index": 0,
    "position": 1,
}
#: Named queries this test module checks one by one (every built-in query must be here).
CHECKED = {
    "networks",
    "layer-summary",
    "partitions",
    "partition-clusters",
    "important-clusters",
    "cluster-neurons",
    "cluster-weights",
    "cluster-weight-sums",
    "cluster-layers",
    "cluster-layer-weights",
    "cluster-interactions",
    "neurons-by-entropy",
    "strongest-weights",
    "selective-neurons",
    "louvain-vs-spectral",
    "neuron-evolution",
    "clusterability",
    "network-graph",
    "cluster-graph",
    "layer-graph",
    "important-cluster-graph",
    "data-flow",
}


def _invoke(store_dir, *args, expect=0):
    result = CliRunner().invoke(cli, ["--store", str(store_dir), *map(str, args)])
    assert result.exit_code == expect, f"{result.output}\n{result.stderr}"
    return result


def _json(store_dir, *args):
    return json.loads(_invoke(store_dir, *args, "--json").stdout)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, store, store_dir):
    """The analysed network and series; returns each analysis's JSON output."""
    out = tmp_path_factory.mktemp("queries") / "mlp.pt"
    _invoke(
        store_dir,
        "train",
        "--arch",
        ARCH,
        "--data",
        "digits",
        "--epochs",
        max(EPOCHS),
        "--checkpoint-every",
        EPOCHS[0],
        "--lr",
        "0.01",
        "--out",
        out,
    )
    results = {"ingest": _json(store_dir, "ingest", out, "--name", NET, "--data", "digits")}
    results["spectral"] = _json(store_dir, "analyze", "spectral", NET, "--shuffles", 3, "--seed", 0)
    results["louvain"] = _json(store_dir, "analyze", "louvain", NET, "--seed", 0)
    results["entropy"] = _json(store_dir, "analyze", "entropy", NET)
    results["importance"] = _json(
        store_dir, "analyze", "importance", NET, "--random-sets", 3, "--double", "--seed", 0
    )
    checkpoints = out.parent / "mlp-checkpoints"
    _invoke(store_dir, "ingest", checkpoints, "--series", "--name", SERIES, "--data", "digits")
    for epoch in EPOCHS:
        member = f"{SERIES}@{epoch}"
        _invoke(store_dir, "analyze", "spectral", member, "--no-null", "--seed", 0)
        _invoke(store_dir, "analyze", "louvain", member, "--shuffles", 0, "--seed", 0)
        _invoke(store_dir, "analyze", "entropy", member)
    return results


@pytest.fixture(scope="module")
def coherence(pipeline, store_dir):
    """`analyze coherence` on the network (kept apart: only one test needs it)."""
    return _json(
        store_dir,
        "analyze",
        "coherence",
        NET,
        "--random-sets",
        3,
        "--steps",
        8,
        "--top-k",
        20,
        "--seed",
        0,
    )


def query(store_dir, name, **params):
    """Rows of a named query run through the CLI with --json."""
    args = [a for key, value in params.items() for a in ("-p", f"{key}={value}")]
    result = json.loads(_invoke(store_dir, "query", name, *args, "--json").stdout)
    assert result["counters"]["contains_updates"] is False
    return result["rows"]


def labels_of(store, name, key):
    """{(layer name, index): value} of one neuron property."""
    return {
        (r["layer"], r["index"]): r["value"]
        for r in store.read(
            "MATCH (n:Neuron {network: $name}) RETURN n.layer AS layer, n.index AS index, "
            f"n.{key} AS value",
            {"name": name},
        )
    }


def weight_edges(store, name):
    """[(source (layer, index), target (layer, index), weight, signed)] of every WEIGHT edge."""
    edges = []
    for row in store.read_weights(name):
        source = (LAYERS[row["layer"]], row["source"])
        target_layer = LAYERS[row["layer"] + 1]
        for t, w, s in zip(row["targets"], row["weights"], row["signed"], strict=True):
            edges.append((source, (target_layer, t), w, s))
    return edges


def uid(name, layer, index):
    return f"{name}/{layer}/{index}"


# -- the catalogue -------------------------------------------------------------------------


def test_every_query_is_checked_and_documented():
    queries = list_queries()
    assert {q.name for q in queries} == CHECKED
    assert {q.name for q in queries} == {p.stem for p in QUERIES_DIR.glob("*.cypher")}
    for q in queries:
        assert q.summary.endswith(".") and q.description, q.name
        assert not q.writes, q.name
        for param in q.parameters:
            assert param.description, (q.name, param.name)
        if q.parameters:
            assert q.example and q.example.startswith(":params"), q.name
            for param in q.parameters:
                assert f"{param.name}:" in q.example, (q.name, param.name)
        else:
            assert "No parameters" in q.description, q.name


def test_list_shows_every_query_with_its_parameters(run_cli):
    listed = json.loads(run_cli("query", "--list", "--json").stdout)["queries"]
    by_name = {q["name"]: q for q in listed}
    assert set(by_name) == CHECKED
    weights = by_name["cluster-weights"]
    assert [p["name"] for p in weights["parameters"]] == [
        "network",
        "method",
        "source",
        "target",
        "limit",
    ]
    assert weights["parameters"][-1] == {
        "name": "limit",
        "description": "how many edges to list",
        "required": False,
        "default": 20,
    }
    text = run_cli("query", "--list").stdout
    for name in CHECKED:
        assert name in text
    shown = run_cli("query", "layer-summary", "--show").stdout
    assert shown == (QUERIES_DIR / "layer-summary.cypher").read_text()


# -- every query on the analysed network ----------------------------------------------------


def test_networks(pipeline, store_dir):
    rows = {r["network"]: r for r in query(store_dir, "networks")}
    net = rows[NET]
    assert net["status"] == "complete"
    assert net["neurons"] == sum(WIDTHS)
    assert net["edges"] == sum(a * b for a, b in zip(WIDTHS, WIDTHS[1:], strict=False))
    assert net["layers"] == len(WIDTHS)
    assert net["dataFlow"] == "chain"
    assert net["dataset"] == "digits"
    assert net["accuracy"] == pytest.approx(pipeline["ingest"]["activations"]["accuracy"])
    assert net["entropy"] == pytest.approx(pipeline["entropy"]["entropy"])
    assert net["partitions"] == [LOUVAIN, WEIGHTS]
    for epoch in EPOCHS:
        assert rows[f"{SERIES}@{epoch}"]["partitions"] == [LOUVAIN, WEIGHTS]
    names = [r["network"] for r in query(store_dir, "networks")]
    assert names == sorted(names)


def test_layer_summary(pipeline, store, store_dir):
    rows = query(store_dir, "layer-summary", network=NET)
    assert [r["layer"] for r in rows] == list(LAYERS)
    assert [r["width"] for r in rows] == list(WIDTHS)
    assert [r["neurons"] for r in rows] == list(WIDTHS)
    assert [r["inputs"] for r in rows] == [[], *([layer] for layer in LAYERS[:-1])]
    assert [r["kind"] for r in rows] == ["input", "linear", "linear", "linear"]
    frac = labels_of(store, NET, "fracActive")
    for row in rows:
        values = [v for (layer, _), v in frac.items() if layer == row["layer"]]
        assert row["silent"] == sum(v == 0 for v in values)
        assert row["meanFracActive"] == pytest.approx(sum(values) / len(values))
    entropy = {r["layer"]: r for r in pipeline["entropy"]["layers"]}
    communities = {r["layer"]: r["communities"] for r in pipeline["louvain"]["layers"]}
    for row in rows:
        expected = entropy.get(row["layer"])
        if expected is None:
            assert row["entropyMean"] is None
        else:
            assert row["entropyMean"] == pytest.approx(expected["entropyMean"])
            assert row["classEntropyMean"] == pytest.approx(expected["classEntropyMean"])
        assert row["louvainCommunities"] == communities.get(row["layer"], 0)


def test_partitions(pipeline, store_dir):
    rows = {r["method"]: r for r in query(store_dir, "partitions", network=NET)}
    assert set(rows) == {LOUVAIN, WEIGHTS}
    spectral = pipeline["spectral"]
    assert rows[WEIGHTS]["k"] == spectral["k"]
    assert rows[WEIGHTS]["ncut"] == pytest.approx(spectral["ncut"])
    assert rows[WEIGHTS]["percentile"] == pytest.approx(spectral["percentile"])
    assert rows[WEIGHTS]["nShuffles"] == 3
    assert rows[WEIGHTS]["seed"] == 0
    louvain = pipeline["louvain"]
    assert rows[LOUVAIN]["modularity"] == pytest.approx(louvain["modularity"], abs=1e-12)
    assert rows[LOUVAIN]["k"] == sum(r["communities"] for r in louvain["layers"])


def _best_parts(groups, key):
    """{cluster label: the group with the smallest ``key``} of an analysis's JSON groups."""
    best = {}
    for g in groups:
        if g["cluster"] not in best or key(g) < key(best[g["cluster"]]):
            best[g["cluster"]] = g
    return best


def test_partition_clusters_size_and_importance(pipeline, store_dir):
    rows = query(store_dir, "partition-clusters", network=NET, method=WEIGHTS)
    spectral = pipeline["spectral"]
    assert [r["label"] for r in rows] == list(range(spectral["k"]))
    assert [r["size"] for r in rows] == spectral["clusterSizes"]
    assert [r["layerSizes"] for r in rows] == spectral["layerSizes"]
    for row in rows:  # a spectral cluster's layer: the layers it has neurons in
        spans = [layer for layer, n in zip(LAYERS, row["layerSizes"], strict=True) if n]
        assert row["layer"] == ", ".join(spans)
    best = _best_parts(pipeline["importance"]["groups"], key=lambda g: (g["p"], g["delta"]))
    assert best, "some clusters were lesioned"
    for row in rows:
        group = best.get(row["label"])
        if group is None:
            assert row["importanceP"] is None
            continue
        assert row["importanceP"] == pytest.approx(group["p"])
        assert row["importanceDelta"] == pytest.approx(group["delta"])
        parts = [g for g in pipeline["importance"]["groups"] if g["cluster"] == row["label"]]
        assert row["important"] == any(g["important"] for g in parts)
    louvain = query(store_dir, "partition-clusters", network=NET, method=LOUVAIN)
    expected = [(r["layer"], size) for r in pipeline["louvain"]["layers"] for size in r["sizes"]]
    assert [(r["layer"], r["size"]) for r in louvain] == expected


def test_partition_clusters_coherence(coherence, store_dir):
    rows = {
        r["label"]: r for r in query(store_dir, "partition-clusters", network=NET, method=WEIGHTS)
    }
    best = _best_parts(coherence["groups"], key=lambda g: (g["exampleEntropyP"], -g["size"]))
    assert best
    for label, group in best.items():
        row = rows[label]
        for key in ("exampleEntropy", "exampleEntropyP", "visObjectiveP", "visEntropyP"):
            assert row[key] == pytest.approx(group[key]), key
        assert row["classConsistency"] == pytest.approx(group["classConsistency"])


def test_important_clusters(pipeline, store_dir):
    rows = query(store_dir, "important-clusters", limit=BIG)
    keys = [(r["importanceP"], r["importanceDelta"]) for r in rows]
    assert keys == sorted(keys)
    ours = [r for r in rows if r["network"] == NET]
    best = _best_parts(pipeline["importance"]["groups"], key=lambda g: (g["p"], g["delta"]))
    assert sorted(r["label"] for r in ours) == sorted(best)
    assert {r["label"]: r["layer"] for r in ours} == {k: g["layer"] for k, g in best.items()}
    first = min(best.values(), key=lambda g: (g["p"], g["delta"]))
    assert (ours[0]["importanceP"], ours[0]["importanceDelta"]) == pytest.approx(
        (first["p"], first["delta"])
    )
    assert len(query(store_dir, "important-clusters", limit=2)) == 2
    assert len(query(store_dir, "important-clusters")) == min(len(rows), 20)


def test_cluster_neurons(pipeline, store, store_dir):
    labels = labels_of(store, NET, "spectralWeightsCluster")
    importance = labels_of(store, NET, "importance")
    for label in (0, pipeline["spectral"]["k"] - 1):
        rows = query(store_dir, "cluster-neurons", network=NET, method=WEIGHTS, label=label)
        members = sorted(
            ((LAYERS.index(layer), index) for (layer, index), v in labels.items() if v == label)
        )
        assert [(LAYERS.index(r["layer"]), r["index"]) for r in rows] == members
        for row in rows:
            assert row["uid"] == uid(NET, row["layer"], row["index"])
            assert row["importance"] == pytest.approx(importance[(row["layer"], row["index"])])
    first = pipeline["louvain"]["layers"][0]
    rows = query(
        store_dir, "cluster-neurons", network=NET, method=LOUVAIN, label=f"{first['layer']}:0"
    )
    assert len(rows) == first["sizes"][0]
    assert {r["louvainCommunity"] for r in rows} == {0}


def test_cluster_weights_and_sums(store, store_dir):
    labels = labels_of(store, NET, "spectralWeightsCluster")
    edges = weight_edges(store, NET)
    sums, counts = defaultdict(float), Counter()
    for a, b, w, _ in edges:
        sums[labels[a], labels[b]] += w
        counts[labels[a], labels[b]] += 1
    rows = query(store_dir, "cluster-weight-sums", network=NET, method=WEIGHTS)
    assert {(r["source"], r["target"]) for r in rows} == set(sums)
    for row in rows:
        pair = (row["source"], row["target"])
        assert row["weight"] == pytest.approx(sums[pair])
        assert row["edges"] == counts[pair]
    source, target = max(counts, key=counts.get)
    between = sorted(
        ((w, s) for a, b, w, s in edges if (labels[a], labels[b]) == (source, target)),
        reverse=True,
    )
    rows = query(
        store_dir,
        "cluster-weights",
        network=NET,
        method=WEIGHTS,
        source=source,
        target=target,
        limit=3,
    )
    assert [r["weight"] for r in rows] == pytest.approx([w for w, _ in between[:3]])
    assert [r["signed"] for r in rows] == pytest.approx([s for _, s in between[:3]])
    everything = query(
        store_dir, "cluster-weights", network=NET, method=WEIGHTS, source=source, target=target
    )
    assert len(everything) == min(20, len(between))


def test_cluster_layers_and_their_weights(store, store_dir):
    labels = labels_of(store, NET, "spectralWeightsCluster")
    rows = query(store_dir, "cluster-layers", network=NET, method=WEIGHTS)
    parts = Counter((layer, label) for (layer, _), label in labels.items() if label is not None)
    assert {(r["layer"], r["label"]): r["neurons"] for r in rows} == parts
    assert [r["position"] for r in rows] == sorted(r["position"] for r in rows)
    assert {r["kind"] for r in rows} == {"input", "linear"}
    sums, counts = defaultdict(float), Counter()
    for a, b, w, _ in weight_edges(store, NET):
        pair = (a[0], labels[a], b[0], labels[b])
        sums[pair] += w
        counts[pair] += 1
    rows = query(store_dir, "cluster-layer-weights", network=NET, method=WEIGHTS)
    got = {(r["sourceLayer"], r["source"], r["targetLayer"], r["target"]): r for r in rows}
    assert set(got) == set(sums)
    for pair, row in got.items():
        assert row["weight"] == pytest.approx(sums[pair])
        assert row["edges"] == counts[pair]
        assert LAYERS.index(pair[2]) == LAYERS.index(pair[0]) + 1, "adjacent layers"
    assert [r["weight"] for r in rows] == sorted((r["weight"] for r in rows), reverse=True)


def test_cluster_interactions(pipeline, store_dir):
    rows = query(store_dir, "cluster-interactions", network=NET, method=WEIGHTS)
    pairs = pipeline["importance"]["pairs"]
    assert pairs
    assert len(rows) == len(pairs)
    got = {
        (f"{r['firstLayer']}:{r['first']}", f"{r['secondLayer']}:{r['second']}"): r for r in rows
    }
    for pair in pairs:
        row = got[pair["first"], pair["second"]]
        assert row["interaction"] == pytest.approx(pair["interaction"])
        assert row["delta"] == pytest.approx(pair["delta"])
        assert row["p"] == pytest.approx(pair["p"])
    keys = [(r["p"], r["interaction"]) for r in rows]
    assert keys == sorted(keys)


def test_neurons_by_entropy(pipeline, store, store_dir):
    entropy = labels_of(store, NET, "entropy")
    ranked = sorted((v for v in entropy.values() if v is not None), reverse=True)
    rows = query(store_dir, "neurons-by-entropy", network=NET, limit=7)
    assert [r["entropy"] for r in rows] == pytest.approx(ranked[:7])
    for row in rows:
        assert entropy[(row["layer"], row["index"])] == pytest.approx(row["entropy"])
        assert row["layer"] in LAYERS[1:-1]
    assert len(query(store_dir, "neurons-by-entropy", network=NET)) == 20


def test_louvain_vs_spectral(store, store_dir):
    spectral = labels_of(store, NET, "spectralWeightsCluster")
    community = labels_of(store, NET, "louvainCommunity")
    expected = Counter(
        (f"{layer}:{c}", spectral[layer, index])
        for (layer, index), c in community.items()
        if c is not None and c >= 0
    )
    rows = query(store_dir, "louvain-vs-spectral", network=NET)
    assert {(r["community"], r["cluster"]): r["neurons"] for r in rows} == expected
    assert sum(r["neurons"] for r in rows) == sum(expected.values())
    assert query(store_dir, "louvain-vs-spectral", network=NET, method=WEIGHTS) == rows


def test_neuron_evolution(pipeline, store, store_dir):
    rows = query(store_dir, "neuron-evolution", series=SERIES, layer="0", index=5)
    assert [r["network"] for r in rows] == [f"{SERIES}@{e}" for e in EPOCHS]
    assert [r["epoch"] for r in rows] == list(EPOCHS)
    for row in rows:
        for key in ("spectralWeightsCluster", "louvainCommunity", "entropy", "classEntropy"):
            assert row[key] == pytest.approx(labels_of(store, row["network"], key)[("0", 5)]), key
        assert row["accuracy"] == store.get_network(row["network"])["accuracy"]
    args = ("-p", "series=no-such-series", "-p", "layer=0", "-p", "index=5")
    refused = _invoke(store_dir, "query", "neuron-evolution", *args, expect=2)
    assert "no network of a series 'no-such-series'" in refused.stderr


def test_clusterability(pipeline, store_dir):
    rows = {(r["network"], r["method"]): r for r in query(store_dir, "clusterability")}
    row = rows[NET, WEIGHTS]
    spectral = pipeline["spectral"]
    for key in ("ncut", "nullMean", "nullStd", "zScore", "percentile"):
        assert row[key] == pytest.approx(spectral[key]), key
    assert row["clusterable"] is spectral["clusterable"]
    for epoch in EPOCHS:
        member = rows[f"{SERIES}@{epoch}", WEIGHTS]
        assert member["nShuffles"] == 0 and member["clusterable"] is None
    assert (NET, LOUVAIN) not in rows


def test_graph_queries(pipeline, store, store_dir):
    rows = query(store_dir, "network-graph", network=NET)
    assert {r["net"]["name"] for r in rows} == {NET}
    clusters = {r["c"]["uid"] for r in rows}
    k_louvain = sum(r["communities"] for r in pipeline["louvain"]["layers"])
    assert len(clusters) == pipeline["spectral"]["k"] + k_louvain
    assert {r["hc"]["type"] for r in rows} == {"HAS_CLUSTER"}

    rows = query(store_dir, "data-flow", network=NET)
    assert [(r["l"]["name"], r["m"] and r["m"]["name"]) for r in rows] == [
        *zip(LAYERS, LAYERS[1:], strict=False),
        (LAYERS[-1], None),
    ]
    assert {r["net"]["dataFlow"] for r in rows} == {"chain"}

    rows = query(store_dir, "layer-graph", network=NET, layer="2")
    assert {r["l"]["uid"] for r in rows} == {f"{NET}/2"}
    assert sorted(r["n"]["index"] for r in rows) == list(range(WIDTHS[2]))

    labels = labels_of(store, NET, "spectralWeightsCluster")
    label = Counter(labels.values()).most_common(1)[0][0]
    (row,) = query(store_dir, "cluster-graph", network=NET, method=WEIGHTS, label=label)
    members = {uid(NET, *key) for key, v in labels.items() if v == label}
    assert row["c"]["label"] == label
    assert (
        {n["uid"] for n in row["neurons"]}
        == members
        == set(uid(NET, *key) for key, v in labels.items() if v == label)
    )
    assert len(row["neurons"]) == len(row["members"]) == len(members)
    assert {m["type"] for m in row["members"]} == {"IN_CLUSTER"}
    inside = [e for e in weight_edges(store, NET) if labels[e[0]] == labels[e[1]] == label]
    assert len(row["weights"]) == len(row["edges"]) == len(inside)
    assert sorted(
        (a, b, w["weight"]) for (a, b), w in zip(row["edges"], row["weights"], strict=True)
    ) == sorted((uid(NET, *a), uid(NET, *b), pytest.approx(w)) for a, b, w, _ in inside)

    rows = query(store_dir, "important-cluster-graph", network=NET)
    important = {g["cluster"] for g in pipeline["importance"]["groups"] if g["important"]}
    assert {r["c"]["label"] for r in rows} == important
    assert all(r["c"]["important"] is True for r in rows)
    expected = {uid(NET, *key) for key, v in labels.items() if v in important}
    assert {r["n"]["uid"] for r in rows} == expected


def test_csv_output(pipeline, store_dir):
    text = _invoke(store_dir, "query", "partitions", "-p", f"network={NET}", "--csv").stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["method"] for r in table] == [LOUVAIN, WEIGHTS]
    assert table[1]["k"] == str(pipeline["spectral"]["k"])


def test_python_api_fills_defaults(pipeline, store):
    result = run_query(store, "neurons-by-entropy", {"network": NET})
    assert len(result.rows) == 20
    assert result.keys[:3] == ["uid", "layer", "index"]


# -- bad input and read-only ------------------------------------------------------------------


def test_missing_parameter_is_named(run_cli):
    result = run_cli(
        "query", "cluster-neurons", "-p", f"network={NET}", "-p", "method=louvain", expect=2
    )
    assert "'label'" in result.stderr and "-p label=" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_query_parameter_and_missing_name(run_cli):
    result = run_cli("query", "no-such-query", expect=2)
    assert "no named query 'no-such-query'" in result.stderr
    assert "layer-summary" in result.stderr
    result = run_cli("query", "layer-summary", "-p", f"network={NET}", "-p", "netwrk=x", expect=2)
    assert "'netwrk'" in result.stderr
    assert "--list" in run_cli("query", expect=2).stderr


WRITE_QUERY = """// Marks a network (a writing query, for the tests).
//
// @param network: the network's name
// @writes
//
// In Neo4j Browser: :params {network: 'digits-mlp'}
MATCH (n:Network {name: $network}) SET n.queryMark = 'marked' RETURN n.name AS network
"""
SNEAKY_QUERY = WRITE_QUERY.replace("// @writes\n", "").replace("'marked'", "'sneaky'")


def test_query_is_read_only_unless_write(pipeline, store, run_cli, tmp_path, monkeypatch):
    (tmp_path / "mark-network.cypher").write_text(WRITE_QUERY)
    (tmp_path / "sneak-network.cypher").write_text(SNEAKY_QUERY)
    monkeypatch.setenv(QUERIES_ENV, str(tmp_path))
    assert get_query("mark-network").writes and not get_query("sneak-network").writes
    before = store.get_network(NET)
    for name in ("mark-network", "sneak-network"):
        result = run_cli("query", name, "-p", f"network={NET}", expect=2)
        assert "--write" in result.stderr
    assert store.get_network(NET) == before
    result = json.loads(
        run_cli("query", "sneak-network", "-p", f"network={NET}", "--write", "--json").stdout
    )
    assert result["counters"]["properties_set"] == 1
    assert store.get_network(NET)["queryMark"] == "sneaky"
    run_cli("query", "mark-network", "-p", f"network={NET}", "--write")
    assert store.get_network(NET)["queryMark"] == "marked"
    store.set_network_properties(NET, {"queryMark": None})


def test_bad_query_files_are_refused(tmp_path):
    from neurongraph.queries import load_query

    path = tmp_path / "undeclared.cypher"
    path.write_text("// Uses an undeclared parameter.\nMATCH (n {name: $name}) RETURN n\n")
    with pytest.raises(ValueError, match="name"):
        load_query(path)
    path = tmp_path / "Bad_Name.cypher"
    path.write_text("// A query.\nRETURN 1 AS one\n")
    with pytest.raises(ValueError, match="kebab-case"):
        load_query(path)


@pytest.mark.neo4j
def test_every_query_compiles_on_neo4j():
    """Each named query is valid Neo4j 5 Cypher (EXPLAIN, nothing runs)."""
    import os

    from neurongraph.store import open_store

    with open_store(os.environ["NEURONGRAPH_TEST_NEO4J_URI"]) as neo4j_store:
        for named in list_queries():
            params = {p: SAMPLE_PARAMS[p] for p in named.parameter_names}
            neo4j_store.run_cypher("EXPLAIN " + named.cypher, params)


def test_every_query_runs_with_sample_parameters(pipeline, store):
    """The sample parameters (also used on Neo4j) name things that exist in the test store."""
    for named in list_queries():
        params = {p: SAMPLE_PARAMS[p] for p in named.parameter_names}
        result = run_query(store, named.name, params)
        # no cluster of the small test network beats its 3 random groups at p < 0.01
        nothing_important = not any(g["important"] for g in pipeline["importance"]["groups"])
        empty_ok = named.name == "important-cluster-graph" and nothing_important
        assert result.keys or empty_ok, named.name
        assert result.counters["contains_updates"] is False
    assert store.partition(partition_uid(NET, WEIGHTS)) is not None


def test_strongest_weights_and_selective_neurons(pipeline, store, store_dir):
    """The named queries the demo suggests: checked against the store's own edges and neurons."""
    output = len(WIDTHS) - 1
    rows = query(store_dir, "strongest-weights", network=NET, position=output, limit=7)
    everything = store.read(
        "MATCH (a:Neuron)-[w:WEIGHT]->(b:Neuron {network: $n, position: $p}) "
        "RETURN w.weight AS weight, w.signed AS signed",
        {"n": NET, "p": output},
    )
    strongest = sorted((r["weight"] for r in everything), reverse=True)[:7]
    assert [abs(r["weight"]) for r in rows] == pytest.approx(strongest)
    assert all(r["target"].startswith(f"{NET}/{LAYERS[-1]}/") for r in rows)
    selective = query(store_dir, "selective-neurons", network=NET)
    assert len(selective) == 10
    values = [r["selectivity"] for r in selective]
    assert values == sorted(values, reverse=True) and 0 < values[-1] <= values[0] <= 1
    hidden = {f"{NET}/{name}/" for name in LAYERS[1:-1]}
    assert all(any(r["neuron"].startswith(h) for h in hidden) for r in selective)
