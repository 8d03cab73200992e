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
* **Accuracy** is in percent (0-100) and a *delta* is ``lesioned - baseline`` in percentage points,
  so a harmful lesion has a negative delta. With several tasks (e.g. ``two-tasks``: logits 0-9
  classify ``y[:, 0]``, logits 10-19 ``y[:, 1]``) each task is scored with the argmax of its own
  output slice, and the overall accuracy is the **mean over tasks** of the task accuracies.
  Per-class accuracies are given for every (task, class) pair, task by task (see
  :attr:`LesionAccuracies.classes`); a class without test examples has accuracy NaN.
* **Evaluation is batched and exact.** Lesions are sorted by their first lesioned layer (and
  size); the unlesioned activations of the test set are computed once and shared, and many
  lesions share every forward pass (a pass holds at most ``LESION_BATCH_ELEMENTS`` activation
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

  Passes run in float32; an answer whose top two logits are within ``TIE_RTOL`` of each other
  there is recomputed in the chain's dtype. The accuracies equal lesioning a copy of the network
  one lesion at a time in the chain's dtype (float64 for chains from
  :func:`~neurongraph.model.extract.extract_chain`; tested to 1e-6).
* **Importance test** (:func:`importance`). For every (layer, cluster) group of a partition in a
  hidden layer, the group's lesion delta is compared with the deltas of ``n_random`` random
  same-size groups of the same layer (drawn uniformly among all the layer's units with
  :func:`~neurongraph.analysis.stats.random_groups`): ``p = (#{random delta <= delta} + 1) /
  (n_random + 1)``; a group is *important* when ``p < IMPORTANT_P`` (0.01) and ``delta <= -1``
  point. p is never below ``1 / (n_random + 1)``, so fewer than ``DEFAULT_N_RANDOM`` (100)
  random groups can make no group important: :func:`importance_unreachable` says so in words.
  The network's p is Fisher's combination of the groups' p values.
* **Seeds.** ``random_state`` (int, ``RandomState``, ``Generator`` or None) is resolved once with
  ``sklearn.utils.check_random_state`` (a ``Generator`` is used as is); random groups are drawn
  from it group by group in (layer, label) order, then the random pairs, so a rerun with the same
  seed draws the same groups and gives the same p values.

References
----------
S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting modularity in deep
neural networks", arXiv:2110.08058.
"""

from __future__ import annotations

import itertools
import logging
import math
import numbers
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch import nn
from torch.nn import functional as F

from neurongraph.analysis.defaults import LESION_N_RANDOM as DEFAULT_N_RANDOM
from neurongraph.analysis.stats import fisher_combined, percentile, random_groups
from neurongraph.analysis.view_lesion import (
    ACCURACY,
    OUTPUT_CHANGE,
    OutputTasks,
    ViewEngine,
    check_metric,
    hidden_layers,
)
from neurongraph.errors import AnalysisError
from neurongraph.model.chain import Chain, Stage, reduce_channels
from neurongraph.model.extract import NotAChainError, extract_chain
from neurongraph.model.view import ModelView, read_view

__all__ = [
    "DEFAULT_N_RANDOM",
    "IMPORTANT_DELTA",
    "IMPORTANT_P",
    "LESIONS_PER_CHUNK",
    "LESION_BATCH_ELEMENTS",
    "Group",
    "GroupImportance",
    "ImportanceResult",
    "Lesion",
    "LesionAccuracies",
    "LesionChunk",
    "NeuronImportance",
    "PairImportance",
    "SkippedGroup",
    "partition_groups",
    "importance",
    "importance_unreachable",
    "iter_lesions",
    "lesion_accuracies",
]

log = logging.getLogger(__name__)

#: A group is important only when its p against the random groups is below this ...
IMPORTANT_P = 0.01
#: ... and its lesion costs at least this much accuracy (points).
IMPORTANT_DELTA = -1.0
#: Most activation values one batched forward pass may hold (2**23 values: 64 MiB in float64).
LESION_BATCH_ELEMENTS = 2**23
#: Lesions per chunk when ``batch_size`` is None: one chunk is one item of :func:`iter_lesions`
#: (one progress step), evaluated in as few passes as ``LESION_BATCH_ELEMENTS`` allows.
LESIONS_PER_CHUNK = 512
#: Examples used to extract a chain from an ``nn.Module``.
EXTRACT_EXAMPLES = 8
#: Use the rank-``size`` update of the first recomputed Linear layer while a lesion's size is at
#: most this fraction of the layer's width (above it a full product is as fast).
RANK_UPDATE_MAX_FRACTION = 0.25
#: Lesions of at most this many units take the rank update as a loop of gathered rows; larger
#: ones as one batched matrix product.
RANK_UPDATE_LOOP_UNITS = 2
#: Lesion forward passes run in this dtype (None: the chain's).
FAST_DTYPE: torch.dtype | None = torch.float32
#: An answer whose top two logits lie within ``TIE_RTOL * (1 + max |logit|)`` of each other in
#: ``FAST_DTYPE`` is recomputed in the chain's dtype, so the answers are the chain dtype's.
TIE_RTOL = 1e-3
#: Skip (lesion, example) pairs whose answers a norm bound proves unchanged (see
#: ``_Engine._init_certificates``); the bound is inflated by ``1 + CERT_SLACK`` against rounding.
CERTIFY = True
CERT_SLACK = 1e-3
#: Baseline answers whose top two logits lie within this (relative) distance are never certified.
CERT_TIE_RTOL = 1e-9
#: Rounding allowance of the fast dtype when certifying from a fast-dtype activation change:
#: the bound uses ``|dx| + FAST_NORM_RTOL * |x|``.
FAST_NORM_RTOL = 1e-4
#: Largest slope of GELU (at x ~ 1.5), its Lipschitz constant.
GELU_LIPSCHITZ = 1.13
#: Seeds drawn for torch generators lie in ``[0, SEED_RANGE)``.
SEED_RANGE = 2**31 - 1

#: ``(layer, unit_indices)`` pairs, or a mapping ``{layer: unit_indices}``.
Lesion = Sequence[tuple[int, Sequence[int]]] | Mapping[int, Sequence[int]]
Progress = Callable[[int, int], Any]

SKIP_SINGLE = "single neuron: its lesion is the neuron's own importance"
SKIP_WHOLE_LAYER = "whole layer: every random group of that size is the group itself"
SKIP_NOT_HIDDEN = "not a hidden layer: only hidden layers are lesioned"


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class LesionAccuracies:
    """Accuracies of M lesions and of the unlesioned network, from :func:`lesion_accuracies`.

    Attributes
    ----------
    accuracy : ndarray of shape (M,)
        Overall accuracy (percent) of each lesion: the mean over tasks of ``task_accuracy``.
    task_accuracy : ndarray of shape (M, n_tasks)
        Accuracy (percent) of each task.
    class_accuracy : ndarray of shape (M, n_class_columns)
        Accuracy (percent) on the examples of each (task, class) of :attr:`classes`; NaN for a class
        without examples.
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
        With ``'output-change'`` (views only) the "accuracy" of a lesion is ``-100`` times the
        mean relative change of the output (percent), the baseline's is 0, there is one task
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
        """``accuracy - baseline_accuracy``, points, shape (M,)."""
        return self.accuracy - self.baseline_accuracy

    @property
    def task_delta(self) -> np.ndarray:
        """``task_accuracy - baseline_task_accuracy``, points, shape (M, n_tasks)."""
        return self.task_accuracy - self.baseline_task_accuracy

    @property
    def class_delta(self) -> np.ndarray:
        """``class_accuracy - baseline_class_accuracy``, points, shape (M, n_class_columns)."""
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


@dataclass(frozen=True)
class Group:
    """A group of units of one layer: a cluster's part in that layer, or a random group.

    Attributes
    ----------
    layer : int
        Layer position (input 0).
    label : hashable
        Cluster label (``None`` for random groups).
    units : ndarray of int64
        Sorted unit indices within the layer.
    """

    layer: int
    label: Hashable
    units: np.ndarray

    @property
    def size(self) -> int:
        return int(self.units.size)


@dataclass(frozen=True)
class SkippedGroup:
    """A group that was not tested, and why (one of the ``SKIP_*`` reasons)."""

    layer: int
    label: Hashable
    size: int
    reason: str


@dataclass(frozen=True)
class GroupImportance:
    """Lesion test of one (layer, cluster) group.

    Attributes
    ----------
    layer : int
        Layer position (input 0).
    label : hashable
        Cluster label.
    units : ndarray of int64
        The group's unit indices in its layer.
    size : int
    delta : float
        Overall accuracy change of the lesion, points (negative = harmful).
    task_deltas : ndarray of shape (n_tasks,)
    class_deltas : ndarray of shape (n_class_columns,)
        Per (task, class) accuracy change, in the order of :attr:`ImportanceResult.classes`.
    p : float
        ``(#{random delta <= delta} + 1) / (n_random + 1)``.
    task_p : ndarray of shape (n_tasks,)
        The same percentile for each task's delta against the random groups' task deltas.
    important : bool
        ``p < IMPORTANT_P`` and ``delta <= IMPORTANT_DELTA``.
    random_deltas : ndarray of shape (n_random,)
        Overall deltas of the random same-size groups.
    random_task_deltas : ndarray of shape (n_random, n_tasks)
    random_units : ndarray of shape (n_random, size)
        The random groups.
    """

    layer: int
    label: Hashable
    units: np.ndarray
    size: int
    delta: float
    task_deltas: np.ndarray
    class_deltas: np.ndarray
    p: float
    task_p: np.ndarray
    important: bool
    random_deltas: np.ndarray
    random_task_deltas: np.ndarray
    random_units: np.ndarray


@dataclass(frozen=True)
class NeuronImportance:
    """Single-neuron lesions of one hidden layer.

    Attributes
    ----------
    layer : int
    delta : ndarray of shape (width,)
        Overall accuracy change (points) when only that neuron is lesioned.
    task_deltas : ndarray of shape (width, n_tasks)
    """

    layer: int
    delta: np.ndarray
    task_deltas: np.ndarray

    @property
    def importance(self) -> np.ndarray:
        """Accuracy lost (points) by lesioning each neuron alone: ``-delta``."""
        return -self.delta


@dataclass(frozen=True)
class PairImportance:
    """Double lesion of two tested groups (``first < second``, indices into ``groups``).

    Attributes
    ----------
    first, second : int
        Indices of the two groups in :attr:`ImportanceResult.groups`.
    delta : float
        Overall accuracy change (points) of lesioning both groups together (``Δij``).
    interaction : float
        ``Δij - Δi - Δj``: negative when the joint lesion hurts more than the two alone add up to.
    task_deltas : ndarray of shape (n_tasks,)
    p : float
        Percentile of ``delta`` (``tail='lower'``) among joint lesions of random pairs of groups of
        the same sizes: for groups in different layers, a random group of each size in each layer;
        in the same layer, a random group of the size of their union.
    random_deltas : ndarray of shape (n_random,)
    """

    first: int
    second: int
    delta: float
    interaction: float
    task_deltas: np.ndarray
    p: float
    random_deltas: np.ndarray


@dataclass(frozen=True)
class ImportanceResult:
    """Everything :func:`importance` measured.

    Attributes
    ----------
    groups : list of GroupImportance
        Tested groups in (layer, label) order.
    skipped : list of SkippedGroup
    neurons : dict of int to NeuronImportance
        Single-neuron lesions per hidden layer (empty when ``single_neurons=False``).
    pairs : list of PairImportance
        Every pair of tested groups, within and across layers (empty unless ``double=True``).
    fisher_p : float
        Fisher-combined p over ``groups`` (NaN when no group was tested).
    baseline_accuracy : float
    baseline_task_accuracy : ndarray of shape (n_tasks,)
    baseline_class_accuracy : ndarray of shape (n_class_columns,)
    tasks : tuple of str
    classes : tuple of (str, int)
    n_random : int
    n_lesions : int
        Lesions evaluated in all.
    metric : str, default='accuracy'
        ``'output-change'``: deltas are minus the relative output change, percent (see
        :class:`LesionAccuracies`).
    """

    groups: list[GroupImportance]
    skipped: list[SkippedGroup]
    neurons: dict[int, NeuronImportance]
    pairs: list[PairImportance]
    fisher_p: float
    baseline_accuracy: float
    baseline_task_accuracy: np.ndarray
    baseline_class_accuracy: np.ndarray
    tasks: tuple[str, ...]
    classes: tuple[tuple[str, int], ...]
    n_random: int
    n_lesions: int = 0
    metric: str = ACCURACY


# --------------------------------------------------------------------------------------------
# validation at the edge (shared with coherence.py)


@dataclass(frozen=True)
class _Tasks:
    """Output slices and label columns of the tasks, checked against the data."""

    names: tuple[str, ...]
    slices: tuple[slice, ...]
    columns: tuple[int, ...]
    n_classes: tuple[int, ...]

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.n_classes)[:-1]]).astype(np.int64)

    @property
    def classes(self) -> tuple[tuple[str, int], ...]:
        return tuple(
            (name, c) for name, n in zip(self.names, self.n_classes, strict=True) for c in range(n)
        )

    @property
    def n_columns(self) -> int:
        return int(sum(self.n_classes))


