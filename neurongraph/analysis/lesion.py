"""Importance of groups of neurons by lesion tests (Hod et al., arXiv 2110.08058).

Pure functions over a :class:`~neurongraph.model.chain.Chain` or a
:class:`~neurongraph.model.view.ModelView` and plain arrays; nothing here touches the store. A
*lesion* silences some units: the incoming weights and the bias of every lesioned unit are zeroed
(for a conv layer, whole output channels), so the unit's pre-activation is 0 and its output is
``act(0)`` (0 for ReLU, tanh and GELU, 0.5 for a sigmoid). On any other network (a ModelView:
residual adds, attention) the same zeroed pre-activation is set where the view computes the layer,
``sum`` layers included; :mod:`neurongraph.analysis.view_lesion` says how, and how norms are
treated. Everything below describes chains; views follow the same rules for layers, lesions,
accuracy and the importance test, lesion any layer after the input, and add the
``output-change`` metric for networks without classification labels.

Rules used throughout
---------------------
* **Layers** are numbered as in the graph store: the input layer is position 0 and
  ``chain.stages[p - 1]`` computes layer ``p``. Only layers ``1 .. len(chain.stages)`` can be
  lesioned (the input has no incoming weights); *hidden* layers are ``1 .. len(chain.stages) - 1``.
* **A lesion** is a list of ``(layer, unit_indices)`` pairs, e.g. ``[(1, [0, 3]), (2, [5])]``
  silences units 0 and 3 of layer 1 and unit 5 of layer 2 at the same time; a mapping
  ``{layer: unit_indices}`` is accepted too. An empty lesion is the unlesioned network.
* **Accuracy** is a fraction (0-1, as scikit-learn's ``accuracy_score``) and a *delta* is
  ``lesioned - baseline``, a fraction too (-0.01 is one percentage point lost), so a harmful
  lesion has a negative delta. With several tasks (e.g. ``two-tasks``: logits 0-9
  classify ``y[:, 0]``, logits 10-19 ``y[:, 1]``) each task is scored with the argmax of its own
  output slice, and the overall accuracy is the **mean over tasks** of the task accuracies.
  Per-class accuracies are given for every (task, class) pair, task by task (see
  :attr:`LesionAccuracies.classes`); a class without test examples has accuracy NaN.
* **Evaluation is batched and exact.** Lesions are sorted by their first lesioned layer (and
  size); the unlesioned activations of the test set are computed once and shared, and many
  lesions share every forward pass (a pass holds at most ``EngineOptions.batch_elements`` activation
  values). For a lesion whose first layer is ``p`` only the layers after ``p`` are recomputed,
  and only on the (lesion, example) pairs whose answers can change:

  - an example on which every lesioned unit already outputs ``act(0)`` keeps its unlesioned
    output exactly;
  - for Linear layers with known activations (ReLU, leaky ReLU, tanh, sigmoid, GELU) a norm
    bound proves many answers unchanged: the lesion moves the next layer's pre-activation by
    exactly ``W[:, S] c`` (``c = act(0) - h[S]``), whose norm comes from the Gram matrix
    ``W'W``; from there the last hidden layer moves by at most that norm times the later layers'
    spectral norms and activation slopes, and the answer cannot change while the logit margins
    exceed ``|W_out[c] - W_out[c']|`` times that (checked again after recomputed layers);
  - the first recomputed Linear layer is updated by the lesioned columns only (a rank-``size``
    correction) instead of a full product.

  Passes run in float32; an answer whose top two logits are within ``EngineOptions.tie_rtol``
  of each other there is recomputed in the chain's dtype. The accuracies equal lesioning a copy
  of the network one lesion at a time in the chain's dtype (float64 for chains from
  :func:`~neurongraph.model.extract.extract_chain`; tested to 1e-6).
* **A lesion given more than once runs once** (:func:`distinct_lesions`: the same units of the
  same layers, in any order); every occurrence gets its answers. Random groups of a small layer
  repeat often (a 2-unit group of an 8-unit layer is one of 28 pairs), and a single neuron's
  lesion is also a random group of size 1.

References
----------
S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting modularity in deep
neural networks", arXiv:2110.08058.
"""

from __future__ import annotations

