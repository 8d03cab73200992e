"""Spectral partitions of weight and activation graphs (Filan et al. 2021).

Two partitioners (``method``), both embedding the nodes with the top k eigenvectors of
the normalised adjacency ``D^-1/2 A D^-1/2`` (the bottom k of the normalised Laplacian)
and clustering the embedded nodes with k-means:

- ``papers`` (the default, :data:`PAPERS`): the papers' reference code, i.e.
  scikit-learn's ``SpectralClustering(affinity='precomputed', assign_labels='kmeans',
  eigen_solver='arpack')``. The embedding is scikit-learn's ``spectral_embedding``
  (``drop_first=False``): every eigenvector scaled by ``D^-1/2`` (Shi and Malik); k-means
  runs on that raw embedding as scikit-learn's ``KMeans`` does (k-means++ seeding, Lloyd
  iterations until no point moves or the centres settle; the restarts batched in NumPy),
  ``n_init`` restarts (25 up to 2,000 nodes, 100 above, as the reference code), and the
  restart with the lowest inertia is kept. Its n-cuts and z-scores are comparable with
  the papers' (tested against ``SpectralClustering`` in distribution).
- ``ncut-refined`` (:data:`NCUT_REFINED`): each node's embedding is normalised to unit
  length (Ng, Jordan and Weiss), batched k-means restarts stop early, and the restart
  with the lowest normalised cut (:func:`~neurongraph.analysis.cuts.ncut`, re-exported
  here) is kept. It finds lower n-cuts, but its null distributions are narrower, so its
  z-scores are not comparable with the papers' (see ``docs/departures.md``).

Both methods give the same eigenvectors (any orthonormal basis of the same eigenspace:
k-means is invariant to rotations of the embedding), so they share the eigensolvers.

Eigensolvers. The weight graph of a layered network is bipartite (even layers against
odd layers), and so is every graph whose nodes can be two-coloured: for those the
eigenvectors are the singular vectors of the normalised biadjacency B, taken from its
Gram matrix on the smaller side (dense, order about n/2; ARPACK on it beyond
``DENSE_MAX_NODES / 4``, LAPACK below). Other graphs (the activation graph) use LAPACK
up to ``DENSE_MAX_NODES`` nodes and ARPACK's Lanczos (``which="LA"``, seeded start
vector) on the sparse normalised adjacency beyond. scikit-learn's ARPACK mode instead
runs shift-invert, which factorises a nearly dense matrix: most of its time.

Isolated (zero-degree) nodes are left out of every partition and labelled -1.

The weight graph of a layered network comes from :func:`layered_adjacency`. The null
models that say whether a partition is better than chance live in
:mod:`neurongraph.analysis.nulls`; the shuffles are also reachable from this module.

Seeds follow one rule throughout: every ``random_state`` is an int, ``None``, a
:class:`numpy.random.RandomState` or a Generator, resolved once with
:func:`neurongraph.seeds.as_random_state` and handed down.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from neurongraph.analysis.cuts import NcutScorer, check_adjacency, ncut
from neurongraph.analysis.defaults import (
    DEFAULT_METHOD,
    DEFAULT_N_CLUSTERS,
    METHODS,
    NCUT_REFINED,
    PAPERS,
)
from neurongraph.errors import AnalysisError, NeurongraphWarning
from neurongraph.seeds import as_random_state

__all__ = [
    "DEFAULT_EIGEN_TOL",
    "DEFAULT_METHOD",
    "DEFAULT_N_CLUSTERS",
    "DEFAULT_N_INIT",
    "DENSE_MAX_NODES",
    "METHODS",
    "NCUT_REFINED",
    "PAPERS",
    "as_int",
    "check_dag",
    "check_k",
    "check_layers",
    "check_options",
    "count_components",
    "dag_adjacency",
    "default_n_init",
    "layered_adjacency",
    "layered_labels",
    "ncut",
    "papers_kmeans",
    "spectral_labels",
    "spectral_partition",
    "warn_disconnected",
]

logger = logging.getLogger(__name__)

#: Number of k-means restarts of ``ncut-refined``; the restart with the lowest n-cut is kept.
DEFAULT_N_INIT = 10
#: k-means restarts of ``papers``: as the reference code, ``PAPERS_N_INIT`` up to
#: ``PAPERS_N_INIT_NODES`` (non-isolated) nodes and ``PAPERS_N_INIT_LARGE`` above.
PAPERS_N_INIT = 25
PAPERS_N_INIT_LARGE = 100
PAPERS_N_INIT_NODES = 2000
#: Relative accuracy of the Ritz values asked of ARPACK. The clusters only depend on the
#: span of the eigenvectors, and tighter tolerances cost time without lowering the n-cut.
DEFAULT_EIGEN_TOL = 1e-4
#: Graphs up to this many (non-isolated) nodes are solved with dense LAPACK ``eigh``,
#: which is exact and about as fast as ARPACK at that size; larger ones with ARPACK.
DENSE_MAX_NODES = 800
#: Bipartite graphs (all layered networks) are solved through the Gram matrix of their
#: biadjacency on the smaller side; densely up to this order, with ARPACK beyond.
DENSE_MAX_GRAM = 4000
#: Biadjacency matrices with at most this many entries are held dense (80 MB).
DENSE_MAX_ENTRIES = 10_000_000
#: Eigenvalues of the Gram matrix below this fraction of the largest count as zero.
GRAM_RTOL = 1e-10
#: Eigenvalues of the normalised adjacency this close to 1 count one component each.
COMPONENT_TOL = 1e-9
#: Lloyd iterations per k-means restart, at most.
KMEANS_MAX_ITER = 300
#: A k-means run stops when its centres move (sum of squares) less than this fraction
#: of the mean variance of the embedding, as scikit-learn's ``tol``.
KMEANS_TOL = 1e-4
#: ... or when at most this fraction of the points changed cluster in its last step:
#: Lloyd's long tail of moves of a few points more than doubles the run time, for n-cut
#: changes below 0.01% on trained and shuffled MLPs.
KMEANS_CHANGE_TOL = 5e-3
#: When more than this fraction of the points changed cluster, the per-cluster sums are
#: recounted from the labels rather than updated point by point.
MOVES_RECOUNT = 0.2

# --------------------------------------------------------------------------------------
# Weight graph of a layered network
# --------------------------------------------------------------------------------------


def check_layers(
    widths: Sequence[int], blocks: Sequence[ArrayLike | sp.sparray | sp.spmatrix]
) -> tuple[list[int], list[np.ndarray | sp.csr_matrix]]:
    """Validate layer widths and consecutive-layer weight blocks.

    Returns the widths as ints and the blocks as float64 arrays (dense input) or CSR
    matrices (sparse input).
    """
    try:
        widths = [as_int(w) for w in widths]
    except TypeError as err:
        raise AnalysisError(f"widths must be a list of integers, got {widths!r}") from err
    if len(widths) < 2:
        raise AnalysisError(
            f"a layered network needs at least 2 layers, got {len(widths)}: "
            "pass the width of every layer, input first"
        )
    if min(widths) < 1:
        raise AnalysisError(f"layer widths must be positive, got {widths}")
    if len(blocks) != len(widths) - 1:
        raise AnalysisError(
            f"{len(widths)} layers need {len(widths) - 1} weight blocks, got {len(blocks)}: "
            "pass one (target x source) matrix per pair of consecutive layers"
        )
    checked: list[np.ndarray | sp.csr_matrix] = []
    for i, block in enumerate(blocks):
        expected = (widths[i + 1], widths[i])
        if sp.issparse(block):
            matrix = sp.csr_matrix(block, dtype=np.float64)
            values = matrix.data
        else:
            matrix = np.asarray(block, dtype=np.float64)
            values = matrix
        if matrix.shape != expected:
            raise AnalysisError(
                f"weight block {i} has shape {matrix.shape}, expected {expected} "
                f"(width of layer {i + 1} x width of layer {i}, like torch's Linear.weight)"
            )
        if values.size and not np.all(np.isfinite(values)):
            raise AnalysisError(f"weight block {i} holds NaN or infinite weights")
        if values.size and values.min() < 0:
            raise AnalysisError(
                f"weight block {i} holds negative weights: pass absolute values (|w|)"
            )
        checked.append(matrix)
    return widths, checked


def as_int(value: Any) -> int:
    """``value`` as an int if it is an integer (bools excluded), else TypeError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{value!r} is not an integer")
    return int(value)


