"""Modular initialisation: weights inside a module scaled up, weights between modules down.

Every neuron of the network (input features or channels, hidden units, outputs) is assigned to
one of ``M`` modules *contiguously*: unit ``j`` of a layer of ``n`` units goes to module
``floor(j * M / n)`` (:func:`module_assignment`). A Linear layer fed by flattened conv maps takes
each input feature's module from its channel. On ``two-tasks`` with ``M = 2`` this lines module 0
up with the left image and task A, module 1 with the right image and task B. In a ResNet every
convolution (projection shortcuts included) and the head are scaled on their own input and
output channels; a residual sum adds channel ``i`` to channel ``i`` of the same width, so it
joins units of one module. So does a transformer's: each of its Linear layers (q, k, v, o, the
feed-forward pair, the head) is scaled on its own input and output units, and its residual
stream keeps one assignment through every block.

After the default initialisation, each weight layer's same-module entries (whole kernel slices
for convolutions) are multiplied by ``s_in`` and the cross-module ones by ``s_out`` with

    s_in = r * s_out,    s_out = 1 / sqrt(p * r^2 + 1 - p),

where ``r = MODULAR_INIT_RATIO`` (4) and ``p`` is the layer's exact fraction of same-module entries
(about 1/M). Then ``p * s_in^2 + (1 - p) * s_out^2 = 1``: the expected squared weight of every layer
is that of the default initialisation. For M = 2, ``s_in = 1.37`` and ``s_out = 0.34``. Biases are
left alone.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurongraph.errors import UsageError
from neurongraph.training.architectures import input_group_sizes, model_weights
from neurongraph.training.resnet import is_residual

__all__ = [
    "MODULAR_INIT_RATIO",
    "apply_modular_init",
    "modular_scales",
    "module_assignment",
    "same_module_masks",
]

#: Ratio of same-module to cross-module weight scale.
MODULAR_INIT_RATIO = 4.0


def module_assignment(n_units: int, n_modules: int) -> torch.Tensor:
    """Module of each of ``n_units`` units, contiguous blocks: ``floor(j * n_modules / n_units)``.

    Examples
    --------
    >>> module_assignment(5, 2).tolist()
    [0, 0, 0, 1, 1]
    """
    return torch.arange(n_units) * n_modules // n_units


def same_module_masks(
    weights: list[torch.Tensor], n_modules: int, group_sizes: list[int] | None = None
) -> list[torch.Tensor]:
    """Per weight tensor, a boolean tensor of its shape: True where both ends share a module.

    ``group_sizes`` gives each layer's input features per unit of the layer before
    (:func:`~neurongraph.training.architectures.input_group_sizes` of a chain when None).
    """
    if group_sizes is None:
        group_sizes = input_group_sizes(weights)
    masks = []
    for weight, group in zip(weights, group_sizes, strict=True):
        n_out, n_in = weight.shape[0], weight.shape[1] // group
        out_modules = module_assignment(n_out, n_modules)
        in_modules = module_assignment(n_in, n_modules).repeat_interleave(group)
        same = out_modules[:, None] == in_modules[None, :]
        masks.append(same.view(*same.shape, *(1,) * (weight.dim() - 2)).expand(weight.shape))
    return masks


def modular_scales(p_same: float, ratio: float = MODULAR_INIT_RATIO) -> tuple[float, float]:
    """``(s_in, s_out)`` with ``s_in / s_out = ratio`` and ``p s_in^2 + (1 - p) s_out^2 = 1``."""
    s_out = 1.0 / math.sqrt(p_same * ratio**2 + 1.0 - p_same)
    return ratio * s_out, s_out


@torch.no_grad()
def apply_modular_init(
    model: nn.Module, n_modules: int, *, ratio: float = MODULAR_INIT_RATIO
) -> nn.Module:
    """Scale a freshly initialised model's weights into ``n_modules`` modules, in place.

    Parameters
    ----------
    model : torch.nn.Module
        A chain of Linear/Conv2d layers (see :func:`neurongraph.training.model_weights`), or a
        ResNet of :mod:`neurongraph.training.resnet`.
    n_modules : int
        Number of modules M (1 leaves the model unchanged).
    ratio : float, default=MODULAR_INIT_RATIO
        Same-module scale over cross-module scale.

    Returns
    -------
    torch.nn.Module
        ``model``.

    Raises
    ------
    UsageError
        When ``n_modules < 1`` or ``ratio <= 0``.
    """
    if isinstance(n_modules, bool) or not isinstance(n_modules, int) or n_modules < 1:
        raise UsageError(f"the number of modules must be a positive integer, not {n_modules!r}")
    if ratio <= 0:
        raise UsageError(f"the modular init ratio must be positive, not {ratio}")
    weights = model_weights(model)
    # a ResNet's layers read pooled channels or channels, never flattened maps
    groups = [1] * len(weights) if is_residual(model) else None
    for weight, same in zip(weights, same_module_masks(weights, n_modules, groups), strict=True):
        s_in, s_out = modular_scales(same.float().mean().item(), ratio)
        weight.mul_(torch.where(same, s_in, s_out).to(weight.dtype))
    return model
