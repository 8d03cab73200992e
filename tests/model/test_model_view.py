"""The torch.export view of a model: the same graph as the chain for chains, residual networks
read as DAGs with sum layers, and everything else refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn
from zoo import Recurrent

from neurongraph.errors import IngestError
from neurongraph.ingest.graph import DAG, network_graph, view_graph
from neurongraph.model.extract import example_batch, extract_chain
from neurongraph.model.view import INPUT, read_view


@pytest.mark.parametrize(("fixture", "shape"), [("mlp", (64,)), ("cnn", (1, 8, 8))])
def test_a_chain_gives_the_chains_graph(request, fixture, shape):
    model = request.getfixturevalue(fixture)
    example = example_batch(shape)
    view = read_view(model, example)
    assert view.is_chain
    ours, theirs = view_graph(view), network_graph(extract_chain(model, example))
    assert ours.layers == theirs.layers
    assert ours.data_flow == theirs.data_flow == "chain"
    assert ours.feeds == theirs.feeds == [(p, p + 1) for p in range(len(theirs.layers) - 1)]
    for a, b in zip(ours.blocks, theirs.blocks, strict=True):
        assert (a.source, a.target) == (b.source, b.target)
        assert_allclose(a.weight, b.weight, rtol=1e-12, atol=1e-15)
        assert_allclose(a.signed, b.signed, rtol=1e-12, atol=1e-15)
    for a, b in zip(ours.biases, theirs.biases, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert_allclose(a, b, rtol=1e-12, atol=1e-15)


class Residual(nn.Module):
    """``fc2(relu(fc1(x))) + x``."""

    def __init__(self, width=4):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x))) + x


def test_a_residual_mlp_is_a_dag_with_a_sum_layer():
    torch.manual_seed(0)
    model = Residual()
    view = read_view(model, example_batch((4,)))
    assert [(la.name, la.kind, la.width) for la in view.layers] == [
        ("input", "input", 4),
        ("fc1", "linear", 4),
        ("fc2", "linear", 4),
        ("add", "sum", 4),
    ]
    assert not view.is_chain
    assert view.feeds == [(0, 1), (1, 2), (2, 3), (0, 3)]
    x = torch.randn(7, 4)
    assert_allclose(view(x).numpy(), model(x).detach().double().numpy(), rtol=1e-6, atol=1e-6)
    graph = view_graph(view)
    assert graph.data_flow == DAG
    sums = [b for b in graph.blocks if b.target == 3]
    assert [b.source for b in sums] == [2, 0]
    for block in sums:
        assert_allclose(block.weight, np.eye(4))


def test_a_replay_lets_go_of_each_value_after_its_last_reader():
    torch.manual_seed(0)
    model = Residual()
    view = read_view(model, example_batch((4,)))
    x = torch.randn(7, 4, dtype=torch.float64)
    everything = view.replay({INPUT: x}, range(len(view.ops)))
    ops = list(range(len(view.ops)))
    drop = view.last_uses(ops, keep=[view.output])
    # the input is read by the first operation and by the add, and let go only after the add
    add = next(k for k in ops if view.op_name(k) == "add")
    assert INPUT in drop[add] and all(INPUT not in names for k, names in drop.items() if k < add)
    held = []
    view.replay({INPUT: x}, ops, drop=drop, edit=lambda name, value: held.append(name) or value)
    lean = view.replay({INPUT: x}, ops, drop=drop)
    assert set(lean) == {view.output}
    torch.testing.assert_close(lean[view.output], everything[view.output], rtol=0, atol=0)
    assert held == [view.op_name(k) for k in ops]
    # what is kept is what is left: keeping only the input lets the output go too
    assert set(view.replay({INPUT: x}, ops, drop=view.last_uses(ops, keep=[INPUT]))) == {INPUT}


class Preactivation(nn.Module):
    """A BatchNorm after a sum: its scale goes into the weights of the layer that reads it."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 3)
        self.bn = nn.BatchNorm1d(3)
        self.fc2 = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x) + x)))


def test_a_norm_after_a_sum_scales_the_weights_of_its_reader():
    torch.manual_seed(0)
    model = Preactivation()
    with torch.no_grad():
        model.bn.running_mean.copy_(torch.tensor([0.5, -1.0, 0.0]))
        model.bn.running_var.copy_(torch.tensor([4.0, 0.25, 1.0]))
        model.bn.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
    view = read_view(model.eval(), example_batch((3,)))
    graph = view_graph(view)
    bn = {k: v.detach().double() for k, v in model.bn.state_dict().items()}
    scale = bn["weight"] / torch.sqrt(bn["running_var"] + model.bn.eps)
    (block,) = [b for b in graph.blocks if b.target == 3]
    w = model.fc2.weight.detach().double() * scale
    assert_allclose(block.signed, w.numpy(), rtol=1e-12)
    assert_allclose(block.weight, w.abs().numpy(), rtol=1e-12)
    assert [la.kind for la in graph.layers] == ["input", "linear", "sum", "linear"]


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) * torch.sigmoid(self.b(x))


class Concatenated(Gated):
    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


class Branchy(Gated):
    def forward(self, x):
        if x.sum() > 0:
            return self.a(x)
        return self.b(x)


class Shared(Gated):
    def forward(self, x):
        return self.a(torch.relu(self.a(x)))


class Shifted(Gated):
    def forward(self, x):
        return self.a(x) + 1.0


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize(
    ("model", "shape", "named"),
    [
        (Gated, (4,), ["aten.mul", "the model's forward"]),
        (Branchy, (4,), ["torch.export cannot capture"]),
        (Shared, (4,), ["'a'", "second time"]),
        (Recurrent, (3, 4), ["module 'rnn' (LSTM)"]),
    ],
)
def test_what_the_view_cannot_read_is_refused_by_name(model, shape, named):
    torch.manual_seed(0)
    with pytest.raises(IngestError) as refused:
        read_view(model(), example_batch(shape))
    message = str(refused.value)
    assert "\n" not in message
    for part in named:
        assert part in message


def test_a_view_that_does_not_reproduce_the_model_is_refused():
    """An in-place ReLU on the input changes what the residual add sees: the model adds
    relu(x) twice, the view (which reads values, not mutations) would not."""

    class Mutating(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            h = self.fc(x)
            y = torch.relu_(h)
            return h + y

    torch.manual_seed(0)
    model = Mutating()
    x = torch.randn(5, 4)
    try:
        view = read_view(model, example_batch((4,)))
    except IngestError as err:
        assert "does not reproduce" in str(err) or "aten" in str(err)
    else:  # read correctly: then it must compute what the model computes
        assert_allclose(view(x).numpy(), model(x).detach().double().numpy(), atol=1e-6)


@pytest.mark.parametrize("how", ["mean", "max", "l2"])
@pytest.mark.parametrize(("fixture", "shape"), [("mlp", (64,)), ("cnn", (1, 8, 8))])
def test_a_chains_view_reads_the_chains_activations(request, fixture, shape, how):
    model = request.getfixturevalue(fixture)
    example = example_batch(shape)
    view, chain = read_view(model, example), extract_chain(model, example)
    x = torch.rand((9, *shape), generator=torch.Generator().manual_seed(0))
    ours, output = view.activations(x, channel_reduce=how)
    theirs, _ = chain.activations(x, channel_reduce=how)
    assert [a.shape[1] for a in ours] == view.widths
    for a, b in zip(ours[1:], theirs, strict=True):
        assert_allclose(a.numpy(), b.double().numpy(), rtol=1e-6, atol=1e-6)
    assert_allclose(output.numpy(), model(x).detach().double().numpy(), rtol=1e-5, atol=1e-6)
