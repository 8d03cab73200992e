"""Magnitude pruning with a polynomial sparsity schedule (Zhu & Gupta, 2017), then fine-tuning.

For ``E`` training epochs, the first ``start = floor(PRUNE_START_FRACTION * E)`` epochs train
densely; at the end of each epoch ``e`` of the pruning phase ``start < e <= end`` with
``end = max(start + 1, round(PRUNE_END_FRACTION * E))``, every weight layer is pruned to

    s(e) = s_final * (1 - (1 - (e - start) / (end - start)) ** PRUNE_SCHEDULE_POWER),

so the sparsity rises fast at first and reaches ``s_final`` at epoch ``end``; the remaining epochs
fine-tune the surviving weights. For 20 epochs: dense 1-5, pruning 6-15, fine-tuning 16-20.

Each layer (Linear and Conv2d weights; biases are never pruned) loses its ``round(s * n)``
smallest-magnitude weights, so every layer and the whole network reach the target up to one
weight per layer. A pruned weight stays pruned: its mask entry stays False, and
:func:`apply_masks` zeroes it again after every optimiser step.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "PRUNE_END_FRACTION",
    "PRUNE_SCHEDULE_POWER",
    "PRUNE_START_FRACTION",
    "apply_masks",
    "magnitude_prune",
    "pruning_schedule",
    "weight_sparsity",
]

PRUNE_START_FRACTION = 0.25
PRUNE_END_FRACTION = 0.75
PRUNE_SCHEDULE_POWER = 3


def pruning_schedule(target: float, epochs: int) -> dict[int, float]:
    """Sparsity to prune to at the end of each pruning epoch (1-based), per the module docstring.

    Examples
    --------
    >>> {e: round(s, 3) for e, s in pruning_schedule(0.9, 8).items()}
    {3: 0.52, 4: 0.787, 5: 0.886, 6: 0.9}
    """
    start = math.floor(PRUNE_START_FRACTION * epochs)
    end = min(epochs, max(start + 1, round(PRUNE_END_FRACTION * epochs)))
    return {
        epoch: target * (1.0 - (1.0 - (epoch - start) / (end - start)) ** PRUNE_SCHEDULE_POWER)
        for epoch in range(start + 1, end + 1)
    }


@torch.no_grad()
def magnitude_prune(
    weights: list[torch.Tensor], masks: list[torch.Tensor], sparsity: float
) -> None:
    """Prune every weight tensor to ``sparsity`` by magnitude, updating ``masks`` in place.

    Weights already masked out are pruned first, so masks only ever lose entries.
    """
    for weight, mask in zip(weights, masks, strict=True):
        n_pruned = round(sparsity * weight.numel())
        score = weight.abs().flatten().masked_fill(~mask.flatten(), -1.0)
        pruned = torch.topk(score, n_pruned, largest=False).indices
        mask.view(-1)[pruned] = False
        weight.mul_(mask)


@torch.no_grad()
def apply_masks(weights: list[torch.Tensor], masks: list[torch.Tensor]) -> None:
    """Zero every masked-out weight in place."""
    for weight, mask in zip(weights, masks, strict=True):
        weight.mul_(mask)


def weight_sparsity(weights: list[torch.Tensor]) -> float:
    """Fraction of weights (over all tensors) that are exactly zero."""
    zeros = sum(int((weight == 0).sum()) for weight in weights)
    return zeros / sum(weight.numel() for weight in weights)
