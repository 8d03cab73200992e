"""Architecture strings, seeded model building and modular initialisation."""

import numpy as np
import pytest
import torch
from torch import nn

from neurongraph.errors import IngestError, UsageError
from neurongraph.model.datasets import load_dataset
from neurongraph.training import (
    apply_modular_init,
    build_model,
    model_weights,
    parse_architecture,
    train_model,
    weight_blocks,
)
from neurongraph.training.transformer import build_transformer

ALLOWED = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout, nn.Flatten)


def test_parse_mlp():
    arch = parse_architecture(" 64-256-256-10 ")
    assert arch.kind == "mlp" and arch.input_shape == (64,) and arch.n_outputs == 10
    assert [(layer.kind, layer.width) for layer in arch.layers] == [
        ("dense", 256),
        ("dense", 256),
        ("output", 10),
    ]
    assert arch.spec == str(arch) == "64-256-256-10"
    assert parse_architecture("2-6").layers == (("output", 6),)


def test_parse_cnn():
    arch = parse_architecture("cnn:c16-c32-p-f64-10")
    assert arch.kind == "cnn" and arch.input_shape is None
    assert [(layer.kind, layer.width) for layer in arch.layers] == [
        ("conv", 16),
        ("conv", 32),
        ("pool", 0),
        ("dense", 64),
        ("output", 10),
    ]
    assert arch.spec == "cnn:c16-c32-p-f64-10"
    fixed = arch.with_input_shape((1, 8, 8))
    assert fixed.spec == "cnn:1x8x8-c16-c32-p-f64-10"
    assert parse_architecture(fixed.spec) == fixed
    assert parse_architecture("cnn:2x8x8-c4-10").input_shape == (2, 8, 8)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "64",
        "64-abc-10",
        "64--10",
        "64-0-10",
        "64-256-10-",
        "64-2.5-10",
        "cnn:",
        "cnn:c16-p",
        "cnn:c16-f32",
        "cnn:f64-c16-10",
        "cnn:c16-f32-p-10",
        "cnn:c16-x3-10",
        "cnn:c0-10",
        "cnn:10",
        "cnn:c8-10-10",
        "cnn:1x8-c16-10",
        "cnn:0x8x8-c16-10",
        "cnn:1x2x2-c4-p-p-10",
        "mlp:64-10",
        "transformer:",
        "transformer:d32-h2-b1",
        "transformer:d0-h2-b1-4",
        "transformer:d30-h4-b1-4",
    ],
)
def test_malformed_architecture(spec):
    with pytest.raises(IngestError) as excinfo:
        parse_architecture(spec)
    message = str(excinfo.value)
    assert "\n" not in message and repr(spec) in message


def test_malformed_message_shows_the_expected_forms():
    with pytest.raises(IngestError) as excinfo:
        parse_architecture("64-x-10")
    message = str(excinfo.value)
    assert "'x' is not a positive width" in message
    assert "64-256-256-256-256-10" in message and "cnn:c16-c32-p-f64-10" in message


def test_a_transformer_spec_parses_like_the_others():
    arch = parse_architecture(" transformer:d32-h2-b3-4 ")
    assert arch.kind == "transformer" and arch.heads == 2 and arch.n_outputs == 4
    assert arch.spec == "transformer:d32-h2-b3-4" and parse_architecture(arch.spec) == arch
    with pytest.raises(UsageError, match="build_transformer"):
        build_model(arch)


