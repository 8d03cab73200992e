"""``ng.ingest``: an in-memory ``nn.Module`` into the store, as ``neurongraph ingest`` writes a
model file (:func:`~neurongraph.ingest.pipeline.ingest_model`)."""

from __future__ import annotations

from torch import nn

from neurongraph.ingest.graph import DEFAULT_KERNEL_NORM
from neurongraph.ingest.pipeline import IngestSummary, ingest_model
from neurongraph.model.activations import DEFAULT_BATCH_SIZE, DEFAULT_CORR_TOP_K
from neurongraph.model.datasets import load_dataset
from neurongraph.model.recorded import module_inputs
from neurongraph.progress import Progress
from neurongraph.store import Store

__all__ = ["ingest"]

#: How errors about the data name a module passed in.
MODULE_SOURCE = "the module passed in"


def ingest(
    store: Store,
    model: nn.Module,
    name: str,
    *,
    data: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    replace: bool = False,
    kernel_norm: str = DEFAULT_KERNEL_NORM,
    channel_reduce: str = "mean",
    corr_top_k: int = DEFAULT_CORR_TOP_K,
    batch_size: int = DEFAULT_BATCH_SIZE,
    random_state: int = 0,
    progress: Progress | None = None,
) -> IngestSummary:
    """Write a model's neurons and weights (and, with ``data``, its activations) into the store
    as network ``name``, whole or not at all.

    The store keeps no copy of an in-memory model: pass it again as ``model=`` to
    :func:`neurongraph.importance` and :func:`neurongraph.coherence`.

    Parameters
    ----------
    store : Store
        From :func:`neurongraph.open_store`.
    model : nn.Module
        A model of feature vectors (MLP, CNN, residual network...), in eval mode.
    name : str
        Network name, ``[A-Za-z0-9_.@-]``.
    data : str, optional
        Also record activations on this dataset (``'digits'``, ``'npz:PATH'``, ``'mnist:DIR'``
        ...); it becomes the network's default dataset.
    input_shape : tuple of int, optional
        One example's shape, e.g. ``(64,)`` or ``(1, 8, 8)``; default: what the model's first
        layers imply.
    replace : bool, default=False
        Replace an existing network of that name.
    kernel_norm : {'l1', 'l2', 'fro'}, default='l1'
        How a conv kernel slice becomes one edge weight.
    channel_reduce : {'mean', 'max', 'l2'}, default='mean'
        How a channel's positions become one activation.
    corr_top_k : int, default=16
        CORRELATES edges kept per hidden neuron.
    batch_size : int
        Examples per forward pass when recording activations.
    random_state : int, default=0
        Seed of the dataset's split.
    progress : callable, optional
        ``progress(done, total)`` over the WEIGHT edges written.

    Returns
    -------
    IngestSummary
        Layers, neurons and edges written (and the activations recorded).

    Raises
    ------
    IngestError
        A model that cannot be read (naming the op and its module), an unknown input shape.
    UsageError
        A bad name, an existing network without ``replace=True``, data that does not fit.
    """
    dataset = load_dataset(data, random_state=random_state) if data else None
    example, dataset = module_inputs(model, input_shape, dataset, MODULE_SOURCE)
    return ingest_model(
        store,
        model,
        name,
        example,
        replace=replace,
        kernel_norm=kernel_norm,
        dataset=dataset,
        channel_reduce=channel_reduce,
        corr_top_k=corr_top_k,
        batch_size=batch_size,
        progress=progress,
    )