import itertools
import logging
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neurongraph.analysis.lesion_data import (
    CheckedData,
    Lesion,
    Network,
    check_model_and_data,
)
from neurongraph.analysis.lesion_engine import ChainEngine
from neurongraph.analysis.lesion_options import EngineOptions
from neurongraph.analysis.view_lesion import ACCURACY, ViewEngine
from neurongraph.errors import AnalysisError
from neurongraph.model.chain import Chain
from neurongraph.model.view import ModelView
from neurongraph.progress import Progress

__all__ = [
    "LESIONS_PER_CHUNK",
    "LesionAccuracies",
    "LesionChunk",
    "LesionRun",
    "check_batch_size",
    "distinct_lesions",
    "iter_lesions",
    "lesion_accuracies",
]

log = logging.getLogger(__name__)

#: Lesions per chunk when ``batch_size`` is None: one chunk is one item of :func:`iter_lesions`
#: (one progress step), evaluated in as few passes as ``EngineOptions.batch_elements`` allows.
LESIONS_PER_CHUNK = 512


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class LesionAccuracies:
    """Accuracies of M lesions and of the unlesioned network, from :func:`lesion_accuracies`.

    Attributes
    ----------
    accuracy : ndarray of shape (M,)
        Overall accuracy (a fraction) of each lesion: the mean over tasks of ``task_accuracy``.
    task_accuracy : ndarray of shape (M, n_tasks)
        Accuracy (a fraction) of each task.
    class_accuracy : ndarray of shape (M, n_class_columns)
        Accuracy (a fraction) on the examples of each (task, class) of :attr:`classes`; NaN for a
        class without examples.
    baseline_accuracy : float
        Overall accuracy of the unlesioned network.
    baseline_task_accuracy : ndarray of shape (n_tasks,)
    baseline_class_accuracy : ndarray of shape (n_class_columns,)
    tasks : tuple of str
        Task names (``('all',)`` when no tasks were given).
    classes : tuple of (str, int)
        ``(task name, class)`` of every column of ``class_accuracy``, task by task.
    class_counts : ndarray of shape (n_class_columns,)
        Number of examples of each (task, class).
    metric : str, default='accuracy'
        With ``'output-change'`` (views only) the "accuracy" of a lesion is minus the mean
        relative change of the output (a fraction), the baseline's is 0, there is one task
        (``'output-change'``) and no class columns.
    """

    accuracy: np.ndarray
    task_accuracy: np.ndarray
    class_accuracy: np.ndarray
    baseline_accuracy: float
    baseline_task_accuracy: np.ndarray
    baseline_class_accuracy: np.ndarray
    tasks: tuple[str, ...]
    classes: tuple[tuple[str, int], ...]
    class_counts: np.ndarray
    metric: str = ACCURACY

    @property
    def delta(self) -> np.ndarray:
        """``accuracy - baseline_accuracy``, a fraction, shape (M,)."""
        return self.accuracy - self.baseline_accuracy

    @property
    def task_delta(self) -> np.ndarray:
        """``task_accuracy - baseline_task_accuracy``, fractions, shape (M, n_tasks)."""
        return self.task_accuracy - self.baseline_task_accuracy

    @property
    def class_delta(self) -> np.ndarray:
        """``class_accuracy - baseline_class_accuracy``, fractions, shape (M, n_class_columns)."""
        return self.class_accuracy - self.baseline_class_accuracy


@dataclass(frozen=True)
class LesionChunk:
    """One chunk of lesions evaluated by :func:`iter_lesions`.

    Attributes
    ----------
    indices : ndarray of int64
        Positions of these lesions in the list given to :func:`iter_lesions` (chunks follow the
        lesions' first lesioned layer, not the list order).
    accuracy, task_accuracy, class_accuracy : ndarray
        As in :class:`LesionAccuracies`, one row per index.
    done, total : int
        Lesions evaluated so far (this chunk included) and in all.
    """

    indices: np.ndarray
    accuracy: np.ndarray
    task_accuracy: np.ndarray
    class_accuracy: np.ndarray
    done: int
    total: int


def check_batch_size(batch_size: int | None) -> int:
    if batch_size is None:
        return LESIONS_PER_CHUNK
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise AnalysisError(f"batch_size must be a positive integer or None, not {batch_size!r}")
    return int(batch_size)


