"""A network's data flow as a DAG of neuron layers, read with ``torch.export``.

:func:`read_view` exports a module (``torch.export.export`` on the module in eval mode) and
walks the ATen graph, following every element of every tensor back to the unit (neuron) it
carries:

- the input is a layer: its features (a ``(batch, features)`` input, or an input flattened
  into a Linear), its channels (a map read by a convolution), or for token models the output
  of the embedding stage (token, position and type embeddings, their sum and norm);
- every weight layer (``aten.linear``, ``aten.conv1d``, ``aten.conv2d``, and a product with a
  parameter such as GPT-2's ``Conv1D``, ``addmm(bias, x, W)``) is a layer whose output units
  (features, channels) are its neurons; an eval-mode BatchNorm right after one (its only
  reader) is folded into its weights and bias (scale ``gamma / sqrt(var + eps)``);
- unit-preserving operations pass units through: element-wise functions (activations, GELU's
  tanh form, dropout, shifts and scalings by constants), pooling and means over positions,
  every reshape, permute, transpose, slice, split and concatenation (they only move elements:
  the reader of a tensor checks that each of its input features carries one unit), and norms:
  BatchNorm elsewhere, LayerNorm, RMSNorm and GroupNorm normalise over units per position and
  scale each unit by their weight ``gamma``, which is folded into the weights of the layers
  that read the unit (:attr:`ViewInput.scale`), as BatchNorm's per-unit scale is;
- attention (``aten.scaled_dot_product_attention``, or a product of two activations followed by
  a product with a third) mixes over token positions: its output carries the units of the
  value projection into the output projection; the query and key projections feed attention
  scores, not units, so they have no outgoing edges (their layers' kind says so:
  ``attention-q``, ``attention-k``; the value projection's is ``attention-v``). A packed
  projection (``nn.MultiheadAttention``'s ``in_proj``, GPT-2's ``c_attn``) is split into one
  layer per role;
- every add of two tensors whose units differ is a layer of kind ``sum``, one neuron per pair
  of addend units, fed with weight 1 (times the addends' norm scales) by each addend's unit.

Anything else (a product of two activations other than attention, such as a gate; recurrent
cells; data-dependent control flow that ``torch.export`` cannot capture; shared weights) is
refused with an :class:`~neurongraph.errors.IngestError` that names the operation and the
module it is in. The view is executable (:meth:`ModelView.__call__` replays the recorded
operations in float64 with the folded weights) and must reproduce the model's own output on
the example input and on seeded random batches, with the tolerances chains are checked with
(:mod:`neurongraph.model.extract`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.fx.node import map_aggregate

from neurongraph.errors import IngestError
from neurongraph.model import attention, operations, packed
from neurongraph.model.checks import check_runs, one_line, reproduction_failure
from neurongraph.model.defaults import TOKEN_REDUCTIONS
from neurongraph.model.export import export_program, pieces

__all__ = [
    "CHAIN",
    "DAG",
    "INPUT",
    "SUM",
    "TOKEN_REDUCTIONS",
    "ModelView",
    "Tap",
    "ViewInput",
    "ViewLayer",
    "read_view",
]

log = logging.getLogger(__name__)

#: Kind of the layer that an add of two tensors becomes.
SUM = "sum"
#: Name of the input layer of every network.
INPUT = "input"
#: ``dataFlow`` of a network: a chain of weight layers, or any other DAG (sums, branches).
CHAIN = "chain"
DAG = "dag"
#: Kinds of the projections that attention reads, by the argument they reach.
ATTENTION_KINDS = {"query": "attention-q", "key": "attention-k", "value": "attention-v"}
#: Examples of the batch the model is exported with (the unit maps hold one entry per element
#: of each tensor of it); the view is checked on the whole example batch.
EXPORT_EXAMPLES = 2
#: What the view reads, for messages.
SUPPORTED = (
    "Linear, Conv1d, Conv2d (groups=1), GPT-2 Conv1D, embeddings, BatchNorm, LayerNorm, "
    "RMSNorm, GroupNorm, element-wise activations, dropout, pooling, reshapes/permutes/"
    "slices/concatenation, attention, adds"
)

#: Bits of a global unit id that hold the unit's index in its layer (the rest: the layer).
_UNIT_BITS = 32
_UNIT_MASK = (1 << _UNIT_BITS) - 1

#: What a value of the data flow is.
_UNITS = "units"  # every element carries one unit of a layer (see _Value.ids)
_AUX = "aux"  # computed from the data but carries no unit: statistics, attention scores, masks
_TOKENS = "tokens"  # integer token ids and what is computed from them before an embedding
_PARTS = "parts"  # a list of values (split, an op returning several tensors)
_SHAPE = "shape"  # a size of the data (the batch size of a model exported for any batch size)


@dataclass
class ViewInput:
    """Units of one source layer that a layer reads.

    Parameters
    ----------
    source : int
        Index of the layer whose units come in (:attr:`ModelView.layers`).
    units : numpy.ndarray
        For each entry of ``columns``: the source unit it reads.
    columns : numpy.ndarray
        The weight layer's input features (channels for a convolution) fed by this source, or
        for a ``sum`` layer its units.
    scale : numpy.ndarray or None
        Per-column factor on the way (the ``gamma`` of norms in between), float64; folded into
        the edge weights in the graph. None: 1.
    """

    source: int
    units: np.ndarray
    columns: np.ndarray
    scale: np.ndarray | None = None

    @property
    def group(self) -> int | None:
        """Columns per source unit when the columns are all read in order, each run of
        ``group`` consecutive columns from one unit in turn (a flattened map); else None."""
        n = len(self.columns)
        if not n or not np.array_equal(self.columns, np.arange(n)):
            return None
        width = int(self.units.max()) + 1
        if n % width or not np.array_equal(self.units, np.arange(n) // (n // width)):
            return None
        return n // width


@dataclass
class ViewLayer:
    """A layer of neurons: the input, a weight layer or a sum.

    ``weight`` and ``bias`` (float64, norms folded; a Linear's weight as ``(out, in)``) are set
    for weight layers; ``inputs`` are the source units that feed it; ``activation`` the
    nonlinearities applied right after it; ``kind`` ``input``, ``linear``, ``conv1d``,
    ``conv2d``, ``sum`` or one of :data:`ATTENTION_KINDS`.
    """

    name: str
    kind: str
    width: int | None
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    inputs: list[ViewInput] = field(default_factory=list)
    activation: list[str] = field(default_factory=list)

    @property
    def activation_name(self) -> str:
        """Names of the nonlinearities, joined by '>' ('' when none)."""
        return ">".join(self.activation)


@dataclass
class Tap:
    """Where one layer's activations are read during a run of the view.

    Parameters
    ----------
    layer : int
        The layer.
    width : int
        Its units.
    batch_dim : int
        The dimension of the recorded value that runs over examples.
    columns : torch.Tensor
        Elements of one example (the value flattened without its batch dimension) that carry
        the layer's units ...
    units : torch.Tensor
        ... and the unit each carries.
    positions : torch.Tensor or None, default=None
        In a token model: the position (token) of each column; None where the value has no
        positions.
    """

    layer: int
    width: int
    batch_dim: int
    columns: torch.Tensor
    units: torch.Tensor
    positions: torch.Tensor | None = None
    #: Elements of one example per unit.
    counts: torch.Tensor = field(init=False)

    #: When every unit has one element at each position: the columns ordered by position,
    #: then unit (a ``(positions, width)`` block), read without scatters; else None.
    grid: torch.Tensor | None = field(init=False)

    def __post_init__(self) -> None:
        self.counts = torch.bincount(self.units, minlength=self.width)
        self.grid = None
        if self.positions is not None and len(self.columns) % self.width == 0:
            cell = self.positions * self.width + self.units
            order = torch.argsort(cell)
            if torch.equal(cell[order], torch.arange(len(cell))):
                self.grid = self.columns[order]

    def read(self, value: torch.Tensor, how: str, keep: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, width)``: each unit's elements of each example reduced with ``how``
        (``mean``, ``max`` or ``l2``, as conv channels are over H x W). ``keep`` ``(N,
        positions)``, for a token model: the weight of each position in a ``mean`` (0 for
        padding), or for ``max`` the positions it may pick."""
        flat = value.movedim(self.batch_dim, 0).reshape(value.shape[self.batch_dim], -1)
        n, width = flat.shape[0], self.width
        if keep is not None and self.grid is not None:
            grid = flat[:, self.grid].reshape(n, -1, width)
            return _read_grid(grid, how, keep[:, : grid.shape[1]])
        flat = flat[:, self.columns]
        if len(self.units) == width and bool((self.counts == 1).all()):
            # one element per unit (features): nothing to reduce, as for a chain
            return torch.zeros((n, width), dtype=flat.dtype).index_copy_(1, self.units, flat)
        if keep is not None and self.positions is not None:
            return self._read_kept(flat, how, keep[:, self.positions].to(flat.dtype))
        if how == "max":
            out = torch.full((n, width), -torch.inf, dtype=flat.dtype)
            return out.scatter_reduce(1, self.units.expand(n, -1), flat, "amax")
        counts = self.counts.to(flat.dtype)
        if how == "l2":
            return (
                torch.zeros((n, width), dtype=flat.dtype).index_add_(1, self.units, flat**2).sqrt()
            )
        if how != "mean":
            raise ValueError(f"unit reduction must be one of mean, max, l2, not {how!r}")
        return torch.zeros((n, width), dtype=flat.dtype).index_add_(1, self.units, flat) / counts

    def _read_kept(self, flat: torch.Tensor, how: str, weight: torch.Tensor) -> torch.Tensor:
        """Each unit's positions reduced with ``how``, position ``p`` of example ``i`` weighted
        ``weight[i, p]`` (a unit with no kept position reads 0)."""
        n, width = flat.shape[0], self.width
        if how == "max":
            out = torch.full((n, width), -torch.inf, dtype=flat.dtype)
            picked = flat.masked_fill(weight == 0, -torch.inf)
            out = out.scatter_reduce(1, self.units.expand(n, -1), picked, "amax")
            return out.nan_to_num(neginf=0.0)
        if how != "mean":
            raise ValueError(f"position reduction must be one of mean, max, not {how!r}")
        total = torch.zeros((n, width), dtype=flat.dtype).index_add_(1, self.units, flat * weight)
        counts = torch.zeros((n, width), dtype=flat.dtype).index_add_(1, self.units, weight)
        return torch.where(counts > 0, total / counts.clamp_min(torch.finfo(flat.dtype).tiny), 0)


def _read_grid(x: torch.Tensor, how: str, keep: torch.Tensor) -> torch.Tensor:
    """``x`` ``(N, positions, width)`` reduced over the positions ``keep`` weighs (see
    :meth:`Tap.read`)."""
    if how == "max":
        picked = x.masked_fill(~keep.to(torch.bool)[:, :, None], -torch.inf)
        return picked.amax(dim=1).nan_to_num(neginf=0.0)
    if how != "mean":
        raise ValueError(f"position reduction must be one of mean, max, not {how!r}")
    weight = keep.to(x.dtype)
    counts = weight.sum(dim=1, keepdim=True)
    total = torch.bmm(weight[:, None, :], x)[:, 0]
    return torch.where(counts > 0, total / counts.clamp_min(torch.finfo(x.dtype).tiny), 0)


@dataclass
class _Weights:
    """The folded weights one recorded weight operation runs with."""

    op: str
    weight: torch.Tensor
    bias: torch.Tensor
    conv: dict
    packed: torch.Tensor | None = None  # a Linear's weight for packed.packed_linear


@dataclass(frozen=True)
class _Ref:
    """A value of the data flow, by name, among a recorded operation's arguments."""

    name: str


@dataclass(frozen=True)
class _Op:
    """One recorded operation: ``out = target(*args, **kwargs)`` with references resolved, or
    the weight operation ``weights`` applied to ``args[0]``."""

    out: str
    target: Callable | None
    args: tuple
    kwargs: dict = field(default_factory=dict)
    weights: _Weights | None = None


_CONV = {"conv1d": torch.nn.functional.conv1d, "conv2d": torch.nn.functional.conv2d}


class ModelView:
    """A network as a DAG of neuron layers (see module docstring), runnable in float64 (or any
    floating dtype, :meth:`cast`).

    Parameters
    ----------
    layers : list of ViewLayer
        In topological order, the input first.
    ops : list of _Op
        The recorded operations in execution order.
    output : str
        The value the network returns.
    input_shape : tuple of int
        Shape of one example.
    batch : int or None
        Examples of the exported batch when the model was exported for that batch size only:
        the recorded operations then run on batches of this size. None: any size.
    tokens : bool
        Whether the model takes integer token ids.
    dtype : torch.dtype
        The floating dtype its recorded operations run in (float64 unless :meth:`cast`).
    """

    def __init__(
        self,
        layers: list[ViewLayer],
        ops: list[_Op],
        output: str,
        input_shape: tuple[int, ...],
        batch: int | None,
        tokens: bool = False,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        self.layers = layers
        self.ops = ops
        self.output = output
        self.input_shape = tuple(input_shape)
        self.batch = batch
        self.tokens = tokens
        self.dtype = dtype
        #: Where each layer's activations are read, by recorded value (see :class:`Tap`).
        self.taps: dict[str, list[Tap]] = {}
        #: Where each layer after the input is computed, by recorded value: the raw output of
        #: its weight operation (norms folded in) or of its add, before any activation; a
        #: :class:`Tap` of that value (lesions silence units there).
        self.sites: dict[str, list[Tap]] = {}
        #: The batch dimension of every recorded value that has one, by name.
        self.batch_dims: dict[str, int] = {}

    @property
    def widths(self) -> list[int]:
        """Neurons per layer, the input first."""
        return [int(layer.width or 0) for layer in self.layers]

    @property
    def feeds(self) -> list[tuple[int, int]]:
        """``(source, target)`` layer indices of every connection, in target order."""
        pairs = [(i.source, t) for t, layer in enumerate(self.layers) for i in layer.inputs]
        return list(dict.fromkeys(pairs))

    @property
    def is_chain(self) -> bool:
        """Whether every layer after the input is a weight layer fed by the one before it, each
        unit of which it reads in order."""
        return all(
            layer.kind in ("linear", "conv1d", "conv2d")
            and len(layer.inputs) == 1
            and layer.inputs[0].source == t - 1
            and layer.inputs[0].scale is None
            and layer.inputs[0].group is not None
            and int(layer.inputs[0].units.max()) + 1 == self.layers[t - 1].width
            for t, layer in enumerate(self.layers[1:], start=1)
        )

    def _run(
        self, x: torch.Tensor, read: Callable | None = None, until: int | None = None
    ) -> torch.Tensor | None:
        """Replay the recorded operations on ``x`` (the first ``until`` of them; then the
        output is None), handing every tapped value to ``read``."""
        values: dict[str, object] = {INPUT: x}
        if read is not None and INPUT in self.taps:
            read(INPUT, x)
        self.replay(values, range(len(self.ops) if until is None else until), read=read)
        return values[self.output] if until is None else None

    def replay(
        self,
        values: dict[str, object],
        ops: Iterable[int],
        *,
        read: Callable | None = None,
        edit: Callable | None = None,
        drop: Mapping[int, Iterable[str]] | None = None,
    ) -> dict[str, object]:
        """Run the recorded operations ``ops`` (indices into the recorded list, in order) on
        ``values``, which must hold every value they read and do not compute (by name; the
        input is :data:`INPUT`), adding their outputs to it.

        ``edit(name, value)``, when given, returns what replaces each computed value before
        anything reads it (lesions silence units at :attr:`sites` this way); ``read(name,
        value)`` is called on every tapped value (:attr:`taps`); ``drop[k]`` names the values
        to let go once the ``k``-th operation of ``ops`` has run (:meth:`last_uses`), so that
        only the values still to be read are held. Returns ``values``.
        """

        def resolve(arg: object) -> object:
            return values[arg.name] if isinstance(arg, _Ref) else arg

        drop = {} if drop is None else drop
        for position, index in enumerate(ops):
            op = self.ops[index]
            args = map_aggregate(op.args, resolve)
            w = op.weights
            if w is None:
                value = op.target(*args, **op.kwargs)
            elif w.packed is not None:
                value = packed.packed_linear(args[0], w.packed, w.bias)
            elif w.op == "linear":
                value = torch.nn.functional.linear(args[0], w.weight, w.bias)
            else:
                value = _CONV[w.op](args[0], w.weight, w.bias, **w.conv)
            values[op.out] = value if edit is None else edit(op.out, value)
            if read is not None and op.out in self.taps:
                read(op.out, values[op.out])
            for name in drop.get(position, ()):
                del values[name]
        return values

    def last_uses(self, ops: Sequence[int], keep: Iterable[str]) -> dict[int, list[str]]:
        """For :meth:`replay`'s ``drop``: after the ``k``-th operation of ``ops``, the values
        (read or computed by them) that no later one reads, except those in ``keep``."""
        last: dict[str, int] = {}
        for position, index in enumerate(ops):
            for name in self.reads(index):
                last[name] = position
            last.setdefault(self.ops[index].out, position)
        kept = set(keep)
        found: dict[int, list[str]] = {}
        for name, position in last.items():
            if name not in kept:
                found.setdefault(position, []).append(name)
        return found

    def layer_activations(
        self, x: torch.Tensor, layer: int, *, channel_reduce: str = "mean"
    ) -> torch.Tensor:
        """One layer's activations on a batch, ``(N, width)`` as in :meth:`activations`, with
        gradients: the recorded operations run only as far as the layer's last reading (a
        truncated forward), so an input can be optimised through them.

        Raises
        ------
        ValueError
            A layer whose activations the view cannot read.
        """
        names = [name for name, taps in self.taps.items() if any(t.layer == layer for t in taps)]
        if not names:
            raise ValueError(f"the activations of layer {layer} cannot be read")
        order = {op.out: k for k, op in enumerate(self.ops)}
        until = max(order.get(name, -1) for name in names) + 1
        found: dict[int, torch.Tensor] = {}

        def read(name: str, value: torch.Tensor) -> None:
            for tap in self.taps[name]:
                if tap.layer == layer:
                    found[layer] = tap.read(value, channel_reduce)

        x = x.to(self.dtype) if x.is_floating_point() else x
        out = []
        for piece, n in pieces(x, self.batch):
            self._run(piece, read, until)
            out.append(found[layer][:n])
        return torch.cat(out)

    def reads(self, index: int) -> set[str]:
        """Names of the values recorded operation ``index`` reads."""
        found: set[str] = set()

        def collect(arg: object) -> object:
            if isinstance(arg, _Ref):
                found.add(arg.name)
            return arg

        op = self.ops[index]
        map_aggregate((op.args, op.kwargs), collect)
        return found

    def downstream(self, names: Iterable[str]) -> list[int]:
        """Indices of the recorded operations that read, directly or through others, one of
        the values ``names``: what must run again when those values are replaced (an operation
        that computes one of them runs only when it reads another)."""
        changed = set(names)
        found = []
        for index, op in enumerate(self.ops):
            if self.reads(index) & changed:
                changed.add(op.out)
                found.append(index)
        return found

    def op_name(self, index: int) -> str:
        """The name of the value recorded operation ``index`` computes."""
        return self.ops[index].out

    def cast(
        self,
        dtype: torch.dtype,
        *,
        channels_last: bool = False,
        short_attention: bool = False,
        packed_linear: bool = False,
    ) -> ModelView:
        """A copy whose recorded operations run in ``dtype`` (weights, biases, folded norms and
        floating constants cast; layers, taps and sites shared): :meth:`__call__`,
        :meth:`activations` and :meth:`layer_activations` cast a floating input to it. With
        ``channels_last`` the 4-D weights are stored channels-last, so that convolutions run
        in that memory format (several times faster for few channels on the CPU; the same
        values to a rounding); with ``short_attention`` attention over few keys runs as
        :func:`~neurongraph.model.attention.short_attention` (faster there; the same values to
        a rounding); with ``packed_linear`` float32 Linear layers run as
        :func:`~neurongraph.model.packed.packed_linear` where oneDNN takes their weights
        (faster; the same values to a rounding)."""

        def cast(a: object) -> object:
            return _cast(a, dtype, channels_last)

        def weights(w: _Weights) -> _Weights:
            cast_weights = cast(w)
            if not (packed_linear and w.op == "linear"):
                return cast_weights
            found = packed.pack_linear(cast_weights.weight, cast_weights.bias)
            return dataclasses.replace(cast_weights, packed=found)

        def target(op: _Op) -> object:
            if short_attention and _packet(op.target) == operations.ATTENTION:
                return attention.short_attention
            return cast(op.target)

        ops = [
            _Op(
                op.out,
                target(op),
                map_aggregate(op.args, cast),
                map_aggregate(dict(op.kwargs), cast),
                None if op.weights is None else weights(op.weights),
            )
            for op in self.ops
        ]
        view = ModelView(
            self.layers, ops, self.output, self.input_shape, self.batch, self.tokens, dtype
        )
        view.taps, view.sites, view.batch_dims = self.taps, self.sites, self.batch_dims
        return view

    def activations(
        self,
        x: torch.Tensor,
        *,
        channel_reduce: str = "mean",
        token_reduce: str = "mean",
        mask: torch.Tensor | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every layer's activations on a batch, the input first: one ``(N, width)`` matrix
        each (in :attr:`dtype`), post-nonlinearity, each unit's elements of an example reduced: a
        channel's H x W positions with ``channel_reduce``, a token model's positions with
        ``token_reduce`` (:data:`TOKEN_REDUCTIONS`) over the positions ``mask`` ``(N,
        positions)`` keeps (default: all; padding is left out); and the network's output.

        Raises
        ------
        ValueError
            A layer whose activations the view cannot read (no value of it with a batch
            dimension), or an unknown reduction.
        """
        missing = set(range(len(self.layers))) - {
            tap.layer for taps in self.taps.values() for tap in taps
        }
        if missing:
            names = ", ".join(self.layers[i].name for i in sorted(missing))
            raise ValueError(f"the activations of layers {names} cannot be read")
        how, keep = channel_reduce, None
        if self.tokens:
            how, keep = _position_weights(x, token_reduce, mask)
        found: dict[int, torch.Tensor] = {}
        kept: list[torch.Tensor | None] = [None]

        def read(name: str, value: torch.Tensor) -> None:
            for tap in self.taps[name]:
                found[tap.layer] = tap.read(value, how, kept[0])

        x = x.to(self.dtype) if x.is_floating_point() else x
        read_pieces, outputs = [], []
        keeps = pieces(keep, self.batch) if keep is not None else None
        with torch.no_grad():
            for number, (piece, n) in enumerate(pieces(x, self.batch)):
                kept[0] = keeps[number][0] if keeps is not None else None
                outputs.append(self._run(piece, read)[:n])
                read_pieces.append({i: found[i][:n] for i in found})
        layers = [torch.cat([p[i] for p in read_pieces]) for i in range(len(self.layers))]
        return layers, torch.cat(outputs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output on a batch ``(N, *input_shape)``, computed in :attr:`dtype`.

        When the recorded operations hold the exported batch size in their shapes (a model
        that exports for that size only), the batch runs in pieces of that size (the last one
        padded with copies of its first example).
        """
        x = x.to(self.dtype) if x.is_floating_point() else x
        with torch.no_grad():
            return torch.cat([self._run(piece)[:n] for piece, n in pieces(x, self.batch)])


def _position_weights(
    x: torch.Tensor, token_reduce: str, mask: torch.Tensor | None
) -> tuple[str, torch.Tensor]:
    """How a token model's units are read over positions: the reduction :meth:`Tap.read`
    applies and the weight of each position (``last``: the mean over the last kept one)."""
    if token_reduce not in TOKEN_REDUCTIONS:
        raise ValueError(f"token reduction must be one of {TOKEN_REDUCTIONS}, not {token_reduce!r}")
    keep = torch.ones(x.shape[:2], dtype=torch.bool) if mask is None else mask.to(torch.bool)
    if token_reduce != "last":
        return token_reduce, keep
    order = torch.arange(1, keep.shape[1] + 1).expand_as(keep)
    last = (order * keep).argmax(dim=1)
    return "mean", torch.nn.functional.one_hot(last, keep.shape[1]).to(torch.bool) & keep


@dataclass
class _Value:
    """What the walk knows about a value of the data flow.

    ``ids`` (int64, the value's shape) holds the global id of the unit each element carries
    (layer index << 32 | unit); ``scale`` (float64, same shape, or None for 1) the factor on
    each element since its unit (norm weights, constant scalings); ``fresh`` the weight layer whose
    raw output this is (a BatchNorm after it folds into them); ``direct`` the layer whose output
    this is through element-wise operations only (its activation names); ``size`` the value of
    a size of the data at the exported example.
    """

    kind: str
    ids: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    fresh: int | None = None
    direct: int | None = None
    parts: list | None = None
    size: object = None


def _packet(target: object) -> str:
    """``relu`` for ``aten.relu_.default``: the op's name without overload or in-place mark."""
    if isinstance(target, torch._ops.OpOverload):
        name = target.overloadpacket.__name__
        return name[:-1] if name.endswith("_") and not name.endswith("__") else name
    return getattr(target, "__name__", str(target))


def _op_name(target: object) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target.overloadpacket.__name__}"
    return getattr(target, "__name__", None) or str(target)


def _functional(target: object) -> object:
    """The out-of-place form of an in-place ATen op."""
    if isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable:
        packet = getattr(torch.ops.aten, _packet(target))
        return getattr(packet, target._overloadname)
    return target


def _bind(node: torch.fx.Node) -> dict:
    """The node's arguments by name, defaults filled in from the op's schema."""
    schema = node.target._schema
    bound = {}
    for i, argument in enumerate(schema.arguments):
        if i < len(node.args):
            bound[argument.name] = node.args[i]
        elif argument.name in node.kwargs:
            bound[argument.name] = node.kwargs[argument.name]
        elif argument.has_default_value():
            bound[argument.name] = argument.default_value
    return bound


def _where(node: torch.fx.Node) -> str:
    """``module 'layer1.0' (BasicBlock)`` or ``the model's forward``."""
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path, kind = list(stack.values())[-1]
        kind = kind.rsplit(".", 1)[-1] if isinstance(kind, str) else getattr(kind, "__name__", "")
        if path:
            return f"module {path!r} ({kind})"
    return "the model's forward"


def _module_path(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


def _full(value: _Value) -> torch.Tensor:
    """The value's per-element scale, materialised to its shape."""
    if value.scale is None:
        return torch.ones(value.ids.shape, dtype=torch.float64)
    return value.scale.expand(value.ids.shape).contiguous()


def _varying(ids: torch.Tensor) -> set[int]:
    """Dimensions along which the unit changes."""
    return {
        d
        for d in range(ids.dim())
        if ids.shape[d] > 1 and not bool((ids == ids.narrow(d, 0, 1)).all())
    }


def _replayed(node: torch.fx.Node) -> Callable:
    """What replays ``node``: its op made out-of-place, or for a cast to a floating dtype the
    value unchanged (the view runs in one dtype), a mask or integer made the view's dtype."""
    if _packet(node.target) in operations.CASTS and _float_result(node):
        return _Floating(torch.float64)
    return _functional(node.target)


@dataclass(frozen=True)
class _Floating:
    """A recorded cast to a floating dtype: a floating value unchanged (the view runs in one
    dtype), a mask or integer made ``dtype`` (the view's; :meth:`ModelView.cast` sets it)."""

    dtype: torch.dtype

    def __call__(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        return x if x.is_floating_point() else x.to(self.dtype)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class _Reader:
    """One walk over an exported program's graph (see :func:`read_view`)."""

    def __init__(self, program: torch.export.ExportedProgram) -> None:
        self.program = program
        self.consts: dict[str, object] = {}
        self.targets: dict[str, str] = {}
        self.values: dict[str, _Value] = {}
        self.layers: list[ViewLayer] = []
        self.ops: list[_Op] = []
        self.names: set[str] = {INPUT}
        self.weights: set[str] = set()
        #: Per weight layer reaching attention: the role of each unit ('query', 'key', 'value'
        #: or '' for none).
        self.roles: dict[int, np.ndarray] = {}
        #: Per weight layer: the weights its recorded operation runs with (BatchNorm folds in).
        self.op_weights: dict[int, _Weights] = {}
        #: Per layer (before packed projections are split): the value its activations are read
        #: from, that value's batch dimension and the unit of each element of one example.
        self.taps: dict[int, tuple[str, int, torch.Tensor, torch.Tensor | None]] = {}
        #: Per layer: the value its weight operation or add computes (see
        #: :attr:`ModelView.sites`), as :attr:`taps` holds them.
        self.sites: dict[int, tuple[str, int, torch.Tensor, torch.Tensor | None]] = {}
        #: The batch dimension of each recorded value that has one.
        self.batch_dims: dict[str, int] = {}
        #: Readers of each value not walked yet.
        self.readers: dict[str, int] = {}
        state = {**program.state_dict, **program.constants}
        kinds = torch.export.graph_signature.InputKind
        user_inputs = []
        for spec in program.graph_signature.input_specs:
            if spec.kind == kinds.USER_INPUT:
                user_inputs.append(spec.arg.name)
            elif spec.target in state:
                tensor = state[spec.target].detach()
                self.consts[spec.arg.name] = (
                    tensor.double() if tensor.is_floating_point() else tensor
                )
                self.targets[spec.arg.name] = spec.target
        if len(user_inputs) != 1:
            raise IngestError(
                f"the model takes {len(user_inputs)} inputs; only models of one input tensor "
                "are read"
            )
        self.input_name = user_inputs[0]

    # -- helpers ---------------------------------------------------------------------------
    def refuse(self, node: torch.fx.Node, why: str) -> IngestError:
        return IngestError(f"{_op_name(node.target)} in {_where(node)} {why}")

    def value(self, arg: object) -> _Value | None:
        return self.values.get(arg.name) if isinstance(arg, torch.fx.Node) else None

    def units_of(self, node: torch.fx.Node, arg: object, what: str = "reads") -> _Value:
        value = self.value(arg)
        if value is None or value.kind != _UNITS:
            kind = (
                "a constant"
                if value is None
                else {_AUX: "attention scores or statistics", _TOKENS: "token ids"}.get(
                    value.kind, "a list"
                )
            )
            raise self.refuse(node, f"{what} {kind} where units of the data flow are expected")
        return value

    def const(self, node: torch.fx.Node, arg: object, what: str) -> torch.Tensor | None:
        if arg is None:
            return None
        if isinstance(arg, torch.fx.Node) and arg.name in self.consts:
            value = self.consts[arg.name]
            if isinstance(value, torch.Tensor):
                return value.double().clone()
        raise self.refuse(node, f"takes a {what} computed from the data, not a parameter")

    def layer_name(self, name: str) -> str:
        candidate, i = name, 1
        while candidate in self.names:
            candidate = f"{name}_{i}"
            i += 1
        self.names.add(candidate)
        return candidate

    def add_layer(self, layer: ViewLayer) -> int:
        self.layers.append(layer)
        return len(self.layers) - 1

    def unit_ids(self, index: int, shape: tuple[int, ...], dim: int) -> torch.Tensor:
        """Ids of layer ``index``'s units along dimension ``dim`` of ``shape``."""
        width = shape[dim]
        view = [1] * len(shape)
        view[dim] = width
        ids = (index << _UNIT_BITS) + torch.arange(width, dtype=torch.int64)
        return ids.view(view).expand(shape)

    def ref(self, arg: object) -> object:
        """A node argument as a recorded argument: a reference or a constant."""
        if isinstance(arg, torch.fx.Node):
            if arg.name in self.values:
                return _Ref(INPUT if arg.name == self.input_name else arg.name)
            if arg.name in self.consts:
                return self.consts[arg.name]
            raise IngestError(f"{arg.name} is used before it is computed")
        return arg

    def replay(self, node: torch.fx.Node, target: Callable | None = None) -> None:
        """Record the node as it is (its data arguments by reference)."""
        args = map_aggregate(node.args, self.ref)
        kwargs = map_aggregate(dict(node.kwargs), self.ref)
        self.ops.append(_Op(node.name, target or _replayed(node), args, kwargs))

    def record_as(self, node: torch.fx.Node, value: _Value, target: Callable | None = None) -> None:
        self.values[node.name] = value
        self.replay(node, target)

    def evaluate(self, node: torch.fx.Node) -> None:
        """A node computed from parameters and constants alone: its value, now."""
        args = map_aggregate(node.args, self.ref)
        kwargs = map_aggregate(dict(node.kwargs), self.ref)
        try:
            self.consts[node.name] = _replayed(node)(*args, **kwargs)
        except Exception as err:  # an op we cannot run on its recorded constants
            raise self.refuse(
                node, f"cannot be computed from the model's constants ({err})"
            ) from err

    def release(self, node: torch.fx.Node) -> None:
        """Drop the unit maps of values whose every reader has been walked (a large model's
        maps would not fit in memory all at once)."""
        for arg in node.all_input_nodes:
            value = self.values.get(arg.name)
            if value is None:
                continue
            self.readers[arg.name] = self.readers.get(arg.name, len(arg.users)) - 1
            if self.readers[arg.name] <= 0:
                value.ids = value.scale = value.parts = None

    # -- the walk --------------------------------------------------------------------------
    def read(self) -> ModelView:
        output = None
        for node in self.program.graph.nodes:
            if node.op == "placeholder":
                if node.name == self.input_name:
                    self.start(node)
                    self.tap(node)
                    self.batch_dims[INPUT] = 0
                continue
            if node.op == "output":
                output = self.finish(node)
                continue
            if node.op != "call_function":
                if any(a.name in self.values for a in node.all_input_nodes):
                    raise self.refuse(node, "is not an operation the neuron graph reads")
                continue
            self.step(node)
            self.tap(node)
            dim = self.batch_dim(node)
            if dim is not None and node.name in self.values:
                self.batch_dims[node.name] = dim
            self.release(node)
        if self.layers[0].width is None:
            raise IngestError("the model's input never reaches an embedding or a layer")
        if not any(layer.weight is not None for layer in self.layers):
            raise IngestError("the model has no Linear or convolution layer to ingest")
        layers, moved = self.split_roles()
        view = ModelView(layers, self.ops, output, self.input_shape, self.batch, self.tokens)
        view.taps = self.final_taps(self.taps, moved, view.widths)
        view.sites = self.final_taps(self.sites, moved, view.widths)
        view.batch_dims = self.batch_dims
        return view

    def start(self, node: torch.fx.Node) -> None:
        value = node.meta.get("val")
        shape = _sizes(value)
        if len(shape) < 2:
            raise IngestError(f"the model's input has shape {shape}; give a batch of examples")
        self.input_shape = shape[1:]
        self.symbol = str(value.shape[0])
        # a model exported for any batch size replays on any; else on batches of the example's
        self.batch = None if isinstance(value.shape[0], torch.SymInt) else shape[0]
        self.tokens = not value.is_floating_point()
        self.add_layer(ViewLayer(INPUT, "input", None))
        if self.tokens:
            self.values[node.name] = _Value(_TOKENS)
            return
        flattened = any(
            _packet(user.target) in operations.MOVES and len(_shape(user)) == 2
            for user in node.users
        )
        convolved = any(
            _packet(n.target) in _CONV for n in node.graph.nodes if n.op == "call_function"
        )
        if len(shape) == 2 or flattened:
            features = math.prod(shape[1:])
            ids = self.unit_ids(0, (shape[0], features), 1).reshape(shape)
            self.layers[0].width = features
        elif len(shape) == 3 and not convolved:
            # a sequence (batch, positions, features): its units are the features
            ids = self.unit_ids(0, shape, 2)
            self.layers[0].width = shape[2]
        else:
            ids = self.unit_ids(0, shape, 1)
            self.layers[0].width = shape[1]
        self.values[node.name] = _Value(_UNITS, ids.contiguous(), direct=0)

    def finish(self, node: torch.fx.Node) -> str:
        outputs = node.args[0]
        outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        if len(outputs) != 1 or self.value(outputs[0]) is None:
            raise IngestError(
                f"the model returns {len(outputs)} outputs; only models that return one tensor "
                "computed from their input are read"
            )
        ref = self.ref(outputs[0])
        return ref.name

    def step(self, node: torch.fx.Node) -> None:
        target = node.target
        data = [a for a in node.all_input_nodes if a.name in self.values]
        if target is operator.getitem:
            self.getitem(node)
            return
        if isinstance(target, torch._ops.OpOverload):
            name = _packet(target)
            if name.startswith(operations.CHECKS) and name not in operations.SIZE_OPS:
                return
        sizes = any(self.values[a.name].kind == _SHAPE for a in data)
        scalar = not isinstance(node.meta.get("val"), torch.Tensor | list | tuple)
        if (sizes and scalar) or (
            isinstance(target, torch._ops.OpOverload) and _packet(target) in operations.SIZE_OPS
        ):
            self.size(node)
            return
        if not data:
            self.evaluate(node)
            return
        if not isinstance(target, torch._ops.OpOverload):
            raise self.refuse(node, f"is not read by the neuron graph (supported: {SUPPORTED})")
        name = _packet(target)
        kinds = {self.values[a.name].kind for a in data} - {_SHAPE}
        if not kinds:
            # computed from sizes of the data and constants: positions, masks
            self.record_as(node, _Value(_AUX))
            return
        if name == "embedding":
            self.embedding(node)
        elif _UNITS not in kinds and _PARTS not in kinds and name not in operations.MOVES:
            self.aux(node, kinds)
        elif name in operations.WEIGHT_OPS:
            self.weight_op(node, name)
        elif name in operations.BATCH_NORMS:
            self.batch_norm(node, name)
        elif name in operations.NORMS:
            self.norm(node, name)
        elif name == operations.ATTENTION:
            self.attention(node)
        elif (
            name in operations.ACTIVATIONS
            or name in operations.ELEMENTWISE
            or name in operations.CASTS
        ):
            self.elementwise(node, data, operations.ACTIVATIONS.get(name))
        elif name in operations.BINARY:
            self.binary(node, name)
        elif name in operations.MOVES:
            self.move(node)
        elif name in operations.POOLING:
            self.pool(node)
        elif name in operations.REDUCTIONS:
            self.reduce(node)
        else:
            raise self.refuse(node, f"is not read by the neuron graph yet (supported: {SUPPORTED})")

    # -- values without units ----------------------------------------------------------------
    def size(self, node: torch.fx.Node) -> None:
        """A size of the data, or arithmetic on sizes: replayed, and known at the example."""
        value = node.meta.get("val")
        if isinstance(value, torch.SymInt | torch.SymFloat | torch.SymBool):
            value = value.node.hint
        self.record_as(node, _Value(_SHAPE, size=value))

    def aux(self, node: torch.fx.Node, kinds: set[str]) -> None:
        """An op on token ids, statistics or scores (no units in, none out)."""
        value = node.meta.get("val")
        integer = isinstance(value, torch.Tensor) and not value.is_floating_point()
        kind = _TOKENS if kinds == {_TOKENS} and integer else _AUX
        self.record_as(node, _Value(kind))

    def embedding(self, node: torch.fx.Node) -> None:
        bound = _bind(node)
        indices = self.value(bound["indices"])
        if indices is not None and indices.kind == _AUX and self.value(bound["weight"]) is None:
            self.record_as(node, _Value(_AUX))  # positions or token types: no units
            return
        if indices is None or indices.kind != _TOKENS or self.value(bound["weight"]) is not None:
            raise self.refuse(node, "looks up a table computed from the data")
        width = int(self.consts[bound["weight"].name].shape[1])
        layer = self.layers[0]
        if layer.width not in (None, width):
            raise self.refuse(node, f"gives {width} features; the input layer has {layer.width}")
        layer.width = width
        shape = _shape(node)
        ids = self.unit_ids(0, shape, len(shape) - 1).contiguous()
        self.record_as(node, _Value(_UNITS, ids, direct=0))

    def getitem(self, node: torch.fx.Node) -> None:
        source, index = node.args
        value = self.value(source)
        if value is None:
            if isinstance(source, torch.fx.Node) and source.name in self.consts:
                self.consts[node.name] = self.consts[source.name][index]
            return
        if value.parts is None:
            if value.kind != _UNITS:
                self.record_as(node, _Value(value.kind))
                return
            raise self.refuse(node, f"indexes {source.name} as a list")
        part = value.parts[index]
        if part is None:
            if node.users:
                raise self.refuse(node, f"uses output {index} of {source.name}")
            return
        copy = _Value(part.kind, part.ids, part.scale, part.fresh, part.direct)
        self.record_as(node, copy, operator.getitem)

    # -- weight layers -----------------------------------------------------------------------
    def weight_op(self, node: torch.fx.Node, name: str) -> None:
        bound = _bind(node)
        if name in ("linear", "conv1d", "conv2d"):
            source, weight_arg, bias_arg = bound["input"], bound["weight"], bound.get("bias")
        elif name == "addmm":
            source, weight_arg, bias_arg = bound["mat1"], bound["mat2"], bound["self"]
            if bound.get("beta", 1) != 1 or bound.get("alpha", 1) != 1:
                raise self.refuse(node, "scales its product or bias (beta/alpha != 1)")
        else:
            source, weight_arg, bias_arg = (
                bound["self"],
                bound.get("mat2", bound.get("other")),
                None,
            )
        x, w = self.value(source), self.value(weight_arg)
        if name in ("matmul", "bmm", "mm") and x is not None and w is not None:
            self.product(node, x, w)
            return
        if x is None or w is not None or self.value(bias_arg) is not None:
            raise self.refuse(node, "multiplies two tensors of the data flow")
        x = self.units_of(node, source)
        weight = self.const(node, weight_arg, "weight")
        bias = self.const(node, bias_arg, "bias")
        if name in ("addmm", "mm", "matmul", "bmm"):
            if weight.dim() != 2:
                raise self.refuse(node, f"multiplies by a {weight.dim()}-D parameter")
            weight = weight.t().contiguous()
            if bias is not None and bias.dim() != 1:
                raise self.refuse(node, "adds a bias that is not one per output feature")
        if bias is None:
            bias = torch.zeros(weight.shape[0], dtype=torch.float64)
        if min(weight.shape) == 0:
            raise self.refuse(node, f"has a zero-width weight {tuple(weight.shape)}")
        if name.startswith("conv"):
            if bound.get("groups", 1) != 1:
                raise self.refuse(node, f"has groups={bound['groups']}; only groups=1 is read")
            expected = 3 if name == "conv1d" else 4
            if x.ids.dim() != expected:
                raise self.refuse(node, f"reads a {x.ids.dim()}-D input; give a batch of maps")
            dim, op = 1, name
            conv = {k: bound[k] for k in ("stride", "padding", "dilation")}
        else:
            dim, op, conv = x.ids.dim() - 1, "linear", {}
        inputs = self.columns(node, x, dim)
        path = self.targets.get(weight_arg.name, weight_arg.name)
        base = next(
            (path[: -len(end)] for end in (".weight", "_weight") if path.endswith(end)), path
        )
        if base in self.weights:
            raise self.refuse(
                node,
                f"uses the weights of {base!r} a second time; shared (tied) weights are not "
                "read yet",
            )
        self.weights.add(base)
        weights = _Weights(op, weight, bias, conv)
        kind = op
        index = self.add_layer(
            ViewLayer(self.layer_name(base), kind, int(weight.shape[0]), weight, bias, inputs)
        )
        self.op_weights[index] = weights
        shape = _shape(node)
        out_dim = 1 if op != "linear" else len(shape) - 1
        ids = self.unit_ids(index, shape, out_dim).contiguous()
        self.values[node.name] = _Value(_UNITS, ids, fresh=index, direct=index)
        self.ops.append(_Op(node.name, None, (self.ref(source),), weights=weights))
        self.site(node, index, ids)

    def columns(self, node: torch.fx.Node, x: _Value, dim: int) -> list[ViewInput]:
        """The sources a weight op reads along ``dim``: each feature (channel) must carry one
        unit, with one scale, wherever it is."""
        ids = x.ids.movedim(dim, -1).reshape(-1, x.ids.shape[dim])
        first = ids[0]
        if not bool((ids == first).all()):
            raise self.refuse(
                node,
                "reads features that carry different units at different positions "
                "(units mixed with positions by a reshape)",
            )
        scale = None
        if x.scale is not None:
            scales = _full(x).movedim(dim, -1).reshape(-1, x.ids.shape[dim])
            if not bool(torch.allclose(scales, scales[0].expand_as(scales))):
                raise self.refuse(node, "reads features scaled differently at different positions")
            scale = scales[0].numpy()
        return _inputs(first.numpy(), scale)

    def product(self, node: torch.fx.Node, a: _Value, b: _Value) -> None:
        """A product of two tensors of the data flow: attention's scores (query x key) or its
        mixing of the values over positions (scores x value)."""
        if a.kind == _UNITS and b.kind == _UNITS:
            self.mark(a, "query")
            self.mark(b, "key")
            self.record_as(node, _Value(_AUX))
            return
        if a.kind == _AUX and b.kind == _UNITS:
            self.values_through(node, b)
            return
        raise self.refuse(
            node,
            "multiplies two tensors of the data flow; only attention (query x key, then scores "
            "x value) is read",
        )

    def mark(self, value: _Value, role: str) -> None:
        """Record that the units of ``value`` reach attention as ``role``."""
        ids = np.unique(value.ids.numpy())
        for index in np.unique(ids >> _UNIT_BITS):
            layer = self.layers[int(index)]
            if layer.weight is None:
                continue
            roles = self.roles.setdefault(int(index), np.full(int(layer.width), "", dtype=object))
            roles[ids[(ids >> _UNIT_BITS) == index] & _UNIT_MASK] = role

    def values_through(self, node: torch.fx.Node, v: _Value) -> None:
        """Attention's output: the value's units, mixed over positions (dimension -2)."""
        if v.ids.dim() >= 2 and (v.ids.dim() - 2) in _varying(v.ids):
            raise self.refuse(node, "mixes units, not positions, of the attention values")
        self.mark(v, "value")
        shape = _shape(node)
        ids = v.ids.narrow(-2, 0, 1).expand(shape).contiguous()
        scale = None if v.scale is None else _full(v).narrow(-2, 0, 1).expand(shape).contiguous()
        self.record_as(node, _Value(_UNITS, ids, scale))

    def attention(self, node: torch.fx.Node) -> None:
        bound = _bind(node)
        q, k = self.units_of(node, bound["query"]), self.units_of(node, bound["key"])
        v = self.units_of(node, bound["value"])
        mask = self.value(bound.get("attn_mask"))
        if mask is not None and mask.kind == _UNITS:
            raise self.refuse(node, "takes an attention mask computed from units")
        self.mark(q, "query")
        self.mark(k, "key")
        self.values_through(node, v)

    def split_roles(self) -> list[ViewLayer]:
        """The layers, each weight layer whose units reach attention in different roles split
        into one layer per role (a packed projection); kinds set from the roles."""
        # where each unit of each original layer went: (new layer, its index there)
        moved: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        layers: list[ViewLayer] = []
        for index, layer in enumerate(self.layers):
            width = int(layer.width or 0)
            roles = self.roles.get(index, np.full(width, "", dtype=object))
            runs = _runs(roles) if index in self.roles else [(None, np.arange(width))]
            target, position = np.empty(width, dtype=np.int64), np.empty(width, dtype=np.int64)
            for role, units in runs:
                target[units], position[units] = len(layers), np.arange(len(units))
                if len(runs) == 1:
                    layer.kind = ATTENTION_KINDS.get(role, layer.kind)
                    layers.append(layer)
                    continue
                rows = torch.as_tensor(units)
                layers.append(
                    ViewLayer(
                        f"{layer.name}.{role or 'rest'}",
                        ATTENTION_KINDS.get(role, layer.kind),
                        len(units),
                        layer.weight[rows],
                        layer.bias[rows],
                        layer.inputs,
                        list(layer.activation),
                    )
                )
            moved[index] = (target, position)
        for layer in layers:
            remapped = []
            for source in layer.inputs:
                target, position = moved[source.source]
                parts = target[source.units]
                for part in dict.fromkeys(parts.tolist()):
                    keep = parts == part
                    scale = None if source.scale is None else source.scale[keep]
                    units = position[source.units[keep]]
                    remapped.append(ViewInput(part, units, source.columns[keep], scale))
            layer.inputs = remapped
        return layers, moved

    # -- activations -------------------------------------------------------------------------
    def tap(self, node: torch.fx.Node) -> None:
        """Where a layer's activations are read: the last value of its output through
        element-wise operations (post-nonlinearity) whose batch dimension is known."""
        value = self.values.get(node.name)
        if value is None or value.kind != _UNITS or value.direct is None or value.ids is None:
            return
        dim = self.batch_dim(node)
        if dim is not None:
            self.taps[value.direct] = self.reading(self.ref(node).name, dim, value.ids)

    def site(self, node: torch.fx.Node, index: int, ids: torch.Tensor) -> None:
        """Record that layer ``index`` is computed by ``node`` (its units: ``ids``)."""
        dim = self.batch_dim(node)
        if dim is not None:
            self.sites[index] = self.reading(node.name, dim, ids)

    def batch_dim(self, node: torch.fx.Node) -> int | None:
        """The dimension of the node's value that runs over examples (None: none, or not
        known)."""
        meta = node.meta.get("val")
        if not isinstance(meta, torch.Tensor):
            return None
        dims = [
            d
            for d, size in enumerate(meta.shape)
            if (self.batch is None and isinstance(size, torch.SymInt) and str(size) == self.symbol)
            or (self.batch is not None and d == 0 and size == self.batch)
        ]
        return dims[0] if len(dims) == 1 else None

    def reading(self, name: str, dim: int, ids: torch.Tensor) -> tuple:
        """Where value ``name`` (batch dimension ``dim``, unit ids ``ids``) is read: its name,
        ``dim``, the unit of each element of one example and (token models) its position."""
        flat = ids.select(dim, 0).reshape(-1).clone()
        return name, dim, flat, self.positions_of(ids, dim)

    def positions_of(self, ids: torch.Tensor, batch_dim: int) -> torch.Tensor | None:
        """In a token model, the position of each element of one example of a value: the
        index along its first dimension after the batch's that runs over the input's
        positions; None for other models and values without such a dimension."""
        if not self.tokens:
            return None
        length = self.input_shape[0]
        dims = [d for d, size in enumerate(ids.shape) if d != batch_dim and size == length]
        if not dims:
            return None
        shape = [1] * ids.dim()
        shape[dims[0]] = length
        positions = torch.arange(length).reshape(shape).expand(ids.shape)
        return positions.select(batch_dim, 0).reshape(-1).clone()

    def final_taps(
        self, found: dict[int, tuple], moved: dict, widths: list[int]
    ) -> dict[str, list[Tap]]:
        """Taps by recorded value (of :attr:`taps` or :attr:`sites`), for the layers (of
        ``widths`` units) after packed projections are split. A layer without a tap is named
        when its activations are asked for (:meth:`ModelView.activations`)."""
        taps: dict[str, list[Tap]] = {}
        for index, (name, dim, ids, positions) in found.items():
            target, position = moved[index]
            units = (ids & _UNIT_MASK).numpy()
            parts = target[units]
            for part in dict.fromkeys(parts.tolist()):
                columns = np.flatnonzero(parts == part)
                tap = Tap(
                    part,
                    widths[part],
                    dim,
                    torch.from_numpy(columns),
                    torch.from_numpy(position[units[columns]]),
                    positions[columns] if positions is not None else None,
                )
                taps.setdefault(name, []).append(tap)
        return taps

    # -- norms -------------------------------------------------------------------------------
    def batch_norm(self, node: torch.fx.Node, name: str) -> None:
        bound = _bind(node)
        x = self.units_of(node, bound["input"])
        if bound.get("training", False):
            raise self.refuse(node, "runs in training mode; put the model in eval mode")
        tensors = {
            k: self.const(node, bound.get(k), k)
            for k in ("weight", "bias", "running_mean", "running_var")
        }
        if tensors["running_mean"] is None or tensors["running_var"] is None:
            raise self.refuse(node, "has no running statistics (track_running_stats=False)")
        var, mean = tensors["running_var"], tensors["running_mean"]
        gamma = tensors["weight"] if tensors["weight"] is not None else torch.ones_like(var)
        beta = tensors["bias"] if tensors["bias"] is not None else torch.zeros_like(var)
        scale = gamma / torch.sqrt(var + float(bound["eps"]))
        source = bound["input"]
        tuple_out = name != "batch_norm"
        if x.fresh is not None and len(source.users) == 1:
            index = x.fresh
            layer, weights = self.layers[index], self.op_weights[index]
            shape = (-1,) + (1,) * (weights.weight.dim() - 1)
            weights.weight = weights.weight * scale.view(shape)
            weights.bias = (weights.bias - mean) * scale + beta
            layer.weight, layer.bias = weights.weight, weights.bias
            out = _Value(_UNITS, x.ids, x.scale, x.fresh, x.direct)
            self.norm_out(node, out, tuple_out, _identity)
            return
        out = self.scaled(node, x, scale, 1)
        self.norm_out(node, out, tuple_out, _per_unit(scale, beta - mean * scale))

    def norm_out(self, node: torch.fx.Node, out: _Value, tuple_out: bool, fn: Callable) -> None:
        if tuple_out:
            out = _Value(_PARTS, parts=[out, None, None])
            self.values[node.name] = out
            self.ops.append(_Op(node.name, _as_parts(fn), (self.ref(node.args[0]),)))
            return
        self.values[node.name] = out
        self.ops.append(_Op(node.name, fn, (self.ref(node.args[0]),)))

    def scaled(self, node: torch.fx.Node, x: _Value, gamma: torch.Tensor, dim: int) -> _Value:
        """``x`` with its units scaled by ``gamma`` along dimension ``dim`` (trailing dims when
        ``dim`` is negative: ``gamma`` has the normalised shape)."""
        shape = list(x.ids.shape)
        if dim >= 0:
            view = [1] * len(shape)
            view[dim] = shape[dim]
            factor = gamma.view(view)
        else:
            factor = gamma.view([1] * (len(shape) - gamma.dim()) + list(gamma.shape))
        scale = factor.expand(shape) if x.scale is None else x.scale * factor
        return _Value(_UNITS, x.ids, scale.contiguous(), direct=x.direct)

    def norm(self, node: torch.fx.Node, name: str) -> None:
        """LayerNorm, RMSNorm, GroupNorm: units pass, scaled by the norm's weight."""
        bound = _bind(node)
        x = self.units_of(node, bound["input"])
        gamma = self.const(node, bound.get("weight"), "weight")
        if name in ("group_norm", "native_group_norm"):
            out = x if gamma is None else self.scaled(node, x, gamma, 1)
        else:
            out = x if gamma is None else self.scaled(node, x, gamma, -1)
        out = _Value(_UNITS, out.ids, out.scale, direct=x.direct)
        if name.startswith("native"):
            self.values[node.name] = _Value(_PARTS, parts=[out, None, None])
            self.replay(node)
            return
        self.record_as(node, out)

    # -- element-wise ------------------------------------------------------------------------
    def elementwise(self, node: torch.fx.Node, data: list, activation: str | None) -> None:
        name = _packet(node.target)
        source = node.args[0]
        x = self.value(source)
        if x is None or x.kind != _UNITS:
            units = [self.values[a.name] for a in data if self.values[a.name].kind == _UNITS]
            if name in ("where", "masked_fill") and units:
                x = units[0]
            else:
                raise self.refuse(node, "applies an element-wise function to a non-unit tensor")
        shape = _shape(node)
        try:
            ids = x.ids.expand(shape).contiguous()
        except RuntimeError as err:
            raise self.refuse(node, f"changes the shape {tuple(x.ids.shape)} to {shape}") from err
        scale = None if x.scale is None else _full(x).expand(shape).contiguous()
        direct = x.direct if len(source.users) == 1 else None
        if activation is not None and direct is not None:
            self.layers[direct].activation.append(activation)
        fresh = x.fresh if name in ("dropout", "clone", "contiguous", "alias", "detach") else None
        out = _Value(
            _UNITS, ids, scale, fresh=fresh if len(source.users) == 1 else None, direct=direct
        )
        if name.endswith("dropout") and _bind(node).get("train", False):
            raise self.refuse(node, "runs in training mode; put it in eval mode")
        self.record_as(node, out)

    def binary(self, node: torch.fx.Node, name: str) -> None:
        args = list(node.args[:2])
        a, b = self.value(args[0]), self.value(args[1]) if len(args) > 1 else None
        if name == "rsub":
            a, b = b, a
        if node.kwargs.get("alpha", 1) != 1:
            raise self.refuse(node, "adds with alpha != 1; only plain adds are read")
        shape = _shape(node)
        units = [v for v in (a, b) if v is not None and v.kind == _UNITS]
        if len(units) == 2:
            ia, ib = a.ids.expand(shape), b.ids.expand(shape)
            if bool((ia == ib).all()):
                self.record_as(
                    node,
                    _Value(
                        _UNITS,
                        ia.contiguous(),
                        None if a.scale is None else _full(a).expand(shape).contiguous(),
                    ),
                )
                return
            if name != "add":
                raise self.refuse(
                    node,
                    f"combines two tensors of the data flow with {name} (a gate or a difference); "
                    "only adds (residual connections) and attention are read",
                )
            self.sum_layer(node, a, b)
            return
        x = units[0]
        other = b if x is a else a
        other_arg = args[1] if x is a else args[0]
        ids = x.ids.expand(shape).contiguous()
        scale = None if x.scale is None else _full(x).expand(shape).contiguous()
        if name in ("mul", "div") and other is None:
            factor = (
                self.consts.get(other_arg.name)
                if isinstance(other_arg, torch.fx.Node)
                else other_arg
            )
            factor = torch.as_tensor(factor, dtype=torch.float64)
            if name == "div":
                if x is not a:
                    raise self.refuse(node, "divides a constant by units of the data flow")
                factor = 1.0 / factor
            base = scale if scale is not None else torch.ones(shape, dtype=torch.float64)
            scale = (base * factor).expand(shape).contiguous()
        elif name in ("mul", "div") and other is not None:
            aux_shape = _shape(other_arg)
            aux_shape = (1,) * (len(shape) - len(aux_shape)) + aux_shape
            if any(aux_shape[d] > 1 for d in _varying(ids)):
                raise self.refuse(
                    node,
                    "scales units by a value computed from the data per unit (a gate); only "
                    "per-position scalings (norms) are read",
                )
        elif name == "sub" and x is not a:
            scale = -(scale if scale is not None else torch.ones(shape, dtype=torch.float64))
        self.record_as(node, _Value(_UNITS, ids, scale))

    def sum_layer(self, node: torch.fx.Node, a: _Value, b: _Value) -> None:
        shape = _shape(node)
        ia, ib = a.ids.expand(shape).reshape(-1).numpy(), b.ids.expand(shape).reshape(-1).numpy()
        sa = _full(_Value(_UNITS, a.ids.expand(shape), a.scale)).reshape(-1).numpy()
        sb = _full(_Value(_UNITS, b.ids.expand(shape), b.scale)).reshape(-1).numpy()
        pairs = np.stack([ia, ib], axis=1)
        unique, first, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        unit_of = rank[inverse.reshape(-1)]
        width = len(unique)
        firsts = first[order]
        for s in (sa, sb):
            if not np.allclose(s, s[firsts][unit_of]):
                raise self.refuse(node, "adds units scaled differently at different positions")
        path = _module_path(node)
        index = self.add_layer(
            ViewLayer(self.layer_name(f"{path}.add" if path else "add"), SUM, width)
        )
        columns = np.arange(width)
        inputs = []
        for ids, s in ((ia, sa), (ib, sb)):
            inputs += [
                ViewInput(i.source, i.units, columns[i.columns], i.scale)
                for i in _inputs(ids[firsts], s[firsts])
            ]
        self.layers[index].inputs = inputs
        ids = ((index << _UNIT_BITS) + torch.from_numpy(unit_of)).view(shape)
        self.record_as(node, _Value(_UNITS, ids.contiguous(), direct=index))
        self.site(node, index, ids)

    # -- moves, pooling, reductions ----------------------------------------------------------
    def move(self, node: torch.fx.Node) -> None:
        """An op that moves elements: the same op applied to the unit ids (and scales)."""
        target = _functional(node.target)
        values = [
            self.values[a.name]
            for a in node.all_input_nodes
            if a.name in self.values and self.values[a.name].kind != _SHAPE
        ]
        if all(v.kind != _UNITS for v in values):
            self.aux(node, {v.kind for v in values})
            return
        if any(v.kind != _UNITS for v in values):
            raise self.refuse(node, "joins units with values without units")
        template = self.joined_constants(node, values[0])

        def pick(what: str) -> Callable:
            def arg(a: object) -> object:
                if isinstance(a, torch.fx.Node):
                    if a.name in self.values:
                        v = self.values[a.name]
                        if v.kind == _SHAPE:
                            return v.size
                        return v.ids if what == "ids" else _full(v)
                    const = self.consts[a.name]
                    if template is not None and const.is_floating_point():
                        t = template.ids if what == "ids" else _full(template)
                        return t.narrow(template_dim(), 0, 1).expand(const.shape)
                    if not const.is_floating_point():
                        return const
                    return const.to(torch.int64 if what == "ids" else torch.float64)
                return a

            return arg

        def template_dim() -> int:
            return _bind(node)["dim"] % template.ids.dim()

        ids = target(
            *map_aggregate(node.args, pick("ids")), **map_aggregate(dict(node.kwargs), pick("ids"))
        )
        has_scale = any(v.scale is not None for v in values)
        scales = (
            target(
                *map_aggregate(node.args, pick("scale")),
                **map_aggregate(dict(node.kwargs), pick("scale")),
            )
            if has_scale
            else None
        )
        source = node.args[0]
        alone = isinstance(source, torch.fx.Node) and len(source.users) == 1
        direct = values[0].direct if len(values) == 1 and alone else None
        if isinstance(ids, list | tuple):
            parts = [
                _Value(_UNITS, i.contiguous(), None if scales is None else scales[n].contiguous())
                for n, i in enumerate(ids)
            ]
            self.values[node.name] = _Value(_PARTS, parts=parts)
            self.replay(node)
            return
        scale = None if scales is None else scales.contiguous()
        self.record_as(node, _Value(_UNITS, ids.contiguous(), scale, direct=direct))

    def joined_constants(self, node: torch.fx.Node, first: _Value) -> _Value | None:
        """For a concatenation of units with constants (a class token before the patches of an
        image), the units the constants line up with: they join along positions and take the
        units of the features they stand beside. None when nothing constant is joined."""
        if _packet(node.target) not in ("cat", "stack"):
            return None
        constant = [
            a
            for a in _flat_args(node.args)
            if isinstance(a, torch.fx.Node)
            and a.name in self.consts
            and self.consts[a.name].numel()
        ]
        if not constant:
            return None
        dim = _bind(node)["dim"] % first.ids.dim()
        if _packet(node.target) == "stack" or dim in _varying(first.ids) or dim == 0:
            raise self.refuse(
                node, "joins units with constants along the units; only along positions is read"
            )
        return first

    def pool(self, node: torch.fx.Node) -> None:
        x = self.units_of(node, node.args[0])
        if x.ids.dim() < 3:
            raise self.refuse(node, f"pools a {x.ids.dim()}-D tensor; only maps are pooled")
        if _varying(x.ids) & set(range(2, x.ids.dim())):
            raise self.refuse(node, "pools over units, not positions")
        out = _pooled(x, node)
        if isinstance(node.meta.get("val"), tuple | list):
            self.values[node.name] = _Value(_PARTS, parts=[out, None])
            self.replay(node)
            return
        self.record_as(node, out)

    def reduce(self, node: torch.fx.Node) -> None:
        bound = _bind(node)
        x = self.units_of(node, node.args[0])
        dims = bound.get("dim")
        dims = [dims] if isinstance(dims, int) else list(dims or [])
        dims = [d % x.ids.dim() for d in dims] if dims else list(range(x.ids.dim()))
        if 0 in dims or set(dims) & _varying(x.ids):
            # a statistic over units (a norm's mean or variance) or over the batch
            value = node.meta.get("val")
            self.values[node.name] = (
                _Value(_PARTS, parts=[_Value(_AUX), None])
                if isinstance(value, tuple | list)
                else _Value(_AUX)
            )
            self.replay(node)
            return
        out = _pooled(x, node, dims)
        if isinstance(node.meta.get("val"), tuple | list):
            self.values[node.name] = _Value(_PARTS, parts=[out, None])
            self.replay(node)
            return
        self.record_as(node, out)


def _pooled(x: _Value, node: torch.fx.Node, dims: list[int] | None = None) -> _Value:
    """``x`` reduced over positions ``dims`` (all after the channels by default), along which
    its units do not change."""
    dims = list(range(2, x.ids.dim())) if dims is None else dims
    value = node.meta.get("val")
    shape = _sizes(value[0] if isinstance(value, tuple | list) else value)
    ids, scale = x.ids, None if x.scale is None else _full(x)
    for d in dims:
        ids = ids.narrow(d, 0, 1)
        scale = None if scale is None else scale.narrow(d, 0, 1)
    if len(shape) < ids.dim():
        keep = [d for d in range(ids.dim()) if d not in dims]
        ids = ids.squeeze(tuple(dims)) if len(keep) == len(shape) else ids
        scale = None if scale is None else scale.squeeze(tuple(dims))
    return _Value(
        _UNITS,
        ids.expand(shape).contiguous(),
        None if scale is None else scale.expand(shape).contiguous(),
    )


def _inputs(ids: np.ndarray, scale: np.ndarray | None) -> list[ViewInput]:
    """Global unit ids of a reader's columns, as one ViewInput per source layer."""
    layers = ids >> _UNIT_BITS
    out = []
    for layer in dict.fromkeys(int(x) for x in layers):
        columns = np.flatnonzero(layers == layer)
        s = None if scale is None else scale[columns]
        if s is not None and np.allclose(s, 1.0):
            s = None
        out.append(ViewInput(layer, (ids[columns] & _UNIT_MASK).astype(np.int64), columns, s))
    return out


def _runs(roles: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Units of a layer grouped by role, in the order the roles first appear."""
    return [(role, np.flatnonzero(roles == role)) for role in dict.fromkeys(roles.tolist())]


def _flat_args(args: object) -> list:
    out: list = []
    map_aggregate(args, lambda a: out.append(a) or a)
    return out


def _size(size: int | torch.SymInt) -> int:
    """A dimension's size at the exported example (a symbolic batch size: its example value)."""
    return size if isinstance(size, int) else int(size.node.hint)


def _sizes(value: torch.Tensor) -> tuple[int, ...]:
    return tuple(_size(s) for s in value.shape)


def _shape(node: torch.fx.Node) -> tuple[int, ...]:
    value = node.meta.get("val")
    return _sizes(value) if isinstance(value, torch.Tensor) else ()


def _float_result(node: torch.fx.Node) -> bool:
    value = node.meta.get("val")
    return isinstance(value, torch.Tensor) and value.is_floating_point()


@dataclass(frozen=True)
class _PerUnit:
    """``x * scale + shift`` per unit along dimension 1 (an unfolded BatchNorm)."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.scale.view(shape) + self.shift.view(shape)


def _per_unit(scale: torch.Tensor, shift: torch.Tensor) -> Callable:
    return _PerUnit(scale, shift)


@dataclass(frozen=True)
class _Parts:
    """``x -> (fn(x), None, None)``: a norm that also returns its statistics."""

    fn: Callable

    def __call__(self, x: torch.Tensor) -> tuple:
        return self.fn(x), None, None


def _as_parts(fn: Callable) -> Callable:
    return _Parts(fn)


def _cast(value: object, dtype: torch.dtype, channels_last: bool = False) -> object:
    """``value`` with every floating tensor in it (arguments, recorded targets) and every
    recorded cast to a floating dtype in ``dtype``; with ``channels_last``, 4-D tensors
    (convolution weights) in that memory format."""
    if isinstance(value, _Floating):
        return _Floating(dtype)
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return value
        value = value.to(dtype)
        if channels_last and value.dim() == 4:
            return value.contiguous(memory_format=torch.channels_last)
        return value
    if isinstance(value, _PerUnit):
        return _PerUnit(
            _cast(value.scale, dtype, channels_last), _cast(value.shift, dtype, channels_last)
        )
    if isinstance(value, _Parts):
        return _Parts(_cast(value.fn, dtype, channels_last))
    if isinstance(value, _Weights):
        weight = _cast(value.weight, dtype, channels_last)
        return _Weights(value.op, weight, _cast(value.bias, dtype, channels_last), value.conv)
    return value


def read_view(model: nn.Module, example_input: torch.Tensor) -> ModelView:
    """Read a module's data flow as a DAG of neuron layers.

    Parameters
    ----------
    model : nn.Module
        An eager module, a TorchScript module or a saved program (put in eval mode; see
        :func:`~neurongraph.model.export.export_program`).
    example_input : torch.Tensor
        A batch ``(N, *input_shape)`` with N >= 2 (see
        :func:`~neurongraph.model.extract.example_batch`), float features or integer token ids;
        the view is also checked on it.

    Returns
    -------
    ModelView
        Float64 layers that reproduce the model's output on ``example_input`` and on seeded
        random batches of its example shape, within the tolerances of
        :func:`~neurongraph.model.checks.reproduction_failure`.

    Raises
    ------
    IngestError
        A model ``torch.export`` cannot capture, a TorchScript operation that is not
        translated, an operation the view does not read (named, with its module), NaN/Inf
        weights, or a view that does not reproduce the model.
    """
    model = model.eval()
    check_runs(model, example_input)
    try:
        program = export_program(model, example_input[:EXPORT_EXAMPLES])
    except IngestError:
        raise
    except Exception as err:  # export fails in many ways on what it cannot capture
        raise IngestError(
            f"torch.export cannot capture the model's data flow ({one_line(err)}); "
            "data-dependent control flow is not supported"
        ) from err
    view = _Reader(program).read()
    for layer in view.layers:
        for tensor in (layer.weight, layer.bias):
            if tensor is not None and not bool(torch.isfinite(tensor).all()):
                raise IngestError(
                    f"layer {layer.name!r} has NaN or Inf weights or biases; "
                    "re-train or fix the checkpoint before ingesting it"
                )
    failure = reproduction_failure(model, view, example_input)
    if failure is not None:
        raise IngestError(
            f"the model's neuron-graph view does not reproduce its output: {failure}; an "
            "operation changes values in a way the view does not read"
        )
    log.info(
        "read the model as a %s of %d layers",
        "chain" if view.is_chain else "DAG",
        len(view.layers),
    )
    return view