def _layered_adjacency(
    widths: Sequence[int], blocks: Sequence[np.ndarray | sp.spmatrix]
) -> sp.csr_matrix:
    """Build the symmetric block-bidiagonal adjacency (a DAG of consecutive layers); the caller
    validated the input."""
    return _dag_adjacency(widths, blocks, [(i, i + 1) for i in range(len(blocks))])


def layered_adjacency(
    widths: Sequence[int], blocks: Sequence[ArrayLike | sp.sparray | sp.spmatrix]
) -> sp.csr_matrix:
    """Undirected weight graph of a layered network.

    Parameters
    ----------
    widths : sequence of int
        Number of neurons of every layer, input layer first.
    blocks : sequence of array-like or scipy sparse matrices
        ``blocks[i]`` holds the non-negative weights (e.g. ``|w|``) from layer ``i`` to
        layer ``i + 1``, shape ``(widths[i + 1], widths[i])`` (target x source, like
        ``torch.nn.Linear.weight``).

    Returns
    -------
    scipy.sparse.csr_matrix of shape (sum(widths), sum(widths))
        Symmetric block-bidiagonal adjacency with explicit zeros removed. Nodes are
        numbered layer by layer: neuron ``j`` of layer ``i`` is node
        ``sum(widths[:i]) + j``.

    Examples
    --------
    >>> import numpy as np
    >>> A = layered_adjacency([2, 1], [np.array([[0.5, 2.0]])])
    >>> A.toarray()
    array([[0. , 0. , 0.5],
           [0. , 0. , 2. ],
           [0.5, 2. , 0. ]])
    """
    widths, checked = check_layers(widths, blocks)
    return _layered_adjacency(widths, checked)


def check_dag(
    widths: Sequence[int],
    blocks: Sequence[ArrayLike | sp.sparray | sp.spmatrix],
    pairs: Sequence[tuple[int, int]],
) -> tuple[list[int], list[np.ndarray | sp.csr_matrix], list[tuple[int, int]]]:
    """Validate the blocks of a DAG of layers: block i holds the weights from layer
    ``pairs[i][0]`` to the later layer ``pairs[i][1]``, shape (target width, source width)."""
    try:
        widths = [as_int(w) for w in widths]
        pairs = [(as_int(a), as_int(b)) for a, b in pairs]
    except (TypeError, ValueError) as err:
        raise AnalysisError(
            f"widths must be integers and pairs (source, target) layer indices: {err}"
        ) from err
    if len(pairs) != len(blocks):
        raise AnalysisError(
            f"{len(blocks)} weight blocks need as many (source, target) pairs, got {len(pairs)}"
        )
    if len(widths) < 2 or min(widths) < 1:
        raise AnalysisError(f"a network needs 2 or more layers of positive width, got {widths}")
    checked: list[np.ndarray | sp.csr_matrix] = []
    for i, (block, (source, target)) in enumerate(zip(blocks, pairs, strict=True)):
        if not 0 <= source < target < len(widths):
            raise AnalysisError(
                f"weight block {i} joins layer {source} to layer {target}; blocks go from a "
                f"layer to a later one among {len(widths)} layers"
            )
        _, (matrix,) = check_layers([widths[source], widths[target]], [block])
        checked.append(matrix)
    return widths, checked, pairs


