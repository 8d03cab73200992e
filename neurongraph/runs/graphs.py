"""The weight and activation graphs of a stored network, as arrays for the analyses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from neurongraph.analysis.spectral import dag_adjacency
from neurongraph.errors import AnalysisError, arg, step
from neurongraph.model.activations import spearman_matrix
from neurongraph.model.recorded import activation_cache
from neurongraph.model.view import SUM
from neurongraph.store import Store

__all__ = ["WeightGraph", "activation_graph", "weight_adjacency", "weight_blocks", "weight_graph"]


@dataclass
class WeightGraph:
    """A stored network's weight graph as blocks.

    ``blocks[i]`` is the ``(target, source)`` |w| matrix from layer ``pairs[i][0]`` to layer
    ``pairs[i][1]`` (positions); ``fixed[i]`` says whether it feeds a ``sum`` layer (weight-1
    structure edges, which null models keep).
    """

    widths: list[int]
    blocks: list[sp.csr_matrix]
    pairs: list[tuple[int, int]]
    fixed: list[bool]

    @property
    def is_chain(self) -> bool:
        """Whether the blocks join consecutive layers only, in order, with no sum layer."""
        consecutive = [(p, p + 1) for p in range(len(self.widths) - 1)]
        return self.pairs == consecutive and not any(self.fixed)


def weight_graph(store: Store, network: str) -> WeightGraph:
    """The WEIGHT edges of a stored network as one block per FEEDS relationship (per pair of
    consecutive layers for networks stored before FEEDS was written).

    Raises
    ------
    AnalysisError
        When the network has no WEIGHT edges, or edges between layers no FEEDS joins.
    """
    store.require_network(network)
    layers = store.layers(network)
    widths = [int(layer["width"]) for layer in layers]
    edges = store.read_weight_columns(network)
    if not len(edges["weight"]):
        raise AnalysisError(
            f"network {network!r} has no WEIGHT edges to analyse; re-ingest it with "
            f"{step('ingest')} and {arg('replace')}"
        )
    pairs = store.feeds(network) or [(p, p + 1) for p in range(len(widths) - 1)]
    # one key per (source layer, target layer) pair, then the edges sorted by it
    keys = edges["layer"].astype(np.int64) * len(widths) + edges["targetLayer"]
    known = np.asarray([s * len(widths) + t for s, t in pairs], dtype=np.int64)
    strays = np.setdiff1d(keys, known)
    if strays.size:
        source, target = divmod(int(strays[0]), len(widths))
        raise AnalysisError(
            f"network {network!r} has WEIGHT edges from layer {source} to layer {target}, "
            "which no FEEDS relationship joins; re-ingest it with "
            f"{step('ingest')} and {arg('replace')}"
        )
    order = np.argsort(keys, kind="stable")
    bounds = (
        np.searchsorted(keys[order], known, side="left"),
        np.searchsorted(keys[order], known, side="right"),
    )
    blocks = []
    for (source, target), lo, hi in zip(pairs, *bounds, strict=True):
        part = order[lo:hi]
        blocks.append(
            sp.csr_matrix(
                (
                    edges["weight"][part].astype(float),
                    (edges["target"][part].astype(int), edges["source"][part].astype(int)),
                ),
                shape=(widths[target], widths[source]),
            )
        )
    fixed = [layers[target].get("kind") == SUM for _, target in pairs]
    return WeightGraph(widths, blocks, pairs, fixed)


def weight_blocks(store: Store, network: str) -> tuple[list[int], list[sp.csr_matrix]]:
    """Layer widths and the ``(target, source)`` |w| matrix between consecutive layers, read
    from the network's WEIGHT edges (a chain; see :func:`weight_graph` for any network).

    Raises
    ------
    AnalysisError
        When the network has no WEIGHT edges or is not a chain of layers.
    """
    graph = weight_graph(store, network)
    if not graph.is_chain:
        raise AnalysisError(
            f"network {network!r} is a residual/DAG network, not a chain of layers; read its "
            "weights with weight_graph"
        )
    return graph.widths, graph.blocks


def weight_adjacency(store: Store, network: str) -> sp.csr_matrix:
    """The undirected weight graph of a stored network, read from its WEIGHT edges.

    Parameters
    ----------
    store : Store
    network : str
        Name of a complete network.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_neurons, n_neurons)
        Symmetric, ``A[i, j] = |w|`` for every WEIGHT edge (between consecutive layers of a
        chain; along every FEEDS relationship of a residual/DAG network, sum edges included).
        Neurons are numbered layer by layer in the order of their layers' positions, then by
        index, the order in which :func:`~neurongraph.runs.spectral.run_spectral` labels
        them.

    Raises
    ------
    UsageError
        When the network is unknown or partial.
    AnalysisError
        When it has no WEIGHT edges.
    """
    graph = weight_graph(store, network)
    return dag_adjacency(graph.widths, graph.blocks, graph.pairs)


def activation_graph(store: Store, network: str) -> tuple[np.ndarray, np.ndarray]:
    """The activation graph of the hidden neurons: r² of the Spearman correlation of their
    activations over the cached dataset, diagonal 0.

    Returns
    -------
    adjacency : ndarray of shape (n_hidden, n_hidden)
    columns : ndarray
        The hidden neurons' columns in the activation matrix (layers in order).
    """
    cache = activation_cache(store, network)
    columns = np.arange(cache.offsets[1], cache.offsets[-2])
    if len(columns) < 2:
        raise AnalysisError(f"network {network!r} has fewer than 2 hidden neurons")
    r = spearman_matrix(cache.matrix(), columns)
    adjacency = r * r
    np.fill_diagonal(adjacency, 0.0)
    return adjacency, columns
