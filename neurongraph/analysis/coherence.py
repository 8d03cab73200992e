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
  output), a partition given as ``{layer: labels}`` or as ``(layer, label, units)`` triples
  (:func:`~neurongraph.analysis.lesion_groups.partition_groups`; here single-neuron groups are
  kept, groups outside the hidden layers and whole-layer groups are skipped). A group's
  **activation** on an input is the sum of its units' post-nonlinearity activations (a conv
  channel counts as the mean of its H x W map).
* **Random groups** are drawn uniformly among *all* units of the group's layer
  (:func:`~neurongraph.analysis.stats.random_groups`), so a random group of a layer that holds two
  modules spans both of them. ``random_state`` is resolved once; the random groups are drawn group
  by group in (layer, label) order, then one seed for the local ``torch.Generator`` that draws the
  initial inputs and the jitter. Same seed, same groups, same visualisations.
* **Feature visualisation**: :mod:`~neurongraph.analysis.feature_vis` optimises one input per
  group; its scores ``vis_objective`` (higher is coherent, ``vis_objective_p`` with
  ``tail='upper'``) and ``vis_entropy`` (lower is coherent, ``tail='lower'``) are compared with
  random groups here. A network of token ids has no continuous input to optimise: its
  visualisation is skipped with a note (:data:`~neurongraph.analysis.feature_vis.TOKENS_NOTE`)
  and its dataset examples and selectivity are still scored.
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
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from neurongraph.analysis.defaults import COHERENCE_N_RANDOM as DEFAULT_N_RANDOM
from neurongraph.analysis.defaults import COHERENCE_TOP_K as DEFAULT_TOP_K
from neurongraph.analysis.feature_vis import (
    DEFAULT_LR,
    DEFAULT_STEPS,
    DEFAULT_VALUE_RANGE,
    TOKENS_NOTE,
    Parameterisation,
    VisNetwork,
    check_vis_options,
    optimise_inputs,
    resolve_image_shape,
)
from neurongraph.analysis.lesion_data import (
    CheckedData,
    check_model_and_data,
    check_n_random,
)
from neurongraph.analysis.lesion_groups import SkippedGroup, partition_groups
from neurongraph.analysis.stats import fisher_combined, percentile, random_groups, selectivity
from neurongraph.errors import AnalysisError
from neurongraph.model.chain import Chain
from neurongraph.model.view import ModelView
from neurongraph.progress import Progress
from neurongraph.seeds import check_random_state, draw_seed

__all__ = [
    "DEFAULT_N_RANDOM",
    "DEFAULT_TOP_K",
    "CoherenceResult",
    "GroupCoherence",
    "NeuronSelectivity",
    "class_consistency",
    "class_entropy",
    "coherence",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# results


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


def _example_entropies(top: np.ndarray, data: CheckedData) -> np.ndarray:
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
        The partition (see :func:`~neurongraph.analysis.lesion_groups.partition_groups`).
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
    n_random = check_n_random(n_random)
    lo_hi = check_vis_options(steps, lr, parameterisation, jitter, value_range)
    chain, checked = check_model_and_data(model, data, tasks)
    net = VisNetwork(chain)
    notes = []
    if visualise and net.tokens:
        notes.append(TOKENS_NOTE)
        log.info(TOKENS_NOTE)
        visualise = False
    top_k = _check_top_k(top_k, int(checked.X.shape[0]))
    image = resolve_image_shape(
        chain, image_shape, needed=visualise and (parameterisation == "fourier" or jitter > 0)
    )
    tested, skipped = partition_groups(chain, groups, min_size=1)
    rng = check_random_state(random_state)
    widths = net.widths
    random_sets = [
        np.sort(random_groups(widths[g.layer], g.size, n_random, rng), axis=1) for g in tested
    ]
    seed = draw_seed(rng)

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
        param = Parameterisation(parameterisation, net.input_shape, image, lo_hi, int(jitter))
        vis = optimise_inputs(
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