@dataclass(frozen=True)
class _Data:
    X: torch.Tensor
    y: np.ndarray | None  # (N, n_columns of y) int64; None for output-change
    tasks: _Tasks | OutputTasks
    metric: str = ACCURACY

    @property
    def labels(self) -> np.ndarray:
        """(N, n_tasks) labels, task by task."""
        return self.y[:, list(self.tasks.columns)]

    @property
    def class_columns(self) -> np.ndarray:
        """(N, n_tasks) column of each example's class in the (task, class) list."""
        return self.labels + self.tasks.offsets[None, :]


Network = Chain | ModelView


def _as_network(model: Chain | ModelView | nn.Module, X: torch.Tensor) -> Network:
    """The chain or view of ``model``: an ``nn.Module`` is read as a chain when it is one, else
    as a view of its data flow."""
    if isinstance(model, Chain | ModelView):
        return model
    if isinstance(model, nn.Module):
        dtype = next((p.dtype for p in model.parameters()), X.dtype)
        example = X[:EXTRACT_EXAMPLES]
        example = example.to(dtype) if example.is_floating_point() else example
        if not example.is_floating_point():
            return read_view(model, example)
        try:
            return extract_chain(model, example)
        except NotAChainError:
            return read_view(model, example)
    raise AnalysisError(
        "model must be a neurongraph Chain or ModelView or a torch nn.Module, not "
        f"{type(model).__name__}"
    )