def _dag_adjacency(
    widths: Sequence[int],
    blocks: Sequence[np.ndarray | sp.spmatrix],
    pairs: Sequence[tuple[int, int]],
) -> sp.csr_matrix:
    """The symmetric adjacency of a DAG of layers; the caller validated the input."""
    offsets = np.concatenate([[0], np.cumsum(widths)])
    n = int(offsets[-1])
    rows, cols, values = [np.zeros(0, np.intp)], [np.zeros(0, np.intp)], [np.zeros(0)]
    for block, (source, target) in zip(blocks, pairs, strict=True):
        coo = block.tocoo() if sp.issparse(block) else sp.coo_matrix(block)
        nonzero = coo.data != 0
        rows.append(coo.row[nonzero].astype(np.intp) + offsets[target])
        cols.append(coo.col[nonzero].astype(np.intp) + offsets[source])
        values.append(coo.data[nonzero])
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    value = np.concatenate(values)
    matrix = sp.csr_matrix(
        (np.concatenate([value, value]), (np.concatenate([row, col]), np.concatenate([col, row]))),
        shape=(n, n),
    )
    matrix.sum_duplicates()
    return matrix


def dag_adjacency(
    widths: Sequence[int],
    blocks: Sequence[ArrayLike | sp.sparray | sp.spmatrix],
    pairs: Sequence[tuple[int, int]],
) -> sp.csr_matrix:
    """Undirected weight graph of a network whose layers form a DAG (residual networks).

    Parameters
    ----------
    widths : sequence of int
        Number of neurons of every layer, in topological order, input layer first.
    blocks : sequence of array-like or scipy sparse matrices
        ``blocks[i]`` holds the non-negative weights from layer ``pairs[i][0]`` to layer
        ``pairs[i][1]``, shape ``(widths[target], widths[source])``.
    pairs : sequence of (int, int)
        ``(source, target)`` layer indices of every block, ``source < target``.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (sum(widths), sum(widths))
        Symmetric adjacency, nodes numbered layer by layer as in :func:`layered_adjacency`
        (which it equals when ``pairs`` are the consecutive layers).

    Examples
    --------
    A skip connection from the input straight to the last layer:

    >>> import numpy as np
    >>> A = dag_adjacency([1, 1, 1], [np.array([[2.0]]), np.array([[1.0]]), np.array([[3.0]])],
    ...                   [(0, 1), (1, 2), (0, 2)])
    >>> A.toarray()
    array([[0., 2., 3.],
           [2., 0., 1.],
           [3., 1., 0.]])
    """
    widths, checked, pairs = check_dag(widths, blocks, pairs)
    return _dag_adjacency(widths, checked, pairs)


# --------------------------------------------------------------------------------------
# Spectral partition
# --------------------------------------------------------------------------------------


def _bipartition(graph: sp.csr_matrix, components: np.ndarray) -> np.ndarray | None:
    """Two-colouring (0/1 per node) of a graph without isolated nodes, or None.

    Breadth-first search from one root per component; a node's colour is the parity of
    its depth, found by pointer jumping along the search tree. The graph is bipartite
    when no edge joins two nodes of the same colour (a self-loop never qualifies).
    """
    n = graph.shape[0]
    parent = np.arange(n)
    _, roots = np.unique(components, return_index=True)
    for root in roots:
        order, predecessors = breadth_first_order(
            graph, int(root), directed=False, return_predecessors=True
        )
        parent[order[1:]] = predecessors[order[1:]]
    parity = (parent != np.arange(n)).astype(np.int8)
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        parity ^= parity[parent]
        parent = grand
    coo = graph.tocoo()
    if np.any(parity[coo.row] == parity[coo.col]):
        return None
    return parity


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip eigenvectors so that the largest-magnitude entry of each is positive."""
    largest = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[largest, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


def _normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Ng-Jordan-Weiss: project every node's embedding onto the unit sphere."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def _top_eigenvectors(
    normalized: sp.csr_matrix, k: int, random_state: np.random.RandomState, eigen_tol: float
) -> np.ndarray:
    """Eigenvectors of the k largest eigenvalues of a symmetric matrix."""
    n = normalized.shape[0]
    if n > DENSE_MAX_NODES and k < n - 1:
        # which="LA" on D^-1/2 A D^-1/2 needs only products with a sparse matrix;
        # scikit-learn's shift-invert mode (sigma=1) factorises a nearly dense one.
        v0 = random_state.uniform(-1, 1, n)
        try:
            return eigsh(normalized, k=k, which="LA", v0=v0, tol=eigen_tol)[1]
        except ArpackNoConvergence:
            warnings.warn(
                "ARPACK did not converge on the spectral embedding; "
                "falling back to a dense eigensolver",
                NeurongraphWarning,
                stacklevel=4,
            )
    return scipy.linalg.eigh(
        normalized.toarray(), subset_by_index=[n - k, n - 1], check_finite=False
    )[1]


def _gram_eigenvectors(
    block: np.ndarray | sp.csr_matrix,
    k: int,
    random_state: np.random.RandomState,
    eigen_tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Top-k singular triplets of a normalised biadjacency B (rows >= columns).

    For a bipartite graph, ``N = [[0, B], [B.T, 0]]``: the eigenvalues of N are the
    singular values s of B, their negatives and zeros, and the eigenvector of s is
    ``(u, v) / sqrt(2)`` for the singular vectors u, v. They come from the Gram matrix
    ``B.T B`` on the smaller side, about half N's order: a dense ``eigh`` of it takes
    milliseconds where ARPACK on N takes tenths of a second. Returns (s^2, u, v), or
    None when the top k eigenvalues of N are not all positive singular values (k above
    the smaller side, or a zero singular value), which the general solver handles.
    """
    m = block.shape[1]
    if k > m:
        return None
    if m <= DENSE_MAX_GRAM:
        gram = block.T @ block
        gram = gram.toarray() if sp.issparse(gram) else gram
        if m <= DENSE_MAX_NODES // 4 or k >= m - 1:
            values, right = scipy.linalg.eigh(gram, subset_by_index=[m - k, m - 1])
        else:  # ARPACK on the dense Gram matrix is a few times faster than LAPACK
            v0 = random_state.uniform(-1, 1, m)
            values, right = eigsh(gram, k=k, which="LA", v0=v0, tol=eigen_tol)
    else:
        operator = LinearOperator((m, m), matvec=lambda x: block.T @ (block @ x), dtype=np.float64)
        v0 = random_state.uniform(-1, 1, m)
        values, right = eigsh(operator, k=k, which="LA", v0=v0, tol=eigen_tol)
    if values.min() <= GRAM_RTOL * values.max():
        return None
    left = np.asarray(block @ right) / np.sqrt(values)
    return values, left, right


