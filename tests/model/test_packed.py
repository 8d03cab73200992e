"""oneDNN's packed Linear against torch.nn.functional.linear, alone and in a view's replays."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from neurongraph.model.packed import pack_linear, packed_linear
from neurongraph.model.view import read_view
from neurongraph.training.architectures import parse_architecture
from neurongraph.training.transformer import build_transformer

#: PyTorch here has oneDNN (its wheels for x86 CPUs do): the packed path is the one tested.
ONEDNN = torch.backends.mkldnn.is_available()


@pytest.mark.parametrize("shape", [(6,), (5, 6), (3, 5, 6), (2, 3, 5, 6)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_packed_linear_equals_linear(shape, with_bias):
    g = torch.Generator().manual_seed(len(shape))
    weight = torch.randn(8, 6, generator=g)
    bias = torch.randn(8, generator=g) if with_bias else None
    packed = pack_linear(weight, bias)
    assert (packed is not None) == ONEDNN
    x = torch.randn(shape, generator=g)
    got = packed_linear(x, packed, bias) if packed is not None else F.linear(x, weight, bias)
    torch.testing.assert_close(got, F.linear(x, weight, bias), rtol=1e-5, atol=1e-5)


def test_packed_linear_reads_a_strided_input():
    g = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(8, 6, generator=g), torch.randn(8, generator=g)
    x = torch.randn(3, 6, 5, generator=g).transpose(1, 2)  # (3, 5, 6), not contiguous
    packed = pack_linear(weight, bias)
    if packed is not None:
        torch.testing.assert_close(
            packed_linear(x, packed, bias), F.linear(x, weight, bias), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_only_float32_weights_are_packed(dtype):
    """The float64 replays that decide near ties keep ``linear`` (and its rounding)."""
    assert pack_linear(torch.randn(4, 3).to(dtype), None) is None


def test_a_view_with_packed_linear_layers_gives_the_same_outputs():
    torch.manual_seed(0)
    arch = parse_architecture("transformer:d16-h2-b2-4")
    model = build_transformer(arch, 7, torch.Generator().manual_seed(0)).eval()
    ids = torch.randint(1, model.vocab_size, (9, 7), generator=torch.Generator().manual_seed(1))
    ids[2, 5:] = model.pad_id
    view = read_view(model, ids)
    fast = view.cast(torch.float32, packed_linear=True)
    plain = view.cast(torch.float32)
    packed = [op.weights.packed for op in fast.ops if op.weights is not None]
    assert len(packed) == 2 * 6 + 1  # q, k, v, o, ff1, ff2 per block and the head
    assert all((p is not None) == ONEDNN for p in packed)
    assert all(op.weights.packed is None for op in plain.ops if op.weights is not None)
    torch.testing.assert_close(fast(ids), plain(ids), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast(ids).double(), view(ids), rtol=1e-4, atol=1e-4)