def _n_outputs(network: Network, X: torch.Tensor) -> int:
    with torch.no_grad():
        return int(network(X[:1]).reshape(1, -1).shape[1])


def _hidden(network: Network) -> list[int]:
    """Layers whose groups are tested: a chain's hidden layers, a view's
    :func:`~neurongraph.analysis.view_lesion.hidden_layers`."""
    if isinstance(network, Chain):
        return list(range(1, len(network.stages)))
    return hidden_layers(network)


def _as_tensor(X: Any) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return X.detach()
    try:
        arr = np.asarray(X)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        return torch.as_tensor(arr)
    except (TypeError, ValueError) as err:
        raise AnalysisError(f"data X must be a numeric array: {err}") from err


def _split_data(data: Any) -> tuple[torch.Tensor, Any]:
    if not isinstance(data, Sequence) or isinstance(data, str) or len(data) != 2:
        raise AnalysisError("data must be a pair (X, y) of examples and labels (y None: none)")
    X, y = data
    return _as_tensor(X), y


def _check_model_and_data(
    model: Chain | ModelView | nn.Module,
    data: Any,
    tasks: Sequence[Any] | None,
    metric: str | None = ACCURACY,
) -> tuple[Network, _Data]:
    """Validate ``(X, y)``, ``tasks`` and ``metric`` against the model; returns its chain or
    view and the data. ``metric`` None: accuracy when ``y`` holds labels of classification
    tasks, else output-change (views only)."""
    X, y = _split_data(data)
    if X.dim() < 2 or X.shape[0] == 0:
        raise AnalysisError(
            f"data X must hold at least one example, shape (n_examples, ...), got {tuple(X.shape)}"
        )
    network = _as_network(model, X)
    shape = tuple(network.input_shape)
    if tuple(X.shape[1:]) != shape:
        if math.prod(X.shape[1:]) != math.prod(shape):
            raise AnalysisError(
                f"the dataset does not fit the model: examples of shape {tuple(X.shape[1:])} but "
                f"the model takes input of shape {shape}; use the dataset the model was trained on"
            )
        X = X.reshape(X.shape[0], *shape)
    if isinstance(network, Chain):
        X = X.to(network.dtype)
    else:
        X = X.long() if network.tokens else X.double()
    labelled = y is not None and all(
        getattr(task, "kind", "classification") == "classification" for task in tasks or ()
    )
    # chains keep their own messages for regression tasks (they have no other metric)
    chain = isinstance(network, Chain)
    if metric is None:
        metric = ACCURACY if labelled or chain else OUTPUT_CHANGE
    metric = check_metric(metric, labelled or (chain and y is not None))
    if metric != ACCURACY:
        if isinstance(network, Chain):
            raise AnalysisError(
                f"the {metric} metric is for networks read as a view; chains score accuracy"
            )
        return network, _Data(X, None, OutputTasks(), metric)
    try:
        y_arr = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
    except (TypeError, ValueError) as err:
        raise AnalysisError(f"labels y must be an integer array: {err}") from err
    if y_arr.ndim == 1:
        y_arr = y_arr[:, None]
    if y_arr.ndim != 2 or y_arr.shape[0] != X.shape[0]:
        raise AnalysisError(
            f"the dataset does not fit: {X.shape[0]} examples but labels of shape "
            f"{y_arr.shape}; y needs one row per example (one column per task)"
        )
    if not np.issubdtype(y_arr.dtype, np.number) or (
        not np.issubdtype(y_arr.dtype, np.integer) and not np.all(y_arr == np.round(y_arr))
    ):
        raise AnalysisError("labels y must be integer class labels (classification tasks only)")
    y_arr = y_arr.astype(np.int64)
    n_outputs = _n_outputs(network, X)
    checked = _check_tasks(tasks, n_outputs, y_arr.shape[1])
    for name, column, n in zip(checked.names, checked.columns, checked.n_classes, strict=True):
        labels = y_arr[:, column]
        if labels.min() < 0 or labels.max() >= n:
            raise AnalysisError(
                f"the dataset does not fit the model: task {name!r} has labels from "
                f"{labels.min()} to {labels.max()} but {n} outputs; use the dataset the model "
                f"was trained on"
            )
    return network, _Data(X, y_arr, checked)


