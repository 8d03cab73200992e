"""Ingest: a model into the store, whole or not at all."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from neurongraph.errors import UsageError
from neurongraph.ingest.extract import extract_chain
from neurongraph.ingest.graph import DEFAULT_KERNEL_NORM, KERNEL_NORMS, network_graph
from neurongraph.store import Store, check_network_name

__all__ = ["IngestSummary", "ingest_model"]

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
