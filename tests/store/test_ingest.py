"""Ingest through the library and the CLI: exact nodes, edges and values."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from neurongraph.ingest import ingest_model
from neurongraph.model.extract import extract_chain


def stored_edges(store, name):
    """{(source layer position, source index, target index): (weight, signed)}."""
    edges = {}
    for row in store.read_weights(name):
        for t, w, g in zip(row["targets"], row["weights"], row["signed"], strict=True):
            edges[(row["layer"], row["source"], t)] = (w, g)
    return edges


def stored_biases(store, name):
    rows = store.read(
        "MATCH (n:Neuron {network: $name}) WHERE n.bias IS NOT NULL "
        "RETURN n.position AS p, n.index AS i, n.bias AS b",
        {"name": name},
    )
    return {(r["p"], r["i"]): r["b"] for r in rows}


def test_mlp_nodes_edges_and_values_are_exact(store, mlp, name):
    mlp = copy.deepcopy(mlp)  # the session's model stays as trained
    with torch.no_grad():
        mlp[0].weight[3, 5] = 0.0  # a zero weight is no edge
    summary = ingest_model(store, mlp, name, torch.zeros(2, 64))
    widths = [64, 32, 16, 10]
    expected_edges = sum(int((m.weight != 0).sum()) for m in mlp if isinstance(m, nn.Linear))
    assert (summary.layers, summary.neurons, summary.edges) == (4, sum(widths), expected_edges)
    assert store.count_network(name) == {"neurons": sum(widths), "edges": expected_edges}
    layers = store.layers(name)
    assert [(layer["name"], layer["kind"], layer["width"]) for layer in layers] == [
        ("input", "input", 64),
        ("0", "linear", 32),
        ("2", "linear", 16),
        ("4", "linear", 10),
    ]
    assert [layer["activation"] for layer in layers] == ["", "relu", "tanh", ""]
    edges = stored_edges(store, name)
    assert len(edges) == expected_edges
    assert (0, 5, 3) not in edges
    for position, module in enumerate(m for m in mlp if isinstance(m, nn.Linear)):
        w = module.weight.detach().double().numpy()
        for o, i in [(0, 0), (1, 7), (w.shape[0] - 1, w.shape[1] - 1)]:
            assert edges[(position, i, o)] == (abs(w[o, i]), w[o, i])  # exact float64
    biases = stored_biases(store, name)
    assert biases[(1, 2)] == mlp[0].bias.detach().double()[2].item()
    assert not any(p == 0 for p, _ in biases)  # input neurons carry no bias
    network = store.get_network(name)
    assert network["status"] == "complete"
    assert (network["nNeurons"], network["nEdges"]) == (sum(widths), expected_edges)


def test_batchnorm_is_folded_into_the_preceding_layer(cnn):
    chain = extract_chain(cnn, torch.zeros(2, 1, 8, 8))
    conv, bn = cnn[0], cnn[1]
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    expected_w = conv.weight.double() * scale.view(-1, 1, 1, 1)
    expected_b = (conv.bias.double() - bn.running_mean.double()) * scale + bn.bias.double()
    torch.testing.assert_close(chain.stages[0].weight, expected_w.detach())
    torch.testing.assert_close(chain.stages[0].bias, expected_b.detach())
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(chain(x).float(), cnn(x).detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm", ["l1", "l2", "fro"])
def test_cnn_channels_kernel_norms_and_flatten_mapping(store, cnn, name, norm):
    summary = ingest_model(store, cnn, name, torch.zeros(2, 1, 8, 8), kernel_norm=norm)
    assert (summary.layers, summary.neurons) == (4, 1 + 4 + 6 + 10)
    assert summary.edges == 1 * 4 + 4 * 6 + 6 * 10
    edges = stored_edges(store, name)
    chain = extract_chain(cnn, torch.zeros(2, 1, 8, 8))
    k1 = chain.stages[0].weight.numpy()  # folded
    k2 = cnn[4].weight.detach().double().numpy()
    norms = {
        "l1": lambda k: np.abs(k).sum(),
        "fro": lambda k: np.sqrt((k**2).sum()),
        "l2": lambda k: np.linalg.svd(k, compute_uv=False)[0],
    }
    np.testing.assert_allclose(edges[(0, 0, 2)][0], norms[norm](k1[2, 0]), rtol=1e-12)
    np.testing.assert_allclose(edges[(0, 0, 2)][1], k1[2, 0].sum(), rtol=1e-12)
    np.testing.assert_allclose(edges[(1, 3, 5)][0], norms[norm](k2[5, 3]), rtol=1e-12)
    # conv -> linear: channel c owns the 4x4 = 16 flattened positions c*16 .. c*16+15
    dense = cnn[7].weight.detach().double().numpy()
    block = dense[9, 2 * 16 : 3 * 16]
    vector_norm = np.abs(block).sum() if norm == "l1" else np.sqrt((block**2).sum())
    np.testing.assert_allclose(edges[(2, 2, 9)][0], vector_norm, rtol=1e-12)
    np.testing.assert_allclose(edges[(2, 2, 9)][1], block.sum(), rtol=1e-12)


def test_functional_model_is_traced_with_fx(store, name):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(6, 5)
            self.b = nn.Linear(5, 3)

        def forward(self, x):
            return self.b(torch.relu(self.a(x.flatten(1))))

    summary = ingest_model(store, Net(), name, torch.zeros(2, 6))
    assert (summary.layers, summary.neurons, summary.edges) == (3, 14, 45)
    assert [la["activation"] for la in store.layers(name)] == ["", "relu", ""]
