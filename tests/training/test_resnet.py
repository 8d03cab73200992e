"""ResNet architecture strings, the built model and the training options on its conv layers."""

import numpy as np
import pytest
import torch
from torch import nn

from neurongraph.errors import IngestError, UsageError
from neurongraph.model.datasets import load_dataset
from neurongraph.model.view import read_view
from neurongraph.training import apply_modular_init, build_model, model_weights, parse_architecture
from neurongraph.training.architectures import count_neurons, resnet_stages
from neurongraph.training.modular import modular_scales, same_module_masks
from neurongraph.training.regularisers import (
    adjacency_spectral_regulariser,
    spectral_regulariser,
    weight_adjacency,
)
from neurongraph.training.resnet import BasicBlock, residual_weight_adjacency
from neurongraph.training.train import train_model

TINY = "resnet:c4x1-c8x1-10"


def test_parse_resnet_and_its_canonical_spec():
    arch = parse_architecture("resnet:c16x2-c32x2-10")
    assert arch.kind == "resnet" and arch.input_shape is None and arch.n_outputs == 10
    assert [(layer.kind, layer.width) for layer in arch.layers] == [
        ("stage", 16),
        ("block", 16),
        ("stage", 32),
        ("block", 32),
        ("output", 10),
    ]
    assert resnet_stages(arch) == [(16, 2), (32, 2)]
    assert arch.spec == "resnet:c16x2-c32x2-10"
    fixed = arch.with_input_shape((1, 8, 8))
    assert fixed.spec == "resnet:1x8x8-c16x2-c32x2-10"
    assert parse_architecture(fixed.spec) == fixed
    # two stages of the same width stay two stages: the second one strides
    assert parse_architecture("resnet:c8x1-c8x1-10").spec == "resnet:c8x1-c8x1-10"


@pytest.mark.parametrize(
    "spec",
    [
        "resnet:",
        "resnet:10",
        "resnet:c16x2",
        "resnet:c16-10",
        "resnet:c16x0-10",
        "resnet:c0x2-10",
        "resnet:c16x2-p-10",
        "resnet:c16x2-f32-10",
        "resnet:c16x2-0",
        "resnet:c16x2-10-10",
        "resnet:1x8-c16x1-10",
        "resnet:0x8x8-c16x1-10",
        "resnet:c16x2--10",
    ],
)
def test_malformed_resnet(spec):
    with pytest.raises(IngestError) as excinfo:
        parse_architecture(spec)
    message = str(excinfo.value)
    assert "\n" not in message and repr(spec) in message
    assert "resnet:c16x2-c32x2-10" in message


def test_a_resnet_needs_images():
    with pytest.raises(IngestError, match=r"takes images \(C, H, W\)"):
        parse_architecture(TINY).with_input_shape((64,))
    with pytest.raises(IngestError, match="no input shape.*resnet:CxHxW"):
        build_model(TINY)


