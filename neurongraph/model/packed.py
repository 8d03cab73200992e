"""oneDNN's Linear on a weight packed once, for the float32 replays on the CPU.

``torch.nn.functional.linear`` on a float32 CPU tensor first copies its bias into every row of
the output and then adds the product to it. oneDNN's linear (``torch.ops.mkldnn``'s
``_linear_pointwise``), on a weight reordered once into its blocked layout
(``_reorder_linear_weight``), adds the bias inside the product. Measured on this project's
2-core machine at the tiny transformer's shapes (2,072 examples of 7 positions): 2.0 ms
against 2.8 ms from width 64 to 256, 1.9 ms against 2.5 ms from 256 to 64, 0.52 ms against
0.74 ms from 64 to 64; the same values to a float32 rounding. The lesion engine's fast replays
use it (:meth:`~neurongraph.model.view.ModelView.cast` with ``packed_linear``); an answer that
rounding could change is decided again in float64 with ``linear``
(:mod:`neurongraph.analysis.view_lesion`). Where PyTorch has no oneDNN, or oneDNN refuses a
weight or gives another value on a check, :func:`pack_linear` gives None and the view keeps
``linear``.
"""

from __future__ import annotations

import torch

__all__ = ["pack_linear", "packed_linear"]

#: Rows of the check that a packed weight gives what ``linear`` gives.
CHECK_ROWS = 4
#: How close the check must be, relative to the largest output (a float32 rounding is ~1e-7).
CHECK_RTOL = 1e-5


def _ops() -> object | None:
    ops = torch.ops.mkldnn
    if not torch.backends.mkldnn.is_available():
        return None
    if not (hasattr(ops, "_reorder_linear_weight") and hasattr(ops, "_linear_pointwise")):
        return None
    return ops


def packed_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``linear(x, weight, bias)`` with ``packed = pack_linear(weight)``."""
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


def pack_linear(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor | None:
    """``weight`` (float32, ``(out, in)``) in oneDNN's layout for :func:`packed_linear`, or None
    where that is not available or does not give ``linear``'s values on a seeded check.

    Examples
    --------
    >>> import torch
    >>> weight, bias = torch.randn(3, 5), torch.randn(3)
    >>> packed = pack_linear(weight, bias)
    >>> x = torch.randn(2, 4, 5)
    >>> packed is None or torch.allclose(
    ...     packed_linear(x, packed, bias), torch.nn.functional.linear(x, weight, bias), atol=1e-5
    ... )
    True
    """
    ops = _ops()
    if ops is None or weight.dtype != torch.float32 or weight.dim() != 2:
        return None
    try:
        packed = ops._reorder_linear_weight(weight, None)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(CHECK_ROWS, weight.shape[1], generator=g)
        got = packed_linear(x, packed, bias)
    except RuntimeError:
        return None
    expected = torch.nn.functional.linear(x, weight, bias)
    scale = float(expected.abs().max()) or 1.0
    if got.shape != expected.shape or float((got - expected).abs().max()) > CHECK_RTOL * scale:
        return None
    return packed
