"""``analyze coherence`` against the store: feature visualisation, examples, selectivity."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neurongraph.analysis.coherence import DEFAULT_N_RANDOM as DEFAULT_COHERENCE_RANDOM
from neurongraph.analysis.coherence import DEFAULT_TOP_K, coherence
from neurongraph.analysis.defaults import DEFAULT_PARTITION
from neurongraph.analysis.feature_vis import (
    DEFAULT_STEPS,
    save_examples_png,
    save_visualisation_png,
)
from neurongraph.errors import AnalysisError, arg
from neurongraph.model.view import ModelView
from neurongraph.progress import Progress
from neurongraph.runs.results import CoherenceResult, finite
from neurongraph.runs.scoring import ScoringInputs, groups_by_cluster, load_scoring_inputs
from neurongraph.seeds import resolve_seed
from neurongraph.store import Store
from neurongraph.store.rows import neuron_property_rows

if TYPE_CHECKING:
    from torch import nn


__all__ = ["COHERENCE_NEURON_KEYS", "EXAMPLE_IMAGES", "EXAMPLE_TEXTS", "run_coherence"]


#: Neuron properties copied down from their cluster by the coherence analysis.
COHERENCE_NEURON_KEYS = [
    "visObjectiveP",
    "visEntropyP",
    "exampleEntropyP",
    "classConsistency",
    "coherencePartition",
]


#: The per-group scores of a coherence result, as named on the analysis's groups.
SCORES = (
    "vis_objective",
    "vis_entropy",
    "vis_objective_p",
    "vis_entropy_p",
    "example_entropy",
    "example_entropy_p",
    "class_consistency",
    "class_consistency_p",
)


def _fisher_key(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest) + "FisherP"


def run_coherence(
    store: Store,
    name: str,
    *,
    partition: str = DEFAULT_PARTITION,
    data: str | None = None,
    model: str | nn.Module | None = None,
    trust_pickle: bool = False,
    n_random: int = DEFAULT_COHERENCE_RANDOM,
    steps: int = DEFAULT_STEPS,
    parameterisation: str = "pixel",
    jitter: int = 0,
    image_shape: tuple[int, ...] | None = None,
    top_k: int = DEFAULT_TOP_K,
    random_state: int | None = None,
    progress: Progress | None = None,
) -> CoherenceResult:
    """Coherence of every (layer, cluster) group of a partition against random same-size groups
    (Hod et al.): feature visualisation, dataset examples and class selectivity.

    On each Cluster (for its most coherent layer part, named by ``coherenceLayer``):
    ``visObjective``, ``visEntropy``, ``visObjectiveP``, ``visEntropyP``, ``visPath`` (a PNG in
    the store's files, recorded relative to them),
    ``exampleEntropy``, ``exampleEntropyP``, ``exampleIndices``, ``exampleClasses`` (their
    classes, single-task datasets), ``classConsistency``, ``classConsistencyP`` (and
    ``exampleTexts``, the first :data:`EXAMPLE_TEXTS` of them, when the dataset shows its
    examples as texts, else ``examplesPath``, a PNG of the first :data:`EXAMPLE_IMAGES`);
    ``visPaths``, every PNG the cluster owns (each part's visualisation and the examples);
    copied to member neurons with ``selectivity`` and ``preferredClass``; Fisher-combined p per
    score and ``coherenceNotes`` (what was skipped and why) on the Partition.

    Any network runs: a chain, or the view of a residual/DAG network. A network of token ids
    gets no feature visualisation (a note says why) and no PNGs. ``model`` and ``data`` as in
    :func:`~neurongraph.runs.scoring.load_scoring_inputs` (an ``nn.Module`` runs as is).

    Parameters
    ----------
    store : Store
    name : str
        A network with the partition ``partition``.
    model : nn.Module or str, optional
        As for :func:`~neurongraph.runs.importance.run_importance`.
    data : str, optional
        Dataset spec; default the one recorded at ingest.
    partition : str, default='spectral-weights'
    n_random : int, default=9
        Random groups per group.
    steps : int, default=256
        Optimisation steps of each feature visualisation.
    parameterisation : {'pixel', 'fourier'}, default='pixel'
    jitter : int, default=0
        Random shifts (pixels) of the visualised input per step.
    image_shape : tuple of int, optional
        ``(C, H, W)`` of the input when the dataset does not say.
    top_k : int, default=50
        Dataset examples per group.
    random_state : int, optional
        Seed; None draws one, logs it and records it.
    trust_pickle : bool, default=False
    progress : callable, optional

    Returns
    -------
    CoherenceResult
        Per group: scores and their percentiles; Fisher-combined p per score.
    """
    if steps < 1:
        raise AnalysisError(f"{arg('steps')} must be at least 1")
    if n_random < 1:
        raise AnalysisError(f"{arg('n_random')} must be at least 1")
    seed = resolve_seed(random_state)
    inputs = load_scoring_inputs(
        store, name, partition, data=data, model=model, trust_pickle=trust_pickle
    )
    dataset = inputs.dataset
    tokens = isinstance(inputs.model, ModelView) and inputs.model.tokens
    shape = (
        image_shape
        or dataset.image_shape
        or (tuple(inputs.model.input_shape) if len(inputs.model.input_shape) == 3 else None)
    )
    if shape is None and not tokens:
        raise AnalysisError(
            f"the image shape of network {name!r}'s input is unknown (dataset "
            f"{dataset.name!r} has no image layout); pass {arg('image_shape')} C,H,W"
        )
    X = np.concatenate([dataset.X_train, dataset.X_test])
    y = np.concatenate([dataset.y_train, dataset.y_test])
    result = coherence(
        inputs.model,
        inputs.groups,
        (X, y),
        n_random=n_random,
        random_state=seed,
        tasks=dataset.tasks,
        steps=steps,
        parameterisation=parameterisation,
        image_shape=shape,
        jitter=jitter,
        top_k=top_k,
        progress=progress,
    )
    store.files.remove_visualisations(name, partition)
    out_dir = store.files.visualisations(name, partition)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_cluster = groups_by_cluster(result.groups)
    groups = [g for parts in by_cluster.values() for g in parts]
    drawn = {}
    for i, g in enumerate(groups):
        if g.vis_input is not None:
            drawn[i] = out_dir / f"{g.label}-{inputs.layer_name(g.layer)}.png"
            save_visualisation_png(g.vis_input, drawn[i], shape)
    texts = None if dataset.texts is None else np.concatenate(dataset.texts)
    scores = CoherenceResult(
        network=name,
        partition=partition,
        dataset=dataset.name,
        n_random=n_random,
        steps=steps,
        seed=seed,
        fisher_p={_fisher_key(k): finite(v) for k, v in result.fisher_p.items()},
        group_layers=tuple(inputs.layer_name(g.layer) for g in groups),
        clusters=tuple(g.label for g in groups),
        sizes=np.asarray([g.size for g in groups], dtype=int),
        **{key: np.asarray([getattr(g, key) for g in groups], dtype=float) for key in SCORES},
        vis_paths=tuple(str(drawn[i]) if i in drawn else None for i in range(len(groups))),
        example_indices=tuple(np.asarray(g.example_indices, dtype=int) for g in groups),
        example_texts=None
        if texts is None
        else tuple(tuple(str(s) for s in texts[g.example_indices[:EXAMPLE_TEXTS]]) for g in groups),
        skipped=tuple(inputs.skipped_rows(result.skipped)),
        visualisations=str(out_dir),
        notes=tuple(result.notes),
    )
    _write(store, inputs, result, scores, drawn, (X, y), None if tokens else shape)
    return scores


def _write(
    store: Store,
    inputs: ScoringInputs,
    result,
    scores: CoherenceResult,
    drawn: dict[int, Path],
    data: tuple[np.ndarray, np.ndarray],
    shape: tuple[int, ...] | None,
) -> None:
    """The coherence scores on the partition's Clusters (for each, its most coherent part's,
    with ``examplesPath`` drawn when ``shape`` is an image shape), its Partition and the
    neurons; ``drawn`` holds the visualisation PNG of each group of ``scores`` that has one."""
    X, y = data
    out_dir = Path(scores.visualisations)
    by_cluster = groups_by_cluster(result.groups)
    groups = [g for parts in by_cluster.values() for g in parts]
    cluster_rows, copied, first = [], {}, 0
    for label, parts in by_cluster.items():
        indices = range(first, first + len(parts))
        first += len(parts)
        paths = [store.files.relative(drawn[i]) for i in indices if i in drawn]
        best = min(indices, key=lambda i: (groups[i].example_entropy_p, -groups[i].size))
        row = scores.group_row(best)
        row["visPath"] = paths[best - indices.start] if paths else None
        row["exampleClasses"] = _example_classes(y, groups[best].example_indices)
        if shape is not None:
            examples = out_dir / f"{label}-{row['layer']}-examples.png"
            save_examples_png(X[groups[best].example_indices[:EXAMPLE_IMAGES]], examples, shape)
            row["examplesPath"] = store.files.relative(examples)
        owned = paths + ([row["examplesPath"]] if "examplesPath" in row else [])
        cluster_rows.append(
            {
                "uid": inputs.cluster_uids[label],
                "props": {
                    "coherenceLayer": row["layer"],
                    **{k: v for k, v in row.items() if k not in ("layer", "cluster", "size")},
                    "visPaths": owned,
                },
            }
        )
        for i in indices:
            shared = scores.group_row(i)
            for index in groups[i].units.tolist():
                copied[(shared["layer"], index)] = {
                    **{key: shared[key] for key in COHERENCE_NEURON_KEYS[:-1]},
                    "coherencePartition": scores.partition,
                }
    for position, sel in result.neurons.items():
        for index in range(len(sel.selectivity)):
            copied.setdefault((inputs.layer_name(position), index), {}).update(
                selectivity=float(sel.selectivity[index]),
                preferredClass=int(sel.preferred_class[index]),
            )
    store.set_cluster_properties(
        [
            {"uid": r["uid"], "props": {k: v for k, v in r["props"].items() if v is not None}}
            for r in cluster_rows
        ]
    )
    store.replace_neuron_properties(
        scores.network, COHERENCE_NEURON_KEYS, neuron_property_rows(scores.network, copied)
    )
    store.set_partition_properties(
        inputs.partition_uid,
        {
            **{k: v for k, v in scores.fisher_p.items() if v is not None},
            "coherenceRandomSets": scores.n_random,
            "coherenceSeed": scores.seed,
            "coherenceSteps": scores.steps,
            "coherenceDataset": scores.dataset,
            "coherenceNotes": result.notes,
        },
    )


#: Texts of a group's most activating examples kept on its Cluster (``exampleTexts``).
EXAMPLE_TEXTS = 10
#: Images of a group's most activating examples drawn for its Cluster (``examplesPath``).
EXAMPLE_IMAGES = 8


def _example_classes(y: np.ndarray, indices: np.ndarray) -> list[int] | None:
    """The classes of the examples at ``indices`` of a single-task dataset, else None."""
    return [int(v) for v in y[indices]] if y.ndim == 1 else None
