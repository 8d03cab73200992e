"""Residual CNNs for ``train --arch resnet:...``: BasicBlocks with BatchNorm (He et al., 2016).

:func:`build_resnet` stacks, in one :class:`torch.nn.Sequential`,

- a stem: 3x3 convolution from the input channels to the first stage's width, BatchNorm, ReLU;
- per stage ``(width, blocks)``: ``blocks`` :class:`BasicBlock` modules of that width; the first
  block of every stage after the first strides 2 (halving H and W);
- adaptive average pooling to 1x1, a flatten and a Linear head.

A :class:`BasicBlock` is ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with 3x3
convolutions without bias; the shortcut is the identity, or a 1x1 convolution with BatchNorm
when the width or the stride changes. With ``dropout > 0`` a Dropout follows every block at the
top level of the Sequential, where training draws its masks from the seeded generator.

Weights are drawn from one local :class:`torch.Generator` as ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
(PyTorch's default bound; the head's bias too); BatchNorm starts at scale 1, shift 0. Every module
is scriptable, so :func:`torch.jit.script` and the ingest both take the model.

:func:`residual_weight_adjacency` gives the weight graph of such a model as the ingest writes it
(a convolution's edges are the L1 norms of its kernel slices times the following BatchNorm's
``|gamma| / sqrt(running_var + eps)``; each block's sum is a layer fed by weight-1 edges), so the
spectral regulariser can act on a ResNet's graph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neurongraph.training.adjacency import block_adjacency

__all__ = [
    "DOWNSAMPLE_STRIDE",
    "STEM_KERNEL_SIZE",
    "BasicBlock",
    "build_resnet",
    "is_residual",
    "residual_weight_adjacency",
]

#: Kernel size of the stem and of the blocks' convolutions.
STEM_KERNEL_SIZE = 3
#: Stride of the first block of every stage after the first.
DOWNSAMPLE_STRIDE = 2


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and ReLU around an identity or projection shortcut.

    Parameters
    ----------
    in_channels, out_channels : int
    stride : int
        Stride of the first convolution (and of the projection shortcut).
    generator : torch.Generator
        Draws the convolution weights.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, out_channels, STEM_KERNEL_SIZE, stride, generator)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = _conv(out_channels, out_channels, STEM_KERNEL_SIZE, 1, generator)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                _conv(in_channels, out_channels, 1, stride, generator),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + shortcut)


def build_resnet(
    in_channels: int,
    stages: Sequence[tuple[int, int]],
    n_outputs: int,
    *,
    generator: torch.Generator,
    dropout: float = 0.0,
) -> nn.Sequential:
    """A residual CNN as a :class:`torch.nn.Sequential` (see the module docstring).

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    stages : sequence of (int, int)
        ``(width, blocks)`` per stage, in order; at least one.
    n_outputs : int
        Units of the Linear head.
    generator : torch.Generator
        Draws every weight.
    dropout : float, default=0.0
        Probability of a Dropout after every block (none when 0); the caller checks its range.

    Returns
    -------
    torch.nn.Sequential
        In training mode.

    Examples
    --------
    >>> model = build_resnet(1, [(4, 1), (8, 1)], 10, generator=torch.Generator().manual_seed(0))
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    width = stages[0][0]
    modules: list[nn.Module] = [
        _conv(in_channels, width, STEM_KERNEL_SIZE, 1, generator),
        nn.BatchNorm2d(width),
        nn.ReLU(),
    ]
    for stage, (stage_width, blocks) in enumerate(stages):
        for block in range(blocks):
            stride = DOWNSAMPLE_STRIDE if stage > 0 and block == 0 else 1
            modules.append(BasicBlock(width, stage_width, stride, generator))
            width = stage_width
            if dropout > 0:
                modules.append(nn.Dropout(dropout))
    head = nn.utils.skip_init(nn.Linear, width, n_outputs)
    _uniform(head.weight, width, generator)
    _uniform(head.bias, width, generator)
    modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), head]
    return nn.Sequential(*modules)


def residual_weight_adjacency(model: nn.Sequential, in_channels: int) -> torch.Tensor:
    """The symmetric float64 weight-graph adjacency of a model of :func:`build_resnet`.

    Parameters
    ----------
    model : torch.nn.Sequential
        As :func:`build_resnet` makes it (in either mode: BatchNorm scales use the running
        variance).
    in_channels : int
        Channels of the input images.

    Returns
    -------
    torch.Tensor
        ``(N, N)`` over the input channels and every layer's units in the order the ingest
        writes them (stem; per block its projection shortcut, conv1, conv2 and sum; the head);
        differentiable in the convolution, BatchNorm and head weights.
    """
    widths = [in_channels]
    edges: list[tuple[int, int, torch.Tensor]] = []  # (source, target, |W| of target x source)

    def layer(source: int, magnitude: torch.Tensor) -> int:
        widths.append(magnitude.shape[0])
        edges.append((source, len(widths) - 1, magnitude))
        return len(widths) - 1

    current = 0
    modules = list(model)
    for position, module in enumerate(modules):
        if isinstance(module, nn.Conv2d):
            after = modules[position + 1]
            current = layer(current, _conv_magnitude(module, after))
        elif isinstance(module, BasicBlock):
            addend = current
            if len(module.shortcut):
                conv, norm = module.shortcut
                addend = layer(current, _conv_magnitude(conv, norm))
            inner = layer(current, _conv_magnitude(module.conv1, module.bn1))
            inner = layer(inner, _conv_magnitude(module.conv2, module.bn2))
            identity = torch.eye(widths[inner], dtype=torch.float64)
            total = layer(inner, identity)
            edges.append((addend, total, identity))
            current = total
        elif isinstance(module, nn.Linear):
            current = layer(current, module.weight.double().abs())
    return block_adjacency(widths, edges)


def _conv_magnitude(conv: nn.Conv2d, norm: nn.Module) -> torch.Tensor:
    """L1 norms of the kernel slices ``K[o, i]``, each row times BatchNorm's ``|scale_o|``."""
    magnitude = conv.weight.double().abs().sum(dim=(2, 3))
    if isinstance(norm, nn.BatchNorm2d):
        scale = norm.weight.double().abs() / torch.sqrt(norm.running_var.double() + norm.eps)
        magnitude = magnitude * scale[:, None]
    return magnitude


def is_residual(model: nn.Module) -> bool:
    """Whether ``model`` holds a :class:`BasicBlock` (so its weights do not form a chain)."""
    return any(isinstance(module, BasicBlock) for module in model.modules())


def _conv(
    n_in: int, n_out: int, kernel_size: int, stride: int, generator: torch.Generator
) -> nn.Conv2d:
    layer = nn.utils.skip_init(
        nn.Conv2d, n_in, n_out, kernel_size, stride, kernel_size // 2, bias=False
    )
    _uniform(layer.weight, n_in * kernel_size**2, generator)
    return layer


@torch.no_grad()
def _uniform(tensor: torch.Tensor, fan_in: int, generator: torch.Generator) -> None:
    bound = 1.0 / math.sqrt(fan_in)
    tensor.uniform_(-bound, bound, generator=generator)