def test_build_resnet_blocks_shortcuts_and_output():
    model = build_model("resnet:1x8x8-c4x2-c8x1-10", random_state=0)
    blocks = [m for m in model if isinstance(m, BasicBlock)]
    assert len(blocks) == 3
    # identity shortcuts inside the first stage, a strided 1x1 projection into the second
    assert len(blocks[0].shortcut) == 0 and len(blocks[1].shortcut) == 0
    projection = blocks[2].shortcut[0]
    assert projection.kernel_size == (1, 1) and projection.stride == (2, 2)
    assert blocks[2].conv1.stride == (2, 2) and isinstance(blocks[2].shortcut[1], nn.BatchNorm2d)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert [tuple(w.shape[:2]) for w in model_weights(model)] == [
        (4, 1),  # stem
        (4, 4),
        (4, 4),
        (4, 4),
        (4, 4),
        (8, 4),
        (8, 8),
        (8, 4),  # shortcut
        (10, 8),  # head
    ]
    # the same seed gives the same weights; another seed others
    again = build_model("resnet:1x8x8-c4x2-c8x1-10", random_state=0)
    other = build_model("resnet:1x8x8-c4x2-c8x1-10", random_state=1)
    weights = zip(model_weights(model), model_weights(again), model_weights(other), strict=True)
    for a, b, c in weights:
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_dropout_follows_every_block():
    model = build_model("resnet:1x8x8-c4x2-c8x1-10", dropout=0.2, random_state=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds.count("Dropout") == 3
    assert all(kinds[i + 1] == "Dropout" for i, k in enumerate(kinds) if k == "BasicBlock")


def test_count_neurons_matches_the_ingested_graph():
    arch = parse_architecture("resnet:1x8x8-c4x2-c8x1-10")
    view = read_view(build_model(arch, random_state=0).eval(), torch.rand(2, 1, 8, 8))
    assert count_neurons(arch) == sum(view.widths)


def test_training_options_act_on_every_conv(digit_images):
    pruned = train_model(TINY, digit_images, epochs=4, prune=0.5, l1=1e-4, random_state=0)
    weights = model_weights(pruned.model)
    assert len(weights) == 7  # stem, 2 x 2 block convs, the shortcut, the head
    for weight in weights:
        assert (weight == 0).float().mean().item() == pytest.approx(0.5, abs=0.05)
    assert pruned.history[-1].sparsity == pytest.approx(0.5, abs=0.01)


def test_modular_init_scales_every_conv_on_its_own_channels():
    plain = build_model("resnet:1x8x8-c4x1-c8x1-10", random_state=0)
    modular = apply_modular_init(build_model("resnet:1x8x8-c4x1-c8x1-10", random_state=0), 2)
    before, after = model_weights(plain), model_weights(modular)
    masks = same_module_masks(before, 2, [1] * 7)
    for weight, scaled, same in zip(before, after, masks, strict=True):
        s_in, s_out = modular_scales(same.float().mean().item())
        expected = weight * torch.where(same, s_in, s_out)
        torch.testing.assert_close(scaled, expected)
    # the shortcut 4 -> 8: input channels 0-1 and output channels 0-3 form module 0
    shortcut = masks[5]
    assert shortcut[:4, :2].all() and not shortcut[:4, 2:].any() and shortcut[4:, 2:].all()


def _bn_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm scales and running statistics, for the fold to matter."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(-2.0, 2.0, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
    return model.eval()


def test_residual_adjacency_is_the_ingested_weight_graph(ingested_adjacency):
    arch = parse_architecture("resnet:1x8x8-c4x2-c8x1-10")
    model = _bn_statistics(build_model(arch, dropout=0.1, random_state=0))
    expected = ingested_adjacency(model, torch.rand(2, 1, 8, 8))
    adjacency = residual_weight_adjacency(model, 1)
    np.testing.assert_allclose(adjacency.detach().numpy(), expected, rtol=1e-6, atol=1e-9)


def test_adjacency_regulariser_equals_the_chain_regulariser():
    weights = model_weights(build_model("cnn:1x8x8-c4-p-f8-10", random_state=0))
    adjacency, _ = weight_adjacency(weights)
    for k in (1, 3, 7):
        torch.testing.assert_close(
            adjacency_spectral_regulariser(adjacency, k),
            spectral_regulariser(weights, k).double(),
            rtol=1e-5,
            atol=1e-6,
        )
    with pytest.raises(UsageError, match="from 1 to"):
        adjacency_spectral_regulariser(adjacency, len(adjacency))


def test_the_spectral_regulariser_acts_on_a_resnet(digit_images):
    """Trained with the regulariser, the ResNet's weight graph has smaller low eigenvalues
    than trained alike without it (the same seed, so the same start)."""
    options = {"epochs": 3, "lr": 0.01, "reg_k": 3, "random_state": 0}
    plain = train_model(TINY, digit_images, **options)
    regularised = train_model(TINY, digit_images, spectral_reg=5.0, spectral_every=1, **options)
    assert regularised.history[-1].spectral is not None and plain.history[-1].spectral is None

    @torch.no_grad()
    def value(result):
        adjacency = residual_weight_adjacency(result.model, 1)
        return float(adjacency_spectral_regulariser(adjacency, 3))

    assert value(regularised) < 0.7 * value(plain)
    assert regularised.test_accuracy > 0.5


def test_a_last_batch_of_one_example_trains_with_batchnorm(tmp_path):
    """On 1x2x2 images the second stage's maps are 1x1: BatchNorm cannot take one example
    there, so a last batch of one joins the batch before it."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 2, 2, generator=generator).numpy()
    np.savez(tmp_path / "tiny.npz", X=x, y=np.arange(40) % 3)
    data = load_dataset(f"npz:{tmp_path / 'tiny.npz'}", random_state=0)
    batch_size = len(data.X_train) - 1
    result = train_model("resnet:c2x1-c2x1-3", data, epochs=2, batch_size=batch_size)
    assert len(result.history) == 2 and np.isfinite(result.history[-1].loss)
    with pytest.raises(UsageError, match="batch_size 1 cannot train BatchNorm"):
        train_model("resnet:c2x1-c2x1-3", data, epochs=1, batch_size=1, random_state=0)
