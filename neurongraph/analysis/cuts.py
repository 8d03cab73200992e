"""Cuts, volumes and the normalised cut of a weighted undirected graph.

Plain functions in the style of :mod:`networkx.algorithms.cuts`, over a symmetric
adjacency matrix (a SciPy sparse matrix or array, or anything :func:`numpy.asarray`
accepts) instead of a graph object. Node sets are index arrays or boolean masks.

The normalised cut of a partition into clusters :math:`c` is

.. math:: \\mathrm{ncut} = \\sum_c \\frac{\\mathrm{cut}(c)}{\\mathrm{vol}(c)}

with :math:`\\mathrm{cut}(c)` the total weight of the edges leaving :math:`c` and
:math:`\\mathrm{vol}(c)` the total degree of :math:`c`. Each term lies in [0, 1], so the
n-cut of a partition into k clusters lies in [0, k]; lower is more clusterable.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from neurongraph.errors import AnalysisError

__all__ = ["NcutScorer", "check_adjacency", "check_cluster_labels", "cut_size", "ncut", "volume"]

#: Relative tolerance of the symmetry check on adjacency matrices.
SYMMETRY_RTOL = 1e-8


def check_adjacency(adjacency: ArrayLike | sp.sparray | sp.spmatrix) -> sp.csr_matrix:
    """Validate a weighted undirected adjacency matrix and return it as CSR float64.

    Raises :class:`AnalysisError` unless the matrix is 2-D, square, finite, non-negative
    and symmetric.
    """
    if sp.issparse(adjacency):
        matrix = sp.csr_matrix(adjacency, dtype=np.float64, copy=True)
    else:
        try:
            dense = np.asarray(adjacency, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise AnalysisError(
                f"adjacency must be a numeric matrix, not {type(adjacency).__name__}: "
                "pass a NumPy array or a SciPy sparse matrix"
            ) from err
        if dense.ndim != 2:
            raise AnalysisError(
                f"adjacency must be a 2-D matrix, got {dense.ndim} dimension(s): "
                "pass an n x n array"
            )
        matrix = sp.csr_matrix(dense)
    n_rows, n_cols = matrix.shape
    if n_rows != n_cols:
        raise AnalysisError(
            f"adjacency must be square, got shape {n_rows}x{n_cols}: pass an n x n matrix"
        )
    data = matrix.data
    if data.size and not np.all(np.isfinite(data)):
        raise AnalysisError("adjacency holds NaN or infinite weights: remove or replace them")
    if data.size and data.min() < 0:
        raise AnalysisError(
            "adjacency holds negative weights (they must be non-negative): use absolute values "
            "(|w|) or r^2 as edge weights"
        )
    if data.size:
        asymmetry = abs(matrix - matrix.T)
        largest = asymmetry.max() if asymmetry.nnz else 0.0
        if largest > SYMMETRY_RTOL * data.max():
            raise AnalysisError(
                f"adjacency is not symmetric (largest |A - A.T| is {largest:.3g}): "
                "pass an undirected graph, e.g. (A + A.T) / 2"
            )
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _check_nodes(nodes: ArrayLike, n: int, name: str) -> np.ndarray:
    """Return ``nodes`` (index array or boolean mask over n nodes) as a boolean mask."""
    array = np.asarray(nodes)
    if array.dtype == bool:
        if array.shape != (n,):
            raise AnalysisError(
                f"{name} is a boolean mask of shape {array.shape}, expected ({n},): "
                "pass one flag per node"
            )
        return array
    array = array.ravel()
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise AnalysisError(f"{name} must hold integer node indices or be a boolean mask")
    if array.size and (array.min() < -n or array.max() >= n):
        raise AnalysisError(
            f"{name} holds node indices outside 0..{n - 1}: pass indices of existing nodes"
        )
    mask = np.zeros(n, dtype=bool)
    mask[array] = True
    return mask


def check_cluster_labels(labels: ArrayLike, n: int) -> np.ndarray:
    """Return ``labels`` as an int64 vector of length n (values < 0 mean "no cluster")."""
    array = np.asarray(labels)
    if array.ndim != 1 or array.shape[0] != n:
        raise AnalysisError(
            f"labels must be a vector of {n} cluster labels (one per node), got shape {array.shape}"
        )
    integral = np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array))
    )
    if array.size and not integral:
        raise AnalysisError("labels must be integers (use -1 for nodes without a cluster)")
    return array.astype(np.int64)


class NcutScorer:
    """Scores many labellings of one graph quickly: O(nnz / 2) per labelling.

    Holds the upper triangle of the adjacency (diagonal included) as flat arrays and
    the degrees, so that scoring is a gather, a comparison and two ``bincount``.
    The caller has validated the adjacency and the labels (non-negative, length n).
    """

    def __init__(self, adjacency: sp.csr_matrix) -> None:
        upper = sp.triu(adjacency, format="coo")
        self.rows = upper.row.astype(np.intp)
        self.cols = upper.col.astype(np.intp)
        # Off-diagonal edges appear twice in the degree sums and in the within-cluster
        # weight, the diagonal (self-loops) once.
        self.weights = np.where(self.rows == self.cols, 1.0, 2.0) * upper.data
        self.degrees = np.asarray(adjacency.sum(axis=1)).ravel()

    def __call__(self, labels: np.ndarray) -> float:
        n_clusters = int(labels.max()) + 1 if labels.size else 0
        row_labels = labels[self.rows]
        same = row_labels == labels[self.cols]
        within = np.bincount(row_labels[same], weights=self.weights[same], minlength=n_clusters)
        volumes = np.bincount(labels, weights=self.degrees, minlength=n_clusters)
        positive = volumes > 0
        cuts = volumes[positive] - within[positive]
        # Rounding can leave a tiny negative cut for a cluster with no outgoing edge.
        return float(np.sum(np.maximum(cuts, 0.0) / volumes[positive]))


def volume(adjacency: ArrayLike | sp.sparray | sp.spmatrix, nodes: ArrayLike) -> float:
    """Total degree of a set of nodes.

    Parameters
    ----------
    adjacency : array-like or scipy sparse matrix of shape (n, n)
        Symmetric, non-negative weighted adjacency matrix.
    nodes : array-like of int or bool
        Indices of the nodes, or a boolean mask over all n nodes.

    Returns
    -------
    float
        :math:`\\sum_{i \\in S} \\sum_j A_{ij}`.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[0, 2, 0], [2, 0, 1], [0, 1, 0]])
    >>> volume(A, [0, 1])
    5.0
    """
    matrix = check_adjacency(adjacency)
    mask = _check_nodes(nodes, matrix.shape[0], "nodes")
    degrees = np.asarray(matrix.sum(axis=1)).ravel()
    return float(degrees[mask].sum())


def cut_size(
    adjacency: ArrayLike | sp.sparray | sp.spmatrix,
    nodes: ArrayLike,
    other: ArrayLike | None = None,
) -> float:
    """Total weight of the edges between two sets of nodes.

    Parameters
    ----------
    adjacency : array-like or scipy sparse matrix of shape (n, n)
        Symmetric, non-negative weighted adjacency matrix.
    nodes : array-like of int or bool
        The first set S: node indices, or a boolean mask over all n nodes.
    other : array-like of int or bool, default=None
        The second set T; by default the complement of S.

    Returns
    -------
    float
        :math:`\\sum_{i \\in S, j \\in T} A_{ij}`; for disjoint S and T, the weight of the
        edges that join them, each counted once.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[0, 2, 0], [2, 0, 1], [0, 1, 0]])
    >>> cut_size(A, [0, 1])
    1.0
    """
    matrix = check_adjacency(adjacency)
    n = matrix.shape[0]
    first = _check_nodes(nodes, n, "nodes")
    second = ~first if other is None else _check_nodes(other, n, "other")
    return float(first.astype(np.float64) @ (matrix @ second.astype(np.float64)))


def ncut(adjacency: ArrayLike | sp.sparray | sp.spmatrix, labels: ArrayLike) -> float:
    """Normalised cut of a partition: the sum over clusters of cut / volume.

    Parameters
    ----------
    adjacency : array-like or scipy sparse matrix of shape (n, n)
        Symmetric, non-negative weighted adjacency matrix.
    labels : array-like of int of shape (n,)
        Cluster label of every node. Nodes with a label < 0 are dropped from the graph
        (with their edges) before scoring, so degrees and volumes are those of the
        remaining subgraph. Labels need not be contiguous.

    Returns
    -------
    float
        :math:`\\sum_c \\mathrm{cut}(c) / \\mathrm{vol}(c)`, where cut(c) is the weight of
        the edges leaving cluster c and vol(c) its total degree. A cluster of volume 0
        contributes 0. The value lies in [0, k] for k clusters; 0 for an empty graph.

    Notes
    -----
    For two clusters S and T this equals networkx's ``normalized_cut_size(G, S, T)``,
    ``cut(S, T) / vol(S) + cut(S, T) / vol(T)``. Self-loops add to the degree and to the
    weight inside their cluster, never to a cut.

    References
    ----------
    J. Shi and J. Malik, "Normalized cuts and image segmentation", IEEE TPAMI 22(8), 2000.

    Examples
    --------
    Two triangles joined by one edge of weight 1, split into the two triangles: each
    side has cut 1 and volume 7, so the n-cut is 2/7.

    >>> import numpy as np
    >>> A = np.zeros((6, 6))
    >>> for i, j in [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3)]:
    ...     A[i, j] = A[j, i] = 1
    >>> round(ncut(A, [0, 0, 0, 1, 1, 1]), 6)
    0.285714
    """
    matrix = check_adjacency(adjacency)
    array = check_cluster_labels(labels, matrix.shape[0])
    keep = array >= 0
    if not keep.any():
        return 0.0
    if not keep.all():
        matrix = matrix[keep][:, keep]
        array = array[keep]
    _, compact = np.unique(array, return_inverse=True)
    return NcutScorer(matrix)(compact.astype(np.intp))
