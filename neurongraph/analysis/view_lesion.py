"""Batched lesions of any network read as a :class:`~neurongraph.model.view.ModelView`.

The engine behind :func:`~neurongraph.analysis.lesion.lesion_accuracies` and
:func:`~neurongraph.analysis.importance.importance` when the network is a DAG of neuron layers (a
ResNet, a residual MLP, a transformer) rather than a chain.

What a lesion does
------------------
A lesion silences units of neuron layers (any layer after the input: weight layers, ``sum``
layers of residual adds, attention projections). A unit is silenced where the view computes
its layer (:attr:`ModelView.sites`): its elements of the raw output of the layer's weight
operation, or of its add, are set to 0 (the *zeroed pre-activation*), and everything after
runs as usual, so the unit's output becomes ``act(0)`` (0 for ReLU and GELU, 0.5 for a
sigmoid), as a chain's lesion that zeroes incoming weights and biases gives.

Norms follow the view's folding: an eval-mode BatchNorm right after a weight layer is folded
into its weights, so the zero is *after* that BatchNorm (the folded layer's output is 0; on
the eager model: zero the weights and bias and the norm's ``running_mean`` and ``bias``); a
norm that is not folded (a BatchNorm after an add, every LayerNorm) runs on the zeroed value,
as the model would. For a ``sum`` layer followed by a LayerNorm the silenced units are zero
before the norm, which then renormalises the position.

How lesions are batched
-----------------------
Lesions that share the layers they touch share the operations that must run again: only the
operations downstream of those layers' sites (:meth:`ModelView.downstream`, plus the cheap ones
without a batch dimension, such as sizes) are replayed. A site's own operation does not run
again unless another lesioned layer changes what it reads: its unlesioned value is silenced.
Every other value they read comes from one unlesioned pass over the data, gathered per (lesion,
example) pair. The pairs run along the batch dimension, many per replay, with per-row masks
applied at the sites; a replay lets go of each value after its last reader
(:meth:`ModelView.last_uses`) and holds at most ``EngineOptions.batch_elements`` values at
once. With the accuracy metric the replays run in ``EngineOptions.fast_dtype`` (float32:
convolutions are an order of magnitude faster than in float64; channels-last convolutions,
attention over few keys as :func:`~neurongraph.model.attention.short_attention`, and Linear
layers as :func:`~neurongraph.model.packed.packed_linear`) from the
unlesioned float64 values, and every answer whose top two logits lie within
``EngineOptions.tie_rtol`` of each other is recomputed in float64; output-change runs in
float64. So the answers are the view's float64 ones and equal lesioning a float64 copy of the
model one lesion at a time (tested to 1e-6). A lesion given more than once (random groups of a
small layer repeat) runs once (:func:`~neurongraph.analysis.lesion.distinct_lesions`).

Metrics
-------
``accuracy``: as for chains (per task, per class). ``output-change``: the relative L2 change of
the model's output, ``|out_lesioned - out| / |out|`` per example (the whole output of the
example flattened; an unlesioned output of norm 0 counts as ``OUTPUT_NORM_FLOOR``), averaged
over examples; reported as a score ``-change`` (a fraction; the unlesioned network scores 0), so
that a harmful lesion has a negative delta, as with accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neurongraph.analysis.defaults import ACCURACY, METRICS, OUTPUT_CHANGE
from neurongraph.analysis.lesion_options import EngineOptions
from neurongraph.errors import AnalysisError, arg
from neurongraph.model.export import pieces
from neurongraph.model.view import INPUT, ModelView, Tap

__all__ = [
    "ACCURACY",
    "METRICS",
    "OUTPUT_CHANGE",
    "OutputTasks",
    "Plan",
    "ViewEngine",
    "check_metric",
    "hidden_layers",
]

#: The smallest output norm a relative change is taken against.
OUTPUT_NORM_FLOOR = 1e-12
#: Most values the unlesioned pass keeps for the lesioned replays to read (256 MiB of float64);
#: above it the data runs in chunks of examples.
BASELINE_ELEMENTS = 2**25
#: Kinds of layers that feed attention scores, not other layers, and are still hidden.
SCORE_KINDS = ("attention-q", "attention-k")


def hidden_layers(view: ModelView) -> list[int]:
    """The layers a partition's groups are tested in: every layer after the input that feeds
    another layer or attention scores (the layers that only give the output are left out).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from neurongraph.model.view import read_view
    >>> class Residual(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1, self.fc2 = nn.Linear(3, 3), nn.Linear(3, 2)
    ...     def forward(self, x):
    ...         return self.fc2(torch.relu(self.fc1(x)) + x)
    >>> view = read_view(Residual(), torch.randn(4, 3))
    >>> [view.layers[p].name for p in hidden_layers(view)]
    ['fc1', 'add']
    """
    feeding = {source for source, _ in view.feeds}
    return [
        p
        for p, layer in enumerate(view.layers)
        if p > 0 and (p in feeding or layer.kind in SCORE_KINDS)
    ]


@dataclass(frozen=True)
class OutputTasks:
    """The one pseudo-task of the ``output-change`` metric (no classes, no labels)."""

    names: tuple[str, ...] = (OUTPUT_CHANGE,)
    n_columns: int = 0
    classes: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Plan:
    """What the lesions of some layers replay (:meth:`ViewEngine.plan`)."""

    ops: list[int]  # the operations, in order
    frontier: list[str]  # the batched values they read from the unlesioned pass
    drop: dict[int, list[str]]  # values let go after each operation (ModelView.last_uses)
    peak: int  # most batched values per (lesion, example) pair held at once


@dataclass
class _Base:
    """The unlesioned pass over a chunk of examples."""

    values: dict[str, torch.Tensor]  # batched values the lesioned replays read
    fast: dict[str, torch.Tensor]  # the same in the fast dtype (accuracy runs), else ``values``
    output: torch.Tensor  # (n, features) flattened outputs
    correct: torch.Tensor | None  # (n, n_tasks) int64 (accuracy)
    norm: torch.Tensor | None  # (n,) output norms (output-change)


class ViewEngine:
    """Evaluates normalised lesions of a view on data, many (lesion, example) pairs per
    replay; the interface of :class:`~neurongraph.analysis.lesion_engine.ChainEngine`
    (``tasks``, ``n``, ``class_counts``, :meth:`baseline_counts`, :meth:`evaluate`).

    Parameters
    ----------
    view : ModelView
    X : torch.Tensor
        Examples in the view's layout (float64, or int64 token ids).
    metric : str
        :data:`ACCURACY` or :data:`OUTPUT_CHANGE`.
    tasks, labels, class_columns
        For accuracy: the checked tasks (slices of the output), each example's label per task
        ``(n, n_tasks)`` and its (task, class) column ``(n, n_tasks)``; ignored otherwise.
    options : EngineOptions, optional
        Batch size in values, fast dtype and tie tolerance of the replays.
    """

    def __init__(
        self,
        view: ModelView,
        X: torch.Tensor,
        metric: str,
        tasks: object,
        labels: np.ndarray | None = None,
        class_columns: np.ndarray | None = None,
        options: EngineOptions | None = None,
    ) -> None:
        self.options = options = EngineOptions() if options is None else options
        self.view = view
        self.X = X
        self.metric = metric
        self.tasks = tasks
        self.n = int(X.shape[0])
        if metric == ACCURACY:
            self.labels = torch.as_tensor(labels)
            self.class_columns = torch.as_tensor(class_columns)
            self.class_counts = np.bincount(
                np.asarray(class_columns).reshape(-1), minlength=tasks.n_columns
            ).astype(np.int64)
        else:
            self.class_counts = np.zeros(0, dtype=np.int64)
        self.sites: dict[int, tuple[str, Tap]] = {
            tap.layer: (name, tap) for name, taps in view.sites.items() for tap in taps
        }
        fast = options.fast_dtype is not None and metric == ACCURACY
        self.fast = (
            view.cast(
                options.fast_dtype, channels_last=True, short_attention=True, packed_linear=True
            )
            if fast
            else None
        )
        self.rows = view.batch or 1  # a replay runs on this many rows, or any number (1)
        self.elements = self._elements()
        #: How each layer's units lie in one example's values at its site (:func:`_layout`).
        self.layouts = {
            layer: _layout(tap, self.elements[name])
            for layer, (name, tap) in self.sites.items()
            if name in self.elements
        }
        self._plans: dict[frozenset, Plan] = {}
        self._cache: dict[tuple[int, frozenset | None], _Base] = {}
        self.examples_per_chunk = max(
            1, min(self.n, BASELINE_ELEMENTS // max(1, sum(self.elements.values())))
        )

    def site(self, layer: int) -> tuple[str, Tap]:
        """Where layer ``layer`` is computed; AnalysisError when the view does not know."""
        if layer not in self.sites:
            raise AnalysisError(
                f"layer {self.view.layers[layer].name!r} cannot be lesioned: the view does not "
                "know where it is computed per example"
            )
        return self.sites[layer]

    def _elements(self) -> dict[str, int]:
        """Values per example of every batched value of a replay."""
        found: dict[str, int] = {}
        dims = self.view.batch_dims

        def count(name: str, value: object) -> object:
            if name in dims and isinstance(value, torch.Tensor):
                found[name] = value.numel() // value.shape[dims[name]]
            return value

        x, _ = pieces(self.X[: self.rows], self.view.batch)[0]
        found[INPUT] = x[0].numel()
        with torch.no_grad():
            self.view.replay({INPUT: x}, range(len(self.view.ops)), edit=count)
        return found

    # -- plans and the unlesioned pass -------------------------------------------------------

    def plan(self, layers: frozenset) -> Plan:
        """For lesions of ``layers``: the operations to replay (downstream of their sites, and
        every one without a batch dimension), the batched values they read from the
        unlesioned pass (a site that no other lesioned layer changes among them: it is read
        from that pass and silenced, its operation does not run again), and when each value
        is let go."""
        if layers not in self._plans:
            view = self.view
            changed = set(view.downstream(self.site(p)[0] for p in layers))
            ops = [
                i
                for i in range(len(view.ops))
                if i in changed or view.op_name(i) not in view.batch_dims
            ]
            made = {view.op_name(i) for i in ops}
            read = {name for i in ops for name in view.reads(i)} | {view.output}
            frontier = sorted(read - made)
            drop = view.last_uses(ops, keep=[view.output])
            held = peak = sum(self.elements.get(name, 0) for name in frontier)
            for position, i in enumerate(ops):
                held += self.elements.get(view.op_name(i), 0)
                peak = max(peak, held)
                held -= sum(self.elements.get(name, 0) for name in drop.get(position, ()))
            self._plans[layers] = Plan(ops, frontier, drop, peak)
        return self._plans[layers]

    def _chunks(self) -> list[slice]:
        step = self.examples_per_chunk
        return [slice(a, min(a + step, self.n)) for a in range(0, self.n, step)]

    def baseline(self, chunk: slice, keep: Sequence[str] | None = None) -> _Base:
        """The unlesioned pass over ``chunk``, keeping the batched values ``keep`` (all when
        None); cached when the data is one chunk."""
        key = (chunk.start, None if keep is None else frozenset(keep))
        for k in ((chunk.start, None), key):
            if k in self._cache:
                return self._cache[k]
        dims = self.view.batch_dims
        wanted = None if keep is None else set(keep)
        parts: dict[str, list[torch.Tensor]] = {}
        outputs = []
        for piece, n in pieces(self.X[chunk], self.view.batch):

            def store(name: str, value: object, n: int = n) -> object:
                if name in dims and (wanted is None or name in wanted):
                    parts.setdefault(name, []).append(value.narrow(dims[name], 0, n))
                return value

            values = self.view.replay({INPUT: piece}, range(len(self.view.ops)), edit=store)
            if wanted is None or INPUT in wanted:
                parts.setdefault(INPUT, []).append(piece[:n])
            outputs.append(self._flat(values[self.view.output])[:n])
        values = {name: torch.cat(p, dim=dims[name]) for name, p in parts.items()}
        output = torch.cat(outputs)
        correct = norm = None
        fast = values
        if self.metric == ACCURACY:
            correct = self.score(output, self.labels[chunk])
            if self.fast is not None:
                fast = {
                    k: v.to(self.options.fast_dtype) if v.is_floating_point() else v
                    for k, v in values.items()
                }
        else:
            norm = output.norm(dim=1).clamp_(min=OUTPUT_NORM_FLOOR)
        base = _Base(values, fast, output, correct, norm)
        if self.examples_per_chunk >= self.n:
            self._cache[key] = base
        return base

    def _flat(self, output: torch.Tensor) -> torch.Tensor:
        dim = self.view.batch_dims.get(self.view.output, 0)
        moved = output.movedim(dim, 0)
        return moved.reshape(moved.shape[0], -1)

    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(P, n_tasks) int64: 1 where a task's argmax is the label."""
        correct = [
            logits[:, sl].argmax(1) == labels[:, t] for t, sl in enumerate(self.tasks.slices)
        ]
        return torch.stack(correct, dim=1).to(torch.int64)

    def near_ties(self, logits: torch.Tensor) -> torch.Tensor:
        """(P,) bool: rows where some task's top two logits are too close to call in the fast
        dtype."""
        near = torch.zeros(logits.shape[0], dtype=torch.bool)
        for sl in self.tasks.slices:
            part = logits[:, sl]
            top = part.topk(2, dim=1).values
            near |= (top[:, 0] - top[:, 1]) <= self.options.tie_rtol * (1.0 + part.abs().amax(1))
        return near

    def baseline_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """The unlesioned network's scores: correct answers per task (T,) and per class column
        (C,) for accuracy; zeros for output-change."""
        n_tasks = len(self.tasks.names)
        if self.metric != ACCURACY:
            return np.zeros(n_tasks), np.zeros(0)
        task = np.zeros(n_tasks, dtype=np.int64)
        cls = np.zeros(self.tasks.n_columns, dtype=np.int64)
        keep = None if self.examples_per_chunk >= self.n else ()
        with torch.no_grad():
            for chunk in self._chunks():
                base = self.baseline(chunk, keep)
                task += base.correct.sum(0).numpy()
                for t in range(n_tasks):
                    cls += np.bincount(
                        self.class_columns[chunk, t].numpy(),
                        weights=base.correct[:, t].numpy(),
                        minlength=self.tasks.n_columns,
                    ).astype(np.int64)
        return task, cls

    # -- lesions -----------------------------------------------------------------------------

    def evaluate(
        self, lesions: Sequence[tuple[tuple[int, np.ndarray], ...]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score changes of lesions: per task (M, T) and per class column (M, C); for
        output-change, ``-`` the summed relative change over the examples (M, 1)."""
        m = len(lesions)
        masks: dict[int, torch.Tensor] = {}
        for j, lesion in enumerate(lesions):
            for layer, units in lesion:
                if layer not in masks:
                    masks[layer] = torch.zeros((m, self.view.widths[layer]), dtype=torch.bool)
                masks[layer][j, torch.as_tensor(units)] = True
        plan = self.plan(frozenset(masks))
        n_tasks, n_cols = len(self.tasks.names), self.tasks.n_columns
        accuracy = self.metric == ACCURACY
        task_change = torch.zeros((m, n_tasks), dtype=torch.int64 if accuracy else torch.float64)
        class_change = torch.zeros(m * n_cols, dtype=torch.int64)
        per_pass = self.pairs_per_pass(plan)
        keep = None if self.examples_per_chunk >= self.n else plan.frontier
        for chunk in self._chunks():
            base = self.baseline(chunk, keep)
            n = chunk.stop - chunk.start
            total = m * n
            for a in range(0, total, per_pass):
                pairs = torch.arange(a, min(a + per_pass, total))
                mi, ni = pairs // n, pairs % n
                out = self._replay(base, plan, masks, mi, ni, fast=True)
                if accuracy:
                    labels = self.labels[chunk][ni]
                    correct = self.score(out, labels)
                    if self.fast is not None:
                        k = self.near_ties(out).nonzero(as_tuple=True)[0]
                        if k.numel():
                            again = self._replay(base, plan, masks, mi[k], ni[k])
                            correct[k] = self.score(again, labels[k])
                    change = correct - base.correct[ni]
                    task_change.index_add_(0, mi, change)
                    columns = self.class_columns[chunk][ni]
                    for t in range(n_tasks):
                        class_change.index_add_(0, mi * n_cols + columns[:, t], change[:, t])
                else:
                    moved = (out - base.output[ni]).norm(dim=1) / base.norm[ni]
                    task_change.index_add_(0, mi, -moved[:, None])
        return task_change.numpy(), class_change.view(m, n_cols).numpy()

    def pairs_per_pass(self, plan: Plan) -> int:
        """How many (lesion, example) pairs one replay of ``plan`` runs: as many as hold at
        most ``EngineOptions.batch_elements`` values at once, or exactly the exported batch size
        of a program made for one."""
        if self.view.batch:
            return self.rows
        return max(1, self.options.batch_elements // max(1, plan.peak))

    def _replay(
        self,
        base: _Base,
        plan: Plan,
        masks: dict[int, torch.Tensor],
        mi: torch.Tensor,
        ni: torch.Tensor,
        *,
        fast: bool = False,
    ) -> torch.Tensor:
        """Flattened outputs of the (lesion ``mi[k]``, example ``ni[k]``) pairs, in float64 or
        with ``fast`` in the fast dtype (when the run has one)."""
        view, stored = (
            (self.fast, base.fast)
            if fast and self.fast is not None
            else (
                self.view,
                base.values,
            )
        )
        real = mi.numel()
        pad = -real % self.rows
        if pad:
            mi = torch.cat([mi, mi[-1:].expand(pad)])
            ni = torch.cat([ni, ni[-1:].expand(pad)])
        dims = self.view.batch_dims
        values = {name: stored[name].index_select(dims[name], ni) for name in plan.frontier}
        by_site: dict[str, list[tuple[Tap, str | None, torch.Tensor]]] = {}
        for layer, mask in masks.items():
            name, tap = self.site(layer)
            layout = self.layouts.get(layer)
            by_site.setdefault(name, []).append((tap, layout, mask.index_select(0, mi)))

        def silence(name: str, value: object) -> object:
            for tap, layout, mask in by_site.get(name, ()):
                value = _silence(value, tap, layout, mask)
            return value

        with torch.no_grad():
            for name in by_site.keys() & values.keys():
                values[name] = silence(name, values[name])
            values = view.replay(values, plan.ops, edit=silence, drop=plan.drop)
        return self._flat(values[view.output])[:real]


def _silence(value: torch.Tensor, tap: Tap, layout: str | None, mask: torch.Tensor) -> torch.Tensor:
    """``value`` with the elements of the masked units (``mask`` (P, width), one row per
    example along ``tap.batch_dim``) set to 0; ``layout`` is how the units lie in one
    example's values (:func:`_layout`)."""
    moved = value.movedim(tap.batch_dim, 0)
    p, width = moved.shape[0], tap.width
    ones = [1] * (moved.dim() - 2)
    keep_shape = None
    if layout == _UNIT_MAJOR and moved.dim() > 1 and moved.shape[1] == width:
        keep_shape = (p, width, *ones)  # (P, width, positions...): conv channels
    elif layout == _UNIT_MINOR and moved.dim() > 1 and moved.shape[-1] == width:
        keep_shape = (p, *ones, width)  # (P, positions..., width): features of every token
    if keep_shape is not None:
        # Multiplying by the kept units keeps the value's memory layout (a channels-last
        # convolution's output stays channels-last for the next one), where flattening it
        # would copy it twice; a silenced value is 0 (-0 for a negative one: the same number).
        keep = (~mask).to(value.dtype).view(keep_shape)
        return (moved * keep).movedim(0, tap.batch_dim)
    flat = moved.reshape(p, -1)
    hit = torch.zeros(flat.shape, dtype=torch.bool)
    hit[:, tap.columns] = mask[:, tap.units]
    return flat.masked_fill(hit, 0.0).view(moved.shape).movedim(0, tap.batch_dim)


_UNIT_MAJOR = "unit-major"
_UNIT_MINOR = "unit-minor"


def _layout(tap: Tap, elements: int) -> str | None:
    """How the units of a site lie in one example's ``elements`` values: each unit's values
    together (unit-major), units running fastest (unit-minor), or otherwise (None)."""
    width = tap.width
    if len(tap.columns) != elements or elements % width:
        return None
    units = torch.empty(elements, dtype=torch.int64)
    units[tap.columns] = tap.units
    units_per = torch.arange(width)
    if torch.equal(units, units_per.repeat_interleave(elements // width)):
        return _UNIT_MAJOR
    if torch.equal(units, units_per.repeat(elements // width)):
        return _UNIT_MINOR
    return None


def check_metric(metric: str | None, labelled: bool) -> str:
    """The metric of a run: ``metric``, or accuracy when there are classification labels and
    output-change otherwise; AnalysisError for an unknown one or accuracy without labels."""
    if metric is None:
        return ACCURACY if labelled else OUTPUT_CHANGE
    if metric not in METRICS:
        raise AnalysisError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    if metric == ACCURACY and not labelled:
        raise AnalysisError(
            f"the accuracy metric needs classification labels; use {arg('metric')} output-change"
        )
    return metric
