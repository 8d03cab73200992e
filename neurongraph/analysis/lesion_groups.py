"""Groups of units to test: the (layer, cluster) groups of a partition.

The lesion test (:mod:`neurongraph.analysis.importance`) and the coherence tests
(:mod:`neurongraph.analysis.coherence`) both test every cluster of a partition layer by layer,
against random same-size groups of the same layer; this module turns a partition into those
groups, and says which groups are skipped and why.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurongraph.analysis.lesion_data import check_layer, group_layers
from neurongraph.errors import AnalysisError
from neurongraph.model.chain import Chain
from neurongraph.model.view import ModelView

__all__ = [
    "SKIP_NOT_HIDDEN",
    "SKIP_SINGLE",
    "SKIP_WHOLE_LAYER",
    "Group",
    "SkippedGroup",
    "partition_groups",
]

log = logging.getLogger(__name__)

SKIP_SINGLE = "single neuron: its lesion is the neuron's own importance"
SKIP_WHOLE_LAYER = "whole layer: every random group of that size is the group itself"
SKIP_NOT_HIDDEN = "not a hidden layer: only hidden layers are lesioned"


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
    hidden = set(group_layers(chain))
    triples: list[tuple[int, Hashable, np.ndarray]] = []
    if isinstance(groups, Mapping):
        for layer, labels in groups.items():
            check_layer(layer, n_layers)
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
            check_layer(layer, n_layers)
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
