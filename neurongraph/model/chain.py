"""A network as a chain of weight stages: the one view of a model every part of neurongraph uses.

A :class:`Chain` is built from a PyTorch module by :func:`neurongraph.model.extract.extract_chain`.
Each :class:`Stage` is one Linear or Conv2d layer with any BatchNorm that follows it folded into its
weights, plus the element-wise activations that follow it and the shape-only operations (pooling,
dropout, flatten) that lead into the next stage. The chain computes exactly what the model computes,
and additionally lets callers

- read every stage's post-nonlinearity activations (:meth:`Chain.activations`), and
- lesion units: multiply each stage's pre-activation by a per-unit mask, for many masks in one
  batched forward pass (:meth:`Chain.forward`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from neurongraph.model.defaults import CHANNEL_REDUCTIONS

__all__ = ["CHANNEL_REDUCTIONS", "Chain", "Stage", "reduce_channels"]


@dataclass
class Stage:
    """One weight layer of a chain.

    Parameters
    ----------
    name : str
        Module path of the Linear/Conv2d layer in the original model (``"input"`` is reserved).
    kind : {'linear', 'conv2d'}
    weight : torch.Tensor
        Effective weight (BatchNorm folded), ``(out, in)`` or ``(out, in, kh, kw)``, float64.
    bias : torch.Tensor
        Effective bias, ``(out,)``, float64 (zeros when the layer has none).
    pre : list of nn.Module
        Shape-only operations applied to the stage's input (pooling, dropout, flatten).
    activation : list of nn.Module
        Element-wise nonlinearities applied to the stage's output, in order.
    conv : dict
        ``stride``, ``padding``, ``dilation`` for conv stages.
    in_group : int
        Number of consecutive input features that come from one unit of the previous layer:
        H*W for a Linear layer fed by a flattened conv map, else 1.
    """

    name: str
    kind: str
    weight: torch.Tensor
    bias: torch.Tensor
    pre: list[nn.Module] = field(default_factory=list)
    activation: list[nn.Module] = field(default_factory=list)
    conv: dict = field(default_factory=dict)
    in_group: int = 1

    @property
    def width(self) -> int:
        """Number of units (output features or channels)."""
        return int(self.weight.shape[0])

    @property
    def activation_name(self) -> str:
        """Names of the nonlinearities, joined by '>' ('' when linear)."""
        return ">".join(type(m).__name__.lower() for m in self.activation)


def reduce_channels(x: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """Reduce ``(N, C, H, W)`` activation maps to ``(N, C)``; 2-D input is returned unchanged."""
    if x.dim() == 2:
        return x
    flat = x.flatten(2)
    if how == "mean":
        return flat.mean(dim=2)
    if how == "max":
        return flat.amax(dim=2)
    if how == "l2":
        return flat.norm(dim=2)
    raise ValueError(f"channel reduction must be one of {CHANNEL_REDUCTIONS}, not {how!r}")


class Chain(nn.Module):
    """A model as a sequence of :class:`Stage` objects (see module docstring).

    Parameters
    ----------
    stages : list of Stage
    input_shape : tuple of int
        Shape of one example, e.g. ``(64,)`` or ``(1, 8, 8)``.
    input_width : int
        Number of input neurons: input features for a network whose first stage is Linear,
        input channels when it is Conv2d.
    tail : list of nn.Module
        Operations after the last stage's activation (e.g. dropout, flatten).
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        input_shape: tuple[int, ...],
        input_width: int,
        tail: Sequence[nn.Module] = (),
    ) -> None:
        super().__init__()
        self.stages = list(stages)
        self.input_shape = tuple(input_shape)
        self.input_width = int(input_width)
        self.tail = nn.ModuleList(tail)
        self._modules_list = nn.ModuleList(
            [m for s in self.stages for m in (*s.pre, *s.activation)]
        )
        self.eval()

    @property
    def widths(self) -> list[int]:
        """Neurons per layer, the input layer first."""
        return [self.input_width, *(s.width for s in self.stages)]

    def to_dtype(self, dtype: torch.dtype) -> Chain:
        """Cast every stage's weight and bias to ``dtype`` in place; returns self."""
        for s in self.stages:
            s.weight = s.weight.to(dtype)
            s.bias = s.bias.to(dtype)
        return self

    @property
    def dtype(self) -> torch.dtype:
        return self.stages[0].weight.dtype

    def _apply_stage(self, s: Stage, x: torch.Tensor) -> torch.Tensor:
        for op in s.pre:
            x = op(x)
        if s.kind == "linear":
            return F.linear(x, s.weight, s.bias)
        return F.conv2d(x, s.weight, s.bias, **s.conv)

    @staticmethod
    def _activate(s: Stage, z: torch.Tensor) -> torch.Tensor:
        for op in s.activation:
            z = op(z)
        return z

    def forward(
        self,
        x: torch.Tensor,
        masks: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """Run the chain, optionally lesioning units.

        Parameters
        ----------
        x : torch.Tensor
            A batch ``(N, *input_shape)``.
        masks : sequence of (tensor or None), optional
            One entry per stage. A tensor of shape ``(M, width)`` multiplies that stage's
            pre-activation (weights and bias) per unit, for M lesions at once; the output then has
            shape ``(M, N, outputs)``. All tensors given must share the same M.

        Returns
        -------
        torch.Tensor
            ``(N, outputs)`` without masks, ``(M, N, outputs)`` with them.
        """
        x = x.to(self.dtype)
        n_lesions = None
        if masks is not None:
            sizes = {m.shape[0] for m in masks if m is not None}
            if len(sizes) > 1:
                raise ValueError("every mask must have the same number of lesions")
            n_lesions = sizes.pop() if sizes else None
        batch = x.shape[0]
        expanded = False
        for i, s in enumerate(self.stages):
            z = self._apply_stage(s, x)
            mask = masks[i] if masks is not None else None
            if mask is not None:
                if expanded:
                    z = z.view(n_lesions, batch, *z.shape[1:])
                else:
                    z = z.unsqueeze(0).expand(n_lesions, *z.shape)
                    expanded = True
                shape = (n_lesions, 1, s.width) + (1,) * (z.dim() - 3)
                z = (z * mask.to(z.dtype).view(shape)).reshape(n_lesions * batch, *z.shape[2:])
            x = self._activate(s, z)
        for op in self.tail:
            x = op(x)
        if expanded:
            x = x.view(n_lesions, batch, *x.shape[1:])
        return x

    def activations(
        self, x: torch.Tensor, *, channel_reduce: str = "mean"
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Post-nonlinearity activations of every stage, one ``(N, width)`` matrix each.

        Conv channels are reduced over H x W with ``channel_reduce``. Returns the list and the
        network's output.
        """
        x = x.to(self.dtype)
        out = []
        for s in self.stages:
            x = self._activate(s, self._apply_stage(s, x))
            out.append(reduce_channels(x, channel_reduce))
        for op in self.tail:
            x = op(x)
        return out, x
