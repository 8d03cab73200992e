"""Importance of groups of neurons by lesion tests (Hod et al., arXiv 2110.08058).

Lesions, layers, accuracy and the batched evaluation are as in
:mod:`neurongraph.analysis.lesion`; groups are the (layer, cluster) groups of
:func:`~neurongraph.analysis.lesion_groups.partition_groups`.

* **Importance test** (:func:`importance`). For every (layer, cluster) group of a partition in a
  hidden layer, the group's lesion delta is compared with the deltas of ``n_random`` random
  same-size groups of the same layer (drawn uniformly among all the layer's units with
  :func:`~neurongraph.analysis.stats.random_groups`): ``p = (#{random delta <= delta} + 1) /
  (n_random + 1)``; a group is *important* when ``p < IMPORTANT_P`` (0.01) and
  ``delta <= IMPORTANT_DELTA`` (-0.01: accuracies and deltas are fractions, so one percentage
  point). p is never below ``1 / (n_random + 1)``, so fewer than ``DEFAULT_N_RANDOM`` (100)
  random groups can make no group important: :func:`importance_unreachable` says so in words.
  The network's p is Fisher's combination of the groups' p values.
* **Seeds.** ``random_state`` (int, ``RandomState``, ``Generator`` or None) is resolved once with
  :func:`neurongraph.seeds.check_random_state` (a ``Generator`` is used as is); random groups
  are drawn from it group by group in (layer, label) order, then the random pairs, so a rerun
  with the same seed draws the same groups and gives the same p values.

References
----------
S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting modularity in deep
neural networks", arXiv:2110.08058.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from neurongraph.analysis.defaults import LESION_N_RANDOM as DEFAULT_N_RANDOM
from neurongraph.analysis.lesion import LesionRun, check_batch_size
from neurongraph.analysis.lesion_data import (
    check_model_and_data,
    check_n_random,
    group_layers,
)
from neurongraph.analysis.lesion_groups import SkippedGroup, partition_groups
from neurongraph.analysis.lesion_options import EngineOptions
from neurongraph.analysis.stats import fisher_combined, percentile, random_groups
from neurongraph.analysis.view_lesion import ACCURACY
from neurongraph.errors import arg
from neurongraph.model.chain import Chain
from neurongraph.model.view import ModelView
from neurongraph.progress import Progress
from neurongraph.seeds import check_random_state

__all__ = [
    "DEFAULT_N_RANDOM",
    "IMPORTANT_DELTA",
    "IMPORTANT_P",
    "GroupImportance",
    "ImportanceResult",
    "NeuronImportance",
    "PairImportance",
    "importance",
    "importance_unreachable",
]

log = logging.getLogger(__name__)

#: A group is important only when its p against the random groups is below this ...
IMPORTANT_P = 0.01
#: ... and its lesion costs at least this much accuracy (a fraction: one percentage point).
IMPORTANT_DELTA = -0.01


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
        Overall accuracy change of the lesion, a fraction (negative = harmful).
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
        Overall accuracy change (a fraction) when only that neuron is lesioned.
    task_deltas : ndarray of shape (width, n_tasks)
    """

    layer: int
    delta: np.ndarray
    task_deltas: np.ndarray

    @property
    def importance(self) -> np.ndarray:
        """Accuracy lost (a fraction) by lesioning each neuron alone: ``-delta``."""
        return -self.delta


@dataclass(frozen=True)
class PairImportance:
    """Double lesion of two tested groups (``first < second``, indices into ``groups``).

    Attributes
    ----------
    first, second : int
        Indices of the two groups in :attr:`ImportanceResult.groups`.
    delta : float
        Overall accuracy change (a fraction) of lesioning both groups together (``Δij``).
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
        ``'output-change'``: deltas are minus the relative output change, a fraction (see
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


def importance_unreachable(n_random: int) -> str | None:
    """Why no group can be important with ``n_random`` random groups, or None when one can.

    A group's p is at least ``1 / (n_random + 1)``; it must be below ``IMPORTANT_P``.

    Examples
    --------
    >>> importance_unreachable(DEFAULT_N_RANDOM) is None
    True
    >>> note = importance_unreachable(20)
    >>> "smallest p is 1/21 = 0.0476" in note and "`n_random=` 100 or more" in note
    True
    """
    n = check_n_random(n_random)
    if 1.0 / (n + 1) < IMPORTANT_P:
        return None
    return (
        f"with {n} random sets the smallest p is 1/{n + 1} = {1.0 / (n + 1):.3g}, not below the "
        f"importance threshold p < {IMPORTANT_P:g}, so no group can be important; use "
        f"{arg('n_random')} {DEFAULT_N_RANDOM} or more"
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
    options: EngineOptions | None = None,
    progress: Progress | None = None,
) -> ImportanceResult:
    """Lesion test of every (layer, cluster) group of a partition against random groups.

    Parameters
    ----------
    model : Chain, ModelView or torch.nn.Module
        As in :func:`~.lesion_accuracies`.
    groups : mapping of int to array-like, or sequence of (layer, label, units)
        The partition, as in :func:`partition_groups`. Groups of one neuron, groups holding a
        whole layer and groups outside the hidden layers are skipped and reported.
    data : (X, y)
        Test examples and labels, as in :func:`~.lesion_accuracies`.
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
        As in :func:`~.lesion_accuracies`.
    batch_size : int or None, default=None
        As in :func:`~.lesion_accuracies`.
    metric : {'accuracy', 'output-change'} or None, default='accuracy'
        As in :func:`~.lesion_accuracies`; with output-change a delta is minus the relative
        output change (a fraction), and ``important`` needs a change of at least 0.01.
    options : EngineOptions, optional
        As in :func:`~.lesion_accuracies`.
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
    batched :func:`~.lesion_accuracies` call. A group's ``p`` is
    ``(#{random delta <= delta} + 1) / (n_random + 1)``
    (:func:`~neurongraph.analysis.stats.percentile`, ``tail='lower'``), so its smallest value is
    ``1 / (n_random + 1)``; ``important`` needs ``p < IMPORTANT_P`` and
    ``delta <= IMPORTANT_DELTA``.
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
    ([(0, 3), (1, 3), (2, 2)], 1.0)
    >>> sorted(res.neurons), res.neurons[1].delta.shape
    ([1], (8,))
    """
    n_random = check_n_random(n_random)
    check_batch_size(batch_size)
    network, checked = check_model_and_data(model, data, tasks, metric)
    tested, skipped = partition_groups(network, groups, min_size=2)
    rng = check_random_state(random_state)
    widths = network.widths
    lesions: list[list[tuple[int, np.ndarray]]] = [[(g.layer, g.units)] for g in tested]
    random_sets = []
    for g in tested:
        r = random_groups(widths[g.layer], g.size, n_random, rng)
        random_sets.append(np.sort(r, axis=1))
        lesions.extend([(g.layer, row)] for row in r)
    hidden = group_layers(network)
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
    res = LesionRun(network, checked, lesions, batch_size, options).collect(progress)
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
