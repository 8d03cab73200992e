"""``analyze coherence`` against the store: feature visualisation, examples, selectivity."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from neurongraph.analysis.coherence import DEFAULT_N_RANDOM as DEFAULT_COHERENCE_RANDOM
from neurongraph.analysis.coherence import DEFAULT_TOP_K, coherence
from neurongraph.analysis.feature_vis import (
    DEFAULT_STEPS,
    save_examples_png,
    save_visualisation_png,
)
from neurongraph.errors import AnalysisError, arg
from neurongraph.model.view import ModelView
from neurongraph.runs.common import finite
from neurongraph.runs.scoring import ScoringInputs, load_scoring_inputs
from neurongraph.seeds import resolve_seed
from neurongraph.store import Store
from neurongraph.store.rows import neuron_uid

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


def _fisher_key(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest) + "FisherP"


def run_coherence(
    store: Store,
    name: str,
    *,
    partition: str = "spectral-weights",
    data: str | None = None,
    model: str | nn.Module | None = None,
    trust_pickle: bool = False,
    n_random: int = DEFAULT_COHERENCE_RANDOM,
    steps: int = DEFAULT_STEPS,
    parameterisation: str = "pixel",
    jitter: int = 0,
    image_shape: tuple[int, ...] | None = None,
    top_k: int = DEFAULT_TOP_K,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
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
    """
    if steps < 1:
        raise AnalysisError(f"{arg('steps')} must be at least 1")
    if n_random < 1:
        raise AnalysisError(f"{arg('n_random')} must be at least 1")
    seed = resolve_seed(seed)
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
    by_cluster: dict = {}
    for g in result.groups:
        by_cluster.setdefault(g.label, []).append(g)
    cluster_rows, copied, groups_out = [], {}, []
    for label, parts in by_cluster.items():
        paths = []
        for g in parts:
            path = out_dir / f"{label}-{inputs.layer_name(g.layer)}.png"
            if g.vis_input is not None:
                save_visualisation_png(g.vis_input, path, shape)
                paths.append(store.files.relative(path))
            groups_out.append(
                _coherence_row(inputs, g, str(path) if g.vis_input is not None else None)
            )
        best = min(parts, key=lambda g: (g.example_entropy_p, -g.size))
        row = _coherence_row(inputs, best, paths[parts.index(best)] if paths else None)
        row["exampleClasses"] = _example_classes(y, best.example_indices)
        if shape is not None and not tokens:
            examples = out_dir / f"{label}-{row['layer']}-examples.png"
            save_examples_png(X[best.example_indices[:EXAMPLE_IMAGES]], examples, shape)
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
        for g in parts:
            for index in g.units.tolist():
                copied[(g.layer, index)] = {
                    "visObjectiveP": finite(g.vis_objective_p),
                    "visEntropyP": finite(g.vis_entropy_p),
                    "exampleEntropyP": finite(g.example_entropy_p),
                    "classConsistency": finite(g.class_consistency),
                    "coherencePartition": partition,
                }
    for position, sel in result.neurons.items():
        for index in range(len(sel.selectivity)):
            copied.setdefault((position, index), {}).update(
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
        name,
        COHERENCE_NEURON_KEYS,
        [
            {
                "uid": neuron_uid(name, inputs.layer_name(p), i),
                "props": {k: v for k, v in props.items() if v is not None},
            }
            for (p, i), props in copied.items()
        ],
    )
    fisher = {_fisher_key(k): finite(v) for k, v in result.fisher_p.items()}
    store.set_partition_properties(
        inputs.partition_uid,
        {
            **{k: v for k, v in fisher.items() if v is not None},
            "coherenceRandomSets": n_random,
            "coherenceSeed": seed,
            "coherenceSteps": steps,
            "coherenceDataset": dataset.name,
            "coherenceNotes": result.notes,
        },
    )
    return {
        "network": name,
        "partition": partition,
        "dataset": dataset.name,
        "randomSets": n_random,
        "steps": steps,
        "seed": seed,
        "fisherP": fisher,
        "groups": groups_out,
        "skipped": inputs.skipped_rows(result.skipped),
        "visualisations": str(out_dir),
        "notes": result.notes,
    }


#: Texts of a group's most activating examples kept on its Cluster (``exampleTexts``).
EXAMPLE_TEXTS = 10
#: Images of a group's most activating examples drawn for its Cluster (``examplesPath``).
EXAMPLE_IMAGES = 8


def _example_classes(y: np.ndarray, indices: np.ndarray) -> list[int] | None:
    """The classes of the examples at ``indices`` of a single-task dataset, else None."""
    return [int(v) for v in y[indices]] if y.ndim == 1 else None


def _coherence_row(inputs: ScoringInputs, g, path: str | None) -> dict:
    texts = inputs.dataset.texts
    shown = (
        {"exampleTexts": [str(s) for s in np.concatenate(texts)[g.example_indices[:EXAMPLE_TEXTS]]]}
        if texts is not None
        else {}
    )
    return {
        "layer": inputs.layer_name(g.layer),
        "cluster": g.label,
        "size": g.size,
        "visObjective": finite(g.vis_objective),
        "visEntropy": finite(g.vis_entropy),
        "visObjectiveP": finite(g.vis_objective_p),
        "visEntropyP": finite(g.vis_entropy_p),
        "visPath": path,
        "exampleEntropy": finite(g.example_entropy),
        "exampleEntropyP": finite(g.example_entropy_p),
        "exampleIndices": [int(i) for i in g.example_indices],
        "classConsistency": finite(g.class_consistency),
        "classConsistencyP": finite(g.class_consistency_p),
        **shown,
    }
