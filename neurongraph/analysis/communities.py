"""Louvain communities of co-firing neurons (Mostafa & Mondal, arXiv 2106.04693).

Pure functions over NumPy/SciPy arrays; nothing here touches the store. The pipeline for one
hidden layer is::

    fired = firing(activations)                   # analysis.firing: (n_examples, n_neurons) bool
    adjacency = coactivation_graph(fired)         # (n_neurons, n_neurons) sparse, symmetric
    labels, q = louvain_communities(adjacency, random_state=0)

and :func:`layer_communities` runs it for every layer (and optionally every class).

Rules used throughout
---------------------
* **Firing** is :func:`neurongraph.analysis.firing.firing`: activation > 0 in a ReLU-like layer,
  above the neuron's own ``percentile``-th percentile otherwise.
* **Isolated neurons.** A neuron without any edge (one that never fires; for ``edge='correlation'``
  also one that always fires, its firing has no variance; or one whose edges were all removed by
  ``threshold``) belongs to no community and gets the label ``-1``. It has degree 0, so it adds
  nothing to the modularity: Q is the same as if each one were its own singleton community, which
  is how :func:`modularity` reads the label ``-1``.
* **Label order.** Communities are numbered 0, 1, ... by decreasing size, ties broken by the
  smallest neuron index in the community, so identical inputs and seed give identical labels.
* **Sparsification.** python-louvain is pure Python and its run time grows with the number of
  edges: a dense 1,536-neuron graph (1.18 million edges) took over two minutes. By default
  (``top_k='auto'``) layers of at most ``DENSE_MAX_NEURONS`` neurons keep every edge, and wider
  layers keep each neuron's ``DEFAULT_TOP_K`` strongest edges (an edge stays when it is among the
  strongest of either end, so the graph stays symmetric).
* **Q against chance.** With ``n_shuffles`` > 0, :func:`layer_communities` compares each layer's Q
  with the Q of null graphs: each neuron's firing permuted independently across the examples
  (:func:`permute_firing`; every neuron keeps its firing rate, co-firing is left to chance), the
  co-activation graph built with the same options and the same Louvain run on it
  (:func:`modularity_null`). A null graph without any edge scores Q = 0.
* **What Q means on structureless data.** With independent random firing, dense Jaccard weights
  all sit near one value, no split beats the whole layer and Q is about 0. Anything that makes the
  graph sparse raises the Q Louvain finds in noise: measured on independent firing, 1,536 neurons
  kept at their 64 (16) strongest edges reach Q of about 0.08 (0.17), and ``edge='correlation'``,
  which clips the negative half of the noise correlations to 0, about 0.16 on 40 neurons. So compare
  modularities only between graphs built with the same options, and keep ``threshold`` below the
  typical Jaccard of the layer.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import community as community_louvain
import networkx as nx
import numpy as np
import scipy.sparse as sp

from neurongraph.analysis.cuts import check_adjacency
from neurongraph.analysis.defaults import DEFAULT_EDGE, DEFAULT_RESOLUTION, EDGE_KINDS
from neurongraph.analysis.defaults import MODULARITY_N_SHUFFLES as DEFAULT_N_SHUFFLES
from neurongraph.analysis.firing import (
    DEFAULT_PERCENTILE,
    check_activation_layers,
    check_class_labels,
    check_fired,
    check_percentile,
    common_examples,
    layer_firing,
)
from neurongraph.analysis.stats import percentile as null_percentile
from neurongraph.errors import AnalysisError, NeurongraphWarning
from neurongraph.seeds import SEED_BOUND, as_random_state

__all__ = [
    "DEFAULT_EDGE",
    "DEFAULT_N_SHUFFLES",
    "DEFAULT_RESOLUTION",
    "DEFAULT_TOP_K",
    "DENSE_MAX_NEURONS",
    "EDGE_KINDS",
    "CommunityResult",
    "LayerCommunities",
    "ModularityNull",
    "coactivation_graph",
    "layer_communities",
    "louvain_communities",
    "modularity",
    "modularity_null",
    "network_modularity",
    "permute_firing",
]

#: With ``top_k='auto'``, layers up to this many neurons keep every edge ...
DENSE_MAX_NEURONS = 512
#: ... and wider layers keep each neuron's this many strongest edges.
DEFAULT_TOP_K = 64

# Modularities closer than this are equal: a one-community partition's Q is 0 up to rounding, and
# rounding noise must neither make a z-score nor win a percentile.
_Q_ATOL = 1e-9
# float32 sums of 0/1 values are exact below 2**24 examples.
_FLOAT32_EXACT_COUNT = 2**24


@dataclass(frozen=True)
class CommunityResult:
    """Louvain communities of one layer (or of one layer restricted to one class).

    Attributes
    ----------
    labels : ndarray of shape (n_neurons,), dtype int64
        Community of each neuron, numbered 0, 1, ... by decreasing size; ``-1`` for isolated
        neurons.
    modularity : float
        Newman's modularity Q (resolution 1) of the partition on the co-activation graph.
    sizes : ndarray of shape (n_communities,), dtype int64
        Number of neurons in each community, so ``sizes[c] == (labels == c).sum()``.
    n_edges : int
        Number of (undirected) edges of the co-activation graph.
    n_firing : int
        Number of neurons that fire at least once on the examples used.
    """

    labels: np.ndarray
    modularity: float
    sizes: np.ndarray
    n_edges: int
    n_firing: int

    @property
    def n_communities(self) -> int:
        """Number of communities (isolated neurons not counted)."""
        return int(self.sizes.size)


@dataclass(frozen=True)
class LayerCommunities:
    """Louvain communities of one hidden layer, as returned by :func:`layer_communities`.

    Attributes
    ----------
    layer : hashable
        The layer's key (mapping key, or position in the sequence of layers).
    result : CommunityResult or None
        Communities over all examples; ``None`` when the layer was skipped (a
        :class:`~neurongraph.errors.NeurongraphWarning` says why).
    per_class : dict
        Class label -> CommunityResult (or ``None`` when skipped) over that class's examples only;
        empty unless ``per_class=True``.
    null : ModularityNull or None
        The layer's Q against permuted firing; ``None`` without ``n_shuffles`` or when the layer
        was skipped.
    """

    layer: Hashable
    result: CommunityResult | None
    per_class: dict[Hashable, CommunityResult | None] = field(default_factory=dict)
    null: ModularityNull | None = None


@dataclass(frozen=True)
class ModularityNull:
    """A layer's modularity against the modularity of its firing permuted across examples.

    Attributes
    ----------
    modularity : float
        Q of the layer's own co-activation graph.
    null_modularities : ndarray of shape (n_shuffles,)
        Q of each null graph (0 for a null graph without edges).
    null_mean, null_std : float
        Mean and population standard deviation (ddof=0) of ``null_modularities``.
    z_score : float
        ``(modularity - null_mean) / null_std``; positive means more modular than chance. When the
        nulls all share one value (``null_std`` below 1e-9): 0 if Q equals it too, else NaN.
    percentile : float
        ``(#{null Q >= Q} + 1) / (n_shuffles + 1)``
        (:func:`~neurongraph.analysis.stats.percentile`, ``tail='upper'``, with Q values within
        1e-9 counted as equal): the smallest value, ``1 / (n_shuffles + 1)``, says that Q is
        above every null.
    """

    modularity: float
    null_modularities: np.ndarray
    null_mean: float
    null_std: float
    z_score: float
    percentile: float

    @property
    def n_shuffles(self) -> int:
        """Number of null graphs."""
        return int(self.null_modularities.size)

    @property
    def min_percentile(self) -> float:
        """The smallest percentile the test can give, ``1 / (n_shuffles + 1)``."""
        return 1.0 / (self.n_shuffles + 1)


# --------------------------------------------------------------------------------------------
# firing


# --------------------------------------------------------------------------------------------
# co-activation graph


def coactivation_graph(
    fired: np.ndarray,
    *,
    edge: Literal["jaccard", "correlation"] = DEFAULT_EDGE,
    threshold: float | None = None,
    top_k: int | Literal["auto"] | None = "auto",
) -> sp.csr_array:
    """Weighted co-activation graph over one layer's neurons.

    Parameters
    ----------
    fired : array-like of bool, shape (n_examples, n_neurons)
        Binary firing, e.g. from :func:`firing`.
    edge : {'jaccard', 'correlation'}, default='jaccard'
        ``'jaccard'``: w_ij = #(both fire) / #(either fires), computed from one matrix product of
        the firing matrix. ``'correlation'``: Pearson correlation of the two binary firing vectors
        (the phi coefficient), negative values clipped to 0.
    threshold : float in [0, 1] or None, default=None
        Edges with weight below it are dropped. ``None`` keeps every positive weight.
    top_k : int, 'auto' or None, default='auto'
        After ``threshold``, keep an edge only when it is among the ``top_k`` strongest edges of
        either of its ends (the graph stays symmetric). ``None`` keeps every edge. ``'auto'``:
        ``None`` for layers of at most ``DENSE_MAX_NEURONS`` neurons, ``DEFAULT_TOP_K`` above.

    Returns
    -------
    adjacency : scipy.sparse.csr_array of shape (n_neurons, n_neurons), dtype float64
        Symmetric, non-negative, zero diagonal. Neurons that never fire have no edge; under
        ``'correlation'`` neither have neurons that always fire (their firing has no variance).

    Examples
    --------
    Neuron 0 and 1 fire together on one example and one of them on three: Jaccard 1/3.

    >>> fired = [[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    >>> coactivation_graph(fired).toarray().round(3)
    array([[0.   , 0.333, 0.   ],
           [0.333, 0.   , 0.   ],
           [0.   , 0.   , 0.   ]])
    """
    f = check_fired(fired)
    if edge not in EDGE_KINDS:
        raise AnalysisError(f"unknown edge kind {edge!r}; use one of {', '.join(EDGE_KINDS)}")
    threshold = _check_threshold(threshold)
    n_neurons = f.shape[1]
    k = _resolve_top_k(top_k, n_neurons)
    weights = _edge_weights(f, edge)
    if threshold is not None:
        weights[weights < threshold] = 0.0
    if k is not None and k < n_neurons - 1:
        weights = _keep_top_k(weights, k)
    adjacency = sp.csr_array(weights)
    adjacency.eliminate_zeros()
    return adjacency


def _resolve_top_k(top_k: int | str | None, n_neurons: int) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, str):
        if top_k != "auto":
            raise AnalysisError(f"top_k must be a positive integer, 'auto' or None, got {top_k!r}")
        return None if n_neurons <= DENSE_MAX_NEURONS else DEFAULT_TOP_K
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise AnalysisError(f"top_k must be a positive integer, 'auto' or None, got {top_k!r}")
    return int(top_k)


def _edge_weights(f: np.ndarray, edge: str) -> np.ndarray:
    """Dense (n, n) float64 edge weights with zero diagonal."""
    n_examples, n_neurons = f.shape
    dtype = np.float32 if n_examples < _FLOAT32_EXACT_COUNT else np.float64
    x = f.astype(dtype)
    both = (x.T @ x).astype(np.float64)  # exact integer counts
    counts = f.sum(axis=0).astype(np.float64)
    weights = np.zeros((n_neurons, n_neurons))
    if edge == "jaccard":
        either = counts[:, np.newaxis] + counts[np.newaxis, :] - both
        np.divide(both, either, out=weights, where=either > 0)
    else:
        cov = n_examples * both - np.outer(counts, counts)
        var = counts * (n_examples - counts)
        denom = np.sqrt(np.outer(var, var))
        np.divide(cov, denom, out=weights, where=denom > 0)
        np.clip(weights, 0.0, 1.0, out=weights)
    np.fill_diagonal(weights, 0.0)
    return weights


def _keep_top_k(weights: np.ndarray, k: int) -> np.ndarray:
    cols = np.argpartition(-weights, k - 1, axis=1)[:, :k]
    keep = np.zeros(weights.shape, dtype=bool)
    np.put_along_axis(keep, cols, True, axis=1)
    keep |= keep.T
    return np.where(keep, weights, 0.0)


# --------------------------------------------------------------------------------------------
# modularity and Louvain


def modularity(
    adjacency: np.ndarray | sp.sparray | sp.spmatrix,
    labels: np.ndarray,
    *,
    resolution: float = DEFAULT_RESOLUTION,
) -> float:
    """Newman's modularity of a partition of a weighted undirected graph.

    ``Q = sum_c [ L_c / m - resolution * (d_c / 2m)**2 ]`` with ``m`` the total edge weight,
    ``L_c`` the weight of the edges inside community ``c`` and ``d_c`` the total degree of ``c``;
    a self-loop counts once in ``L_c`` and twice in a degree (the networkx convention).

    Parameters
    ----------
    adjacency : array-like or scipy sparse, shape (n, n)
        Symmetric, non-negative weights.
    labels : array-like of int, shape (n,)
        Community of each node. ``-1`` puts a node in a community of its own (for a node without
        edges, as :func:`louvain_communities` labels them, that adds nothing to Q).
    resolution : float, default=1.0
        Weight of the null-model term.

    Returns
    -------
    float

    Examples
    --------
    Two triangles joined by one edge, split into the two triangles:

    >>> a = np.zeros((6, 6))
    >>> for i, j in [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3)]:
    ...     a[i, j] = a[j, i] = 1.0
    >>> round(modularity(a, [0, 0, 0, 1, 1, 1]), 4)
    0.3571
    """
    a = _check_adjacency(adjacency)
    lab = _check_partition(labels, a.shape[0])
    resolution = _check_resolution(resolution)
    return _modularity(a, lab, resolution)


def _modularity(a: sp.csr_array, labels: np.ndarray, resolution: float) -> float:
    coo = a.tocoo()
    diag = a.diagonal()
    degree = np.asarray(a.sum(axis=1)).ravel() + diag
    two_m = float(degree.sum())
    if two_m <= 0:
        raise AnalysisError(
            "modularity is undefined for a graph without edges; lower the threshold or check "
            "that the neurons fire"
        )
    inside = labels[coo.row] == labels[coo.col]
    internal = (float(coo.data[inside].sum()) + float(diag.sum())) / 2.0  # sum_c L_c
    community_degree = np.bincount(labels, weights=degree)
    return internal / (two_m / 2.0) - resolution * float(np.sum((community_degree / two_m) ** 2))


def louvain_communities(
    adjacency: np.ndarray | sp.sparray | sp.spmatrix,
    *,
    resolution: float = DEFAULT_RESOLUTION,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, float]:
    """Louvain communities (python-louvain's ``best_partition``) and their modularity.

    Parameters
    ----------
    adjacency : array-like or scipy sparse, shape (n, n)
        Symmetric, non-negative weights with at least one edge, e.g. from
        :func:`coactivation_graph`.
    resolution : float, default=1.0
        Louvain resolution (larger gives more, smaller communities).
    random_state : int, RandomState, Generator or None, default=None
        Seed of the node order Louvain visits. Resolved once with
        :func:`neurongraph.seeds.as_random_state` and handed to ``best_partition``;
        ``None`` uses NumPy's global generator (not reproducible).

    Returns
    -------
    labels : ndarray of shape (n,), dtype int64
        Communities numbered 0, 1, ... by decreasing size (ties: smallest node index first);
        ``-1`` for nodes without edges.
    modularity : float
        Newman's modularity (resolution 1, :func:`modularity`'s formula) of that partition, so
        values are comparable whatever ``resolution`` found it; use :func:`modularity` for the
        value at another resolution.

    Examples
    --------
    >>> a = np.zeros((6, 6))
    >>> for i, j in [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3)]:
    ...     a[i, j] = a[j, i] = 1.0
    >>> labels, q = louvain_communities(a, random_state=0)
    >>> labels
    array([0, 0, 0, 1, 1, 1])
    >>> round(q, 4)
    0.3571
    """
    a = _check_adjacency(adjacency)
    resolution = _check_resolution(resolution)
    rs = as_random_state(random_state)
    if a.nnz == 0:
        raise AnalysisError(
            "the graph has no edges, so it has no communities; lower the threshold or check "
            "that the neurons fire"
        )
    return _louvain(a, resolution, rs)


def _louvain(
    a: sp.csr_array, resolution: float, rs: np.random.RandomState
) -> tuple[np.ndarray, float]:
    graph = _to_networkx(a)
    partition = community_louvain.best_partition(
        graph, weight="weight", resolution=resolution, random_state=rs
    )
    raw = np.fromiter((partition[i] for i in range(a.shape[0])), dtype=np.int64, count=a.shape[0])
    q = _modularity(a, raw, 1.0)  # Newman's Q, whatever resolution found the partition
    isolated = np.diff(a.indptr) == 0
    return _canonical_labels(raw, isolated), q


def _to_networkx(a: sp.csr_array) -> nx.Graph:
    """Undirected networkx graph with nodes 0..n-1 and float ``weight`` attributes.

    Built from the upper triangle with plain Python floats. ``nx.from_scipy_sparse_array`` took
    10.4 s against 1.9 s on a 1.18-million-edge graph, and it leaves NumPy scalars as weights:
    ``best_partition`` then took 10.7 s against 5.7 s on a random 74k-edge graph (about the same
    on the structured graphs of ``benchmarks/louvain.py``).
    """
    upper = sp.triu(a, k=0, format="coo")
    graph = nx.Graph()
    graph.add_nodes_from(range(a.shape[0]))
    graph.add_weighted_edges_from(
        zip(upper.row.tolist(), upper.col.tolist(), upper.data.astype(float).tolist(), strict=True)
    )
    return graph


def _canonical_labels(raw: np.ndarray, isolated: np.ndarray) -> np.ndarray:
    """Renumber by decreasing size (ties: smallest member first); isolated nodes get -1."""
    labels = np.full(raw.shape, -1, dtype=np.int64)
    members = np.flatnonzero(~isolated)
    if members.size == 0:
        return labels
    _, inverse, sizes = np.unique(raw[members], return_inverse=True, return_counts=True)
    first = np.full(sizes.size, raw.size, dtype=np.int64)
    np.minimum.at(first, inverse, members)
    order = np.lexsort((first, -sizes))  # size descending, then first member
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    labels[members] = rank[inverse]
    return labels


def network_modularity(results: Mapping[Hashable, LayerCommunities]) -> float:
    """The network's modularity: the unweighted mean of the analysed layers' Q.

    Skipped layers are left out; ``nan`` when every layer was skipped.

    Parameters
    ----------
    results : mapping
        As returned by :func:`layer_communities`.

    Returns
    -------
    float

    Examples
    --------
    >>> r = CommunityResult(np.array([0, 0]), 0.25, np.array([2]), 1, 2)
    >>> layers = {"fc1": LayerCommunities("fc1", r), "fc2": LayerCommunities("fc2", None)}
    >>> network_modularity(layers)
    0.25
    """
    qs = [lc.result.modularity for lc in results.values() if lc.result is not None]
    return float(np.mean(qs)) if qs else math.nan


# --------------------------------------------------------------------------------------------
# modularity against chance


def permute_firing(fired: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each neuron's firing permuted independently across the examples.

    Every column is shuffled with its own permutation, so each neuron fires on as many examples
    as before (its firing rate is kept) while which neurons fire together is left to chance.
    Permuting activations before :func:`firing` gives the same result: a neuron's threshold
    depends only on its own values, not on their order.

    Parameters
    ----------
    fired : array-like of bool, shape (n_examples, n_neurons)
        Binary firing, e.g. from :func:`firing`.
    rng : numpy.random.Generator
        Source of the permutations.

    Returns
    -------
    ndarray of shape (n_examples, n_neurons), dtype bool

    Examples
    --------
    >>> f = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    >>> permute_firing(f, np.random.default_rng(0)).sum(axis=0)
    array([2, 1])
    """
    return rng.permuted(check_fired(fired), axis=0)


def modularity_null(
    fired: np.ndarray,
    *,
    n_shuffles: int = DEFAULT_N_SHUFFLES,
    edge: Literal["jaccard", "correlation"] = DEFAULT_EDGE,
    threshold: float | None = None,
    top_k: int | Literal["auto"] | None = "auto",
    resolution: float = DEFAULT_RESOLUTION,
    random_state: int | np.random.RandomState | None = None,
) -> ModularityNull:
    """Louvain modularity of one layer against the same on its firing permuted across examples.

    The layer's co-activation graph (:func:`coactivation_graph`) goes through Louvain
    (:func:`louvain_communities`) for its Q; then ``n_shuffles`` times each neuron's firing is
    permuted independently (:func:`permute_firing`), the graph rebuilt with the same options and
    Louvain run again. :func:`layer_communities` does the same with ``n_shuffles=``.

    Parameters
    ----------
    fired : array-like of bool, shape (n_examples, n_neurons)
        Binary firing of one layer, e.g. from :func:`firing`; its graph must have an edge.
    n_shuffles : int, default=DEFAULT_N_SHUFFLES
        Null graphs, at least 1.
    edge, threshold, top_k
        See :func:`coactivation_graph`.
    resolution : float, default=1.0
        See :func:`louvain_communities`.
    random_state : int, RandomState instance or None, default=None
        Resolved once; seeds the layer's Louvain run, then draws the seed of the permutations and
        the nulls' runs (as :func:`layer_communities` does for a single layer).

    Returns
    -------
    ModularityNull

    Examples
    --------
    Two groups of neurons, each firing on its own half of the examples:

    >>> fired = np.zeros((40, 6), dtype=bool)
    >>> fired[:20, :3] = fired[20:, 3:] = True
    >>> result = modularity_null(fired, n_shuffles=9, random_state=0)
    >>> round(result.modularity, 3), result.percentile == result.min_percentile
    (0.5, True)
    """
    f = check_fired(fired)
    n = _check_n_shuffles(n_shuffles)
    if n == 0:
        raise AnalysisError("n_shuffles must be at least 1 for a null of the modularity")
    if edge not in EDGE_KINDS:
        raise AnalysisError(f"unknown edge kind {edge!r}; use one of {', '.join(EDGE_KINDS)}")
    options = {"edge": edge, "threshold": _check_threshold(threshold), "top_k": top_k}
    _resolve_top_k(top_k, 0)
    resolution = _check_resolution(resolution)
    rs = as_random_state(random_state)
    adjacency = coactivation_graph(f, **options)
    if adjacency.nnz == 0:
        raise AnalysisError(
            "the co-activation graph has no edges, so it has no modularity; lower the threshold "
            "or check that the neurons fire"
        )
    _, q = _louvain(adjacency, resolution, rs)
    return _modularity_null(f, q, n, options, resolution, _null_stream(rs))


def _check_n_shuffles(n_shuffles: int) -> int:
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, int | np.integer):
        raise AnalysisError(f"n_shuffles must be a whole number, got {n_shuffles!r}")
    if n_shuffles < 0:
        raise AnalysisError(f"n_shuffles must be 0 or more, got {n_shuffles}")
    return int(n_shuffles)