def _normalise_lesion(
    widths: Sequence[int], lesion: Any, index: int
) -> tuple[tuple[int, np.ndarray], ...]:
    items = lesion.items() if isinstance(lesion, Mapping) else lesion
    try:
        pairs = list(items)
    except TypeError as err:
        raise AnalysisError(
            f"lesion {index} must be a list of (layer, unit_indices) pairs or a mapping"
        ) from err
    n_layers = len(widths) - 1
    merged: dict[int, list[np.ndarray]] = {}
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise AnalysisError(
                f"lesion {index} must be a list of (layer, unit_indices) pairs, got {pair!r}"
            )
        layer, units = pair
        if not isinstance(layer, numbers.Integral) or not 1 <= layer <= n_layers:
            raise AnalysisError(
                f"lesion {index} names layer {layer!r}; lesionable layers are 1..{n_layers} "
                f"(the input layer 0 has no incoming weights)"
            )
        u = np.asarray(units if not isinstance(units, range) else list(units)).reshape(-1)
        if u.size and u.dtype.kind not in "iu":
            raise AnalysisError(f"lesion {index}: unit indices must be integers")
        merged.setdefault(int(layer), []).append(u)
    out = []
    for layer in sorted(merged):
        parts = merged[layer]
        units = parts[0] if len(parts) == 1 else np.concatenate(parts)
        units = units.astype(np.int64, copy=False)
        if units.size > 1 and not (units[1:] > units[:-1]).all():
            units = np.unique(units)
        if not units.size:
            continue
        width = widths[layer]
        if units[0] < 0 or units[-1] >= width:
            raise AnalysisError(
                f"lesion {index}: layer {layer} has units 0..{width - 1}, "
                f"got {units[0]}..{units[-1]}"
            )
        out.append((layer, units))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# public API


def distinct_lesions(
    lesions: Sequence[tuple[tuple[int, np.ndarray], ...]],
) -> dict[int, list[int]]:
    """Each distinct non-empty lesion of ``lesions`` (normalised, as :class:`LesionRun` keeps
    them), as the index of its first occurrence mapped to the indices of all its occurrences.

    Random groups of a small layer repeat (a 2-unit group of an 8-unit layer is one of 28), and
    single neurons repeat random groups of size 1: each distinct lesion runs once."""
    first: dict[tuple, int] = {}
    copies: dict[int, list[int]] = {}
    for k, lesion in enumerate(lesions):
        if lesion:
            key = tuple((layer, units.tobytes()) for layer, units in lesion)
            copies.setdefault(first.setdefault(key, k), []).append(k)
    return copies


