"""Lesions of networks read as a DAG (ModelView): batched evaluation against lesioning float64
copies of the eager model one lesion at a time, on a residual MLP and on the ResNet, for both
metrics; hidden layers; bad input; the lesion masks on every layout of units."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import zoo
from conftest import train
from numpy.testing import assert_allclose
from torch import nn

from neurongraph.analysis.importance import importance
from neurongraph.analysis.lesion import lesion_accuracies
from neurongraph.analysis.view_lesion import (
    _UNIT_MAJOR,
    _UNIT_MINOR,
    OUTPUT_CHANGE,
    _layout,
    _silence,
    hidden_layers,
)
from neurongraph.errors import AnalysisError
from neurongraph.model.view import ModelView, Tap, read_view

#: Training examples (the first of digits) and test examples the lesions run on (the next).
N_TRAIN = 600
N_TEST = 150
#: The ResNet's weight layers and the BatchNorm folded into each.
RESNET_NORMS = {
    "stem.0": "stem.1",
    "layer1.conv1": "layer1.bn1",
    "layer1.conv2": "layer1.bn2",
    "layer2.shortcut.0": "layer2.shortcut.1",
    "layer2.conv1": "layer2.bn1",
    "layer2.conv2": "layer2.bn2",
}


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN : N_TRAIN + N_TEST], y[N_TRAIN : N_TRAIN + N_TEST]


@pytest.fixture(scope="module")
def residual_mlp(split):
    """``fc2(relu(fc1(x)) + x)`` (64 -> 64 -> 10) trained briefly on digits, and its view."""
    Xtr, ytr, X, _ = split
    torch.manual_seed(0)
    model = train(zoo.ResidualOnInput(), Xtr, ytr, epochs=40)
    return model, read_view(model, torch.as_tensor(X[:8]))


@pytest.fixture(scope="module")
def resnet(split):
    Xtr, ytr, X, _ = split
    torch.manual_seed(0)
    model = train(zoo.TinyResNet(), Xtr.reshape(-1, 1, 8, 8), ytr, epochs=15)
    return model, read_view(model, torch.as_tensor(X[:8]).reshape(-1, 1, 8, 8))


def _lesioned_copy(model: nn.Module, view: ModelView, lesion, sums) -> nn.Module:
    """A float64 copy of ``model`` with ``lesion`` applied the way a user would: the incoming
    weights and bias of each lesioned unit zeroed (and the BatchNorm folded into the layer made
    to give 0: its running mean and bias), a sum layer's units zeroed by ``sums[name](copy,
    units)`` (a hook)."""
    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for layer, units in lesion:
            name = view.layers[layer].name
            if name in sums:
                sums[name](m, list(units))
                continue
            module = m.get_submodule(name)
            module.weight[list(units)] = 0
            if module.bias is not None:
                module.bias[list(units)] = 0
            if name in RESNET_NORMS:
                norm = m.get_submodule(RESNET_NORMS[name])
                norm.running_mean[list(units)] = 0
                norm.bias[list(units)] = 0
    return m


def _loop(model, view, lesions, X, y, sums):
    """Per lesion: accuracy (percent), per-class accuracy, and the mean relative L2 change of
    the output, from one lesioned float64 copy at a time."""
    X = torch.as_tensor(X, dtype=torch.float64)
    with torch.no_grad():
        base = copy.deepcopy(model).double().eval()(X)
    accuracy, classes, change = [], [], []
    for lesion in lesions:
        with torch.no_grad():
            out = _lesioned_copy(model, view, lesion, sums)(X)
        correct = (out.argmax(1).numpy() == y).astype(float)
        accuracy.append(correct.mean())
        classes.append([correct[y == c].mean() for c in range(10)])
        change.append(float(((out - base).norm(dim=1) / base.norm(dim=1)).mean()))
    return np.array(accuracy), np.array(classes), np.array(change)


def _zero_block_output(block: str):
    """A sum layer whose block ends in ReLU(add): zeroing the block's output channels is
    zeroing the add (relu(0) = 0)."""

    def apply(m: nn.Module, units: list[int]) -> None:
        def hook(_module, _inputs, output):
            output = output.clone()
            output[:, units] = 0
            return output

        m.get_submodule(block).register_forward_hook(hook)

    return apply


def _zero_read_columns(reader: str):
    """A sum layer read directly by a Linear: zero the columns it reads."""

    def apply(m: nn.Module, units: list[int]) -> None:
        def hook(_module, inputs):
            x = inputs[0].clone()
            x[:, units] = 0
            return (x,)

        m.get_submodule(reader).register_forward_pre_hook(hook)

    return apply


def _lesions(view: ModelView, rng: np.random.Generator) -> list:
    """Single units and random groups of every hidden layer, and two-layer lesions."""
    hidden = hidden_layers(view)
    widths = view.widths
    lesions = [[(p, [u])] for p in hidden for u in (0, widths[p] - 1)]
    for p in hidden:
        for size in (2, widths[p] // 2):
            lesions.append([(p, np.sort(rng.choice(widths[p], size, replace=False)))])
    for a, b in zip(hidden, hidden[1:], strict=False):
        lesions.append([(a, [0, 1]), (b, [widths[b] - 1])])
    return lesions


def _check_exact(model, view, X, y, sums):
    lesions = _lesions(view, np.random.default_rng(0))
    accuracy, classes, change = _loop(model, view, lesions, X, y, sums)
    res = lesion_accuracies(view, lesions, (X, y), batch_size=7)
    assert res.metric == "accuracy" and res.baseline_accuracy > 0.3  # chance: 0.1
    assert_allclose(res.accuracy, accuracy, atol=1e-8)
    assert_allclose(res.class_accuracy, classes, atol=1e-8)
    # lesions hurt: not a vacuous comparison
    assert (res.delta < -0.01).sum() >= 3
    moved = lesion_accuracies(view, lesions, (X, None), metric=OUTPUT_CHANGE)
    assert moved.metric == OUTPUT_CHANGE and moved.baseline_accuracy == 0
    assert_allclose(-moved.accuracy, change, rtol=1e-6, atol=1e-12)
    assert (change > 0.01).sum() >= 3


def test_residual_mlp_lesions_equal_a_loop_on_lesioned_copies(residual_mlp, split):
    model, view = residual_mlp
    _, _, X, y = split
    assert [view.layers[p].name for p in hidden_layers(view)] == ["fc1", "add"]
    _check_exact(model, view, X, y, {"add": _zero_read_columns("fc2")})


def test_resnet_lesions_equal_a_loop_on_lesioned_copies(resnet, split):
    model, view = resnet
    _, _, X, y = split
    names = [view.layers[p].name for p in hidden_layers(view)]
    assert names == [name for name, _, _ in zoo.RESNET_LAYERS[1:-1]]
    X = X.reshape(-1, 1, 8, 8)
    sums = {"layer1.add": _zero_block_output("layer1"), "layer2.add": _zero_block_output("layer2")}
    _check_exact(model, view, X, y, sums)


def test_an_nn_module_that_is_not_a_chain_is_read_as_a_view(residual_mlp, split):
    model, view = residual_mlp
    _, _, X, y = split
    lesions = [[(1, [0, 1, 2])], [(2, range(10))]]
    from_module = lesion_accuracies(model, lesions, (X, y))
    from_view = lesion_accuracies(view, lesions, (X, y))
    assert_allclose(from_module.accuracy, from_view.accuracy, atol=1e-11)


def test_a_lesion_of_the_output_layer_zeroes_those_outputs(resnet, split):
    # the output's own operation does not run again: the unlesioned outputs are silenced
    model, view = resnet
    _, _, X, y = split
    X = X.reshape(-1, 1, 8, 8)
    out = copy.deepcopy(model).double()(torch.as_tensor(X, dtype=torch.float64))
    last = len(view.layers) - 1
    lesions = [[(last, [c])] for c in range(3)] + [[(last, [0, 1]), (1, [0])]]
    res = lesion_accuracies(view, lesions, (X, y))
    for k in range(3):
        zeroed = out.clone()
        zeroed[:, k] = 0
        assert res.accuracy[k] == pytest.approx(float((zeroed.argmax(1).numpy() == y).mean()))
    assert res.accuracy[0] != res.baseline_accuracy


def test_importance_on_a_view_tests_every_hidden_layer(resnet, split):
    _, view = resnet
    _, _, X, y = split
    X = X.reshape(-1, 1, 8, 8)
    hidden = hidden_layers(view)
    groups = {p: np.arange(view.widths[p]) % 2 for p in range(len(view.layers))}
    res = importance(view, groups, (X, y), n_random=3, random_state=0)
    assert sorted({g.layer for g in res.groups}) == hidden
    assert {s.layer for s in res.skipped} == {0, len(view.layers) - 1}
    assert sorted(res.neurons) == hidden
    assert all(len(res.neurons[p].delta) == view.widths[p] for p in hidden)
    again = importance(view, groups, (X, y), n_random=3, random_state=0)
    assert_allclose([g.p for g in again.groups], [g.p for g in res.groups])
    # output-change: every lesion moves the output, so every delta is negative
    moved = importance(view, groups, (X, None), n_random=3, random_state=0, metric=None)
    assert moved.metric == OUTPUT_CHANGE
    assert all(g.delta < 0 for g in moved.groups)


def test_bad_metrics_are_refused(resnet, split, digits):
    _, view = resnet
    _, _, X, y = split
    X = X.reshape(-1, 1, 8, 8)
    with pytest.raises(AnalysisError, match="needs classification labels"):
        lesion_accuracies(view, [[(1, [0])]], (X, None), metric="accuracy")
    with pytest.raises(AnalysisError, match="metric must be one of"):
        lesion_accuracies(view, [[(1, [0])]], (X, y), metric="loss")
    with pytest.raises(AnalysisError, match="chains score accuracy"):
        chain_model = nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
        lesion_accuracies(chain_model, [[(1, [0])]], digits, metric=OUTPUT_CHANGE)


def _tap(width: int, units: torch.Tensor, batch_dim: int = 0) -> Tap:
    return Tap(0, width, batch_dim, torch.arange(units.numel()), units)


@pytest.mark.parametrize(
    ("shape", "batch_dim", "unit_major", "scattered"),
    [
        ((6, 4, 3, 3), 0, True, False),
        ((6, 5, 4), 0, False, False),
        ((5, 6, 4), 1, False, False),
        ((6, 5, 4), 0, False, True),
    ],
    ids=["conv-channels", "tokens", "tokens-batch-second", "scattered"],
)
def test_silence_zeroes_exactly_the_masked_units(shape, batch_dim, unit_major, scattered):
    """Every element of a masked unit becomes 0 and every other element keeps its value, for
    convolution channels (unit-major), token features (unit-minor) and units in no order."""
    g = torch.Generator().manual_seed(0)
    value = torch.randn(shape, generator=g, dtype=torch.float64)
    moved = value.movedim(batch_dim, 0)
    p, width = moved.shape[0], moved.shape[1] if unit_major else moved.shape[-1]
    per_unit = moved[0].numel() // width
    units = torch.arange(width)
    units = units.repeat_interleave(per_unit) if unit_major else units.repeat(per_unit)
    if scattered:
        units = units[torch.randperm(units.numel(), generator=g)]
    tap = _tap(width, units, batch_dim)
    layout = _layout(tap, moved[0].numel())
    assert layout == (None if scattered else _UNIT_MAJOR if unit_major else _UNIT_MINOR)
    mask = torch.rand((p, width), generator=g) < 0.4
    out = _silence(value, tap, layout, mask)
    hit = mask[:, units].reshape(p, *moved.shape[1:])
    expected = moved.masked_fill(hit, 0.0).movedim(0, batch_dim)
    assert out.shape == value.shape
    assert torch.equal(out, expected)


def test_silence_keeps_a_channels_last_value_channels_last():
    value = torch.randn(6, 4, 3, 3).to(memory_format=torch.channels_last)
    mask = torch.zeros(6, 4, dtype=torch.bool)
    mask[:, 1] = True
    out = _silence(value, _tap(4, torch.arange(4).repeat_interleave(9)), _UNIT_MAJOR, mask)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out[:, 1], torch.zeros(6, 3, 3)) and torch.equal(out[:, 0], value[:, 0])
