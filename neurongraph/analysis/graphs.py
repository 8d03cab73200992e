"""The weight and activation graphs of a stored network, as arrays for the analyses."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from neurongraph.analysis.spectral import layered_adjacency
from neurongraph.errors import AnalysisError
from neurongraph.ingest.activations import spearman_matrix
from neurongraph.ingest.pipeline import activation_cache
from neurongraph.store import Store

__all__ = ["activation_graph", "weight_adjacency", "weight_blocks"]


def weight_blocks(store: Store, network: str) -> tuple[list[int], list[sp.csr_matrix]]:
    """Layer widths and the ``(target, source)`` |w| matrix between consecutive layers, read
    from the network's WEIGHT edges.

    Raises
    ------
    AnalysisError
        When the network has no WEIGHT edges.
    """
    store.require_network(network)
    widths = [int(layer["width"]) for layer in store.layers(network)]
    rows = store.read_weights(network)
    if not rows:
        raise AnalysisError(
            f"network {network!r} has no WEIGHT edges to analyse; re-ingest it with "
            "`neurongraph ingest MODEL --name NAME --replace`"
        )
    parts: list[tuple[list, list, list]] = [([], [], []) for _ in widths[:-1]]
    for row in rows:
        targets, sources, values = parts[int(row["layer"])]
        targets.extend(row["targets"])
        sources.extend([row["source"]] * len(row["targets"]))
        values.extend(row["weights"])
    blocks = [
        sp.csr_matrix(
            (np.asarray(v, dtype=float), (np.asarray(t, dtype=int), np.asarray(s, dtype=int))),
            shape=(widths[p + 1], widths[p]),
        )
        for p, (t, s, v) in enumerate(parts)
    ]
    return widths, blocks


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
        ``layered_adjacency(*weight_blocks(store, network))``: symmetric, ``A[i, j] = |w|``
        between neurons of consecutive layers. Neurons are numbered layer by layer in the
        order of their layers' positions, then by index, the order in which
        :func:`~neurongraph.analysis.runner.run_spectral` labels them.

    Raises
    ------
    UsageError
        When the network is unknown or partial.
    AnalysisError
        When it has no WEIGHT edges.
    """
    return layered_adjacency(*weight_blocks(store, network))


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
