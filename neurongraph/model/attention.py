"""Scaled dot-product attention over few keys, for batched replays on the CPU.

PyTorch's fused CPU kernel for ``scaled_dot_product_attention`` works in blocks of keys; over
a handful of keys (the 7 word positions of the built-in text task) most of its time is spent
outside arithmetic, and the three plain steps (``q k^T * scale + mask``, softmax, ``* v``) run
faster: measured on this project's 2-core machine for 4 heads of 16 dimensions, 36 ms against
63 ms for 8,000 examples of 7 positions, 30 ms against 45 ms at 12 positions; at 16 the kernel is
as fast (29 ms against 27 ms). The lesion engine's fast replays
use :func:`short_attention` for that; the values are the same to a rounding of the fast dtype,
and an answer that rounding could change is decided again in float64 with the kernel
(:mod:`neurongraph.analysis.view_lesion`).
"""

from __future__ import annotations

import math

import torch

__all__ = ["SHORT_KEYS", "short_attention"]

#: Fewer keys than this run as three plain steps; more go to the fused kernel.
SHORT_KEYS = 16


def short_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """``aten.scaled_dot_product_attention`` (same arguments, inference only), computed as
    ``softmax(query @ key^T * scale + attn_mask) @ value`` when there are fewer than
    :data:`SHORT_KEYS` keys and a floating (additive) mask or none; anything else (more keys, a
    boolean mask, causal masking, dropout, grouped queries) goes to the fused kernel.

    Examples
    --------
    >>> import torch
    >>> q, k, v = torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 4)
    >>> mask = torch.zeros(3, 1, 1, 5)
    >>> mask[:, :, :, 4] = -1e4
    >>> fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    >>> torch.allclose(short_attention(q, k, v, mask), fused, atol=1e-6)
    True
    """
    plain = (
        key.shape[-2] < SHORT_KEYS
        and not (dropout_p or is_causal or enable_gqa)
        and (attn_mask is None or attn_mask.is_floating_point())
    )
    if not plain:
        return torch.ops.aten.scaled_dot_product_attention.default(
            query,
            key,
            value,
            attn_mask,
            dropout_p,
            is_causal,
            scale=scale,
            enable_gqa=enable_gqa,
        )
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    # scores keys-first, (..., keys, queries): a softmax over a few keys is 2.8x faster along
    # the outer dimension than along the innermost one
    scores = torch.matmul(key, query.transpose(-2, -1)).mul_(factor)
    if attn_mask is not None:
        scores = scores + attn_mask.transpose(-2, -1)
    return torch.matmul(scores.softmax(-2).transpose(-2, -1), value)