def test_a_transformer_drops_each_block_output_in_training_only():
    arch = parse_architecture("transformer:d16-h2-b2-4")
    ids = torch.randint(1, 50, (6, 7), generator=torch.Generator().manual_seed(0))
    plain = build_transformer(arch, 7, torch.Generator().manual_seed(1))
    dropped = build_transformer(arch, 7, torch.Generator().manual_seed(1), dropout=0.5)
    assert [m.p for m in dropped.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    with torch.no_grad():
        # eval: the same weights give the same outputs, with or without dropout
        torch.testing.assert_close(dropped.eval()(ids), plain.eval()(ids))
        dropped.train()
        torch.manual_seed(2)
        first = dropped(ids)
        assert not torch.allclose(first, dropped(ids))  # each pass drops other units
        assert not torch.allclose(first, plain(ids))


def test_build_mlp():
    model = build_model("64-32-16-10", dropout=0.25, random_state=0)
    assert isinstance(model, nn.Sequential)
    assert [type(m) for m in model] == [
        nn.Linear,
        nn.ReLU,
        nn.Dropout,
        nn.Linear,
        nn.ReLU,
        nn.Dropout,
        nn.Linear,
    ]
    assert [tuple(w.shape) for w in model_weights(model)] == [(32, 64), (16, 32), (10, 16)]
    assert model(torch.zeros(3, 64)).shape == (3, 10)


def test_build_cnn():
    with pytest.raises(IngestError, match="no input shape"):
        build_model("cnn:c16-c32-p-f64-10", random_state=0)
    model = build_model("cnn:c16-c32-p-f64-10", random_state=0, input_shape=(1, 8, 8))
    assert all(isinstance(m, ALLOWED) for m in model)
    assert [type(m) for m in model] == [
        nn.Conv2d,
        nn.ReLU,
        nn.Conv2d,
        nn.ReLU,
        nn.MaxPool2d,
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    assert model[6].in_features == 32 * 4 * 4 and model[0].kernel_size == (3, 3)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    flat_end = build_model("cnn:3x6x6-c4-5", random_state=0)
    assert flat_end(torch.zeros(1, 3, 6, 6)).shape == (1, 5)
    with pytest.raises(IngestError, match=r"takes input of shape \(3, 6, 6\)"):
        build_model("cnn:3x6x6-c4-5", random_state=0, input_shape=(1, 8, 8))


def test_seeded_build_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    a = build_model("64-32-10", random_state=7)
    b = build_model("64-32-10", random_state=7)
    c = build_model("64-32-10", random_state=8)
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(a[0].weight, c[0].weight)


def test_default_init_scale():
    model = build_model("64-256-10", random_state=0)
    for layer in (model[0], model[2]):
        bound = layer.in_features**-0.5
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
        mean_square = layer.weight.pow(2).mean().item()
        assert mean_square == pytest.approx(bound**2 / 3, rel=0.1)


def modules_of(n_units: int, n_modules: int) -> np.ndarray:
    """Contiguous assignment, as documented: unit j goes to module floor(j * M / n)."""
    return np.arange(n_units) * n_modules // n_units


def same_vs_cross(block: np.ndarray, n_modules: int) -> tuple[float, float]:
    same = modules_of(block.shape[0], n_modules)[:, None] == modules_of(block.shape[1], n_modules)
    return np.abs(block[same]).mean(), np.abs(block[~same]).mean()


def test_modular_init_block_structure_and_scale():
    default = build_model("64-256-256-10", random_state=0)
    modular = apply_modular_init(build_model("64-256-256-10", random_state=0), 4)
    for plain, scaled in zip(model_weights(default), model_weights(modular), strict=True):
        w = scaled.detach().numpy()
        same, cross = same_vs_cross(w, 4)
        assert same > 3 * cross  # ratio 4 by construction
        # expected squared weight kept: within 20% of the default initialisation
        assert scaled.pow(2).mean().item() == pytest.approx(plain.pow(2).mean().item(), rel=0.2)
    assert torch.equal(default[0].bias, modular[0].bias)
    unchanged = apply_modular_init(build_model("64-256-256-10", random_state=0), 1)
    assert torch.equal(unchanged[0].weight, default[0].weight)


def test_modular_init_cnn_uses_channels():
    model = apply_modular_init(build_model("cnn:2x8x8-c8-p-f16-4", random_state=0), 2)
    for block in weight_blocks(model_weights(model)):
        same, cross = same_vs_cross(block.detach().numpy(), 2)
        assert same > 2.5 * cross


def test_modular_structure_survives_training():
    result = train_model(
        "128-64-20", load_dataset("two-tasks"), epochs=2, modular_init=2, random_state=0
    )
    for weight in model_weights(result.model):
        same, cross = same_vs_cross(weight.detach().numpy(), 2)
        assert same > 1.5 * cross
    assert min(result.task_accuracy.values()) > 0.5
