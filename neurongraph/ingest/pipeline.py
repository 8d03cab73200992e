"""Ingest: a model into the store, whole or not at all."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neurongraph.errors import UsageError
from neurongraph.ingest.activations import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CORR_TOP_K,
    ActivationCache,
    all_labels,
    capture_activations,
    neuron_summaries,
    spearman_top_k,
)
from neurongraph.ingest.chain import Chain
from neurongraph.ingest.datasets import Dataset, check_input_shape
from neurongraph.ingest.extract import extract_chain
from neurongraph.ingest.graph import DEFAULT_KERNEL_NORM, KERNEL_NORMS, network_graph
from neurongraph.store import Store, check_network_name
from neurongraph.store.rows import neuron_uid
from neurongraph.training.train import evaluate_model

__all__ = [
    "ActivationSummary",
    "IngestSummary",
    "activation_cache",
    "cache_directory",
    "fit_dataset",
    "ingest_model",
    "record_activations",
]

#: Derived data of an embedded store lives in this sub-directory of it.
CACHE_DIR = "cache"
#: Derived data of a Neo4j server's networks lives here (relative to the working directory).
FALLBACK_CACHE = "neurongraph-cache"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestSummary:
    """What an ingest wrote."""

    network: str
    layers: int
    neurons: int
    edges: int
    seconds: float
    replaced: bool

    def as_dict(self) -> dict:
        return asdict(self)


def ingest_model(
    store: Store,
    module: nn.Module,
    name: str,
    example_input: torch.Tensor,
    *,
    replace: bool = False,
    kernel_norm: str = DEFAULT_KERNEL_NORM,
    properties: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """Write a model's neurons and weights into the store as network ``name``.

    Everything is checked before anything is written (name, layers, weights). The network is
    ``status: 'partial'`` until the last write, then ``complete``.

    Parameters
    ----------
    store : Store
    module : nn.Module
        An eager or TorchScript model of supported layers.
    name : str
        Network name, ``[A-Za-z0-9_.@-]``, at most 100 characters.
    example_input : torch.Tensor
        One batch of inputs (``(N, *input_shape)``), used to trace shapes.
    replace : bool, default=False
        Replace an existing network of that name (dropping it and its analyses).
    kernel_norm : {'l1', 'l2', 'fro'}, default='l1'
        How a conv kernel slice becomes one edge weight.
    properties : dict, optional
        Extra Network node properties (``source``, ``sha256``, ``dataset``, ``accuracy``...).
    """
    check_network_name(name)
    if kernel_norm not in KERNEL_NORMS:
        raise UsageError(f"--kernel-norm must be one of {', '.join(KERNEL_NORMS)}")
    started = time.perf_counter()
    chain = extract_chain(module, example_input)
    graph = network_graph(chain, kernel_norm=kernel_norm)
    existing = store.get_network(name)
    if existing is not None and not replace:
        raise UsageError(
            f"network {name!r} already exists ({existing.get('status')}); "
            "pass --replace to replace it"
        )
    if existing is not None:
        store.drop_network(name)
    props = {
        **(properties or {}),
        "inputShape": list(chain.input_shape),
        "kernelNorm": kernel_norm,
    }
    store.write_network(name, graph, props, progress=progress)
    summary = IngestSummary(
        network=name,
        layers=len(graph.layers),
        neurons=graph.n_neurons,
        edges=graph.n_edges,
        seconds=round(time.perf_counter() - started, 3),
        replaced=existing is not None,
    )
    log.info("ingested %s: %s", name, summary)
    return summary


@dataclass(frozen=True)
class ActivationSummary:
    """What recording activations wrote."""

    network: str
    dataset: str
    examples: int
    neurons: int
    correlates: int
    accuracy: float
    task_accuracy: dict
    cache: str
    cached: bool
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def fit_dataset(dataset: Dataset, chain: Chain, name: str) -> Dataset:
    """``dataset`` in the layout the network takes; UsageError when its inputs or its tasks'
    outputs do not fit the network."""
    dataset = check_input_shape(dataset, chain.input_shape)
    if dataset.n_outputs > chain.stages[-1].width:
        raise UsageError(
            f"dataset {dataset.name!r} needs {dataset.n_outputs} outputs but network {name!r} "
            f"has {chain.stages[-1].width}; use the dataset the model was trained on (--data)"
        )
    return dataset


def cache_directory(store: Store) -> Path:
    """Where derived arrays live: beside the embedded store, or ``./neurongraph-cache``."""
    base = store.directory / CACHE_DIR if store.directory is not None else Path(FALLBACK_CACHE)
    return base / "activations"


def record_activations(
    store: Store,
    name: str,
    chain: Chain,
    dataset: Dataset,
    *,
    channel_reduce: str = "mean",
    corr_top_k: int = DEFAULT_CORR_TOP_K,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> ActivationSummary:
    """Run ``dataset`` through a stored network and write what its neurons do.

    Neuron properties ``actMean``, ``actStd``, ``fracActive``, ``preferredClass``,
    ``selectivity``; CORRELATES edges (Spearman, the ``corr_top_k`` strongest per hidden neuron,
    with ``r`` and ``r2``); on the Network node the dataset, its fingerprint, the test accuracy
    and the cache path. The activation matrix is cached on disk, keyed by network and dataset.
    """
    if corr_top_k < 1:
        raise UsageError("--corr-top-k must be at least 1")
    started = time.perf_counter()
    network = store.require_network(name)
    layers = store.layers(name)
    dataset = fit_dataset(dataset, chain, name)
    widths = tuple(int(layer["width"]) for layer in layers)
    cache = ActivationCache.locate(cache_directory(store), network, widths, dataset, channel_reduce)
    cached = cache.exists()
    if not cached:
        capture_activations(
            chain,
            dataset,
            cache,
            channel_reduce=channel_reduce,
            batch_size=batch_size,
            progress=progress,
        )
    matrix = cache.matrix()
    summaries = neuron_summaries(matrix, all_labels(dataset))
    uids = [
        neuron_uid(name, layer["name"], i) for layer in layers for i in range(int(layer["width"]))
    ]
    store.set_neuron_properties(
        [
            {"uid": uid, "props": {k: v[j].item() for k, v in summaries.items()}}
            for j, uid in enumerate(uids)
        ]
    )
    hidden = np.arange(cache.offsets[1], cache.offsets[-2])
    edges = 0
    if len(hidden) > 1:
        i, j, r = spearman_top_k(matrix, hidden, top_k=corr_top_k)
        store.replace_correlations(name, _correlation_rows(uids, hidden, i, j, r))
        edges = len(r)
    evaluation = evaluate_model(chain, dataset)
    store.set_network_properties(
        name,
        {
            "dataset": dataset.name,
            "datasetFingerprint": dataset.fingerprint,
            "activationsCache": str(cache.path),
            "channelReduce": channel_reduce,
            "nExamples": cache.n_examples,
            "accuracy": evaluation.accuracy,
            "taskAccuracy": [float(evaluation.task_accuracy[t.name]) for t in dataset.tasks],
            "nCorrelates": edges,
        },
    )
    return ActivationSummary(
        network=name,
        dataset=dataset.name,
        examples=cache.n_examples,
        neurons=len(uids),
        correlates=edges,
        accuracy=evaluation.accuracy,
        task_accuracy=dict(evaluation.task_accuracy),
        cache=str(cache.path),
        cached=cached,
        seconds=round(time.perf_counter() - started, 3),
    )


def _correlation_rows(uids, columns, i, j, r) -> list[dict]:
    rows: dict[int, dict] = {}
    for a, b, rho in zip(i.tolist(), j.tolist(), r.tolist(), strict=True):
        row = rows.setdefault(a, {"s": uids[columns[a]], "t": [], "r": []})
        row["t"].append(uids[columns[b]])
        row["r"].append(rho)
    return list(rows.values())


def activation_cache(store: Store, name: str) -> ActivationCache:
    """The cached activations of a complete network; UsageError naming the command that makes
    them when there are none."""
    network = store.require_network(name)
    path = network.get("activationsCache")
    if not path or not Path(path).exists():
        raise UsageError(
            f"no activations cached for network {name!r}; record them with "
            f"`neurongraph activations {name} --data DATASET`"
        )
    return ActivationCache.load(path)