def _null_stream(rs: np.random.RandomState) -> np.random.RandomState:
    """The nulls' own generator, drawn from ``rs`` once the layers' communities are found."""
    return np.random.RandomState(rs.randint(SEED_BOUND))


def _z_score(q: float, mean: float, std: float) -> float:
    """``(q - mean) / std``; with nulls of one value, 0 when Q equals it and NaN otherwise."""
    if std > _Q_ATOL:
        return float((q - mean) / std)
    return 0.0 if abs(q - mean) <= _Q_ATOL else math.nan


def _modularity_null(
    f: np.ndarray,
    q: float,
    n_shuffles: int,
    options: dict,
    resolution: float,
    rs: np.random.RandomState,
) -> ModularityNull:
    rng = np.random.default_rng(rs.randint(SEED_BOUND))
    null = np.empty(n_shuffles)
    for i in range(n_shuffles):
        adjacency = coactivation_graph(permute_firing(f, rng), **options)
        null[i] = _louvain(adjacency, resolution, rs)[1] if adjacency.nnz else 0.0
    mean, std = float(null.mean()), float(null.std())
    return ModularityNull(
        modularity=float(q),
        null_modularities=null,
        null_mean=mean,
        null_std=std,
        z_score=_z_score(q, mean, std),
        percentile=null_percentile(q - _Q_ATOL, null, tail="upper"),
    )


