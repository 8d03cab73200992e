"""Ingest: a model into the store, whole or not at all."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from dataclasses import replace as replace_dataclass

import numpy as np
import torch
from torch import nn

from neurongraph.errors import NotAChainError, UsageError, arg
from neurongraph.ingest.graph import (
    DEFAULT_KERNEL_NORM,
    KERNEL_NORMS,
    NetworkGraph,
    network_graph,
    view_graph,
)
from neurongraph.model.activations import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CORR_TOP_K,
    ActivationCache,
    all_labels,
    capture_activations,
    neuron_summaries,
    spearman_top_k,
)
from neurongraph.model.chain import CHANNEL_REDUCTIONS, Chain
from neurongraph.model.datasets import Dataset
from neurongraph.model.extract import extract_chain
from neurongraph.model.loading import ModelFile
from neurongraph.model.recorded import fit_dataset, output_width
from neurongraph.model.view import TOKEN_REDUCTIONS, ModelView, read_view
from neurongraph.progress import Progress
from neurongraph.store import Store, check_network_name
from neurongraph.store.files import ACTIVATIONS
from neurongraph.store.rows import neuron_uid
from neurongraph.store.schema import STAGING_MARK
from neurongraph.training.train import evaluate_model

__all__ = [
    "ActivationSummary",
    "IngestSummary",
    "check_recording_options",
    "ingest_model",
    "read_network",
    "record_activations",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActivationSummary:
    """What recording activations wrote."""

    network: str
    dataset: str
    examples: int
    neurons: int
    correlates: int
    accuracy: float | None
    task_accuracy: dict
    cache: str
    cached: bool
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IngestSummary:
    """What an ingest wrote."""

    network: str
    layers: int
    neurons: int
    edges: int
    seconds: float
    replaced: bool
    activations: ActivationSummary | None = None

    def as_dict(self) -> dict:
        summary = asdict(self)
        if self.activations is None:
            del summary["activations"]
        return summary


def read_network(
    module: nn.Module, example_input: torch.Tensor, *, kernel_norm: str = DEFAULT_KERNEL_NORM
) -> tuple[Chain | ModelView, NetworkGraph]:
    """The graph of a model, and what runs it: its chain when it is one, else its view.

    A model that :func:`~neurongraph.model.extract.extract_chain` reads is a chain and gives
    exactly the chain's graph. Any other model (eager, TorchScript or a saved ``torch.export``
    program) is read through its ``torch.export`` program
    (:func:`~neurongraph.model.view.read_view`) as a DAG of neuron layers. A model of token ids
    (an integer ``example_input``) goes straight to the view: a chain takes float features.

    Raises
    ------
    IngestError
        What the view reader says (naming the operation it cannot read, with its module).
    """
    if not example_input.is_floating_point():
        log.info("token ids in; reading the model's data flow with torch.export")
    else:
        try:
            chain = extract_chain(module, example_input)
        except NotAChainError as err:
            log.info("not a chain (%s); reading the model's data flow with torch.export", err)
        else:
            log.info("read the model as a chain of %d layers", len(chain.stages))
            return chain, _built(network_graph(chain, kernel_norm=kernel_norm))
    view = read_view(module, example_input)
    log.info("read the model's data flow: %d layers", len(view.layers))
    return view, _built(view_graph(view, kernel_norm=kernel_norm))


def _built(graph: NetworkGraph) -> NetworkGraph:
    log.info("built the graph: %d neurons, %d WEIGHT edges", graph.n_neurons, graph.n_edges)
    return graph


def ingest_model(
    store: Store,
    module: nn.Module,
    name: str,
    example_input: torch.Tensor,
    *,
    replace: bool = False,
    kernel_norm: str = DEFAULT_KERNEL_NORM,
    properties: dict | None = None,
    model_file: ModelFile | None = None,
    dataset: Dataset | None = None,
    channel_reduce: str = "mean",
    token_reduce: str = "mean",
    corr_top_k: int = DEFAULT_CORR_TOP_K,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    activation_progress: Progress | None = None,
) -> IngestSummary:
    """Write a model's neurons and weights (and, given a dataset, its activations) into the
    store as network ``name``, whole or not at all.

    Everything is checked before anything is written (name, layers, weights, the dataset's fit).
    The network is written under a hidden name, with its activations, and takes the name
    ``name`` in one transaction at the end, replacing an earlier network of that name: at every
    instant the store holds the old complete network or the new complete one. What an
    interrupted ingest left behind is dropped by the next ingest of that name.

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
        Replace an existing network of that name (and its analyses and files).
    kernel_norm : {'l1', 'l2', 'fro'}, default='l1'
        How a conv kernel slice becomes one edge weight.
    properties : dict, optional
        Extra Network node properties (``source``, ``sha256``, ``dataset``, ``accuracy``...).
    model_file : ModelFile, optional
        The file ``properties['sha256']`` names, kept in the store so later analyses find it.
    dataset : Dataset, optional
        Also record activations on it (see :func:`record_activations`); for a model of token
        ids, text encoded with its tokenizer (:meth:`~neurongraph.model.hf.TokenInput.encode`).
    """
    check_network_name(name)
    if kernel_norm not in KERNEL_NORMS:
        raise UsageError(f"{arg('kernel_norm')} must be one of {', '.join(KERNEL_NORMS)}")
    started = time.perf_counter()
    runner, graph = read_network(module, example_input, kernel_norm=kernel_norm)
    if dataset is not None:
        dataset = fit_dataset(dataset, runner, name)
        check_recording_options(channel_reduce, corr_top_k, token_reduce)
    existing = store.get_network(name)
    if existing is not None and not replace:
        raise UsageError(
            f"network {name!r} already exists ({existing.get('status')}); "
            f"pass {arg('replace')} to replace it"
        )
    store.drop_staged(name)
    if model_file is not None:
        model_file.keep(store.files)
    staged = store.stage_name(name)
    props = {
        **(properties or {}),
        "inputShape": list(graph.input_shape),
        "kernelNorm": kernel_norm,
        "dataFlow": graph.data_flow,
        "ingestId": staged.rsplit(STAGING_MARK, 1)[1],
    }
    store.write_network(staged, graph, props, progress=progress, complete=False)
    log.info("wrote %s as %s", name, staged)
    activations = None
    if dataset is not None:
        activations = _record(
            store,
            store.get_network(staged),
            dataset,
            runner,
            module,
            channel_reduce=channel_reduce,
            token_reduce=token_reduce,
            corr_top_k=corr_top_k,
            batch_size=batch_size,
            progress=activation_progress,
        )
        activations = replace_dataclass(activations, network=name)
        log.info("recorded activations of %s", name)
    replaced = store.swap_network(staged, name)
    log.info("%s is the new %s", staged, name)
    if replaced is not None:
        store.drop_network(replaced)
        log.info("dropped the replaced %s", name)
    summary = IngestSummary(
        network=name,
        layers=len(graph.layers),
        neurons=graph.n_neurons,
        edges=graph.n_edges,
        seconds=round(time.perf_counter() - started, 3),
        replaced=existing is not None,
        activations=activations,
    )
    log.info("ingested %s: %s", name, summary)
    return summary


def check_recording_options(
    channel_reduce: str, corr_top_k: int, token_reduce: str = "mean"
) -> None:
    """UsageError for options of recording activations that cannot work."""
    if channel_reduce not in CHANNEL_REDUCTIONS:
        raise UsageError(f"{arg('channel_reduce')} must be one of {', '.join(CHANNEL_REDUCTIONS)}")
    if token_reduce not in TOKEN_REDUCTIONS:
        raise UsageError(f"{arg('token_reduce')} must be one of {', '.join(TOKEN_REDUCTIONS)}")
    if corr_top_k < 1:
        raise UsageError(f"{arg('corr_top_k')} must be at least 1")


def record_activations(
    store: Store,
    name: str,
    network: Chain | ModelView,
    model: nn.Module,
    dataset: Dataset,
    *,
    channel_reduce: str = "mean",
    token_reduce: str = "mean",
    corr_top_k: int = DEFAULT_CORR_TOP_K,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> ActivationSummary:
    """Run ``dataset`` through a stored network and write what its neurons do.

    Neuron properties ``actMean``, ``actStd``, ``fracActive``, ``preferredClass``,
    ``selectivity``; CORRELATES edges (Spearman, the ``corr_top_k`` strongest per hidden neuron,
    with ``r`` and ``r2``); on the Network node the dataset, its fingerprint, the test accuracy
    and the cache (a path relative to the store's files). The activation matrix is cached in
    the store, keyed by the ingest and the dataset; the cache it replaces is deleted.
    ``network`` runs the model (its chain, or for any other network its view); ``model`` is
    the model itself, whose test accuracy is recorded (None when its output is not one
    score per class). A token model's units are reduced over positions with
    ``token_reduce``, padding left out.
    """
    check_recording_options(channel_reduce, corr_top_k, token_reduce)
    stored = store.require_network(name)
    return _record(
        store,
        stored,
        fit_dataset(dataset, network, name),
        network,
        model,
        channel_reduce=channel_reduce,
        token_reduce=token_reduce,
        corr_top_k=corr_top_k,
        batch_size=batch_size,
        progress=progress,
    )


def _record(
    store: Store,
    network: dict,
    dataset: Dataset,
    runner: Chain | ModelView,
    model: nn.Module,
    *,
    channel_reduce: str,
    token_reduce: str,
    corr_top_k: int,
    batch_size: int,
    progress: Progress | None,
) -> ActivationSummary:
    started = time.perf_counter()
    name = network["name"]
    layers = store.layers(name)
    widths = tuple(int(layer["width"]) for layer in layers)
    directory = store.files.directory(ACTIVATIONS)
    cache = ActivationCache.locate(
        directory, network, widths, dataset, channel_reduce, token_reduce
    )
    cached = cache.exists()
    if not cached:
        capture_activations(
            runner,
            dataset,
            cache,
            channel_reduce=channel_reduce,
            token_reduce=token_reduce,
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
    scored = isinstance(runner, Chain) or output_width(runner) is not None
    evaluation = (
        evaluate_model(runner if isinstance(runner, Chain) else model, dataset) if scored else None
    )
    recorded = store.files.relative(cache.path)
    properties = {
        "dataset": dataset.name,
        "datasetFingerprint": dataset.fingerprint,
        "activationsCache": recorded,
        "channelReduce": channel_reduce,
        "nExamples": cache.n_examples,
        "nCorrelates": edges,
    }
    if isinstance(runner, ModelView) and runner.tokens:
        properties["tokenReduce"] = token_reduce
    if evaluation is not None:
        properties["accuracy"] = evaluation.accuracy
        properties["taskAccuracy"] = [
            float(evaluation.task_accuracy[t.name]) for t in dataset.tasks
        ]
    store.set_network_properties(name, properties)
    if network.get("activationsCache") not in (None, recorded):
        store.files.remove_activations(network["activationsCache"])
    return ActivationSummary(
        network=name,
        dataset=dataset.name,
        examples=cache.n_examples,
        neurons=len(uids),
        correlates=edges,
        accuracy=evaluation.accuracy if evaluation is not None else None,
        task_accuracy=dict(evaluation.task_accuracy) if evaluation is not None else {},
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
