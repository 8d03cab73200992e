"""A residual network's graph written over Bolt (a served store, Neo4j) and by the embedded
store's bulk importer: the same WEIGHT edges, sum layers and FEEDS."""

from __future__ import annotations

import torch
from numpy.testing import assert_allclose
from torch import nn

from neurongraph.ingest import ingest_model
from neurongraph.store import open_store
from neurongraph.store.embedded import ROOT_USER, read_password


class Residual(nn.Module):
    """Two residual blocks on 6 features: x + fc2(relu(fc1(x))), then + fc3(.)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 5)
        self.fc2 = nn.Linear(5, 6)
        self.fc3 = nn.Linear(6, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        h = x + self.fc2(torch.relu(self.fc1(x)))
        h = h + self.fc3(h)
        return self.head(h)


def stored(store, name):
    edges = sorted(
        (r["layer"], r["targetLayer"], r["source"], t, w, g)
        for r in store.read_weights(name)
        for t, w, g in zip(r["targets"], r["weights"], r["signed"], strict=True)
    )
    layers = [(la["name"], la["kind"], la["width"]) for la in store.layers(name)]
    biases = store.read(
        "MATCH (n:Neuron {network: $name}) RETURN n.layer AS l, n.index AS i, n.bias AS b "
        "ORDER BY l, i",
        {"name": name},
    )
    return edges, layers, sorted(store.feeds(name)), biases


def test_bolt_and_bulk_write_the_same_dag(store, store_dir, monkeypatch, name):
    torch.manual_seed(0)
    model = Residual()
    monkeypatch.setenv("NEO4J_USERNAME", ROOT_USER)
    monkeypatch.setenv("NEO4J_PASSWORD", read_password(store_dir))
    monkeypatch.setenv("NEO4J_DATABASE", "neurongraph")
    with open_store(f"bolt://127.0.0.1:{store._server.bolt_port}") as remote:
        assert remote._server is None  # the Bolt write path
        ingest_model(remote, model, f"{name}-bolt", torch.zeros(2, 6))
        via_bolt = stored(remote, f"{name}-bolt")
    ingest_model(store, model, f"{name}-bulk", torch.zeros(2, 6))
    via_bulk = stored(store, f"{name}-bulk")
    assert via_bolt == via_bulk
    edges, layers, feeds, _ = via_bulk
    assert layers == [
        ("input", "input", 6),
        ("fc1", "linear", 5),
        ("fc2", "linear", 6),
        ("add", "sum", 6),
        ("fc3", "linear", 6),
        ("add_1", "sum", 6),
        ("head", "linear", 3),
    ]
    assert feeds == sorted([(0, 1), (1, 2), (2, 3), (0, 3), (3, 4), (4, 5), (3, 5), (5, 6)])
    assert len(edges) == 30 + 30 + 6 + 6 + 36 + 6 + 6 + 18
    for name_ in (f"{name}-bolt", f"{name}-bulk"):
        store.drop_network(name_)
    assert store.read(
        "MATCH (l:Layer) WHERE l.network STARTS WITH $n RETURN count(l) AS c", {"n": name}
    ) == [{"c": 0}]


def test_weight_columns_read_in_process_match_the_bolt_read(store, store_dir, monkeypatch, name):
    torch.manual_seed(0)
    model = Residual()
    ingest_model(store, model, name, torch.zeros(2, 6))
    monkeypatch.setenv("NEO4J_USERNAME", ROOT_USER)
    monkeypatch.setenv("NEO4J_PASSWORD", read_password(store_dir))
    monkeypatch.setenv("NEO4J_DATABASE", "neurongraph")

    def rows(columns):
        keys = ("layer", "targetLayer", "source", "target", "weight")
        return sorted(zip(*(columns[k].tolist() for k in keys), strict=True))

    with open_store(f"bolt://127.0.0.1:{store._server.bolt_port}") as remote:
        over_bolt = rows(remote.read_weight_columns(name))
    in_process = rows(store.read_weight_columns(name))
    assert in_process == over_bolt
    assert len(in_process) == 30 + 30 + 6 + 6 + 36 + 6 + 6 + 18
    fc1 = [r[2:] for r in in_process if r[:2] == (0, 1)]
    assert [(i, o) for i, o, _ in fc1] == [(i, o) for i in range(6) for o in range(5)]
    expected = model.fc1.weight.detach().double().abs().numpy()
    assert_allclose([w for *_, w in fc1], [expected[o, i] for i, o, _ in fc1], rtol=1e-12)
    store.drop_network(name)
