"""The batched lesion engine of chains: many lesions share every forward pass.

How it saves work (the rules are in :mod:`neurongraph.analysis.lesion`): the unlesioned
activations are computed once; a lesion whose first layer is ``p`` recomputes only the layers
after ``p``, only on the (lesion, example) pairs whose answers can change (a unit already at
``act(0)`` changes nothing; for Linear layers with known activations a norm bound proves many
answers unchanged), and updates the first recomputed Linear layer by the lesioned columns only.
Passes run in :attr:`EngineOptions.fast_dtype`; answers near a tie are recomputed in the chain's
dtype. DAGs have their own engine, :class:`~neurongraph.analysis.view_lesion.ViewEngine`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neurongraph.analysis.lesion_data import CheckedData
from neurongraph.analysis.lesion_options import EngineOptions
from neurongraph.model.chain import Chain, Stage, reduce_channels

__all__ = ["ChainEngine"]

#: Use the rank-``size`` update of the first recomputed Linear layer while a lesion's size is at
#: most this fraction of the layer's width (above it a full product is as fast).
RANK_UPDATE_MAX_FRACTION = 0.25
#: Lesions of at most this many units take the rank update as a loop of gathered rows; larger
#: ones as one batched matrix product.
RANK_UPDATE_LOOP_UNITS = 2
#: The norm bound of ``EngineOptions.certify`` is inflated by ``1 + CERT_SLACK`` against rounding.
CERT_SLACK = 1e-3
#: Baseline answers whose top two logits lie within this (relative) distance are never certified.
CERT_TIE_RTOL = 1e-9
#: Rounding allowance of the fast dtype when certifying from a fast-dtype activation change:
#: the bound uses ``|dx| + FAST_NORM_RTOL * |x|``.
FAST_NORM_RTOL = 1e-4
#: Largest slope of GELU (at x ~ 1.5), its Lipschitz constant.
GELU_LIPSCHITZ = 1.13


def _affine(s: Stage, weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    for op in s.pre:
        x = op(x)
    if s.kind == "linear":
        return F.linear(x, weight, bias)
    return F.conv2d(x, weight, bias, **s.conv)


def _activate(s: Stage, z: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    for op in s.activation:
        z = z.relu_() if inplace and type(op) is nn.ReLU else op(z)
    return z


def _fill_(x: torch.Tensor, mask: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Set the masked units (``mask`` (P, width) bool) of ``x`` (P, width, ...) to ``value``."""
    return x.masked_fill_(mask.view(*mask.shape, *([1] * (x.dim() - 2))), value)


@dataclass
class _Params:
    """Stage weights, biases and ``act(0)`` in one dtype."""

    dtype: torch.dtype
    weight: list[torch.Tensor]
    bias: list[torch.Tensor]
    act0: list[torch.Tensor]

    @classmethod
    def of(cls, stages: Sequence[Stage], dtype: torch.dtype) -> _Params:
        with torch.no_grad():
            act0 = [_activate(s, torch.zeros((), dtype=dtype)).reshape(()) for s in stages]
        return cls(
            dtype,
            [s.weight.to(dtype) for s in stages],
            [s.bias.to(dtype) for s in stages],
            act0,
        )


@dataclass
class _Baseline:
    H: list[torch.Tensor]  # post-activation of every stage, chain dtype
    H_fast: list[torch.Tensor]  # the same in the fast dtype
    Z_fast: dict[int, torch.Tensor]  # fast pre-activation of the stages that take a rank update
    changed: list[torch.Tensor]  # (n, width): 1 where the unit's output differs from act(0)
    correct: torch.Tensor  # (n, n_tasks) int64
    class_columns: torch.Tensor  # (n, n_tasks) int64
    allowed: torch.Tensor | None  # (n,): a change of the last hidden layer smaller than this
    # (L2 norm) cannot change any task's answer; None when the chain cannot be certified
    silenced: dict[int, torch.Tensor] = field(default_factory=dict)  # stage -> (width, n):
    # the change act(0) - h of each unit's output when it is silenced (filled when first used)


@dataclass
class _Batch:
    """Lesions sharing their first lesioned stage ``first``, as masks and padded unit lists."""

    first: int
    masks: dict[int, torch.Tensor]  # stage -> (M, width) bool
    units: torch.Tensor  # (M, s_max) units of stage ``first`` (padded with 0)
    valid: torch.Tensor  # (M, s_max) bool
    rank: bool  # update stage first + 1 by the lesioned columns only
    certify: bool  # drop pairs whose answers provably cannot change


