"""Coherence of groups of neurons: feature visualisation, dataset examples and selectivity
(Hod et al., arXiv 2110.08058).

Pure functions over a :class:`~neurongraph.model.chain.Chain` or a
:class:`~neurongraph.model.view.ModelView` (any network read through ``torch.export``: residual
CNNs, transformers) and plain arrays; nothing here touches the store. Do a group's neurons
respond to the same features of the input? Each score of a (layer, cluster) group is compared
with the same score of random same-size groups of its layer.

Rules used throughout
---------------------
* **Groups and layers** are as in :mod:`neurongraph.analysis.lesion`: layer positions as in the
  store (input 0, ``chain.stages[layer - 1]``, or ``view.layers[layer]``; the last layer is the
  output), a partition given as ``{layer: labels}`` or as
  ``(layer, label, units)`` triples (:func:`~neurongraph.analysis.lesion.partition_groups`; here
  single-neuron groups are kept, groups outside the hidden layers and whole-layer groups are
  skipped). A group's **activation** on an input is the sum of its units' post-nonlinearity
  activations (a conv channel counts as the mean of its H x W map).
* **Random groups** are drawn uniformly among *all* units of the group's layer
  (:func:`~neurongraph.analysis.stats.random_groups`), so a random group of a layer that holds two
  modules spans both of them. ``random_state`` is resolved once; the random groups are drawn group
  by group in (layer, label) order, then one seed for the local ``torch.Generator`` that draws the
  initial inputs and the jitter. Same seed, same groups, same visualisations.
* **Feature visualisation** (:func:`feature_visualisation`): one input per group is optimised with
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
* **Dataset examples**: a group's ``top_k`` most activating examples and the entropy (bits) of
  their class histogram. Examples are ranked by the sum of the group's units' activations, each
  standardised over the dataset (z-scores; a constant unit counts 0), so that one unit with a
  large scale does not decide a group's examples alone; ties go to the lower index. With several
  tasks the histogram of each task is taken (``example_task_entropy``) and ``example_entropy`` is
  the *smallest* (the task the group is most specific to), for true and random groups alike.
  ``example_entropy_p`` uses ``tail='lower'``.
* **Selectivity**: per neuron, ``|Pearson r|`` between its activation and each one-hot class
  indicator (every (task, class) pair); ``selectivity`` is the largest, ``preferred_class`` its
  class. A neuron with constant activation has selectivity 0 and no preferred class (-1).
  A group's ``class_consistency`` is the fraction of its neurons (those with a preferred class)
  whose preferred class is the group's most common one; NaN when none has one. It is compared with
  random groups too (``class_consistency_p``, ``tail='upper'``).
* **Fisher**: per score, Fisher's combination of the groups' p values (``fisher_p``).

References
----------
S. Hod et al., "Detecting modularity in deep neural networks", arXiv:2110.08058.
C. Olah, A. Mordvintsev and L. Schubert, "Feature visualization", Distill 2017.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurongraph.analysis.defaults import COHERENCE_N_RANDOM as DEFAULT_N_RANDOM
from neurongraph.analysis.defaults import COHERENCE_TOP_K as DEFAULT_TOP_K
from neurongraph.analysis.defaults import DEFAULT_STEPS, PARAMETERISATIONS
from neurongraph.analysis.lesion import (
    Group,
    Progress,
    SkippedGroup,
    _check_layer,
    _check_model_and_data,
    _check_n_random,
    _check_tasks,
    _Data,
    _draw_seed,
    _resolve_random_state,
    partition_groups,
)
from neurongraph.analysis.stats import fisher_combined, percentile, random_groups
from neurongraph.errors import AnalysisError
from neurongraph.model.chain import Chain
from neurongraph.model.view import ModelView

__all__ = [
    "DEFAULT_INIT_STD",
    "DEFAULT_LR",
    "DEFAULT_N_RANDOM",
    "DEFAULT_STEPS",
    "DEFAULT_TOP_K",
    "DEFAULT_VALUE_RANGE",
    "FOURIER_DECAY",
    "PARAMETERISATIONS",
    "TOKENS_NOTE",
    "CoherenceResult",
    "GroupCoherence",
    "NeuronSelectivity",
    "Visualisation",
    "class_consistency",
    "class_entropy",
    "coherence",
    "feature_visualisation",
    "save_visualisation_png",
    "selectivity",
]

log = logging.getLogger(__name__)

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
_LN2 = math.log(2.0)
#: Why a network of token ids gets no feature visualisation.
TOKENS_NOTE = (
    "feature visualisation skipped: the network takes token ids, a discrete input that "
    "gradient ascent cannot optimise; dataset examples and selectivity are still scored"
)
#: Label columns allowed when tasks only choose output slices (the entropy of the softmax).
_MANY_COLUMNS = 2**31


# --------------------------------------------------------------------------------------------
# results


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


@dataclass(frozen=True)
class NeuronSelectivity:
    """Class selectivity of the neurons of one hidden layer.

    Attributes
    ----------
    layer : int
    correlation : ndarray of shape (width, n_class_columns)
        ``|Pearson r|`` of each neuron's activation with each (task, class) indicator.
    selectivity : ndarray of shape (width,)
        Row maxima of ``correlation`` (0 for a constant neuron).
    preferred : ndarray of int64 of shape (width,)
        Column of the row maximum in :attr:`CoherenceResult.classes`, -1 for a constant neuron.
    preferred_class : ndarray of int64 of shape (width,)
        That column's class within its task (-1 for a constant neuron).
    preferred_task : ndarray of int64 of shape (width,)
        That column's task index (-1 for a constant neuron).
    """

    layer: int
    correlation: np.ndarray
    selectivity: np.ndarray
    preferred: np.ndarray
    preferred_class: np.ndarray
    preferred_task: np.ndarray


@dataclass(frozen=True)
class GroupCoherence:
    """Coherence scores of one (layer, cluster) group and of its random groups.

    Attributes
    ----------
    layer, label, units, size
        The group.
    vis_objective, vis_entropy : float
        Feature visualisation scores (NaN when ``visualise=False``).
    vis_objective_p, vis_entropy_p : float
        Percentiles against the random groups (``tail='upper'`` and ``'lower'``).
    vis_input : ndarray of shape input_shape or None
        The group's optimised input (save it with :func:`save_visualisation_png`).
    random_vis_objective, random_vis_entropy : ndarray of shape (n_random,)
    example_indices : ndarray of int64 of shape (top_k,)
        Rows of ``X`` that activate the group most, most activating first.
    example_entropy : float
        Entropy (bits) of their class histogram (smallest over tasks).
    example_task_entropy : ndarray of shape (n_tasks,)
    example_entropy_p : float
        ``tail='lower'`` percentile against the random groups.
    random_example_entropy : ndarray of shape (n_random,)
    class_consistency : float
    class_consistency_p : float
        ``tail='upper'`` percentile against the random groups (NaN when undefined).
    random_class_consistency : ndarray of shape (n_random,)
    random_units : ndarray of shape (n_random, size)
    """

    layer: int
    label: Hashable
    units: np.ndarray
    size: int
    vis_objective: float
    vis_entropy: float
    vis_objective_p: float
    vis_entropy_p: float
    vis_input: np.ndarray | None
    random_vis_objective: np.ndarray
    random_vis_entropy: np.ndarray
    example_indices: np.ndarray
    example_entropy: float
    example_task_entropy: np.ndarray
    example_entropy_p: float
    random_example_entropy: np.ndarray
    class_consistency: float
    class_consistency_p: float
    random_class_consistency: np.ndarray
    random_units: np.ndarray


@dataclass(frozen=True)
class CoherenceResult:
    """Everything :func:`coherence` measured.

    Attributes
    ----------
    groups : list of GroupCoherence
        Tested groups in (layer, label) order.
    skipped : list of SkippedGroup
    neurons : dict of int to NeuronSelectivity
        Per hidden layer.
    fisher_p : dict of str to float
        Fisher-combined p over the groups for ``'vis_objective'``, ``'vis_entropy'``,
        ``'example_entropy'`` and ``'class_consistency'`` (NaN where undefined).
    tasks : tuple of str
    classes : tuple of (str, int)
        ``(task, class)`` of every selectivity column.
    n_random : int
    seed : int
        Seed of the torch generator of the visualisations.
    options : dict
        The visualisation and example options used (steps, lr, parameterisation, ...).
    notes : list of str
        What was left out and why (e.g. :data:`TOKENS_NOTE`).
    """

    groups: list[GroupCoherence]
    skipped: list[SkippedGroup]
    neurons: dict[int, NeuronSelectivity]
    fisher_p: dict[str, float]
    tasks: tuple[str, ...]
    classes: tuple[tuple[str, int], ...]
    n_random: int
    seed: int
    options: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# small scores


def class_entropy(labels: Any, n_classes: int | None = None) -> float:
    """Entropy in bits of the class histogram of ``labels`` (``0 log 0 = 0``).

    Parameters
    ----------
    labels : array-like of int
        Non-negative class labels.
    n_classes : int, optional
        Number of classes (only checked: absent classes add nothing).

    Examples
    --------
    >>> class_entropy([3, 3, 3]), class_entropy([0, 1]), class_entropy([0, 1, 2, 3])
    (0.0, 1.0, 2.0)
    """
    y = np.asarray(labels).reshape(-1)
    if y.size == 0:
        raise AnalysisError("class_entropy needs at least one label")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise AnalysisError("labels must be non-negative integer classes")
    if n_classes is not None and y.max() >= n_classes:
        raise AnalysisError(f"label {y.max()} is not below n_classes={n_classes}")
    p = np.bincount(y) / y.size
    p = p[p > 0]
    return float(max(0.0, -(p * np.log2(p)).sum()))


def class_consistency(preferred: Any) -> float:
    """Fraction of neurons whose preferred class is the group's most common one.

    Neurons without a preferred class (-1, constant activation) are left out; NaN when no neuron
    has one.

    Examples
    --------
    >>> class_consistency([3, 3, 1, 3, -1])
    0.75
    >>> class_consistency([-1, -1])
    nan
    """
    p = np.asarray(preferred, dtype=np.int64).reshape(-1)
    p = p[p >= 0]
    if p.size == 0:
        return float("nan")
    return float(np.bincount(p).max() / p.size)


def selectivity(activations: Any, onehot: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|Pearson r| of every neuron with every class indicator, its maximum and argmax.

    Parameters
    ----------
    activations : array-like of shape (n_examples, n_neurons)
    onehot : array-like of shape (n_examples, n_classes)
        Class indicators (0/1), e.g. ``np.eye(10)[y]``.

    Returns
    -------
    correlation : ndarray of shape (n_neurons, n_classes)
        ``|r|``; 0 where a neuron or a class indicator is constant.
    selectivity : ndarray of shape (n_neurons,)
    preferred : ndarray of int64 of shape (n_neurons,)
        Argmax column, -1 for a constant neuron.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1])
    >>> a = np.array([[1.0, 5.0], [1.0, 5.0], [0.0, 5.0], [0.0, 5.0]])
    >>> corr, sel, pref = selectivity(a, np.eye(2)[y])
    >>> sel.tolist(), pref.tolist()
    ([1.0, 0.0], [0, -1])
    """
    a = np.asarray(activations, dtype=np.float64)
    h = np.asarray(onehot, dtype=np.float64)
    if a.ndim != 2 or h.ndim != 2 or a.shape[0] != h.shape[0] or a.shape[0] < 2:
        raise AnalysisError(
            f"activations {a.shape} and class indicators {h.shape} must be 2-D with the same "
            f"number (at least 2) of examples"
        )
    ac = a - a.mean(0)
    hc = h - h.mean(0)
    sa = np.sqrt((ac**2).sum(0))
    sh = np.sqrt((hc**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs((ac.T @ hc) / np.outer(sa, sh))
    scale = np.abs(a).max(0, initial=0.0)
    constant = sa <= 1e-12 * np.maximum(scale, 1.0) * np.sqrt(a.shape[0])
    corr[~np.isfinite(corr)] = 0.0
    corr[constant] = 0.0
    sel = corr.max(1) if corr.shape[1] else np.zeros(a.shape[1])
    pref = np.where(constant, -1, corr.argmax(1) if corr.shape[1] else -1).astype(np.int64)
    return np.minimum(corr, 1.0), np.minimum(sel, 1.0), pref


# --------------------------------------------------------------------------------------------
# feature visualisation


def _check_vis_options(
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


def _image_shape(
    chain: Chain | ModelView, image_shape: Any, needed: bool
) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of the model's input, from the chain or from ``image_shape``."""
    if image_shape is None:
        if len(chain.input_shape) == 3:
            return tuple(int(s) for s in chain.input_shape)  # type: ignore[return-value]
        if needed:
            raise AnalysisError(
                f"the image shape of the model's input {chain.input_shape} is unknown: pass "
                f"image_shape=(C, H, W) or (H, W) (--image-shape on the command line), or use "
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


def _normalise_vis_groups(net: _Network, groups: Sequence[Any]) -> list[tuple[int, np.ndarray]]:
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
        _check_layer(layer, len(net.widths) - 1)
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


class _Parameterisation:
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


class _Network:
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


def _visualise(
    net: _Network,
    groups: list[tuple[int, np.ndarray]],
    *,
    steps: int,
    lr: float,
    param: _Parameterisation,
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
    lo_hi = _check_vis_options(steps, lr, parameterisation, jitter, value_range)
    if not isinstance(chain, Chain | ModelView):
        raise AnalysisError(
            "feature_visualisation takes a Chain (extract_chain(model, example_input)) or a "
            "ModelView (read_view(model, example_input))"
        )
    net = _Network(chain)
    if net.tokens:
        raise AnalysisError(TOKENS_NOTE.split(";")[0])
    image = _image_shape(chain, image_shape, needed=parameterisation == "fourier" or jitter > 0)
    checked = _normalise_vis_groups(net, groups)
    slices = None
    if tasks is not None:
        _, out = net.activations(torch.zeros((1, *net.input_shape), dtype=net.dtype))
        slices = _check_tasks(tasks, int(out.reshape(1, -1).shape[1]), _MANY_COLUMNS).slices
    if batch_size is not None and (not isinstance(batch_size, numbers.Integral) or batch_size < 1):
        raise AnalysisError(f"batch_size must be a positive integer or None, not {batch_size!r}")
    rng = _resolve_random_state(random_state)
    generator = torch.Generator().manual_seed(_draw_seed(rng))
    param = _Parameterisation(parameterisation, net.input_shape, image, lo_hi, int(jitter))
    return _visualise(
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
            "the image shape of a flat input is unknown: pass image_shape=(C, H, W) or (H, W) "
            "(--image-shape on the command line)"
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


# --------------------------------------------------------------------------------------------
# the coherence test


def _check_top_k(top_k: Any, n: int) -> int:
    if not isinstance(top_k, numbers.Integral) or not 1 <= top_k <= n:
        raise AnalysisError(
            f"top_k must be between 1 and the number of examples ({n}), not {top_k!r}"
        )
    return int(top_k)


def _standardise(acts: np.ndarray) -> np.ndarray:
    """Each neuron's activations as z-scores over the examples (0 for a constant neuron)."""
    centred = acts - acts.mean(0)
    std = acts.std(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0, centred / std, 0.0)
    return z


def _top_examples(z: np.ndarray, units: np.ndarray, k: int) -> np.ndarray:
    """(R, k) rows of the k most activating examples of each of R unit sets ``units`` (R, s),
    ranking by the sum of standardised activations ``z``."""
    scores = z[:, units].sum(axis=2).T  # (R, N)
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _example_entropies(top: np.ndarray, data: _Data) -> np.ndarray:
    """(R, n_tasks) class-histogram entropies of the example sets ``top`` (R, k)."""
    labels = data.labels
    return np.array(
        [[class_entropy(labels[rows, t]) for t in range(labels.shape[1])] for rows in top]
    ).reshape(len(top), labels.shape[1])


def coherence(
    model: Chain | ModelView | nn.Module,
    groups: Mapping[int, Any] | Sequence[tuple[int, Hashable, Sequence[int]]],
    data: tuple[Any, Any],
    *,
    n_random: int = DEFAULT_N_RANDOM,
    random_state: int | np.random.RandomState | np.random.Generator | None = None,
    tasks: Sequence[Any] | None = None,
    visualise: bool = True,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    parameterisation: str = "pixel",
    image_shape: tuple[int, ...] | None = None,
    jitter: int = 0,
    value_range: tuple[float, float] = DEFAULT_VALUE_RANGE,
    top_k: int = DEFAULT_TOP_K,
    progress: Progress | None = None,
) -> CoherenceResult:
    """Coherence of every (layer, cluster) group of a partition against random groups.

    Parameters
    ----------
    model : Chain, ModelView or torch.nn.Module
        A view of a network of token ids gets no feature visualisation (a note says so).
    groups : mapping of int to array-like, or sequence of (layer, label, units)
        The partition (see :func:`~neurongraph.analysis.lesion.partition_groups`).
    data : (X, y)
        Examples (token ids for a token model) and integer labels for the dataset examples and
        the selectivity (as in :func:`~neurongraph.analysis.lesion.lesion_accuracies`).
    n_random : int, default=9
        Random same-size groups of the same layer per group.
    random_state : int, RandomState, Generator or None, default=None
    tasks : list, optional
        Classification tasks, as in :func:`~neurongraph.analysis.lesion.lesion_accuracies`.
    visualise : bool, default=True
        Run the feature visualisation (the slow part); False leaves its scores NaN.
    steps, lr, parameterisation, image_shape, jitter, value_range
        As in :func:`feature_visualisation`.
    top_k : int, default=50
        Dataset examples per group.
    progress : callable, optional
        ``progress(done, total)`` over the visualisation's Adam steps.

    Returns
    -------
    CoherenceResult

    Raises
    ------
    AnalysisError
        ``n_random < 1``, ``steps < 1``, ``top_k`` outside 1..N, data that does not fit the
        model, an unknown image shape where one is needed, a malformed partition.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> g = torch.Generator().manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    >>> X = torch.randn(40, 4, generator=g)
    >>> y = model(X).argmax(1)
    >>> res = coherence(model, {1: [0, 0, 1, 1, 2, 2]}, (X, y), n_random=3, steps=5, top_k=10,
    ...                 random_state=0)
    >>> [(r.label, r.size, r.example_indices.shape) for r in res.groups]
    [(0, 2, (10,)), (1, 2, (10,)), (2, 2, (10,))]
    >>> sorted(res.fisher_p)
    ['class_consistency', 'example_entropy', 'vis_entropy', 'vis_objective']
    """
    n_random = _check_n_random(n_random)
    lo_hi = _check_vis_options(steps, lr, parameterisation, jitter, value_range)
    chain, checked = _check_model_and_data(model, data, tasks)
    net = _Network(chain)
    notes = []
    if visualise and net.tokens:
        notes.append(TOKENS_NOTE)
        log.info(TOKENS_NOTE)
        visualise = False
    top_k = _check_top_k(top_k, int(checked.X.shape[0]))
    image = _image_shape(
        chain, image_shape, needed=visualise and (parameterisation == "fourier" or jitter > 0)
    )
    tested, skipped = partition_groups(chain, groups, min_size=1)
    rng = _resolve_random_state(random_state)
    widths = net.widths
    random_sets = [
        np.sort(random_groups(widths[g.layer], g.size, n_random, rng), axis=1) for g in tested
    ]
    seed = _draw_seed(rng)

    acts_t, _ = net.activations(checked.X)
    acts = {p: acts_t[p].numpy() for p in net.hidden}
    zscores = {p: _standardise(a) for p, a in acts.items()}
    tasks_ = checked.tasks
    onehot = np.zeros((len(checked.y), tasks_.n_columns))
    cols = checked.class_columns
    for t in range(cols.shape[1]):
        onehot[np.arange(len(cols)), cols[:, t]] = 1.0
    offsets = tasks_.offsets
    neurons = {}
    for layer, a in acts.items():
        corr, sel, pref = selectivity(a, onehot)
        task_of = np.searchsorted(offsets, pref, side="right") - 1
        neurons[layer] = NeuronSelectivity(
            layer=layer,
            correlation=corr,
            selectivity=sel,
            preferred=pref,
            preferred_class=np.where(pref >= 0, pref - offsets[np.maximum(task_of, 0)], -1),
            preferred_task=np.where(pref >= 0, task_of, -1),
        )

    vis = None
    if visualise and tested:
        vis_groups = []
        for g, rs in zip(tested, random_sets, strict=True):
            vis_groups.append((g.layer, g.units))
            vis_groups.extend((g.layer, r) for r in rs)
        param = _Parameterisation(parameterisation, net.input_shape, image, lo_hi, int(jitter))
        vis = _visualise(
            net,
            vis_groups,
            steps=int(steps),
            lr=float(lr),
            param=param,
            generator=torch.Generator().manual_seed(seed),
            slices=tasks_.slices,
            batch_size=None,
            progress=progress,
        )
        log.info("coherence: visualised %d inputs (%d steps)", len(vis_groups), steps)

    results = []
    nan = float("nan")
    for k, (g, rs) in enumerate(zip(tested, random_sets, strict=True)):
        top = _top_examples(zscores[g.layer], np.vstack([g.units[None, :], rs]), top_k)
        ent = _example_entropies(top, checked)
        ex_ent = ent.min(axis=1)
        pref = neurons[g.layer].preferred
        cons = np.array([class_consistency(pref[u]) for u in [g.units, *rs]])
        rand_cons = cons[1:]
        cons_p = (
            percentile(cons[0], rand_cons[np.isfinite(rand_cons)], tail="upper")
            if np.isfinite(cons[0])
            else nan
        )
        if vis is not None:
            at = k * (n_random + 1)
            obj = vis.objective[at : at + n_random + 1]
            v_ent = vis.entropy[at : at + n_random + 1]
            vis_fields = dict(
                vis_objective=float(obj[0]),
                vis_entropy=float(v_ent[0]),
                vis_objective_p=percentile(obj[0], obj[1:], tail="upper"),
                vis_entropy_p=percentile(v_ent[0], v_ent[1:], tail="lower"),
                vis_input=vis.inputs[at],
                random_vis_objective=obj[1:],
                random_vis_entropy=v_ent[1:],
            )
        else:
            vis_fields = dict(
                vis_objective=nan,
                vis_entropy=nan,
                vis_objective_p=nan,
                vis_entropy_p=nan,
                vis_input=None,
                random_vis_objective=np.full(n_random, nan),
                random_vis_entropy=np.full(n_random, nan),
            )
        results.append(
            GroupCoherence(
                layer=g.layer,
                label=g.label,
                units=g.units,
                size=g.size,
                **vis_fields,
                example_indices=top[0].astype(np.int64),
                example_entropy=float(ex_ent[0]),
                example_task_entropy=ent[0],
                example_entropy_p=percentile(ex_ent[0], ex_ent[1:], tail="lower"),
                random_example_entropy=ex_ent[1:],
                class_consistency=float(cons[0]),
                class_consistency_p=cons_p,
                random_class_consistency=rand_cons,
                random_units=rs,
            )
        )

    def fisher(name: str) -> float:
        ps = [getattr(r, name) for r in results]
        ps = [p for p in ps if np.isfinite(p)]
        return fisher_combined(ps) if ps else nan

    return CoherenceResult(
        groups=results,
        skipped=skipped,
        neurons=neurons,
        fisher_p={
            "vis_objective": fisher("vis_objective_p"),
            "vis_entropy": fisher("vis_entropy_p"),
            "example_entropy": fisher("example_entropy_p"),
            "class_consistency": fisher("class_consistency_p"),
        },
        tasks=tasks_.names,
        classes=tasks_.classes,
        n_random=n_random,
        seed=seed,
        options=dict(
            visualise=visualise,
            steps=int(steps),
            lr=float(lr),
            parameterisation=parameterisation,
            image_shape=image,
            jitter=int(jitter),
            value_range=lo_hi,
            top_k=top_k,
        ),
        notes=notes,
    )