# --------------------------------------------------------------------------------------------
# per layer


def layer_communities(
    activations: Mapping[Hashable, np.ndarray] | Sequence[np.ndarray],
    labels: np.ndarray | None = None,
    *,
    per_class: bool = False,
    edge: Literal["jaccard", "correlation"] = DEFAULT_EDGE,
    threshold: float | None = None,
    top_k: int | Literal["auto"] | None = "auto",
    resolution: float = DEFAULT_RESOLUTION,
    relu_like: bool | None = None,
    percentile: float = DEFAULT_PERCENTILE,
    n_shuffles: int = 0,
    random_state: int | np.random.RandomState | None = None,
) -> dict[Hashable, LayerCommunities]:
    """Louvain communities of every hidden layer's co-activation graph.

    Parameters
    ----------
    activations : mapping or sequence of array-like, each of shape (n_examples, n_neurons_l)
        One matrix per hidden layer, all over the same examples: ``{layer_name: matrix}`` or a
        list (keys are then the positions 0, 1, ...). Numeric matrices go through
        :func:`firing` (``relu_like`` and ``percentile`` decided per layer); boolean ones are taken
        as firing already.
    labels : array-like of int, shape (n_examples,), optional
        Class of each example; needed for ``per_class``.
    per_class : bool, default=False
        Also find communities over each class's examples alone. Firing is decided on all examples
        first (percentile thresholds included) and then restricted to the class.
    edge, threshold, top_k
        See :func:`coactivation_graph`.
    resolution : float, default=1.0
        See :func:`louvain_communities`.
    relu_like, percentile
        See :func:`firing`.
    n_shuffles : int, default=0
        Null graphs per layer (whole dataset only) for :attr:`LayerCommunities.null`, as in
        :func:`modularity_null`; 0 runs no null.
    random_state : int, RandomState instance or None, default=None
        Resolved once; the layers over all examples are run first, in order, then one seed is
        drawn for the nulls, then the per-class graphs are run; so no result depends on
        ``per_class``, and none but the nulls on ``n_shuffles``.

    Returns
    -------
    dict
        Layer key -> :class:`LayerCommunities`. A graph with fewer than 2 firing neurons, or with
        no edge, is skipped: its result is ``None`` and a
        :class:`~neurongraph.errors.NeurongraphWarning` names it.

    Examples
    --------
    >>> acts = np.zeros((8, 4))
    >>> acts[:4, :2] = 1.0   # neurons 0, 1 fire on the first half
    >>> acts[4:, 2:] = 1.0   # neurons 2, 3 on the second half
    >>> out = layer_communities({"fc1": acts}, random_state=0)
    >>> out["fc1"].result.labels
    array([0, 0, 1, 1])
    >>> round(out["fc1"].result.modularity, 3)
    0.5
    """
    layers = check_activation_layers(activations)
    n_examples = common_examples(layers)
    classes: np.ndarray | None = None
    class_rows: list[np.ndarray] = []
    if labels is not None or per_class:
        if labels is None:
            raise AnalysisError("per_class needs the class labels of the examples; pass labels=")
        y = check_class_labels(labels, n_examples)
        classes = np.unique(y)
        class_rows = [np.flatnonzero(y == c) for c in classes]
    if edge not in EDGE_KINDS:
        raise AnalysisError(f"unknown edge kind {edge!r}; use one of {', '.join(EDGE_KINDS)}")
    threshold = _check_threshold(threshold)
    _resolve_top_k(top_k, 0)
    percentile = check_percentile(percentile)
    resolution = _check_resolution(resolution)
    n_shuffles = _check_n_shuffles(n_shuffles)
    rs = as_random_state(random_state)

    fired = {key: layer_firing(a, relu_like, percentile) for key, a in layers.items()}
    options = {"edge": edge, "threshold": threshold, "top_k": top_k}
    out: dict[Hashable, LayerCommunities] = {}
    for key, f in fired.items():
        out[key] = LayerCommunities(key, _graph_communities(f, options, resolution, rs, f"{key}"))
    null_rs = _null_stream(rs)
    if per_class and classes is not None:
        for key, f in fired.items():
            for c, rows in zip(classes.tolist(), class_rows, strict=True):
                where = f"{key}, class {c}"
                out[key].per_class[c] = _graph_communities(f[rows], options, resolution, rs, where)
    if n_shuffles:
        for key, f in fired.items():
            result = out[key].result
            if result is not None:
                null = _modularity_null(
                    f, result.modularity, n_shuffles, options, resolution, null_rs
                )
                out[key] = replace(out[key], null=null)
    return out