def _lipschitz(s: Stage) -> float | None:
    """Lipschitz constant of the stage's element-wise activations (None: unknown)."""
    lip = 1.0
    for op in s.activation:
        if isinstance(op, nn.ReLU | nn.Tanh):
            continue
        if isinstance(op, nn.LeakyReLU):
            lip *= max(1.0, abs(op.negative_slope))
        elif isinstance(op, nn.Sigmoid):
            lip *= 0.25
        elif isinstance(op, nn.GELU):
            lip *= GELU_LIPSCHITZ
        else:
            return None
    return lip


def _spectral_norm(gram: torch.Tensor) -> float:
    """Largest singular value of ``w``, from the eigenvalues of its Gram matrix ``w'w`` (or
    ``ww'``)."""
    return float(torch.linalg.eigvalsh(gram)[-1].clamp(min=0.0).sqrt())


class ChainEngine:
    """Evaluates normalised lesions on the data, many per forward pass."""

    def __init__(self, chain: Chain, data: CheckedData, options: EngineOptions) -> None:
        self.chain = chain
        self.options = options
        self.stages = chain.stages
        self.data = data
        self.tasks = data.tasks
        self.exact = _Params.of(self.stages, chain.dtype)
        fast = options.fast_dtype if options.fast_dtype is not None else chain.dtype
        self.fast = self.exact if fast == chain.dtype else _Params.of(self.stages, fast)
        with torch.no_grad():
            x = data.X[:1]
            self.example_elements = []
            for i, s in enumerate(self.stages):
                x = _activate(s, _affine(s, self.exact.weight[i], self.exact.bias[i], x))
                self.example_elements.append(math.prod(x.shape[1:]))
            self._init_certificates()
        self.rank_ok = [
            i > 0 and s.kind == "linear" and not s.pre for i, s in enumerate(self.stages)
        ]
        self.labels = torch.as_tensor(data.labels)
        self.class_columns = torch.as_tensor(data.class_columns)
        self.n = int(data.X.shape[0])
        per_example = 3 * sum(self.example_elements)
        self.examples_per_chunk = max(1, min(self.n, options.batch_elements // per_example))
        self._cache: dict[int, _Baseline] = {}
        self.class_counts = np.bincount(
            data.class_columns.reshape(-1), minlength=self.tasks.n_columns
        ).astype(np.int64)

    def _init_certificates(self) -> None:
        """Norm bounds that prove some lesioned answers unchanged (see ``_Batch.certify``).

        From a change ``d`` of stage ``i``'s output, stage ``L - 2``'s output (the last hidden
        layer) changes by at most ``|d| * gain_after[i]``, the product of the later hidden stages'
        spectral norms times their activations' Lipschitz constants; logit ``c`` minus logit
        ``c'`` then changes by at most ``|W_L[c] - W_L[c']|`` times that. Only for chains whose
        stages from the lesioned one on are Linear (shape-only ops: flatten, dropout) with known
        activations and linear logits.
        """
        L = len(self.stages)
        passive = (nn.Flatten, nn.Dropout, nn.Identity)
        simple = [
            s.kind == "linear" and all(isinstance(op, passive) for op in s.pre) for s in self.stages
        ]
        lips = [_lipschitz(s) for s in self.stages]
        ok_tail = all(isinstance(op, passive) for op in self.chain.tail)
        last_ok = simple[-1] and not self.stages[-1].activation and ok_tail and L > 1
        self.cert_from = [False] * L
        self.gain_after = [1.0] * L
        gain = 1.0
        ok = last_ok
        grams: dict[int, torch.Tensor] = {}
        for i in range(L - 2, -1, -1):
            ok = ok and simple[i] and lips[i] is not None
            self.cert_from[i] = ok
            self.gain_after[i] = gain
            if ok:
                w = self.exact.weight[i]
                # w'w, kept for the certificates below; the smaller ww' for a wide first stage
                grams[i] = w.T @ w if i > 0 or w.shape[0] >= w.shape[1] else w @ w.T
                gain *= _spectral_norm(grams[i]) * lips[i]
        self.lip = lips
        # cert_from[i - 1] implies cert_from[i], so each of these was computed above
        self.gram = {i: grams[i] for i in range(1, L - 1) if self.cert_from[i - 1]}
        if any(self.cert_from):
            w = self.exact.weight[-1]
            # the direct formula: the matrix-product one loses precision for close rows
            self.pair_dist = [
                torch.cdist(w[sl], w[sl], compute_mode="donot_use_mm_for_euclid_dist")
                for sl in self.tasks.slices
            ]

    def _allowed(self, logits: torch.Tensor) -> torch.Tensor:
        """Per example, the largest last-hidden-layer change that keeps every task's answer."""
        logits = logits.reshape(logits.shape[0], -1)
        allowed = torch.full((logits.shape[0],), float("inf"), dtype=logits.dtype)
        for sl, dist in zip(self.tasks.slices, self.pair_dist, strict=True):
            part = logits[:, sl]
            pred = part.argmax(1)
            # margins within tie_rtol-scale rounding of a tie are never certified
            floor = CERT_TIE_RTOL * (1.0 + part.abs().amax(1, keepdim=True))
            margin = part.gather(1, pred[:, None]) - part - floor
            d = dist[pred]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = torch.where(d > 0, margin / d, torch.where(margin > 0, torch.inf, 0.0))
            ratio[torch.arange(len(pred)), pred] = torch.inf
            allowed = torch.minimum(allowed, ratio.min(1).values)
        return allowed

    # -- baseline --------------------------------------------------------------------------

    def _example_chunks(self) -> list[slice]:
        step = self.examples_per_chunk
        return [slice(a, min(a + step, self.n)) for a in range(0, self.n, step)]

    def baseline(self, chunk: slice) -> _Baseline:
        """Unlesioned activations and answers of the examples in ``chunk`` (cached when the
        whole data set is one chunk)."""
        if chunk.start in self._cache:
            return self._cache[chunk.start]
        p, fast = self.exact, self.fast
        x = self.data.X[chunk]
        H, Z, changed = [], {}, []
        for i, s in enumerate(self.stages):
            z = _affine(s, p.weight[i], p.bias[i], x)
            if self.rank_ok[i]:
                Z[i] = z.to(fast.dtype)
            x = _activate(s, z)
            H.append(x)
            changed.append(reduce_channels((x != p.act0[i]).to(x.dtype), "max"))
        for op in self.chain.tail:
            x = op(x)
        correct, _ = self.score(x, self.labels[chunk], check_ties=False)
        H_fast = H if fast is p else [h.to(fast.dtype) for h in H]
        allowed = self._allowed(x) if any(self.cert_from) else None
        base = _Baseline(H, H_fast, Z, changed, correct, self.class_columns[chunk], allowed)
        if self.examples_per_chunk >= self.n:
            self._cache[chunk.start] = base
        return base

    def baseline_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Correct answers of the unlesioned network: per task (T,) and per class column (C,)."""
        task = np.zeros(len(self.tasks.names), dtype=np.int64)
        cls = np.zeros(self.tasks.n_columns, dtype=np.int64)
        for chunk in self._example_chunks():
            base = self.baseline(chunk)
            task += base.correct.sum(0).numpy()
            for t in range(len(self.tasks.names)):
                cls += np.bincount(
                    base.class_columns[:, t].numpy(),
                    weights=base.correct[:, t].numpy(),
                    minlength=self.tasks.n_columns,
                ).astype(np.int64)
        return task, cls

    def score(
        self, logits: torch.Tensor, labels: torch.Tensor, *, check_ties: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(P, n_tasks) int64, 1 where a task's argmax is the label; with ``check_ties``, also
        the (P,) bool of answers too close to call in this dtype."""
        logits = logits.reshape(logits.shape[0], -1)
        correct, near = [], None
        for t, sl in enumerate(self.tasks.slices):
            part = logits[:, sl]
            correct.append(part.argmax(1) == labels[:, t])
            if check_ties:
                top = part.topk(2, dim=1).values
                scale = 1.0 + part.abs().amax(1)
                close = (top[:, 0] - top[:, 1]) <= self.options.tie_rtol * scale
                near = close if near is None else near | close
        return torch.stack(correct, dim=1).to(torch.int64), near

    # -- lesions ---------------------------------------------------------------------------

    def batch(self, lesions: Sequence[tuple[tuple[int, np.ndarray], ...]]) -> _Batch:
        m = len(lesions)
        first = lesions[0][0][0] - 1
        s_max = max(lesion[0][1].size for lesion in lesions)
        rows: dict[int, list[np.ndarray]] = {}
        cols: dict[int, list[np.ndarray]] = {}
        for j, lesion in enumerate(lesions):
            for layer, idx in lesion:
                rows.setdefault(layer - 1, []).append(np.full(idx.size, j))
                cols.setdefault(layer - 1, []).append(idx)
        masks: dict[int, torch.Tensor] = {}
        for i in rows:
            masks[i] = torch.zeros((m, self.stages[i].width), dtype=torch.bool)
            r = torch.as_tensor(np.concatenate(rows[i]))
            masks[i][r, torch.as_tensor(np.concatenate(cols[i]))] = True
        sizes = np.array([lesion[0][1].size for lesion in lesions])
        valid_np = np.arange(s_max)[None, :] < sizes[:, None]
        units_np = np.zeros((m, s_max), dtype=np.int64)
        units_np[valid_np] = np.concatenate([lesion[0][1] for lesion in lesions])
        units, valid = torch.as_tensor(units_np), torch.as_tensor(valid_np)
        nxt = first + 1
        rank = (
            nxt < len(self.stages)
            and self.rank_ok[nxt]
            and s_max <= RANK_UPDATE_MAX_FRACTION * self.stages[nxt].weight.shape[1]
        )
        certify = self.options.certify and len(masks) == 1 and self.cert_from[first]
        return _Batch(first, masks, units, valid, rank, certify)

    def evaluate(
        self, lesions: Sequence[tuple[tuple[int, np.ndarray], ...]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct-answer changes per task (M, T) and per class column (M, C) of lesions that all
        share the same first lesioned layer."""
        m = len(lesions)
        n_tasks = len(self.tasks.names)
        n_cols = self.tasks.n_columns
        task_change = torch.zeros((m, n_tasks), dtype=torch.int64)
        class_change = torch.zeros(m * n_cols, dtype=torch.int64)
        batch = self.batch(lesions)
        first = batch.first
        row_elements = max(self.example_elements[first:])
        pairs_per_pass = max(1, self.options.batch_elements // (4 * row_elements))
        for chunk in self._example_chunks():
            base = self.baseline(chunk)
            labels = self.labels[chunk]
            affected = torch.zeros((m, chunk.stop - chunk.start), dtype=torch.bool)
            for i, mask in batch.masks.items():
                affected |= (mask.to(base.changed[i].dtype) @ base.changed[i].T) > 0
            if batch.certify:
                affected &= ~self._certified_lesions(base, batch)
            m_idx, n_idx = affected.nonzero(as_tuple=True)
            for a in range(0, m_idx.numel(), pairs_per_pass):
                mi, ni = m_idx[a : a + pairs_per_pass], n_idx[a : a + pairs_per_pass]
                exact = self.fast is self.exact
                logits, alive = self._forward(base, batch, mi, ni, fast=True)
                if alive.numel() == 0:
                    continue
                mi, ni = mi[alive], ni[alive]
                correct, near = self.score(logits, labels[ni], check_ties=not exact)
                if near is not None and bool(near.any()):
                    k = near.nonzero(as_tuple=True)[0]
                    again, _ = self._forward(base, batch, mi[k], ni[k], fast=False)
                    correct[k] = self.score(again, labels[ni[k]], check_ties=False)[0]
                change = correct - base.correct[ni]
                task_change.index_add_(0, mi, change)
                for t in range(n_tasks):
                    class_change.index_add_(
                        0, mi * n_cols + base.class_columns[ni, t], change[:, t]
                    )
        return task_change.numpy(), class_change.view(m, n_cols).numpy()

    def _certified_lesions(self, base: _Baseline, batch: _Batch) -> torch.Tensor:
        """(M, n) bool: pairs whose answers the lesion provably cannot change.

        The lesion changes stage ``first``'s output by ``c = act0 - h[S]`` on its units, and the
        next stage's pre-activation by exactly ``W[:, S] c``, of squared norm ``c' G[S, S] c``
        with the Gram matrix ``G = W'W``; both are computed for every pair at once.
        """
        first = batch.first
        nxt = first + 1
        if first not in base.silenced:
            base.silenced[first] = (self.exact.act0[first] - base.H[first]).T.contiguous()
        coeff = base.silenced[first]  # (width, n)
        units, valid = batch.units, batch.valid
        m, s_max = units.shape
        n = coeff.shape[1]
        out = torch.empty((m, n), dtype=torch.bool)
        step = max(1, self.options.batch_elements // (2 * s_max * n))
        gram = self.gram.get(nxt)
        for a in range(0, m, step):
            u, v = units[a : a + step], valid[a : a + step]
            c = coeff.index_select(0, u.reshape(-1)).view(*u.shape, n).mul_(v[:, :, None])
            if gram is not None and nxt <= len(self.stages) - 2:
                g = gram[u[:, :, None], u[:, None, :]]
                norm = (torch.bmm(g, c) * c).sum(1).clamp_(min=0.0).sqrt_() * self.lip[nxt]
                out[a : a + step] = self._certified(norm, nxt, base.allowed[None, :])
            else:
                norm = (c * c).sum(1).sqrt_()
                out[a : a + step] = self._certified(norm, first, base.allowed[None, :])
        return out

    def _certified(self, norm: torch.Tensor, i: int, allowed: torch.Tensor) -> torch.Tensor:
        """Pairs whose change ``norm`` of stage ``i``'s output cannot change any answer."""
        bound = norm.to(allowed.dtype) * (self.gain_after[i] * (1.0 + CERT_SLACK))
        return bound < allowed

    def _forward(
        self, base: _Baseline, batch: _Batch, mi: torch.Tensor, ni: torch.Tensor, *, fast: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs of the (lesion ``mi[k]``, example ``ni[k]``) pairs, from the first lesioned
        stage on, and the positions ``k`` they belong to: with ``batch.certify`` pairs whose
        answers provably cannot change are dropped on the way. ``fast=False`` computes every
        pair in the chain's dtype without the rank update."""
        p = self.fast if fast else self.exact
        H = base.H_fast if fast else base.H
        first, masks = batch.first, batch.masks
        certify = fast and batch.certify
        alive = torch.arange(mi.numel())
        last_hidden = len(self.stages) - 2
        if fast and batch.rank:
            i = first + 1
            z = self._rank_update(base, batch, mi, ni)
            x = _activate(self.stages[i], z, inplace=True)
            if i in masks:
                _fill_(x, masks[i][mi[alive]], p.act0[i])
            start = i + 1
        else:
            x = _fill_(H[first][ni], masks[first][mi], p.act0[first])
            start = first + 1
        for i in range(start, len(self.stages)):
            s = self.stages[i]
            x = _activate(s, _affine(s, p.weight[i], p.bias[i], x), inplace=True)
            if i in masks:
                _fill_(x, masks[i][mi[alive]], p.act0[i])
            if certify and i < last_hidden and x.shape[0]:
                x, alive, ni = self._drop_certified(x, H, i, alive, ni, base)
        for op in self.chain.tail:
            x = op(x)
        return x, alive

    def _drop_certified(
        self,
        x: torch.Tensor,
        H: list[torch.Tensor],
        i: int,
        alive: torch.Tensor,
        ni: torch.Tensor,
        base: _Baseline,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Drop the pairs whose change of stage ``i``'s output ``x`` cannot change an answer."""
        # allow for the rounding of the fast dtype in x
        norm = (x - H[i].index_select(0, ni)).norm(dim=1) + FAST_NORM_RTOL * x.norm(dim=1)
        keep = (~self._certified(norm, i, base.allowed[ni])).nonzero(as_tuple=True)[0]
        if keep.numel() == x.shape[0]:
            return x, alive, ni
        return x[keep], alive[keep], ni[keep]

    def _rank_update(
        self, base: _Baseline, batch: _Batch, mi: torch.Tensor, ni: torch.Tensor
    ) -> torch.Tensor:
        """Pre-activation of stage ``first + 1`` when only units of stage ``first`` changed:
        ``z + (act0 - h[:, S]) @ W[:, S].T``."""
        first, i = batch.first, batch.first + 1
        p = self.fast
        units = batch.units.index_select(0, mi)
        h = base.H_fast[first]
        coeff = h.view(-1).index_select(0, (ni[:, None] * h.shape[1] + units).view(-1))
        coeff = (p.act0[first] - coeff.view(units.shape)).mul_(batch.valid.index_select(0, mi))
        wt = p.weight[i].T
        if units.shape[1] <= RANK_UPDATE_LOOP_UNITS:
            delta = wt.index_select(0, units[:, 0]) * coeff[:, :1]
            for r in range(1, units.shape[1]):
                delta.add_(wt.index_select(0, units[:, r]) * coeff[:, r : r + 1])
        else:
            # one batched product per lesion: pairs padded to the lesion with most examples
            local, inverse = torch.unique_consecutive(mi, return_inverse=True)
            counts = torch.bincount(inverse)
            n_max = int(counts.max())
            pos = torch.arange(mi.numel()) - (torch.cumsum(counts, 0) - counts)[inverse]
            flat = inverse * n_max + pos
            padded = torch.zeros((local.numel() * n_max, units.shape[1]), dtype=p.dtype)
            padded.index_copy_(0, flat, coeff)
            update = torch.bmm(
                padded.view(local.numel(), n_max, units.shape[1]), wt[batch.units[local]]
            )
            delta = update.view(-1, update.shape[-1]).index_select(0, flat)
        return delta.add_(base.Z_fast[i].index_select(0, ni))
