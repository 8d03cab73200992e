"""Feature visualisation of groups of neurons (Olah et al. 2017, as used by Hod et al.).

Feature visualisation (:func:`feature_visualisation`): one input per group is optimised with
Adam to maximise the group's activation, all groups of a layer (true and random) in one batch;
the inputs are independent, so batching changes nothing but speed. Inputs are parameterised
either per pixel or by their Fourier spectrum scaled by ``1 / frequency`` (the decorrelated
parameterisation of Olah et al. 2017; no colour decorrelation), and squashed into the input range
by a sigmoid (``value_range``, default ``(0, 1)``: digit pixels). Scores: ``vis_objective``, the
group's activation on its final input, and ``vis_entropy``, the entropy (bits) of the network's
softmax output there (with several tasks, the mean over tasks of each task's softmax entropy).
Coherent = higher objective (``vis_objective_p``, ``tail='upper'``) and lower entropy
(``vis_entropy_p``, ``tail='lower'``) than random groups. A view is optimised through its
recorded operations in float64, run only as far as the group's layer; a network of token ids
has no continuous input to optimise: its visualisation is skipped with a note
(:data:`TOKENS_NOTE`) and its dataset examples and selectivity are still scored.

References
----------
C. Olah, A. Mordvintsev and L. Schubert, "Feature visualization", Distill 2017.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurongraph.analysis.defaults import DEFAULT_STEPS, PARAMETERISATIONS
from neurongraph.analysis.lesion_data import check_layer, check_tasks
from neurongraph.analysis.lesion_groups import Group
from neurongraph.errors import AnalysisError, arg
from neurongraph.model.chain import Chain
from neurongraph.model.view import ModelView
from neurongraph.progress import Progress
from neurongraph.seeds import check_random_state, draw_seed

__all__ = [
    "DEFAULT_INIT_STD",
    "DEFAULT_LR",
    "DEFAULT_STEPS",
    "DEFAULT_VALUE_RANGE",
    "FOURIER_DECAY",
    "PARAMETERISATIONS",
    "TOKENS_NOTE",
    "Parameterisation",
    "VisNetwork",
    "Visualisation",
    "check_vis_options",
    "feature_visualisation",
    "resolve_image_shape",
    "save_examples_png",
    "save_visualisation_png",
    "optimise_inputs",
]

#: Adam learning rate (on the pre-sigmoid pixels or on the Fourier coefficients).
DEFAULT_LR = 0.05
#: Inputs are squashed into this range by a sigmoid (digits pixels lie in [0, 1]).
DEFAULT_VALUE_RANGE = (0.0, 1.0)
#: Standard deviation of the initial pre-sigmoid pixels / Fourier coefficients (inputs start near
#: the middle of the range).
DEFAULT_INIT_STD = 0.01
#: Exponent of the ``1 / frequency`` scaling of the Fourier parameterisation.
FOURIER_DECAY = 1.0
#: Optimisation runs in this dtype; final scores are computed in the chain's dtype.
VIS_DTYPE = torch.float32
#: Why a network of token ids gets no feature visualisation.
TOKENS_NOTE = (
    "feature visualisation skipped: the network takes token ids, a discrete input that "
    "gradient ascent cannot optimise; dataset examples and selectivity are still scored"
)
_LN2 = math.log(2.0)
#: Label columns allowed when tasks only choose output slices (the entropy of the softmax).
_MANY_COLUMNS = 2**31


@dataclass(frozen=True)
class Visualisation:
    """Optimised inputs of :func:`feature_visualisation`, one per group, in the order given.

    Attributes
    ----------
    inputs : ndarray of shape (G, *input_shape)
        The final inputs, inside ``value_range``.
    objective : ndarray of shape (G,)
        Each group's activation on its input.
    entropy : ndarray of shape (G,)
        Entropy (bits) of the network's softmax output on each input (mean over tasks).
    """

    inputs: np.ndarray
    objective: np.ndarray
    entropy: np.ndarray


def check_vis_options(
    steps: Any, lr: Any, parameterisation: Any, jitter: Any, value_range: Any
) -> tuple[float, float]:
    if not isinstance(steps, numbers.Integral) or isinstance(steps, bool) or steps < 1:
        raise AnalysisError(f"steps must be an integer of at least 1, not {steps!r}")
    if not isinstance(lr, numbers.Real) or not lr > 0:
        raise AnalysisError(f"the learning rate must be positive, not {lr!r}")
    if parameterisation not in PARAMETERISATIONS:
        raise AnalysisError(
            f"parameterisation must be one of {', '.join(PARAMETERISATIONS)}, "
            f"not {parameterisation!r}"
        )
    if not isinstance(jitter, numbers.Integral) or jitter < 0:
        raise AnalysisError(f"jitter must be a non-negative number of pixels, not {jitter!r}")
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError) as err:
        raise AnalysisError(f"value_range must be a pair (low, high): {err}") from err
    if not lo < hi:
        raise AnalysisError(f"value_range must have low < high, not {value_range!r}")
    return lo, hi


def resolve_image_shape(
    chain: Chain | ModelView, image_shape: Any, needed: bool
) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of the model's input, from the chain or from ``image_shape``."""
    if image_shape is None:
        if len(chain.input_shape) == 3:
            return tuple(int(s) for s in chain.input_shape)  # type: ignore[return-value]
        if needed:
            raise AnalysisError(
                f"the image shape of the model's input {chain.input_shape} is unknown: pass "
                f"{arg('image_shape')} (C, H, W) or (H, W), or use "
                f"the pixel parameterisation without jitter"
            )
        return None
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1 or math.prod(shape) != math.prod(chain.input_shape):
        raise AnalysisError(
            f"image_shape {tuple(image_shape)} does not fit the model's input of shape "
            f"{chain.input_shape} ({math.prod(chain.input_shape)} values)"
        )
    return shape  # type: ignore[return-value]