def _accuracies(
    engine: ChainEngine, task_correct: np.ndarray, class_correct: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    task_acc = task_correct / engine.n
    with np.errstate(invalid="ignore", divide="ignore"):
        class_acc = np.where(engine.class_counts > 0, class_correct / engine.class_counts, np.nan)
    return task_acc.mean(axis=-1), task_acc, class_acc


class LesionRun:
    """A checked, ready-to-evaluate list of lesions and the unlesioned network's answers."""

    def __init__(
        self,
        network: Network,
        data: CheckedData,
        lesions: Sequence[Lesion],
        batch_size: int | None,
        options: EngineOptions | None = None,
    ) -> None:
        self.chunk_size = check_batch_size(batch_size)
        options = EngineOptions() if options is None else options
        if isinstance(lesions, Mapping) or not isinstance(lesions, Sequence):
            raise AnalysisError("lesions must be a list of lesions, each a list of (layer, units)")
        self.metric = data.metric
        widths = network.widths
        self.lesions = [_normalise_lesion(widths, lesion, k) for k, lesion in enumerate(lesions)]
        if isinstance(network, Chain):
            self.engine = ChainEngine(network, data, options)
        else:
            accuracy = data.metric == ACCURACY
            self.engine = ViewEngine(
                network,
                data.X,
                data.metric,
                data.tasks,
                data.labels if accuracy else None,
                data.class_columns if accuracy else None,
                options,
            )
            for layer in {layer for lesion in self.lesions for layer, _ in lesion}:
                self.engine.site(layer)
        with torch.no_grad():
            self.base_task, self.base_class = self.engine.baseline_counts()

    @classmethod
    def checked(
        cls,
        model: Chain | ModelView | nn.Module,
        lesions: Sequence[Lesion],
        data: Any,
        tasks: Sequence[Any] | None,
        batch_size: int | None,
        metric: str | None = ACCURACY,
        options: EngineOptions | None = None,
    ) -> LesionRun:
        check_batch_size(batch_size)
        network, checked = check_model_and_data(model, data, tasks, metric)
        return cls(network, checked, lesions, batch_size, options)

    def baseline(self) -> tuple[float, np.ndarray, np.ndarray]:
        acc, task, cls = _accuracies(self.engine, self.base_task, self.base_class)
        return float(acc), task, cls

    def chunks(self) -> Iterator[LesionChunk]:
        lesions, engine = self.lesions, self.engine
        total = len(lesions)
        done = 0
        empty = [k for k in range(total) if not lesions[k]]
        if empty:
            done += len(empty)
            acc, task_acc, class_acc = _accuracies(
                engine,
                np.tile(self.base_task, (len(empty), 1)),
                np.tile(self.base_class, (len(empty), 1)),
            )
            yield LesionChunk(
                np.array(empty, dtype=np.int64), acc, task_acc, class_acc, done, total
            )
        copies = distinct_lesions(lesions)
        # chunks share the first lesioned layer, whether more layers are lesioned (only
        # one-layer lesions are certified) and a size class (1, 2, 3-4, 5-8, ...), so that
        # padding the first layer's unit lists to the chunk's largest costs little
        keys = {
            k: (
                lesions[k][0][0],
                len(lesions[k]) > 1,
                int(lesions[k][0][1].size - 1).bit_length(),
            )
            for k in copies
        }
        rest = sorted(keys, key=lambda k: (keys[k], lesions[k][0][1].size))
        for _, same in itertools.groupby(rest, key=keys.__getitem__):
            indices = list(same)
            for a in range(0, len(indices), self.chunk_size):
                idx = indices[a : a + self.chunk_size]
                with torch.no_grad():
                    task_change, class_change = engine.evaluate([lesions[k] for k in idx])
                acc, task_acc, class_acc = _accuracies(
                    engine,
                    self.base_task[None, :] + task_change,
                    self.base_class[None, :] + class_change,
                )
                rows = np.repeat(np.arange(len(idx)), [len(copies[k]) for k in idx])
                done += rows.size
                log.debug("lesions: %d of %d evaluated", done, total)
                yield LesionChunk(
                    np.array([c for k in idx for c in copies[k]], dtype=np.int64),
                    acc[rows],
                    task_acc[rows],
                    class_acc[rows],
                    done,
                    total,
                )

    def collect(self, progress: Progress | None) -> LesionAccuracies:
        m = len(self.lesions)
        tasks = self.engine.tasks
        accuracy = np.empty(m)
        task_accuracy = np.empty((m, len(tasks.names)))
        class_accuracy = np.empty((m, tasks.n_columns))
        if progress is not None:
            progress(0, m)
        for part in self.chunks():
            accuracy[part.indices] = part.accuracy
            task_accuracy[part.indices] = part.task_accuracy
            class_accuracy[part.indices] = part.class_accuracy
            if progress is not None:
                progress(part.done, part.total)
        base, base_task, base_class = self.baseline()
        return LesionAccuracies(
            accuracy=accuracy,
            task_accuracy=task_accuracy,
            class_accuracy=class_accuracy,
            baseline_accuracy=base,
            baseline_task_accuracy=base_task,
            baseline_class_accuracy=base_class,
            tasks=tasks.names,
            classes=tasks.classes,
            class_counts=self.engine.class_counts.copy(),
            metric=self.metric,
        )


def iter_lesions(
    model: Chain | ModelView | nn.Module,
    lesions: Sequence[Lesion],
    data: tuple[Any, Any],
    *,
    batch_size: int | None = None,
    tasks: Sequence[Any] | None = None,
    metric: str | None = ACCURACY,
    options: EngineOptions | None = None,
) -> Iterator[LesionChunk]:
    """Evaluate lesions chunk by chunk, yielding each chunk's accuracies as soon as it is done.

    The generator form of :func:`lesion_accuracies`, for callers that draw a progress bar: every
    item says how many lesions are done out of how many. Chunks hold lesions with the same first
    lesioned layer and similar sizes, so they do not follow the order of ``lesions``.

    Parameters
    ----------
    model, lesions, data, batch_size, tasks, metric, options
        As in :func:`lesion_accuracies`.

    Yields
    ------
    LesionChunk
        ``indices`` say which lesions of ``lesions`` the chunk holds.

    Raises
    ------
    AnalysisError
        As :func:`lesion_accuracies`, when called (before the first item).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> g = torch.Generator().manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    >>> X = torch.randn(30, 4, generator=g)
    >>> y = model(X).argmax(1)
    >>> [(c.indices.tolist(), c.done, c.total) for c in
    ...  iter_lesions(model, [[(1, [0])], [(2, [1])], [(1, [2])]], (X, y))]
    [([0, 2], 2, 3), ([1], 3, 3)]
    """
    return LesionRun.checked(model, lesions, data, tasks, batch_size, metric, options).chunks()


def lesion_accuracies(
    model: Chain | ModelView | nn.Module,
    lesions: Sequence[Lesion],
    data: tuple[Any, Any],
    *,
    batch_size: int | None = None,
    tasks: Sequence[Any] | None = None,
    metric: str | None = ACCURACY,
    options: EngineOptions | None = None,
    progress: Progress | None = None,
) -> LesionAccuracies:
    """Test accuracy of many lesions of one network, evaluated as batched masked forward passes.

    Parameters
    ----------
    model : Chain, ModelView or torch.nn.Module
        The network; an ``nn.Module`` is turned into a chain with
        :func:`~neurongraph.model.extract.extract_chain` on the first examples of ``X``, or
        when it is not a chain into a view with :func:`~neurongraph.model.view.read_view`.
    lesions : list of lesions
        Each lesion is a list of ``(layer, unit_indices)`` pairs (or a mapping
        ``{layer: unit_indices}``) naming units to silence together; layers are positions as in
        the store (input 0, so ``chain.stages[layer - 1]``). An empty lesion is the unlesioned
        network.
    data : (X, y)
        Test examples ``(N, *input_shape)`` (a flat ``(N, features)`` array is reshaped when the
        sizes agree) and integer labels, ``(N,)`` or ``(N, n_label_columns)``; tensors or arrays.
    batch_size : int or None, default=None
        Lesions per chunk (one progress step); ``None`` means ``LESIONS_PER_CHUNK``. Memory is
        bounded by ``options.batch_elements`` whatever the value.
    tasks : list, optional
        Classification tasks: objects with ``output_slice`` and ``label_column`` (and optionally
        ``name``), such as :class:`neurongraph.model.datasets.Task`, or ``(slice, column)`` pairs.
        ``None``: one task over every output, ``y`` one column.
    metric : {'accuracy', 'output-change'} or None, default='accuracy'
        ``'output-change'`` (views only; ``y`` may be None) scores the mean relative L2
        change of the output instead (see :class:`LesionAccuracies`); None picks accuracy when
        ``y`` holds classification labels, else output-change.
    options : EngineOptions, optional
        Batching and rounding of the engine (:class:`~neurongraph.analysis.lesion_options.
        EngineOptions`); they change speed and memory, not the accuracies.
    progress : callable, optional
        Called as ``progress(0, total)`` when the lesions start, then as
        ``progress(done, total)`` after every chunk.

    Returns
    -------
    LesionAccuracies
        Overall, per-task and per-class accuracy of every lesion, in the order given, and of the
        unlesioned network.

    Raises
    ------
    AnalysisError
        Data that does not fit the model (input shape, label count, labels outside the outputs,
        task slices), malformed lesions (unknown layer, unit out of range), bad ``batch_size``.

    Notes
    -----
    See the module docstring for how lesions are batched. The results equal those of lesioning a
    copy of the chain one lesion at a time (zeroing the incoming weights and biases of the units)
    up to floating-point rounding, which could only matter for an example whose top two logits
    tie to ~1e-15.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> g = torch.Generator().manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    >>> X = torch.randn(50, 4, generator=g)
    >>> y = model(X).argmax(1)
    >>> res = lesion_accuracies(model, [[], [(1, range(6))]], (X, y))
    >>> res.baseline_accuracy, float(res.accuracy[0])
    (1.0, 1.0)
    >>> res.accuracy.shape, res.class_accuracy.shape
    ((2,), (2, 3))
    """
    run = LesionRun.checked(model, lesions, data, tasks, batch_size, metric, options)
    return run.collect(progress)
