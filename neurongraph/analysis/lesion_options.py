"""Tuning knobs of the batched lesion engines (chains and DAGs): speed and memory, never answers.

:func:`~neurongraph.analysis.lesion.lesion_accuracies` and
:func:`~neurongraph.analysis.importance.importance` take an :class:`EngineOptions`; the defaults
suit a CPU. Every setting gives the same accuracies: a fast dtype only decides the answers
whose logits are far from a tie, and the rest are recomputed in the network's own dtype.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch

from neurongraph.errors import AnalysisError

__all__ = ["EngineOptions"]


@dataclass(frozen=True)
class EngineOptions:
    """How the lesion engines batch and round their forward passes.

    Attributes
    ----------
    batch_elements : int, default=2**23
        Most activation values one batched forward pass may hold (2**23: 64 MiB in float64).
    fast_dtype : torch.dtype or None, default=torch.float32
        Lesion passes run in this dtype (None: the network's own).
    tie_rtol : float, default=1e-3
        An answer whose top two logits lie within ``tie_rtol * (1 + max |logit|)`` of each other
        in ``fast_dtype`` is recomputed in the network's dtype, so the answers are that dtype's.
    certify : bool, default=True
        Chains: skip the (lesion, example) pairs whose answers a norm bound proves unchanged.
    """

    batch_elements: int = 2**23
    fast_dtype: torch.dtype | None = torch.float32
    tie_rtol: float = 1e-3
    certify: bool = True

    def __post_init__(self) -> None:
        if (
            isinstance(self.batch_elements, bool)
            or not isinstance(self.batch_elements, numbers.Integral)
            or self.batch_elements < 1
        ):
            raise AnalysisError(
                f"batch_elements must be a positive integer, not {self.batch_elements!r}"
            )
        if self.fast_dtype is not None and not (
            isinstance(self.fast_dtype, torch.dtype) and self.fast_dtype.is_floating_point
        ):
            raise AnalysisError(
                f"fast_dtype must be a floating torch dtype or None, not {self.fast_dtype!r}"
            )
        if not self.tie_rtol >= 0:
            raise AnalysisError(f"tie_rtol must be 0 or more, not {self.tie_rtol!r}")