def _graph_communities(
    f: np.ndarray, options: dict, resolution: float, rs: np.random.RandomState, where: str
) -> CommunityResult | None:
    n_firing = int(f.any(axis=0).sum())
    if n_firing < 2:
        warnings.warn(
            f"layer {where}: only {n_firing} of {f.shape[1]} neurons fire, so it has no "
            f"co-activation communities; skipped",
            NeurongraphWarning,
            stacklevel=3,
        )
        return None
    adjacency = coactivation_graph(f, **options)
    n_edges = (adjacency.nnz - int(np.count_nonzero(adjacency.diagonal()))) // 2
    if n_edges == 0:
        warnings.warn(
            f"layer {where}: no two neurons fire together above the threshold, so the "
            f"co-activation graph has no edge; skipped (lower the threshold)",
            NeurongraphWarning,
            stacklevel=3,
        )
        return None
    labels, q = _louvain(adjacency, resolution, rs)
    sizes = np.bincount(labels[labels >= 0]).astype(np.int64)
    return CommunityResult(
        labels=labels, modularity=q, sizes=sizes, n_edges=n_edges, n_firing=n_firing
    )


# --------------------------------------------------------------------------------------------
# validation (shared with entropy.py)


def _check_threshold(threshold: float | None) -> float | None:
    if threshold is None:
        return None
    t = float(threshold)
    if not 0.0 <= t <= 1.0:
        raise AnalysisError(
            f"threshold must be between 0 and 1, got {threshold}; edge weights lie in [0, 1]"
        )
    return t


def _check_resolution(resolution: float) -> float:
    r = float(resolution)
    if not (math.isfinite(r) and r > 0):
        raise AnalysisError(f"resolution must be a positive number, got {resolution}")
    return r


def _check_adjacency(adjacency: object) -> sp.csr_array:
    """:func:`~neurongraph.analysis.cuts.check_adjacency`, as a CSR array with one node or more."""
    a = sp.csr_array(check_adjacency(adjacency))
    if a.shape[0] == 0:
        raise AnalysisError("adjacency must be a non-empty square matrix, got shape (0, 0)")
    return a


def _check_partition(labels: object, n: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise AnalysisError(f"labels must have one entry per node ({n}), got shape {lab.shape}")
    integral = np.issubdtype(lab.dtype, np.floating) and np.all(lab == np.round(lab))
    if not (np.issubdtype(lab.dtype, np.integer) or integral):
        raise AnalysisError(f"labels must be integers, got dtype {lab.dtype}")
    lab = lab.astype(np.int64)
    if (lab < -1).any():
        raise AnalysisError("labels must be >= 0, or -1 for a node in a community of its own")
    alone = lab == -1
    if alone.any():
        lab = lab.copy()
        lab[alone] = lab.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    return lab
