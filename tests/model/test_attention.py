"""short_attention against PyTorch's own scaled_dot_product_attention."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from neurongraph.model.attention import SHORT_KEYS, short_attention


def _qkv(keys: int, queries: int = 5) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(keys)
    q = torch.randn(3, 2, queries, 4, generator=g, dtype=torch.float64)
    k = torch.randn(3, 2, keys, 4, generator=g, dtype=torch.float64)
    v = torch.randn(3, 2, keys, 4, generator=g, dtype=torch.float64)
    return q, k, v


def _padding(keys: int) -> torch.Tensor:
    mask = torch.zeros(3, 1, 1, keys, dtype=torch.float64)
    mask[1, :, :, keys - 2 :] = -1e4
    return mask


@pytest.mark.parametrize(
    "mask",
    [
        None,
        _padding(7),  # padding keys, one row per example
        torch.linspace(-2.0, 1.0, 7 * 5, dtype=torch.float64).view(5, 7),  # (queries, keys)
    ],
    ids=["no mask", "padding", "queries x keys"],
)
@pytest.mark.parametrize("scale", [None, 0.3])
def test_short_attention_equals_the_kernel(mask, scale):
    q, k, v = _qkv(7)
    got = short_attention(q, k, v, mask, scale=scale)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_padding_keys_get_no_weight():
    q, k, v = _qkv(7)
    moved = v.clone()
    moved[1, :, 5:] += 100.0  # the values of example 1's two padding keys
    mask = _padding(7)
    torch.testing.assert_close(short_attention(q, k, moved, mask), short_attention(q, k, v, mask))
    assert not torch.allclose(short_attention(q, k, moved), short_attention(q, k, v))


@pytest.mark.parametrize(
    "kwargs",
    [{"is_causal": True}, {"attn_mask": "bool"}, {"keys": SHORT_KEYS}],
    ids=["causal", "boolean mask", "many keys"],
)
def test_what_it_does_not_compute_goes_to_the_kernel(kwargs):
    keys = kwargs.pop("keys", 7)
    q, k, v = _qkv(keys, queries=keys)
    if kwargs.get("attn_mask") == "bool":
        kwargs["attn_mask"] = torch.ones(keys, keys, dtype=torch.bool).tril()
    want = F.scaled_dot_product_attention(q, k, v, **kwargs)
    torch.testing.assert_close(short_attention(q, k, v, **kwargs), want, rtol=0, atol=0)
