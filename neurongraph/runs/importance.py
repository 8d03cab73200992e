"""``analyze importance`` against the store: lesions of a partition's groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from neurongraph.analysis.defaults import DEFAULT_PARTITION
from neurongraph.analysis.importance import (
    DEFAULT_N_RANDOM,
    IMPORTANT_P,
    importance,
    importance_unreachable,
)
from neurongraph.errors import AnalysisError, arg
from neurongraph.progress import Progress
from neurongraph.runs.results import ImportanceResult, finite
from neurongraph.runs.scoring import ScoringInputs, groups_by_cluster, load_scoring_inputs
from neurongraph.seeds import resolve_seed
from neurongraph.store import Store
from neurongraph.store.rows import neuron_property_rows

if TYPE_CHECKING:
    from torch import nn


__all__ = ["IMPORTANCE_NEURON_KEYS", "run_importance"]


#: Neuron properties written by the importance analysis.
IMPORTANCE_NEURON_KEYS = [
    "importance",
    "importanceDelta",
    "importanceP",
    "important",
    "importancePartition",
]


def run_importance(
    store: Store,
    name: str,
    *,
    partition: str = DEFAULT_PARTITION,
    data: str | None = None,
    model: str | nn.Module | None = None,
    trust_pickle: bool = False,
    n_random: int = DEFAULT_N_RANDOM,
    double: bool = False,
    metric: str | None = None,
    random_state: int | None = None,
    progress: Progress | None = None,
) -> ImportanceResult:
    """Lesion every (layer, cluster) group of a partition and compare with random same-size
    groups of its layer (Hod et al.'s importance), written to the store.

    Runs on chains and on any network read as a DAG (a lesion silences units of any hidden
    layer, ``sum`` layers included). ``metric`` (see
    :func:`~neurongraph.analysis.importance.importance`): accuracy, or ``output-change`` (DAGs;
    the default when the dataset has no classification labels), where every delta below is
    minus the relative change of the output (a fraction).

    On each Cluster: per tested layer part ``importanceLayers``, ``importanceLayerDelta``
    (accuracy change, a fraction), ``importanceLayerP``, ``importanceLayerImportant``,
    ``importanceLayerRandomDeltas`` (the ``n_random`` random-group deltas of each part, part after
    part, in one flat list: graph properties hold no nested lists); and for its
    most significant part ``importanceDelta``, ``importanceP``, ``important``,
    ``importanceClassDeltas``. On the Partition: ``importanceFisherP`` and the run's settings.
    On each hidden Neuron: its own single-neuron lesion ``importance`` (accuracy lost, a fraction)
    and its group's ``importanceDelta``, ``importanceP``, ``important``. With ``double``,
    ``INTERACTS {delta, interaction, p}`` edges between clusters. ``notes`` says when
    ``n_random`` is too small for any group to be important. ``model`` and ``data`` as in
    :func:`~neurongraph.runs.scoring.load_scoring_inputs` (an ``nn.Module`` runs as is).

    Parameters
    ----------
    store : Store
    name : str
        A network with the partition ``partition``.
    model : nn.Module or str, optional
        The model: the ``nn.Module`` itself (needed for a network ingested from Python; it must
        have the network's layers), or a model file or ``package.module:factory``. None uses
        the store's copy of the file the network was ingested from.
    data : str, optional
        Dataset spec (``'digits'``, ``'npz:PATH'`` ...); default the one recorded at ingest.
    partition : str, default='spectral-weights'
        Partition method: ``'spectral-weights'``, ``'spectral-activations'``, ``'louvain'``.
    n_random : int, default=100
        Random groups per group; a group is important only when ``1/(n_random + 1)`` can be
        below 0.01.
    double : bool, default=False
        Also lesion pairs of groups.
    metric : {'accuracy', 'output-change'}, optional
        Default: accuracy where the dataset has class labels.
    random_state : int, optional
        Seed; None draws one, logs it and records it.
    trust_pickle : bool, default=False
        Allow loading a pickled ``model`` file.
    progress : callable, optional
        ``progress(done, total)`` over the lesions.

    Returns
    -------
    ImportanceResult
        Per group: delta, p, important; the Fisher-combined p.

    Raises
    ------
    AnalysisError
        No such partition (naming the call that makes it), no dataset, a module that is not
        the network's.
    IngestError
        No model to run: pass ``model=``.
    """
    if n_random < 1:
        raise AnalysisError(f"{arg('n_random')} must be at least 1")
    unreachable = importance_unreachable(n_random)
    seed = resolve_seed(random_state)
    inputs = load_scoring_inputs(
        store, name, partition, data=data, model=model, trust_pickle=trust_pickle
    )
    dataset = inputs.dataset
    result = importance(
        inputs.model,
        inputs.groups,
        (dataset.X_test, dataset.y_test),
        n_random=n_random,
        random_state=seed,
        double=double,
        tasks=dataset.tasks,
        metric=metric,
        progress=progress,
    )
    groups = result.groups
    pairs = tuple(
        {
            "first": inputs.group_name(groups[pair.first]),
            "second": inputs.group_name(groups[pair.second]),
            "delta": float(pair.delta),
            "interaction": float(pair.interaction),
            "p": float(pair.p),
        }
        for pair in result.pairs
    )
    lesions = ImportanceResult(
        network=name,
        partition=partition,
        dataset=dataset.name,
        metric=result.metric,
        baseline_accuracy=float(result.baseline_accuracy),
        fisher_p=float(result.fisher_p),
        n_random=n_random,
        important_p=IMPORTANT_P,
        seed=seed,
        group_layers=tuple(inputs.layer_name(g.layer) for g in groups),
        clusters=tuple(g.label for g in groups),
        sizes=np.asarray([g.size for g in groups], dtype=int),
        delta=np.asarray([g.delta for g in groups], dtype=float),
        p=np.asarray([g.p for g in groups], dtype=float),
        important=np.asarray([bool(g.important) for g in groups], dtype=bool),
        tasks=tuple(result.tasks),
        task_deltas=np.asarray(
            [np.asarray(g.task_deltas, dtype=float) for g in groups], dtype=float
        ).reshape(len(groups), len(result.tasks)),
        skipped=tuple(inputs.skipped_rows(result.skipped)),
        pairs=pairs,
        n_lesions=result.n_lesions,
        notes=(unreachable,) if unreachable else (),
    )
    _write(store, inputs, result, lesions, double=double)
    return lesions


def _write(
    store: Store, inputs: ScoringInputs, result, lesions: ImportanceResult, *, double: bool
) -> None:
    """The importance scores on the partition's Clusters, its Partition and the network's
    neurons; with double lesions, INTERACTS edges between Clusters."""
    by_cluster = groups_by_cluster(result.groups)
    cluster_rows = []
    for label, parts in by_cluster.items():
        best = min(parts, key=lambda g: (g.p, g.delta))
        cluster_rows.append(
            {
                "uid": inputs.cluster_uids[label],
                "props": {
                    "importanceLayers": [inputs.layer_name(g.layer) for g in parts],
                    "importanceLayerDelta": [float(g.delta) for g in parts],
                    "importanceLayerP": [float(g.p) for g in parts],
                    "importanceLayerImportant": [bool(g.important) for g in parts],
                    "importanceLayerRandomDeltas": [
                        float(v) for g in parts for v in g.random_deltas
                    ],
                    "importanceDelta": float(best.delta),
                    "importanceP": float(best.p),
                    "important": any(bool(g.important) for g in parts),
                    "importanceClassDeltas": [float(v) for v in best.class_deltas],
                },
            }
        )
    neurons = {}
    for position, single in result.neurons.items():
        for index, value in enumerate(single.importance.tolist()):
            neurons[(inputs.layer_name(position), index)] = {
                "importance": float(value),
                "importancePartition": lesions.partition,
            }
    for g in result.groups:
        for index in g.units.tolist():
            neurons.setdefault(
                (inputs.layer_name(g.layer), index), {"importancePartition": lesions.partition}
            ).update(
                importanceDelta=float(g.delta),
                importanceP=float(g.p),
                important=bool(g.important),
            )
    store.set_cluster_properties(cluster_rows)
    store.replace_neuron_properties(
        lesions.network, IMPORTANCE_NEURON_KEYS, neuron_property_rows(lesions.network, neurons)
    )
    store.set_partition_properties(
        inputs.partition_uid,
        {
            "importanceFisherP": finite(lesions.fisher_p),
            "importanceRandomSets": lesions.n_random,
            "importanceSeed": lesions.seed,
            "importanceDataset": lesions.dataset,
            "importanceMetric": lesions.metric,
            "importanceBaseline": lesions.baseline_accuracy,
            "importanceSkipped": [inputs.group_name(s) for s in result.skipped],
        },
    )
    if double:
        groups = result.groups
        store.replace_interactions(
            inputs.partition_uid,
            [
                {
                    "a": inputs.cluster_uids[groups[pair.first].label],
                    "b": inputs.cluster_uids[groups[pair.second].label],
                    "props": {
                        "delta": float(pair.delta),
                        "interaction": float(pair.interaction),
                        "p": float(pair.p),
                        "firstLayer": inputs.layer_name(groups[pair.first].layer),
                        "secondLayer": inputs.layer_name(groups[pair.second].layer),
                    },
                }
                for pair in result.pairs
            ],
        )