def _check_tasks(tasks: Sequence[Any] | None, n_outputs: int, n_columns: int) -> _Tasks:
    if tasks is None:
        if n_columns != 1:
            raise AnalysisError(
                f"labels y have {n_columns} columns but no tasks were given; pass tasks "
                f"(output slice and label column of each)"
            )
        return _Tasks(("all",), (slice(0, n_outputs),), (0,), (n_outputs,))
    names, slices, columns, n_classes = [], [], [], []
    for i, task in enumerate(tasks):
        if isinstance(task, Sequence) and len(task) == 2:
            sl, column, name, kind = task[0], task[1], str(i), "classification"
        else:
            sl = getattr(task, "output_slice", None)
            column = getattr(task, "label_column", None)
            name = str(getattr(task, "name", i))
            kind = getattr(task, "kind", "classification")
        if kind != "classification" or getattr(task, "n_classes", 1) == 0:
            raise AnalysisError(
                f"task {name!r} is a regression task; lesion and coherence scores need "
                f"classification tasks"
            )
        if not isinstance(sl, slice) or not isinstance(column, numbers.Integral):
            raise AnalysisError(
                f"task {i} must have an output_slice (slice) and a label_column (int), or be a "
                f"pair (slice, column)"
            )
        start, stop, step = sl.indices(n_outputs)
        if step != 1 or stop - start < 2 or sl.stop is None or sl.stop > n_outputs:
            raise AnalysisError(
                f"task {name!r} takes outputs {sl.start}:{sl.stop} but the model has "
                f"{n_outputs} outputs; the dataset does not fit the model"
            )
        if not 0 <= column < n_columns:
            raise AnalysisError(
                f"task {name!r} reads label column {column} but y has {n_columns} column(s)"
            )
        names.append(name)
        slices.append(slice(start, stop))
        columns.append(int(column))
        n_classes.append(stop - start)
    if not names:
        raise AnalysisError("tasks must name at least one task")
    return _Tasks(tuple(names), tuple(slices), tuple(columns), tuple(n_classes))