def _normalise_vis_groups(net: VisNetwork, groups: Sequence[Any]) -> list[tuple[int, np.ndarray]]:
    out = []
    for item in groups:
        if isinstance(item, Group):
            layer, units = item.layer, item.units
        elif isinstance(item, Sequence) and len(item) == 2:
            layer, units = item
        else:
            raise AnalysisError(
                f"groups must be (layer, units) pairs or Group objects, not {item!r}"
            )
        check_layer(layer, len(net.widths) - 1)
        if layer == 0:
            raise AnalysisError("the input layer has no activations to maximise")
        u = np.unique(np.asarray(units, dtype=np.int64).reshape(-1))
        width = net.widths[layer]
        if u.size == 0 or u[0] < 0 or u[-1] >= width:
            raise AnalysisError(f"a group of layer {layer} must name units among 0..{width - 1}")
        out.append((int(layer), u))
    if not out:
        raise AnalysisError("feature_visualisation needs at least one group")
    return out


class Parameterisation:
    """Maps a free parameter tensor to inputs in ``value_range`` of the chain's input shape."""

    def __init__(
        self,
        kind: str,
        input_shape: tuple[int, ...],
        image: tuple[int, int, int] | None,
        value_range: tuple[float, float],
        jitter: int,
    ) -> None:
        self.kind = kind
        self.input_shape = input_shape
        self.image = image
        self.lo, self.hi = value_range
        self.jitter = jitter
        if kind == "fourier":
            _, h, w = image  # type: ignore[misc]
            fy = torch.fft.fftfreq(h, dtype=VIS_DTYPE)[:, None]
            fx = torch.fft.rfftfreq(w, dtype=VIS_DTYPE)[None, :]
            freq = torch.sqrt(fy**2 + fx**2)
            self.scale = 1.0 / torch.clamp(freq, min=1.0 / max(h, w)) ** FOURIER_DECAY

    def init(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.kind == "pixel":
            shape: tuple[int, ...] = (n, *self.input_shape)
        else:
            c, h, w = self.image  # type: ignore[misc]
            shape = (n, c, h, w // 2 + 1, 2)
        return torch.randn(shape, generator=generator, dtype=VIS_DTYPE) * DEFAULT_INIT_STD

    def raw(self, param: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid inputs: images ``(n, C, H, W)`` when the image shape is known."""
        if self.kind == "pixel":
            if self.image is None:
                return param
            return param.reshape(param.shape[0], *self.image)
        _, h, w = self.image  # type: ignore[misc]
        spectrum = torch.view_as_complex(param) * self.scale
        return torch.fft.irfft2(spectrum, s=(h, w), norm="ortho")

    def inputs(self, param: torch.Tensor, shift: tuple[int, int] | None = None) -> torch.Tensor:
        raw = self.raw(param)
        if shift is not None and any(shift):
            raw = torch.roll(raw, shifts=shift, dims=(-2, -1))
        x = self.lo + (self.hi - self.lo) * torch.sigmoid(raw)
        return x.reshape(x.shape[0], *self.input_shape)


def _truncated(chain: Chain, layer: int, dtype: torch.dtype) -> Chain:
    stages = [
        dataclasses.replace(s, weight=s.weight.to(dtype), bias=s.bias.to(dtype))
        for s in chain.stages[:layer]
    ]
    return Chain(stages, input_shape=chain.input_shape, input_width=chain.input_width)


class VisNetwork:
    """A chain or a model view, behind what coherence runs on it. Layers are positions (input
    0); a view's activations are its taps' (each unit's elements reduced by their mean)."""

    def __init__(self, model: Chain | ModelView) -> None:
        self.model = model
        self.is_view = isinstance(model, ModelView)
        self.input_shape = tuple(model.input_shape)
        self.widths = list(model.widths)
        self.tokens = self.is_view and model.tokens
        #: The dtype scores are computed in; a view runs in float64, also while optimising.
        self.dtype = torch.float64 if self.is_view else model.dtype
        self.vis_dtype = torch.float64 if self.is_view else VIS_DTYPE

    @property
    def hidden(self) -> range:
        """Positions of the hidden layers (neither the input nor the output)."""
        return range(1, len(self.widths) - 1)

    def activations(self, x: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """Every layer's activations by position (the input left out) and the output."""
        with torch.no_grad():
            if self.is_view:
                layers, out = self.model.activations(x)
                return {p: layers[p] for p in range(1, len(layers))}, out
            stages, out = self.model.activations(x)
            return {p: a for p, a in enumerate(stages, start=1)}, out

    def layer_reader(self, layer: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """``f(x)``: the ``(N, width)`` activations of ``layer`` with gradients, from a forward
        that stops at that layer."""
        if self.is_view:
            view = self.model
            return lambda x: view.layer_activations(x, layer)
        net = _truncated(self.model, layer, VIS_DTYPE)
        return lambda x: net.activations(x)[0][layer - 1]


def _output_entropy(logits: torch.Tensor, slices: Sequence[slice] | None) -> torch.Tensor:
    logits = logits.reshape(logits.shape[0], -1)
    slices = slices if slices is not None else (slice(0, logits.shape[1]),)
    ent = []
    for sl in slices:
        logp = torch.log_softmax(logits[:, sl], dim=1)
        ent.append(-(logp.exp() * logp).sum(1) / _LN2)
    return torch.stack(ent, 1).mean(1).clamp(min=0.0)


def optimise_inputs(
    net: VisNetwork,
    groups: list[tuple[int, np.ndarray]],
    *,
    steps: int,
    lr: float,
    param: Parameterisation,
    generator: torch.Generator,
    slices: Sequence[slice] | None,
    batch_size: int | None,
    progress: Progress | None,
) -> Visualisation:
    n = len(groups)
    init = param.init(n, generator)
    final = torch.empty((n, *net.input_shape), dtype=VIS_DTYPE)
    layers = sorted({layer for layer, _ in groups})
    batches = []
    for layer in layers:
        idx = [k for k, (g_layer, _) in enumerate(groups) if g_layer == layer]
        step = batch_size or len(idx)
        batches += [(layer, idx[a : a + step]) for a in range(0, len(idx), step)]
    total, done = steps * len(batches), 0
    for layer, idx in batches:
        read = net.layer_reader(layer)
        mask = torch.zeros((len(idx), net.widths[layer]), dtype=net.vis_dtype)
        for row, k in enumerate(idx):
            mask[row, torch.as_tensor(groups[k][1])] = 1.0
        p = init[idx].clone().requires_grad_(True)
        opt = torch.optim.Adam([p], lr=lr)
        for _ in range(steps):
            shift = None
            if param.jitter:
                shift = tuple(
                    int(s)
                    for s in torch.randint(
                        -param.jitter, param.jitter + 1, (2,), generator=generator
                    )
                )
            opt.zero_grad(set_to_none=True)
            loss = -(read(param.inputs(p, shift)) * mask).sum()
            loss.backward()
            opt.step()
            done += 1
            if progress is not None:
                progress(done, total)
        with torch.no_grad():
            final[idx] = param.inputs(p.detach())
    # final scores in the network's dtype, on the inputs as returned
    acts, out = net.activations(final.to(net.dtype))
    objective = torch.empty(n, dtype=net.dtype)
    for k, (layer, units) in enumerate(groups):
        objective[k] = acts[layer][k, torch.as_tensor(units)].sum()
    entropy = _output_entropy(out, slices)
    return Visualisation(final.numpy(), objective.numpy(), entropy.numpy().astype(np.float64))


def feature_visualisation(
    chain: Chain | ModelView,
    groups: Sequence[Any],
    *,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    parameterisation: str = "pixel",
    image_shape: tuple[int, ...] | None = None,
    jitter: int = 0,
    value_range: tuple[float, float] = DEFAULT_VALUE_RANGE,
    random_state: int | np.random.RandomState | np.random.Generator | None = None,
    tasks: Sequence[Any] | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> Visualisation:
    """Optimise one input per group to maximise the group's summed activation, batched.

    Parameters
    ----------
    chain : Chain or ModelView
        A view is optimised through its recorded operations (float64), as far as each layer.
    groups : sequence of (layer, units) or Group
        Layers are positions (input 0); any layer after the input may be used.
    steps : int, default=256
        Adam steps.
    lr : float, default=0.05
        Adam learning rate.
    parameterisation : {'pixel', 'fourier'}, default='pixel'
        Free pixels, or a Fourier spectrum scaled by ``1 / frequency`` (needs the image shape).
    image_shape : tuple of int, optional
        ``(C, H, W)`` or ``(H, W)`` of the input when the chain takes flat vectors; needed for
        ``'fourier'`` and for ``jitter``. Default: the chain's input shape when it is 3-D.
    jitter : int, default=0
        Roll the image by up to this many pixels in each direction at every step (one random
        shift per step for the whole batch); 0 turns it off (8x8 digits are too small for it).
    value_range : (float, float), default=(0.0, 1.0)
        Inputs are ``low + (high - low) * sigmoid(raw)``.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the local ``torch.Generator`` of the initial inputs and of the jitter.
    tasks : list, optional
        Tasks whose output slices get one softmax each for the entropy (as in
        :func:`~neurongraph.analysis.lesion.lesion_accuracies`); default one softmax over every
        output.
    batch_size : int or None, default=None
        Groups optimised together; None: all groups of a layer at once.
    progress : callable, optional
        ``progress(done, total)`` after every Adam step.

    Returns
    -------
    Visualisation

    Raises
    ------
    AnalysisError
        ``steps < 1``, a non-positive learning rate, an unknown parameterisation, an unknown image
        shape where one is needed, a bad group, a network of token ids.

    Examples
    --------
    A hidden neuron that copies input pixel 2 is maximised by lighting that pixel:

    >>> import torch
    >>> from torch import nn
    >>> from neurongraph.model.extract import extract_chain
    >>> model = nn.Sequential(nn.Linear(4, 1), nn.ReLU(), nn.Linear(1, 2))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([[0.0, 0.0, 1.0, 0.0]]))
    ...     _ = model[0].bias.zero_()
    >>> chain = extract_chain(model, torch.zeros(1, 4))
    >>> vis = feature_visualisation(chain, [(1, [0])], steps=50, random_state=0)
    >>> int(vis.inputs[0].argmax()), bool(vis.inputs[0, 2] > 0.9)
    (2, True)
    """
    lo_hi = check_vis_options(steps, lr, parameterisation, jitter, value_range)
    if not isinstance(chain, Chain | ModelView):
        raise AnalysisError(
            "feature_visualisation takes a Chain (extract_chain(model, example_input)) or a "
            "ModelView (read_view(model, example_input))"
        )
    net = VisNetwork(chain)
    if net.tokens:
        raise AnalysisError(TOKENS_NOTE.split(";")[0])
    image = resolve_image_shape(
        chain, image_shape, needed=parameterisation == "fourier" or jitter > 0
    )
    checked = _normalise_vis_groups(net, groups)
    slices = None
    if tasks is not None:
        _, out = net.activations(torch.zeros((1, *net.input_shape), dtype=net.dtype))
        slices = check_tasks(tasks, int(out.reshape(1, -1).shape[1]), _MANY_COLUMNS).slices
    if batch_size is not None and (not isinstance(batch_size, numbers.Integral) or batch_size < 1):
        raise AnalysisError(f"batch_size must be a positive integer or None, not {batch_size!r}")
    rng = check_random_state(random_state)
    generator = torch.Generator().manual_seed(draw_seed(rng))
    param = Parameterisation(parameterisation, net.input_shape, image, lo_hi, int(jitter))
    return optimise_inputs(
        net,
        checked,
        steps=int(steps),
        lr=float(lr),
        param=param,
        generator=generator,
        slices=slices,
        batch_size=batch_size,
        progress=progress,
    )


def save_visualisation_png(
    values: Any,
    path: str | Path,
    image_shape: tuple[int, ...] | None = None,
    *,
    value_range: tuple[float, float] = DEFAULT_VALUE_RANGE,
) -> Path:
    """Write one input (e.g. ``Visualisation.inputs[k]``) as a PNG with matplotlib's ``imsave``.

    Parameters
    ----------
    values : array-like
        One input: ``(C, H, W)``, ``(H, W)`` or flat.
    path : str or Path
    image_shape : tuple of int, optional
        ``(C, H, W)`` or ``(H, W)``; required for a flat input.
    value_range : (float, float), default=(0.0, 1.0)
        Mapped to black..white.

    Returns
    -------
    Path
        ``path``. One channel is written in grey, three as RGB, any other number side by side.
    """
    import matplotlib.image

    a = np.asarray(values, dtype=np.float64)
    if image_shape is not None:
        if math.prod(image_shape) != a.size:
            raise AnalysisError(f"image_shape {tuple(image_shape)} does not hold {a.size} values")
        a = a.reshape(image_shape)
    if a.ndim == 1:
        raise AnalysisError(
            f"the image shape of a flat input is unknown: pass {arg('image_shape')} (C, H, W) or "
            "(H, W)"
        )
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    lo, hi = (float(v) for v in value_range)
    path = Path(path)
    if a.ndim == 3 and a.shape[0] == 3:
        rgb = np.clip((np.moveaxis(a, 0, -1) - lo) / (hi - lo), 0.0, 1.0)
        matplotlib.image.imsave(path, rgb)
        return path
    if a.ndim == 3:
        a = np.concatenate(list(a), axis=1)
    if a.ndim != 2:
        raise AnalysisError(f"cannot draw an input of shape {a.shape} as an image")
    matplotlib.image.imsave(path, a, cmap="gray", vmin=lo, vmax=hi)
    return path


def save_examples_png(
    examples: Any, path: str | Path, image_shape: tuple[int, ...], *, columns: int = 4
) -> Path:
    """Write dataset examples as one PNG grid (see :func:`save_visualisation_png`), one
    mid-grey pixel between them, grey levels spanning the examples' own range.

    Parameters
    ----------
    examples : array-like of shape (n, ...)
        ``n`` inputs, each holding ``prod(image_shape)`` values.
    path : str or Path
    image_shape : tuple of int
        ``(C, H, W)`` or ``(H, W)``.
    columns : int, default=4
        Examples per row of the grid.

    Returns
    -------
    Path
        ``path``.
    """
    a = np.asarray(examples, dtype=np.float64).reshape(-1, *image_shape)
    lo, hi = float(a.min()), float(a.max())
    hi = hi if hi > lo else lo + 1.0
    rows = -(-len(a) // columns)
    cell = np.array(a.shape[-2:]) + 1
    grid = np.full((*a.shape[1:-2], rows * cell[0] - 1, columns * cell[1] - 1), (lo + hi) / 2)
    height, width = a.shape[-2:]
    for k, image in enumerate(a):
        top, left = (v * c for v, c in zip(divmod(k, columns), cell, strict=True))
        grid[..., top : top + height, left : left + width] = image
    return save_visualisation_png(grid, path, value_range=(lo, hi))
