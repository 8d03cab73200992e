"""A model's input shape worked out from its layers, for models whose file does not say it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from neurongraph.model.export import SavedProgram

__all__ = ["MAX_INFERRED_SIDE", "infer_input_shape"]

#: Largest square side tried when working out a CNN's input size.
MAX_INFERRED_SIDE = 1024
#: Modules that keep a feature map's height and width (activations, norms, dropout).
_SIZE_KEEPING = frozenset(
    {
        "BatchNorm2d",
        "CELU",
        "Dropout",
        "Dropout2d",
        "ELU",
        "GELU",
        "GroupNorm",
        "Hardswish",
        "Identity",
        "InstanceNorm2d",
        "LeakyReLU",
        "Mish",
        "PReLU",
        "ReLU",
        "ReLU6",
        "SELU",
        "SiLU",
        "Sigmoid",
        "Softplus",
        "Tanh",
    }
)
_POOLS = frozenset({"MaxPool2d", "AvgPool2d"})


def _kind(module: nn.Module) -> str:
    return getattr(module, "original_name", type(module).__name__)


def infer_input_shape(module: nn.Module) -> tuple[int, ...] | None:
    """The input shape of a model, when its layers (or, for a saved program, its export) tell
    it; else None.

    A model whose first weight layer is Linear takes that layer's ``in_features``. A CNN takes
    ``(C, S, S)``: ``C`` the first Conv2d's ``in_channels``, and ``S`` a square side that the
    Conv2d and max/average pooling layers (in the order they were defined) turn into exactly
    the input width of the first Linear after them, checked by running the model on it. As
    strides round down, several sides can fit: the smallest that the product of the strides
    divides (as images are usually sized), else the smallest. None when a layer between them
    changes the size in a way not worked out here (adaptive pooling, non-square kernels...),
    or no side fits.

    Examples
    --------
    >>> cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    ...                     nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    >>> infer_input_shape(cnn)
    (1, 8, 8)
    """
    if isinstance(module, SavedProgram):
        return module.input_shape  # as exported
    layers = [sub for sub in module.modules() if not any(True for _ in sub.children())]
    for i, sub in enumerate(layers):
        if _kind(sub) == "Linear":
            return (int(sub.weight.shape[1]),)
        if _kind(sub) == "Conv2d":
            return _cnn_input_shape(module, layers[i:])
    return None


def _cnn_input_shape(module: nn.Module, layers: list[nn.Module]) -> tuple[int, ...] | None:
    """``(C, S, S)`` for a CNN whose layers from its first Conv2d are ``layers``, or None."""
    steps = []
    channels = int(layers[0].in_channels)
    for sub in layers:
        kind = _kind(sub)
        if kind == "Linear":
            side = _side_for(steps, channels, int(sub.weight.shape[1]))
            if side is None:
                return None
            shape = (int(layers[0].in_channels), side, side)
            return shape if _runs(module, shape) else None
        if kind in ("Conv2d", *_POOLS):
            step = _size_step(sub, kind)
            if step is None:
                return None
            steps.append(step)
            channels = int(sub.out_channels) if kind == "Conv2d" else channels
        elif kind != "Flatten" and kind not in _SIZE_KEEPING:
            return None
    return None


def _square(value) -> int | None:
    """One side of a square kernel/stride/padding/dilation setting, or None."""
    if isinstance(value, int):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == value[1]:
        return int(value[0])
    return None


def _size_step(sub: nn.Module, kind: str) -> _SizeStep | None:
    """The side an input side becomes through one Conv2d or pooling layer, or None."""
    kernel = _square(getattr(sub, "kernel_size", None))
    stride = _square(getattr(sub, "stride", None) or kernel)
    padding = getattr(sub, "padding", None)
    dilation = _square(getattr(sub, "dilation", 1))
    ceil = bool(getattr(sub, "ceil_mode", False))
    if padding == "same":
        return _SizeStep(1, 0, 1, 1, False, same=True)
    padding = 0 if padding == "valid" else _square(padding)
    if None in (kernel, stride, padding, dilation) or (kind == "AvgPool2d" and dilation != 1):
        return None
    return _SizeStep(kernel, padding, stride, dilation, ceil)


@dataclass(frozen=True)
class _SizeStep:
    """What one Conv2d or pooling layer does to a square side (PyTorch's output-size rule)."""

    kernel: int
    padding: int
    stride: int
    dilation: int
    ceil: bool
    same: bool = False

    def __call__(self, side: int) -> int:
        if self.same:
            return side
        room = side + 2 * self.padding - self.dilation * (self.kernel - 1) - 1
        if room < 0:
            return 0
        out = (-(-room // self.stride) if self.ceil else room // self.stride) + 1
        if self.ceil and (out - 1) * self.stride >= side + self.padding:
            out -= 1
        return out


def _side_for(steps: list[_SizeStep], channels: int, width: int) -> int | None:
    """The square side that ``steps`` turn into ``width / channels`` squared (see
    :func:`infer_input_shape` for which one when several do), or None."""
    if width % channels:
        return None
    target = round((width // channels) ** 0.5)
    if target * target != width // channels:
        return None
    fits = []
    for side in range(1, MAX_INFERRED_SIDE + 1):
        out = side
        for step in steps:
            out = step(out)
        if out > target:
            break
        if out == target:
            fits.append(side)
    stride = math.prod(step.stride for step in steps)
    return next((side for side in fits if side % stride == 0), fits[0] if fits else None)


def _runs(module: nn.Module, shape: tuple[int, ...]) -> bool:
    """Whether the model runs on one zero example of ``shape``."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(torch.zeros((1, *shape)))
    except Exception:
        return False
    finally:
        module.train(was_training)
    return True