def _kmeans_plusplus(
    points: np.ndarray,
    squared: np.ndarray,
    k: int,
    n_init: int,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """Greedy k-means++ seeding of n_init restarts at once, shape (n_init, k, dim).

    As scikit-learn's: each new centre is the best of 2 + log k candidates drawn with
    probability proportional to the squared distance to the nearest chosen centre.
    """
    n, dim = points.shape
    n_trials = 2 + int(np.log(k))
    restarts = np.arange(n_init)
    centers = np.empty((n_init, k, dim))
    # [x; 1; ||x||^2] per point: [-2 c, ||c||^2, 1] times it is ||x - c||^2
    rows = np.vstack([points.T, np.ones((1, n)), squared[None, :]])
    factors = np.empty((n_init * n_trials, dim + 2))
    factors[:, dim + 1] = 1.0
    first = random_state.randint(n, size=n_init)
    centers[:, 0] = points[first]
    closest = squared[None, :] - 2 * points[first] @ points.T + squared[first][:, None]
    np.maximum(closest, 0.0, out=closest)
    potential = closest.sum(axis=1)
    for c in range(1, k):
        draws = random_state.uniform(size=(n_init, n_trials)) * potential[:, None]
        cumulative = np.cumsum(closest, axis=1)
        candidates = np.array(
            [np.searchsorted(row, draw) for row, draw in zip(cumulative, draws, strict=True)]
        )
        np.minimum(candidates, n - 1, out=candidates)
        chosen = points[candidates]  # (n_init, n_trials, dim)
        np.multiply(chosen.reshape(-1, dim), -2.0, out=factors[:, :dim])
        factors[:, dim] = squared[candidates].ravel()
        distances = (factors @ rows).reshape(n_init, n_trials, n)
        np.maximum(distances, 0.0, out=distances)
        np.minimum(closest[:, None, :], distances, out=distances)
        potentials = distances.sum(axis=2)
        best = np.argmin(potentials, axis=1)
        closest = distances[restarts, best]
        potential = potentials[restarts, best]
        centers[:, c] = chosen[restarts, best]
    return centers


def _cluster_sums(columns: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums and sizes of a batch of labellings.

    ``columns`` holds the points as columns (dim, n), ``labels`` the runs (r, n). Returns
    the sums (r, k, dim) and the counts (r, k), as float64 bincounts.
    """
    n_runs = labels.shape[0]
    size = n_runs * k
    keys = (labels + k * np.arange(n_runs)[:, None]).ravel()
    counts = np.bincount(keys, minlength=size).astype(np.float64)
    sums = np.stack(
        [np.bincount(keys, weights=np.tile(column, n_runs), minlength=size) for column in columns],
        axis=1,
    )
    return sums.reshape(n_runs, k, -1), counts.reshape(n_runs, k)


def _center_distances(rows: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared distances of every point to every centre of a batch of runs, less ``||x||^2``
    (the same for every centre), shape (k, r, n).

    ``rows`` holds the points as columns with a row of ones below, (dim + 1, n): one
    matrix product of ``[-2 c, ||c||^2]`` with it gives ``||c||^2 - 2 c.x`` for all runs.
    """
    n_runs, k, dim = centers.shape
    flat = centers.transpose(1, 0, 2).reshape(k * n_runs, dim)
    factors = np.empty((k * n_runs, dim + 1))
    np.multiply(flat, -2.0, out=factors[:, :dim])
    factors[:, dim] = np.einsum("cd,cd->c", flat, flat)
    return (factors @ rows).reshape(k, n_runs, -1)


def _reassign(
    rows: np.ndarray, centers: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's assignment step for a batch of runs, given their current labels (r, n).

    Returns the new labels and the flat indices (into ``labels.ravel()``) of the points
    whose label changed. The nearest distance is a reduction over the k centres
    (vectorised across points); only points farther from their own centre than from the
    nearest one are searched for it, which late in a run is a small fraction.
    """
    distances = _center_distances(rows, centers)
    k = distances.shape[0]
    flat = distances.reshape(k, -1)
    nearest = flat.min(axis=0)
    size = nearest.size
    own = np.take(flat.ravel(), labels.ravel() * size + np.arange(size))
    changed = np.flatnonzero(own > nearest)
    updated = labels.copy()
    if changed.size:
        updated.ravel()[changed] = np.argmin(flat[:, changed], axis=0)
    return updated, changed


def _move_points(
    sums: np.ndarray,
    counts: np.ndarray,
    columns: np.ndarray,
    old: np.ndarray,
    new: np.ndarray,
    changed: np.ndarray,
) -> None:
    """Update per-cluster sums and counts in place for the points that changed cluster."""
    n_runs, k, dim = sums.shape
    size = n_runs * k
    runs, points = np.divmod(changed, columns.shape[1])
    old_keys = old.ravel()[changed] + k * runs
    new_keys = new.ravel()[changed] + k * runs
    counts.reshape(size)[:] += np.bincount(new_keys, minlength=size) - np.bincount(
        old_keys, minlength=size
    )
    flat = sums.reshape(size, dim)
    for d, column in enumerate(columns):
        weights = column[points]
        flat[:, d] += np.bincount(new_keys, weights=weights, minlength=size)
        flat[:, d] -= np.bincount(old_keys, weights=weights, minlength=size)


def _kmeans(
    points: np.ndarray,
    k: int,
    n_init: int,
    random_state: np.random.RandomState,
    change_tol: float = KMEANS_CHANGE_TOL,
) -> np.ndarray:
    """n_init k-means runs at once (k-means++ seeding, then Lloyd iterations).

    Returns the labels of every run, shape (n_init, n). The runs still going are batched:
    one matrix product gives the distances of all their points, and per-cluster sums are
    bincounts, updated for the points that changed cluster (recomputed when many did).
    A run stops when at most ``change_tol`` of the points changed cluster in its last
    assignment (0: none, scikit-learn's strict convergence) or, as in scikit-learn, when
    its centres move less than ``KMEANS_TOL`` times the mean variance of the points (its
    points are then assigned to the final centres). With ``change_tol=0`` every run is
    scikit-learn's ``KMeans`` (Lloyd) run.
    """
    n = points.shape[0]
    squared = np.einsum("ij,ij->i", points, points)
    centers = _kmeans_plusplus(points, squared, k, n_init, random_state)
    tolerance = KMEANS_TOL * float(np.mean(np.var(points, axis=0)))
    columns = np.ascontiguousarray(points.T)
    rows = np.vstack([columns, np.ones((1, n))])
    result = np.full((n_init, n), -1)
    running = np.arange(n_init)
    labels = np.argmin(_center_distances(rows, centers), axis=0)
    sums, counts = _cluster_sums(columns, labels, k)
    for _ in range(KMEANS_MAX_ITER):
        updated = sums / np.maximum(counts, 1.0)[:, :, None]
        for run, cluster in zip(*np.nonzero(counts == 0), strict=True):
            # Re-seed an empty cluster with the point farthest from its centre.
            own = np.sum((points - centers[run][labels[run]]) ** 2, axis=1)
            updated[run, cluster] = points[int(np.argmax(own))]
        settled = np.sum((updated - centers) ** 2, axis=(1, 2)) <= tolerance
        centers = updated
        assigned, changed = _reassign(rows, centers, labels)
        moved = np.bincount(changed // n, minlength=running.size) > change_tol * n
        done = settled | ~moved
        result[running[done]] = assigned[done]
        if changed.size > MOVES_RECOUNT * labels.size:
            sums, counts = _cluster_sums(columns, assigned, k)
        elif changed.size:
            _move_points(sums, counts, columns, labels, assigned, changed)
        labels = assigned
        if done.any():
            keep = ~done
            running, labels, centers = running[keep], labels[keep], centers[keep]
            sums, counts = sums[keep], counts[keep]
            if running.size == 0:
                break
    else:
        result[running] = labels
    return result


def default_n_init(method: str, n_nodes: int) -> int:
    """Number of k-means restarts of ``method`` on a graph of ``n_nodes`` non-isolated nodes.

    Examples
    --------
    >>> default_n_init("papers", 1098), default_n_init("papers", 2001)
    (25, 100)
    >>> default_n_init("ncut-refined", 1098)
    10
    """
    if method == NCUT_REFINED:
        return DEFAULT_N_INIT
    return PAPERS_N_INIT if n_nodes <= PAPERS_N_INIT_NODES else PAPERS_N_INIT_LARGE


def _inertias(points: np.ndarray, runs: np.ndarray, k: int) -> np.ndarray:
    """k-means inertia of every run: the sum of squared distances to the cluster means.

    ``sum ||x||^2 - sum_c ||sum_{x in c} x||^2 / |c|`` per run, from per-cluster sums.
    """
    sums, counts = _cluster_sums(points.T, runs, k)
    between = np.einsum("rkd,rkd->rk", sums, sums) / np.maximum(counts, 1.0)
    return float(np.einsum("ij,ij->", points, points)) - between.sum(axis=1)


def papers_kmeans(
    points: np.ndarray, k: int, n_init: int, random_state: np.random.RandomState
) -> np.ndarray:
    """scikit-learn's ``KMeans(n_clusters=k, n_init=n_init)``: the restart with the lowest
    inertia, as one run of shape (1, n).

    The restarts are :func:`_kmeans` runs with scikit-learn's stopping rules (k-means++
    seeding, Lloyd iterations until no point moves or the centres settle), batched: all
    restarts advance together in a few array operations, where ``KMeans`` runs them one after
    another (``benchmarks/spectral.py --kmeans-only`` times both on the same points).
    """
    runs = _kmeans(points, k, n_init, random_state, change_tol=0.0)
    return runs[[int(np.argmin(_inertias(points, runs, k)))]]


def _cluster_runs(
    vectors: np.ndarray,
    degrees: np.ndarray,
    k: int,
    method: str,
    n_init: int | None,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """k-means runs on the spectral embedding of ``method``, shape (runs, n).

    ``vectors`` are orthonormal eigenvectors of the top k eigenvalues of the normalised
    adjacency and ``degrees`` the nodes' degrees. ``papers`` returns one run (the lowest
    inertia); ``ncut-refined`` returns every restart, for the caller to pick by n-cut.
    """
    n_init = default_n_init(method, degrees.size) if n_init is None else n_init
    if method == PAPERS:
        # scikit-learn's spectral_embedding: eigenvectors scaled by D^-1/2, signs fixed
        embedding = _fix_signs(vectors / np.sqrt(degrees)[:, None])
        return papers_kmeans(embedding, k, n_init, random_state)
    return _kmeans(_normalize_rows(_fix_signs(vectors)), k, n_init, random_state)


def _bipartite_ncuts(
    raw: np.ndarray | sp.csr_matrix,
    row_degrees: np.ndarray,
    col_degrees: np.ndarray,
    row_runs: np.ndarray,
    col_runs: np.ndarray,
    k: int,
) -> np.ndarray:
    """N-cut of many labellings of a bipartite graph at once, from its biadjacency.

    ``raw`` is the (rows x columns) weight matrix, ``row_runs`` (runs, rows) and
    ``col_runs`` (runs, columns) the labels. The weight inside cluster c is twice the
    sum of ``raw[i, j]`` over row i and column j both in c: one product of ``raw`` with
    the one-hot column labels of all runs (a BLAS call), instead of a pass over the
    edges per run.
    """
    n_runs, n_rows = row_runs.shape
    shift = k * np.arange(n_runs)[:, None]
    onehot = np.zeros((raw.shape[1], n_runs * k))
    onehot[np.arange(raw.shape[1])[:, None], (col_runs + shift).T] = 1.0
    toward = np.asarray(raw @ onehot)  # (rows, runs * k): weight from row i to cluster
    row_keys = row_runs + shift
    own = toward[np.arange(n_rows)[None, :], row_keys]  # (runs, rows)
    within = 2 * np.bincount(row_keys.ravel(), weights=own.ravel(), minlength=n_runs * k)
    volumes = np.bincount(
        row_keys.ravel(), weights=np.tile(row_degrees, n_runs), minlength=n_runs * k
    ) + np.bincount(
        (col_runs + shift).ravel(), weights=np.tile(col_degrees, n_runs), minlength=n_runs * k
    )
    cuts = np.maximum(volumes - within, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(volumes > 0, cuts / volumes, 0.0)
    return terms.reshape(n_runs, k).sum(axis=1)


def _bipartite_labels(
    raw: np.ndarray | sp.csr_matrix,
    k: int,
    random_state: np.random.RandomState,
    *,
    method: str,
    n_init: int | None,
    eigen_tol: float,
) -> tuple[np.ndarray, np.ndarray, float, int] | None:
    """Partition a bipartite graph given by its non-negative biadjacency ``raw``.

    Returns the labels of the rows and of the columns (-1 for isolated ones, not yet
    canonical), the n-cut, and the number of connected components, counted as the
    multiplicity of the eigenvalue 1 among the top k (so at most k). Returns None when
    the Gram route does not apply (see :func:`_gram_eigenvectors`). The caller checked
    ``2 <= k <= number of non-isolated nodes``.
    """
    row_degrees = np.asarray(raw.sum(axis=1)).ravel()
    col_degrees = np.asarray(raw.sum(axis=0)).ravel()
    rows, cols = row_degrees > 0, col_degrees > 0
    if not (rows.all() and cols.all()):
        raw = raw[np.ix_(rows, cols)] if not sp.issparse(raw) else raw[rows][:, cols]
    row_degrees, col_degrees = row_degrees[rows], col_degrees[cols]
    _check_internal_k(k, row_degrees.size + col_degrees.size)
    transposed = raw.shape[0] < raw.shape[1]
    if transposed:  # the Gram matrix goes on the smaller side
        raw, row_degrees, col_degrees = raw.T, col_degrees, row_degrees
    row_scale, col_scale = 1.0 / np.sqrt(row_degrees), 1.0 / np.sqrt(col_degrees)
    if sp.issparse(raw):
        raw = sp.csr_matrix(raw)
        block = sp.diags(row_scale) @ raw @ sp.diags(col_scale)
    else:
        block = raw * row_scale[:, None]
        block *= col_scale[None, :]
    triplets = _gram_eigenvectors(block, k, random_state, eigen_tol)
    if triplets is None:
        return None
    values, left, right = triplets
    n_components = int(np.count_nonzero(values >= 1.0 - COMPONENT_TOL))
    n_rows = left.shape[0]
    degrees = np.concatenate([row_degrees, col_degrees])
    runs = _cluster_runs(np.vstack([left, right]), degrees, k, method, n_init, random_state)
    ncuts = _bipartite_ncuts(raw, row_degrees, col_degrees, runs[:, :n_rows], runs[:, n_rows:], k)
    best = int(np.argmin(ncuts))
    row_labels, col_labels = runs[best, :n_rows], runs[best, n_rows:]
    if transposed:
        row_labels, col_labels = col_labels, row_labels
    full_rows = np.full(rows.shape, -1, dtype=np.int64)
    full_cols = np.full(cols.shape, -1, dtype=np.int64)
    full_rows[rows] = row_labels
    full_cols[cols] = col_labels
    return full_rows, full_cols, float(ncuts[best]), n_components


def _general_labels(
    graph: sp.csr_matrix,
    k: int,
    random_state: np.random.RandomState,
    *,
    method: str,
    n_init: int | None,
    eigen_tol: float,
) -> tuple[np.ndarray, float]:
    """Partition a graph without isolated nodes; returns labels and n-cut."""
    degrees = np.asarray(graph.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(degrees))
    normalized = (scale @ graph @ scale).tocsr()
    vectors = _top_eigenvectors(normalized, k, random_state, eigen_tol)
    runs = _cluster_runs(vectors, degrees, k, method, n_init, random_state)
    score = NcutScorer(graph)
    ncuts = [score(run) for run in runs]
    best = int(np.argmin(ncuts))
    return runs[best], float(ncuts[best])


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Renumber labels >= 0 in order of first appearance; labels < 0 become -1."""
    out = np.full(labels.shape, -1, dtype=np.int64)
    keep = labels >= 0
    if keep.any():
        _, first, inverse = np.unique(labels[keep], return_index=True, return_inverse=True)
        rank = np.empty(first.size, dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        out[keep] = rank[inverse.ravel()]
    return out


def spectral_labels(
    matrix: sp.csr_matrix,
    k: int,
    random_state: np.random.RandomState,
    *,
    method: str = DEFAULT_METHOD,
    n_init: int | None = None,
    eigen_tol: float = DEFAULT_EIGEN_TOL,
) -> tuple[np.ndarray, float, int]:
    """Partition a validated adjacency; isolated nodes get -1.

    The caller has checked ``2 <= k <= number of non-isolated nodes``. Returns the
    canonical labels, their n-cut and the number of connected components of the
    non-isolated part. Bipartite graphs go through :func:`_bipartite_labels`.
    """
    degrees = np.asarray(matrix.sum(axis=1)).ravel()
    active = degrees > 0
    graph = matrix if active.all() else matrix[active][:, active]
    _check_internal_k(k, graph.shape[0])
    n_components, components = connected_components(graph, directed=False)
    parity = _bipartition(graph, components)
    labels = np.full(matrix.shape[0], -1, dtype=np.int64)
    result = None
    if parity is not None:
        first, second = np.flatnonzero(parity == 0), np.flatnonzero(parity == 1)
        raw = graph[first][:, second]
        if first.size * second.size <= DENSE_MAX_ENTRIES:
            raw = raw.toarray()
        result = _bipartite_labels(
            raw, k, random_state, method=method, n_init=n_init, eigen_tol=eigen_tol
        )
    if result is not None:
        first_labels, second_labels, value, _ = result
        active_labels = np.empty(graph.shape[0], dtype=np.int64)
        active_labels[first], active_labels[second] = first_labels, second_labels
    else:
        active_labels, value = _general_labels(
            graph, k, random_state, method=method, n_init=n_init, eigen_tol=eigen_tol
        )
    labels[active] = active_labels
    return _canonical(labels), value, int(n_components)


def count_components(matrix: sp.csr_matrix) -> int:
    """Connected components of a graph, isolated nodes left out."""
    active = np.diff(matrix.indptr) > 0
    graph = matrix if active.all() else matrix[active][:, active]
    return int(connected_components(graph, directed=False, return_labels=False))


def _layered_biadjacency(
    widths: Sequence[int], blocks: Sequence[np.ndarray | sp.spmatrix]
) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray, np.ndarray]:
    """The weight graph of a layered network as a biadjacency: even x odd layers.

    Consecutive layers have opposite parity, so the weight graph is bipartite. Returns
    the (even-layer neurons x odd-layer neurons) weight matrix, dense when it has at
    most ``DENSE_MAX_ENTRIES`` entries, and the node numbers (as in
    :func:`layered_adjacency`) of its rows and of its columns.
    """
    offsets = np.concatenate([[0], np.cumsum(widths)])
    even = list(range(0, len(widths), 2))
    odd = list(range(1, len(widths), 2))
    start = {}
    for side in (even, odd):
        position = 0
        for layer in side:
            start[layer] = position
            position += widths[layer]
    n_rows = sum(widths[i] for i in even)
    n_cols = sum(widths[i] for i in odd)
    row_nodes = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in even])
    col_nodes = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in odd])
    if n_rows * n_cols <= DENSE_MAX_ENTRIES:
        raw = np.zeros((n_rows, n_cols))
        for i, block in enumerate(blocks):
            dense = block.toarray() if sp.issparse(block) else block
            source, target = i, i + 1
            if source % 2 == 0:  # source layer is a row layer: rows x columns = block.T
                rows = slice(start[source], start[source] + widths[source])
                cols = slice(start[target], start[target] + widths[target])
                raw[rows, cols] = dense.T
            else:
                rows = slice(start[target], start[target] + widths[target])
                cols = slice(start[source], start[source] + widths[source])
                raw[rows, cols] = dense
        return raw, row_nodes, col_nodes
    grid: list[list[Any]] = [[None] * len(odd) for _ in even]
    for i, block in enumerate(blocks):
        matrix = sp.csr_matrix(block)
        if i % 2 == 0:
            grid[i // 2][i // 2] = matrix.T
        else:
            grid[(i + 1) // 2][i // 2] = matrix
    return sp.csr_matrix(sp.bmat(grid)), row_nodes, col_nodes


def layered_labels(
    widths: Sequence[int],
    blocks: Sequence[np.ndarray | sp.spmatrix],
    k: int,
    random_state: np.random.RandomState,
    *,
    method: str = DEFAULT_METHOD,
    n_init: int | None = None,
    eigen_tol: float = DEFAULT_EIGEN_TOL,
) -> tuple[np.ndarray, float, int]:
    """Partition a layered network's weight graph (validated input); like spectral_labels.

    Works on the biadjacency directly, without building the n x n adjacency. The number
    of components is counted spectrally (at most k).
    """
    raw, row_nodes, col_nodes = _layered_biadjacency(widths, blocks)
    result = _bipartite_labels(
        raw, k, random_state, method=method, n_init=n_init, eigen_tol=eigen_tol
    )
    if result is None:
        return spectral_labels(
            _layered_adjacency(widths, blocks),
            k,
            random_state,
            method=method,
            n_init=n_init,
            eigen_tol=eigen_tol,
        )
    row_labels, col_labels, value, n_components = result
    labels = np.empty(row_nodes.size + col_nodes.size, dtype=np.int64)
    labels[row_nodes], labels[col_nodes] = row_labels, col_labels
    return _canonical(labels), value, n_components


def check_k(k: Any, n_active: int) -> int:
    """``k`` as an int from 2 to the number of non-isolated nodes, else AnalysisError."""
    try:
        k = as_int(k)
    except TypeError as err:
        raise AnalysisError(f"k must be an integer number of clusters, got {k!r}") from err
    if k < 2:
        raise AnalysisError(f"k must be at least 2, got {k}: ask for 2 or more clusters")
    if k > n_active:
        raise AnalysisError(
            f"k={k} is larger than the number of connected neurons ({n_active}): "
            "ask for fewer clusters"
        )
    return k


def _check_internal_k(k: int, n_active: int) -> None:
    """Guard of the internal entry points, which nulls reach without ``check_k``."""
    if k > n_active:
        raise AnalysisError(
            f"k={k} is larger than the number of connected neurons ({n_active}): "
            "ask for fewer clusters"
        )


def check_options(
    n_init: Any, eigen_tol: Any, method: Any = DEFAULT_METHOD
) -> tuple[int | None, float]:
    """Validate the partitioner's options; ``n_init=None`` means the method's default."""
    if method not in METHODS:
        raise AnalysisError(f"unknown spectral method {method!r}: use one of {', '.join(METHODS)}")
    if n_init is not None:
        try:
            n_init = as_int(n_init)
        except TypeError as err:
            raise AnalysisError(f"n_init must be a positive integer, got {n_init!r}") from err
        if n_init < 1:
            raise AnalysisError(f"n_init must be a positive integer, got {n_init}")
    if not isinstance(eigen_tol, numbers.Real) or not 0 <= eigen_tol < 1:
        raise AnalysisError(f"eigen_tol must be a number in [0, 1), got {eigen_tol!r}")
    return n_init, float(eigen_tol)


def warn_disconnected(n_components: int, what: str = "the graph") -> None:
    """Warn that a partition of a graph of several components mostly finds the components."""
    if n_components > 1:
        warnings.warn(
            f"{what} has {n_components} connected components (isolated neurons aside); "
            "the spectral embedding is not unique and clusters may follow components",
            NeurongraphWarning,
            stacklevel=3,
        )


def spectral_partition(
    adjacency: ArrayLike | sp.sparray | sp.spmatrix,
    k: int = DEFAULT_N_CLUSTERS,
    random_state: int | np.random.RandomState | None = None,
    *,
    method: str = DEFAULT_METHOD,
    n_init: int | None = None,
    eigen_tol: float = DEFAULT_EIGEN_TOL,
    seed: int | np.random.RandomState | None = None,
) -> np.ndarray:
    """Partition a weighted undirected graph into k clusters by spectral clustering.

    Parameters
    ----------
    adjacency : array-like or scipy sparse matrix of shape (n, n)
        Symmetric, non-negative weighted adjacency, e.g. from :func:`layered_adjacency`.
    k : int, default=12
        Number of clusters; between 2 and the number of non-isolated nodes.
    random_state : int, RandomState instance or None, default=None
        Seeds the eigensolver's start vector and the k-means restarts. Pass an int for
        reproducible labels.
    method : {"papers", "ncut-refined"}, default="papers"
        The partitioner (see the module notes): ``papers`` is equal in distribution to
        scikit-learn's ``SpectralClustering`` as the papers used it; ``ncut-refined``
        finds lower n-cuts, with z-scores not comparable with the papers'.
    n_init : int, default=None
        Number of k-means restarts; None: the method's default (:func:`default_n_init`:
        25 up to 2,000 nodes and 100 above for ``papers``, 10 for ``ncut-refined``).
        ``papers`` keeps the restart with the lowest inertia, ``ncut-refined`` the one
        with the lowest n-cut.
    eigen_tol : float, default=1e-4
        Relative tolerance of ARPACK where it is used (0 means machine precision); see
        the module notes for which graphs are solved exactly with LAPACK instead.
    seed : int, RandomState instance or None, default=None
        Alias of ``random_state`` (the name used in issue 4); give one or the other.

    Returns
    -------
    labels : ndarray of int64 of shape (n,)
        Cluster of every node, numbered 0..k-1 in order of first appearance, so that
        reruns give identical labels; isolated (zero-degree) nodes get -1.

    Raises
    ------
    AnalysisError
        If the adjacency is not square, finite, non-negative and symmetric, or k is not
        an integer between 2 and the number of non-isolated nodes.

    Warns
    -----
    NeurongraphWarning
        If the non-isolated part of the graph is disconnected.

    Notes
    -----
    Steps: drop isolated nodes; compute the eigenvectors of the k largest eigenvalues of
    ``N = D^-1/2 A D^-1/2`` (equivalently the k smallest of ``L_sym = I - N``), through
    the singular vectors of the biadjacency when the graph is bipartite (as every
    layered network's weight graph is), else with LAPACK (small graphs) or ARPACK with
    a seeded start vector (large ones); fix each eigenvector's sign. ``papers`` scales
    every row by ``1/sqrt(degree)`` and keeps scikit-learn's ``KMeans`` restart with the
    lowest inertia; ``ncut-refined`` normalises each row to unit length (Ng, Jordan and
    Weiss), runs batched k-means restarts and keeps the one with the lowest
    :func:`ncut`. The labels are renumbered canonically.

    References
    ----------
    U. von Luxburg, "A tutorial on spectral clustering", Statistics and Computing 17, 2007
    (the ``papers`` embedding, as scikit-learn's ``spectral_embedding``).
    A. Ng, M. Jordan and Y. Weiss, "On spectral clustering: analysis and an algorithm",
    NIPS 2001. D. Filan et al., "Clusterability in neural networks", arXiv:2103.03386.

    Examples
    --------
    Two triangles joined by a weak edge:

    >>> import numpy as np
    >>> A = np.zeros((6, 6))
    >>> for i, j in [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5)]:
    ...     A[i, j] = A[j, i] = 1.0
    >>> A[2, 3] = A[3, 2] = 0.1
    >>> spectral_partition(A, 2, random_state=0)
    array([0, 0, 0, 1, 1, 1])
    """
    if seed is not None:
        if random_state is not None:
            raise AnalysisError("give random_state or seed, not both")
        random_state = seed
    matrix = check_adjacency(adjacency)
    n_active = int(np.count_nonzero(np.diff(matrix.indptr)))
    k = check_k(k, n_active)
    n_init, eigen_tol = check_options(n_init, eigen_tol, method)
    random_state = as_random_state(random_state)
    labels, _, n_components = spectral_labels(
        matrix, k, random_state, method=method, n_init=n_init, eigen_tol=eigen_tol
    )
    warn_disconnected(n_components)
    return labels