def _check_batch_size(batch_size: int | None) -> int:
    if batch_size is None:
        return LESIONS_PER_CHUNK
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise AnalysisError(f"batch_size must be a positive integer or None, not {batch_size!r}")
    return int(batch_size)


def _check_n_random(n_random: int) -> int:
    if not isinstance(n_random, numbers.Integral) or isinstance(n_random, bool) or n_random < 1:
        raise AnalysisError(
            f"random-sets must be at least 1 (got {n_random!r}): each group is compared with "
            f"that many random same-size groups"
        )
    return int(n_random)


def _resolve_random_state(random_state: Any) -> np.random.RandomState | np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    try:
        return check_random_state(random_state)
    except ValueError as err:
        raise AnalysisError(f"random_state must be an int, a RandomState or None: {err}") from err


def _draw_seed(rng: np.random.RandomState | np.random.Generator) -> int:
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, SEED_RANGE))
    return int(rng.randint(0, SEED_RANGE))


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
# the batched engine


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


class _Engine:
    """Evaluates normalised lesions on the data, many per forward pass."""

    def __init__(self, chain: Chain, data: _Data) -> None:
        self.chain = chain
        self.stages = chain.stages
        self.data = data
        self.tasks = data.tasks
        self.exact = _Params.of(self.stages, chain.dtype)
        fast = FAST_DTYPE if FAST_DTYPE is not None else chain.dtype
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
        self.examples_per_chunk = max(1, min(self.n, LESION_BATCH_ELEMENTS // per_example))
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
            # margins within TIE_RTOL-scale rounding of a tie are never certified
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
                close = (top[:, 0] - top[:, 1]) <= TIE_RTOL * scale
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
        certify = CERTIFY and len(masks) == 1 and self.cert_from[first]
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
        pairs_per_pass = max(1, LESION_BATCH_ELEMENTS // (4 * row_elements))
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
        step = max(1, LESION_BATCH_ELEMENTS // (2 * s_max * n))
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


# --------------------------------------------------------------------------------------------
# public API


def _accuracies(
    engine: _Engine, task_correct: np.ndarray, class_correct: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    task_acc = 100.0 * task_correct / engine.n
    with np.errstate(invalid="ignore", divide="ignore"):
        class_acc = np.where(
            engine.class_counts > 0, 100.0 * class_correct / engine.class_counts, np.nan
        )
    return task_acc.mean(axis=-1), task_acc, class_acc


class _Run:
    """A checked, ready-to-evaluate list of lesions and the unlesioned network's answers."""

    def __init__(
        self, network: Network, data: _Data, lesions: Sequence[Lesion], batch_size: int | None
    ) -> None:
        self.chunk_size = _check_batch_size(batch_size)
        if isinstance(lesions, Mapping) or not isinstance(lesions, Sequence):
            raise AnalysisError("lesions must be a list of lesions, each a list of (layer, units)")
        self.metric = data.metric
        widths = network.widths
        self.lesions = [_normalise_lesion(widths, lesion, k) for k, lesion in enumerate(lesions)]
        if isinstance(network, Chain):
            self.engine = _Engine(network, data)
        else:
            accuracy = data.metric == ACCURACY
            self.engine = ViewEngine(
                network,
                data.X,
                data.metric,
                data.tasks,
                data.labels if accuracy else None,
                data.class_columns if accuracy else None,
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
    ) -> _Run:
        _check_batch_size(batch_size)
        network, checked = _check_model_and_data(model, data, tasks, metric)
        return cls(network, checked, lesions, batch_size)

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
        # chunks share the first lesioned layer, whether more layers are lesioned (only
        # one-layer lesions are certified) and a size class (1, 2, 3-4, 5-8, ...), so that
        # padding the first layer's unit lists to the chunk's largest costs little
        keys = {
            k: (
                lesions[k][0][0],
                len(lesions[k]) > 1,
                int(lesions[k][0][1].size - 1).bit_length(),
            )
            for k in range(total)
            if lesions[k]
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
                done += len(idx)
                log.debug("lesions: %d of %d evaluated", done, total)
                yield LesionChunk(
                    np.array(idx, dtype=np.int64), acc, task_acc, class_acc, done, total
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
) -> Iterator[LesionChunk]:
    """Evaluate lesions chunk by chunk, yielding each chunk's accuracies as soon as it is done.

    The generator form of :func:`lesion_accuracies`, for callers that draw a progress bar: every
    item says how many lesions are done out of how many. Chunks hold lesions with the same first
    lesioned layer and similar sizes, so they do not follow the order of ``lesions``.

    Parameters
    ----------
    model, lesions, data, batch_size, tasks, metric
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
    return _Run.checked(model, lesions, data, tasks, batch_size, metric).chunks()


def lesion_accuracies(
    model: Chain | ModelView | nn.Module,
    lesions: Sequence[Lesion],
    data: tuple[Any, Any],
    *,
    batch_size: int | None = None,
    tasks: Sequence[Any] | None = None,
    metric: str | None = ACCURACY,
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
        bounded by ``LESION_BATCH_ELEMENTS`` whatever the value.
    tasks : list, optional
        Classification tasks: objects with ``output_slice`` and ``label_column`` (and optionally
        ``name``), such as :class:`neurongraph.model.datasets.Task`, or ``(slice, column)`` pairs.
        ``None``: one task over every output, ``y`` one column.
    metric : {'accuracy', 'output-change'} or None, default='accuracy'
        ``'output-change'`` (views only; ``y`` may be None) scores the mean relative L2
        change of the output instead (see :class:`LesionAccuracies`); None picks accuracy when
        ``y`` holds classification labels, else output-change.
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
    (100.0, 100.0)
    >>> res.accuracy.shape, res.class_accuracy.shape
    ((2,), (2, 3))
    """
    return _Run.checked(model, lesions, data, tasks, batch_size, metric).collect(progress)


# --------------------------------------------------------------------------------------------
# groups of a partition and the importance test


def partition_groups(
    chain: Chain | ModelView,
    groups: Mapping[int, Any] | Sequence[tuple[int, Hashable, Sequence[int]]],
    *,
    min_size: int = 2,
) -> tuple[list[Group], list[SkippedGroup]]:
    """The (layer, cluster) groups of a partition that can be tested, and the ones that cannot.

    Parameters
    ----------
    chain : Chain or ModelView
        The network; a view's hidden layers are those of
        :func:`~neurongraph.analysis.view_lesion.hidden_layers`.
    groups : mapping of int to array-like, or sequence of (layer, label, units)
        Either labels per layer, ``{layer: labels}`` with ``labels[i]`` the cluster of unit ``i``
        of that layer (a negative label means no cluster; every other distinct label is one
        group), or explicit ``(layer, label, unit_indices)`` triples.
    min_size : int, default=2
        Smaller groups are skipped (``SKIP_SINGLE`` for size 1).

    Returns
    -------
    tested : list of Group
        In (layer, label) order.
    skipped : list of SkippedGroup
        Groups outside the hidden layers, smaller than ``min_size``, or holding the whole layer.

    Raises
    ------
    AnalysisError
        Unknown layer, labels of the wrong length, units out of range, or an empty group list.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from neurongraph.model.extract import extract_chain
    >>> chain = extract_chain(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)),
    ...                       torch.zeros(1, 3))
    >>> tested, skipped = partition_groups(chain, {1: [0, 0, 1, 2], 2: [0, 0]})
    >>> [(g.layer, g.label, g.units.tolist()) for g in tested]
    [(1, 0, [0, 1])]
    >>> [(s.layer, s.label, s.reason.split(":")[0]) for s in skipped]
    [(1, 1, 'single neuron'), (1, 2, 'single neuron'), (2, 0, 'not a hidden layer')]
    """
    widths = chain.widths
    n_layers = len(widths) - 1
    hidden = set(_hidden(chain))
    triples: list[tuple[int, Hashable, np.ndarray]] = []
    if isinstance(groups, Mapping):
        for layer, labels in groups.items():
            _check_layer(layer, n_layers)
            lab = np.asarray(labels).reshape(-1)
            if lab.size != widths[layer]:
                raise AnalysisError(
                    f"layer {layer} has {widths[layer]} units but {lab.size} cluster labels"
                )
            keep = ~(lab < 0) if np.issubdtype(lab.dtype, np.number) else np.ones(lab.size, bool)
            for label in np.unique(lab[keep]):
                units = np.flatnonzero(lab == label)
                label = label.item() if isinstance(label, np.generic) else label
                triples.append((int(layer), label, units))
    else:
        for item in groups:
            if not isinstance(item, Sequence) or len(item) != 3:
                raise AnalysisError(
                    f"groups must map layers to labels or list (layer, label, units), got {item!r}"
                )
            layer, label, units = item
            _check_layer(layer, n_layers)
            u = np.unique(np.asarray(units, dtype=np.int64).reshape(-1))
            if u.size and (u[0] < 0 or u[-1] >= widths[layer]):
                raise AnalysisError(
                    f"group {label!r}: layer {layer} has units 0..{widths[layer] - 1}"
                )
            if u.size:
                triples.append((int(layer), label, u))
    if not triples:
        raise AnalysisError("the partition has no groups; check that it was computed")
    triples.sort(key=lambda t: (t[0], _sort_key(t[1])))
    tested, skipped = [], []
    for layer, label, units in triples:
        size = int(units.size)
        if layer not in hidden:
            skipped.append(SkippedGroup(layer, label, size, SKIP_NOT_HIDDEN))
        elif size < min_size:
            reason = SKIP_SINGLE if size == 1 else f"fewer than {min_size} neurons"
            skipped.append(SkippedGroup(layer, label, size, reason))
        elif size == widths[layer]:
            skipped.append(SkippedGroup(layer, label, size, SKIP_WHOLE_LAYER))
        else:
            tested.append(Group(layer, label, units.astype(np.int64)))
    for sk in skipped:
        log.info(
            "group %r of layer %d (%d neurons) skipped: %s", sk.label, sk.layer, sk.size, sk.reason
        )
    return tested, skipped


def _sort_key(label: Hashable) -> tuple[int, Any]:
    return (0, label) if isinstance(label, numbers.Real) else (1, str(label))


def _check_layer(layer: Any, n_layers: int) -> None:
    if not isinstance(layer, numbers.Integral) or not 0 <= layer <= n_layers:
        raise AnalysisError(
            f"layer {layer!r} is not a layer of the network (positions 0..{n_layers}, input 0)"
        )


def importance_unreachable(n_random: int) -> str | None:
    """Why no group can be important with ``n_random`` random groups, or None when one can.

    A group's p is at least ``1 / (n_random + 1)``; it must be below ``IMPORTANT_P``.

    Examples
    --------
    >>> importance_unreachable(DEFAULT_N_RANDOM) is None
    True
    >>> note = importance_unreachable(20)
    >>> "smallest p is 1/21 = 0.0476" in note and "--random-sets 100 or more" in note
    True
    """
    n = _check_n_random(n_random)
    if 1.0 / (n + 1) < IMPORTANT_P:
        return None
    return (
        f"with {n} random sets the smallest p is 1/{n + 1} = {1.0 / (n + 1):.3g}, not below the "
        f"importance threshold p < {IMPORTANT_P:g}, so no group can be important; use "
        f"--random-sets {DEFAULT_N_RANDOM} or more"
    )


def _percentiles(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Lower-tail percentile of every column of ``observed`` (k,) against ``null`` (n, k)."""
    return np.array([percentile(o, null[:, t], tail="lower") for t, o in enumerate(observed)])


def importance(
    model: Chain | ModelView | nn.Module,
    groups: Mapping[int, Any] | Sequence[tuple[int, Hashable, Sequence[int]]],
    data: tuple[Any, Any],
    *,
    n_random: int = DEFAULT_N_RANDOM,
    random_state: int | np.random.RandomState | np.random.Generator | None = None,
    double: bool = False,
    single_neurons: bool = True,
    tasks: Sequence[Any] | None = None,
    batch_size: int | None = None,
    metric: str | None = ACCURACY,
    progress: Progress | None = None,
) -> ImportanceResult:
    """Lesion test of every (layer, cluster) group of a partition against random groups.

    Parameters
    ----------
    model : Chain, ModelView or torch.nn.Module
        As in :func:`lesion_accuracies`.
    groups : mapping of int to array-like, or sequence of (layer, label, units)
        The partition, as in :func:`partition_groups`. Groups of one neuron, groups holding a
        whole layer and groups outside the hidden layers are skipped and reported.
    data : (X, y)
        Test examples and labels, as in :func:`lesion_accuracies`.
    n_random : int, default=DEFAULT_N_RANDOM
        Random same-size groups of the same layer per group (and random pairs per pair); with
        fewer than ``DEFAULT_N_RANDOM`` no group can be important
        (:func:`importance_unreachable`).
    random_state : int, RandomState, Generator or None, default=None
        Seed of the random groups (see the module docstring).
    double : bool, default=False
        Also lesion every pair of tested groups, within and across layers.
    single_neurons : bool, default=True
        Also lesion every hidden neuron alone (``neurons``).
    tasks : list, optional
        As in :func:`lesion_accuracies`.
    batch_size : int or None, default=None
        As in :func:`lesion_accuracies`.
    metric : {'accuracy', 'output-change'} or None, default='accuracy'
        As in :func:`lesion_accuracies`; with output-change a delta is minus the relative
        output change in percent, and ``important`` needs a change of at least 1 percent.
    progress : callable, optional
        ``progress(done, total)`` over all the lesions of the run.

    Returns
    -------
    ImportanceResult

    Raises
    ------
    AnalysisError
        ``n_random < 1``, data that does not fit the model, a malformed partition.

    Notes
    -----
    Every lesion of the run (groups, random groups, single neurons, pairs) is evaluated in one
    batched :func:`lesion_accuracies` call. A group's ``p`` is
    ``(#{random delta <= delta} + 1) / (n_random + 1)``
    (:func:`~neurongraph.analysis.stats.percentile`, ``tail='lower'``), so its smallest value is
    ``1 / (n_random + 1)``; ``important`` needs ``p < IMPORTANT_P`` and ``delta <= -1`` point.
    ``fisher_p`` combines the groups' p values.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> g = torch.Generator().manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> X = torch.randn(60, 4, generator=g)
    >>> y = model(X).argmax(1)
    >>> res = importance(model, {1: [0, 0, 0, 1, 1, 1, 2, 2]}, (X, y), n_random=5,
    ...                  random_state=0)
    >>> [(r.label, r.size) for r in res.groups], res.baseline_accuracy
    ([(0, 3), (1, 3), (2, 2)], 100.0)
    >>> sorted(res.neurons), res.neurons[1].delta.shape
    ([1], (8,))
    """
    n_random = _check_n_random(n_random)
    _check_batch_size(batch_size)
    network, checked = _check_model_and_data(model, data, tasks, metric)
    tested, skipped = partition_groups(network, groups, min_size=2)
    rng = _resolve_random_state(random_state)
    widths = network.widths
    lesions: list[list[tuple[int, np.ndarray]]] = [[(g.layer, g.units)] for g in tested]
    random_sets = []
    for g in tested:
        r = random_groups(widths[g.layer], g.size, n_random, rng)
        random_sets.append(np.sort(r, axis=1))
        lesions.extend([(g.layer, row)] for row in r)
    hidden = _hidden(network)
    single_start = len(lesions)
    if single_neurons:
        lesions.extend([(layer, [u])] for layer in hidden for u in range(widths[layer]))
    pair_start = len(lesions)
    pair_index = list(itertools.combinations(range(len(tested)), 2)) if double else []
    for i, j in pair_index:
        a, b = tested[i], tested[j]
        lesions.append([(a.layer, a.units), (b.layer, b.units)])
        if a.layer == b.layer:
            size = np.union1d(a.units, b.units).size
            rows = random_groups(widths[a.layer], size, n_random, rng)
            lesions.extend([(a.layer, row)] for row in rows)
        else:
            ra = random_groups(widths[a.layer], a.size, n_random, rng)
            rb = random_groups(widths[b.layer], b.size, n_random, rng)
            lesions.extend([(a.layer, x), (b.layer, y)] for x, y in zip(ra, rb, strict=True))
    log.info(
        "importance: %d groups (%d skipped), %d random sets each, %d lesions in all",
        len(tested),
        len(skipped),
        n_random,
        len(lesions),
    )
    res = _Run(network, checked, lesions, batch_size).collect(progress)
    delta, task_delta, class_delta = res.delta, res.task_delta, res.class_delta
    results = []
    for k, g in enumerate(tested):
        rs = slice(len(tested) + k * n_random, len(tested) + (k + 1) * n_random)
        p = percentile(delta[k], delta[rs], tail="lower")
        results.append(
            GroupImportance(
                layer=g.layer,
                label=g.label,
                units=g.units,
                size=g.size,
                delta=float(delta[k]),
                task_deltas=task_delta[k],
                class_deltas=class_delta[k],
                p=p,
                task_p=_percentiles(task_delta[k], task_delta[rs]),
                important=bool(p < IMPORTANT_P and delta[k] <= IMPORTANT_DELTA),
                random_deltas=delta[rs],
                random_task_deltas=task_delta[rs],
                random_units=random_sets[k],
            )
        )
    neurons = {}
    if single_neurons:
        start = single_start
        for layer in hidden:
            stop = start + widths[layer]
            neurons[layer] = NeuronImportance(layer, delta[start:stop], task_delta[start:stop])
            start = stop
    pairs = []
    for k, (i, j) in enumerate(pair_index):
        at = pair_start + k * (n_random + 1)
        joint = float(delta[at])
        pairs.append(
            PairImportance(
                first=i,
                second=j,
                delta=joint,
                interaction=joint - results[i].delta - results[j].delta,
                task_deltas=task_delta[at],
                p=percentile(joint, delta[at + 1 : at + 1 + n_random], tail="lower"),
                random_deltas=delta[at + 1 : at + 1 + n_random],
            )
        )
    return ImportanceResult(
        groups=results,
        skipped=skipped,
        neurons=neurons,
        pairs=pairs,
        fisher_p=fisher_combined([r.p for r in results]),
        baseline_accuracy=res.baseline_accuracy,
        baseline_task_accuracy=res.baseline_task_accuracy,
        baseline_class_accuracy=res.baseline_class_accuracy,
        tasks=res.tasks,
        classes=res.classes,
        n_random=n_random,
        n_lesions=len(lesions),
        metric=res.metric,
    )
