"""Shuffled null networks and the clusterability test of Filan et al. (2021).

A network is *clusterable* when its spectral partition has a lower normalised cut than
the partitions of null networks that keep its weights but not their arrangement:

- ``layer``: every entry of each weight matrix is permuted, zeros included
  (:func:`shuffle_layer`), which keeps each matrix's multiset of values;
- ``layer_nonzero``: the non-zero values of each matrix are permuted among its
  non-zero positions (:func:`shuffle_layer_nonzero`), which keeps the zero pattern;
- for a general symmetric graph such as the activation graph, the upper-triangle edge
  values are permuted (:func:`shuffle_upper_triangle`).

Every null network is re-partitioned with
:func:`~neurongraph.analysis.spectral.spectral_partition` at the same k, and the real
n-cut is compared with the null n-cuts (:class:`ClusterabilityResult`).

Nulls run in parallel workers with one BLAS thread each: processes forked from this one
where :func:`neurongraph.runtime.can_fork` allows (they start in milliseconds and inherit
the network, where spawned ones would import NumPy and SciPy again), else threads (a
partition's many small NumPy calls hold the GIL for part of its time, so threads gain
less). One child seed per null is derived up front from the resolved ``random_state``
(:class:`numpy.random.SeedSequence`), so results do not depend on ``n_jobs``.
"""

from __future__ import annotations

import logging
import multiprocessing
import numbers
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from neurongraph.analysis.cuts import check_adjacency, check_cluster_labels, ncut
from neurongraph.analysis.defaults import (
    DEFAULT_N_SHUFFLES,
    GRAPH_SHUFFLE_METHODS,
    LAYER_SHUFFLE_METHODS,
)
from neurongraph.analysis.spectral import (
    DEFAULT_EIGEN_TOL,
    DEFAULT_METHOD,
    DEFAULT_N_CLUSTERS,
    as_int,
    check_dag,
    check_k,
    check_layers,
    check_options,
    count_components,
    dag_adjacency,
    layered_adjacency,
    layered_labels,
    spectral_labels,
    warn_disconnected,
)
from neurongraph.analysis.stats import percentile as _percentile
from neurongraph.errors import AnalysisError, NeurongraphWarning
from neurongraph.progress import Progress
from neurongraph.runtime import can_fork
from neurongraph.seeds import SEED_BOUND, as_random_state, check_random_state

__all__ = [
    "DEFAULT_N_SHUFFLES",
    "GRAPH_SHUFFLE_METHODS",
    "LAYER_SHUFFLE_METHODS",
    "ClusterabilityResult",
    "adjacency_clusterability",
    "clusterability",
    "dag_clusterability",
    "shuffle_layer",
    "shuffle_layer_nonzero",
    "shuffle_upper_triangle",
]

logger = logging.getLogger(__name__)

RandomLike = int | np.random.RandomState | np.random.Generator | None
Matrix = ArrayLike | sp.sparray | sp.spmatrix


# --------------------------------------------------------------------------------------
# Shuffles
# --------------------------------------------------------------------------------------


def _check_rng(rng: RandomLike) -> np.random.RandomState | np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return check_random_state(rng)


def _check_matrix(weights: Any, name: str) -> Any:
    if sp.issparse(weights):
        if weights.ndim != 2:
            raise AnalysisError(f"{name} must be a 2-D matrix")
        return weights
    array = np.asarray(weights)
    if array.ndim != 2:
        raise AnalysisError(f"{name} must be a 2-D matrix, got {array.ndim} dimension(s)")
    return array


def shuffle_layer(weights: Matrix, random_state: RandomLike = None) -> np.ndarray | sp.sparray:
    """Permute every entry of a weight matrix, zeros included.

    Parameters
    ----------
    weights : array-like or scipy sparse matrix of shape (m, n)
        A weight matrix, e.g. ``|W|`` of one layer.
    random_state : int, RandomState, Generator or None, default=None
        Source of randomness.

    Returns
    -------
    ndarray or scipy sparse matrix of shape (m, n)
        The same multiset of values at uniformly random positions, of the same kind
        (dense or sparse, same sparse format) as ``weights``.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> sorted(shuffle_layer(W, 0).ravel().tolist())
    [0.0, 1.0, 2.0, 3.0]
    """
    rng = _check_rng(random_state)
    matrix = _check_matrix(weights, "weights")
    dense = matrix.toarray() if sp.issparse(matrix) else matrix
    shuffled = rng.permutation(dense.ravel()).reshape(dense.shape)
    if sp.issparse(matrix):
        return type(matrix)(shuffled)
    return shuffled


def shuffle_layer_nonzero(
    weights: Matrix, random_state: RandomLike = None
) -> np.ndarray | sp.sparray:
    """Permute the non-zero values of a weight matrix among its non-zero positions.

    Parameters
    ----------
    weights : array-like or scipy sparse matrix of shape (m, n)
        A weight matrix, e.g. ``|W|`` of a pruned layer.
    random_state : int, RandomState, Generator or None, default=None
        Source of randomness.

    Returns
    -------
    ndarray or scipy sparse matrix of shape (m, n)
        A matrix with the same zero pattern and the same multiset of non-zero values, of
        the same kind as ``weights``. Explicitly stored zeros of a sparse matrix count
        as zeros.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[0.0, 1.0], [2.0, 0.0]])
    >>> (shuffle_layer_nonzero(W, 0) != 0).tolist()
    [[False, True], [True, False]]
    """
    rng = _check_rng(random_state)
    matrix = _check_matrix(weights, "weights")
    if sp.issparse(matrix):
        coo = matrix.tocoo(copy=True)
        coo.eliminate_zeros()
        coo.data = rng.permutation(coo.data)
        return coo.asformat(matrix.format)
    shuffled = matrix.copy()
    nonzero = matrix != 0
    shuffled[nonzero] = rng.permutation(matrix[nonzero])
    return shuffled


def shuffle_upper_triangle(
    adjacency: Matrix, random_state: RandomLike = None, *, nonzero: bool = False
) -> np.ndarray | sp.sparray:
    """Permute the edge values of a symmetric matrix, keeping it symmetric.

    The values strictly above the diagonal are permuted among the positions strictly
    above the diagonal and mirrored below it; the diagonal is kept.

    Parameters
    ----------
    adjacency : array-like or scipy sparse matrix of shape (n, n)
        A symmetric matrix, e.g. the activation graph. Only its upper triangle is read.
    random_state : int, RandomState, Generator or None, default=None
        Source of randomness.
    nonzero : bool, default=False
        If False, all n(n-1)/2 upper-triangle entries are permuted, zeros included (the
        multiset of values is kept). If True, only the non-zero values are permuted
        among the non-zero positions (the edge set is kept).

    Returns
    -------
    ndarray or scipy sparse matrix of shape (n, n)
        Symmetric, of the same kind as ``adjacency``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    >>> S = shuffle_upper_triangle(A, 0)
    >>> bool((S == S.T).all()), sorted(S[np.triu_indices(3, 1)].tolist())
    (True, [0.0, 1.0, 2.0])
    """
    rng = _check_rng(random_state)
    matrix = _check_matrix(adjacency, "adjacency")
    n_rows, n_cols = matrix.shape
    if n_rows != n_cols:
        raise AnalysisError(f"adjacency must be square, got shape {n_rows}x{n_cols}")
    if sp.issparse(matrix):
        upper = sp.triu(matrix, k=1, format="coo")
        upper.eliminate_zeros()
        diagonal = matrix.diagonal()
        if nonzero:
            row, col, value = upper.row, upper.col, rng.permutation(upper.data)
        else:
            positions = rng.permutation(n_rows * (n_rows - 1) // 2)[: upper.nnz]
            row, col = _upper_index(positions, n_rows)
            value = upper.data
        keep = diagonal != 0
        index = np.flatnonzero(keep)
        shuffled = sp.coo_matrix(
            (
                np.concatenate([value, value, diagonal[keep]]),
                (np.concatenate([row, col, index]), np.concatenate([col, row, index])),
            ),
            shape=matrix.shape,
        )
        return shuffled.asformat(matrix.format)
    row, col = np.triu_indices(n_rows, k=1)
    values = matrix[row, col]
    shuffled = matrix.copy()
    if nonzero:
        present = values != 0
        values = values.copy()
        values[present] = rng.permutation(values[present])
    else:
        values = rng.permutation(values)
    shuffled[row, col] = values
    shuffled[col, row] = values
    return shuffled


def _upper_index(positions: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of positions in the row-major order of the strict upper triangle."""
    row, col = np.triu_indices(n, k=1)
    return row[positions], col[positions]


# --------------------------------------------------------------------------------------
# Clusterability
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClusterabilityResult:
    """A partition's n-cut compared with the n-cuts of shuffled null networks.

    Attributes
    ----------
    ncut : float
        N-cut of the real network's partition.
    labels : ndarray of int64 of shape (n,)
        Cluster of every node of the real network (-1 for isolated nodes).
    k : int
        Number of clusters asked of every partition.
    method : str
        The null model: ``layer``, ``layer_nonzero``, ``upper_triangle`` or
        ``upper_triangle_nonzero``.
    spectral_method : str
        The partitioner of the real network and of every null (``papers`` or
        ``ncut-refined``, see :mod:`neurongraph.analysis.spectral`).
    null_ncuts : ndarray of float of shape (n_shuffles,)
        N-cut of each null network's own spectral partition, in seed order.
    null_mean, null_std : float
        Mean and population standard deviation (ddof=0, as the papers' reference code)
        of ``null_ncuts``; NaN without nulls (std also with a single null).
    z_score : float
        ``(ncut - null_mean) / null_std``; negative means more clusterable than chance.
        NaN when it is undefined, +-inf when the nulls have no spread.
    percentile : float
        One-sided ``(#{null < ncut} + 1) / (n_shuffles + 1)``
        (:func:`neurongraph.analysis.stats.percentile`). Its minimum,
        ``1 / (n_shuffles + 1)``, means that no null network was as clusterable as the
        real one. NaN without nulls.
    n_shuffles : int
        Number of null networks.
    """

    ncut: float
    labels: np.ndarray = field(repr=False)
    k: int
    method: str
    spectral_method: str
    null_ncuts: np.ndarray = field(repr=False)
    null_mean: float
    null_std: float
    z_score: float
    percentile: float
    n_shuffles: int

    @property
    def cluster_sizes(self) -> np.ndarray:
        """Number of nodes in each cluster, indexed by label (isolated nodes left out)."""
        labels = self.labels[self.labels >= 0]
        return np.bincount(labels, minlength=self.k if labels.size else 0)

    @property
    def min_percentile(self) -> float:
        """The smallest percentile the test can give, ``1 / (n_shuffles + 1)``."""
        return 1.0 / (self.n_shuffles + 1)


def _summarise(
    ncut: float,
    labels: np.ndarray,
    k: int,
    method: str,
    spectral_method: str,
    null_ncuts: np.ndarray,
) -> ClusterabilityResult:
    n = null_ncuts.size
    if n:
        mean = float(null_ncuts.mean())
        std = float(null_ncuts.std()) if n > 1 else float("nan")
        with np.errstate(divide="ignore", invalid="ignore"):
            z_score = float(np.float64(ncut - mean) / np.float64(std))
        percentile = _percentile(ncut, null_ncuts, tail="lower")
    else:
        mean = std = z_score = percentile = float("nan")
    return ClusterabilityResult(
        ncut=float(ncut),
        labels=labels,
        k=k,
        method=method,
        spectral_method=spectral_method,
        null_ncuts=null_ncuts,
        null_mean=mean,
        null_std=std,
        z_score=z_score,
        percentile=float(percentile),
        n_shuffles=n,
    )


def _check_run_options(n_shuffles: Any, n_jobs: Any, progress: Any) -> tuple[int, int | None]:
    try:
        n_shuffles = as_int(n_shuffles)
    except TypeError as err:
        raise AnalysisError(f"n_shuffles must be an integer, got {n_shuffles!r}") from err
    if n_shuffles < 0:
        raise AnalysisError(f"n_shuffles must be 0 or more, got {n_shuffles}")
    if n_jobs is not None:
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
            raise AnalysisError(
                f"n_jobs must be a non-zero integer or None (all cores), got {n_jobs!r}"
            )
        n_jobs = int(n_jobs)
    if progress is not None and not callable(progress):
        raise AnalysisError("progress must be a callable progress(done, total) or None")
    return n_shuffles, n_jobs


def _n_workers(n_jobs: int | None, n_tasks: int) -> int:
    """Workers for n_tasks: None and -1 mean all cores, -2 all but one, ..."""
    cores = os.cpu_count() or 1
    if n_jobs is None:
        n_jobs = -1
    workers = n_jobs if n_jobs > 0 else max(cores + 1 + n_jobs, 1)
    return max(1, min(workers, n_tasks))


def _null_seeds(
    random_state: np.random.RandomState, n_shuffles: int
) -> list[tuple[np.random.SeedSequence, np.random.SeedSequence]]:
    """One (shuffle, partition) pair of seed sequences per null network."""
    entropy = [int(x) for x in random_state.randint(0, SEED_BOUND, size=4)]
    return [tuple(child.spawn(2)) for child in np.random.SeedSequence(entropy).spawn(n_shuffles)]


def _check_partition_args(
    k: Any, labels: Any, matrix: sp.csr_matrix
) -> tuple[int, np.ndarray | None]:
    """Resolve (k, labels) for the real network; labels given means score, not partition."""
    n_active = int(np.count_nonzero(np.diff(matrix.indptr)))
    if labels is None:
        return check_k(DEFAULT_N_CLUSTERS if k is None else k, n_active), None
    labels = check_cluster_labels(labels, matrix.shape[0])
    n_clusters = int(np.unique(labels[labels >= 0]).size)
    if k is None:
        k = n_clusters
    elif k != n_clusters:
        raise AnalysisError(
            f"k={k} but the labels hold {n_clusters} clusters: leave k out when passing labels"
        )
    return check_k(k, n_active), labels


class _LayerNull:
    """A layered network and its shuffle: makes and partitions null networks."""

    def __init__(self, widths: list[int], blocks: list[Any], nonzero: bool) -> None:
        self.widths = widths
        self.blocks = blocks
        self.nonzero = nonzero

    def shuffled(self, rng: np.random.Generator) -> list[Any]:
        shuffle = shuffle_layer_nonzero if self.nonzero else shuffle_layer
        return [shuffle(block, rng) for block in self.blocks]

    def adjacency(self, rng: np.random.Generator) -> sp.csr_matrix:
        """The null network's weight graph (what :meth:`partition` partitions)."""
        return layered_adjacency(self.widths, self.shuffled(rng))

    def partition(
        self, rng: np.random.Generator, k: int, random_state: np.random.RandomState, **options
    ) -> tuple[float, int]:
        _, value, n_components = layered_labels(
            self.widths, self.shuffled(rng), k, random_state, **options
        )
        return value, n_components


class _DagNull:
    """A DAG of layers and its shuffle: every block not marked fixed is shuffled on its own."""

    def __init__(
        self,
        widths: list[int],
        blocks: list[Any],
        pairs: list[tuple[int, int]],
        fixed: list[bool],
        nonzero: bool,
    ) -> None:
        self.widths = widths
        self.blocks = blocks
        self.pairs = pairs
        self.fixed = fixed
        self.nonzero = nonzero

    def adjacency(self, rng: np.random.Generator) -> sp.csr_matrix:
        shuffle = shuffle_layer_nonzero if self.nonzero else shuffle_layer
        blocks = [
            block if fixed else shuffle(block, rng)
            for block, fixed in zip(self.blocks, self.fixed, strict=True)
        ]
        return dag_adjacency(self.widths, blocks, self.pairs)

    def partition(
        self, rng: np.random.Generator, k: int, random_state: np.random.RandomState, **options
    ) -> tuple[float, int]:
        _, value, n_components = spectral_labels(self.adjacency(rng), k, random_state, **options)
        return value, n_components


class _GraphNull:
    """A symmetric graph and its upper-triangle shuffle."""

    def __init__(self, matrix: sp.csr_matrix, nonzero: bool) -> None:
        self.matrix = matrix
        self.nonzero = nonzero

    def adjacency(self, rng: np.random.Generator) -> sp.csr_matrix:
        shuffled = shuffle_upper_triangle(self.matrix, rng, nonzero=self.nonzero).tocsr()
        shuffled.eliminate_zeros()
        return shuffled

    def partition(
        self, rng: np.random.Generator, k: int, random_state: np.random.RandomState, **options
    ) -> tuple[float, int]:
        _, value, n_components = spectral_labels(self.adjacency(rng), k, random_state, **options)
        return value, n_components


def _null_ncut(
    null: _LayerNull | _DagNull | _GraphNull,
    k: int,
    seeds: tuple[np.random.SeedSequence, np.random.SeedSequence],
    method: str,
    n_init: int | None,
    eigen_tol: float,
) -> tuple[float, int]:
    """Shuffle, re-partition and score one null network (in a worker, or the caller)."""
    shuffle_seed, partition_seed = seeds
    random_state = np.random.RandomState(np.random.MT19937(partition_seed))
    try:
        return null.partition(
            np.random.default_rng(shuffle_seed),
            k,
            random_state,
            method=method,
            n_init=n_init,
            eigen_tol=eigen_tol,
        )
    except AnalysisError as err:
        raise AnalysisError(f"a null network cannot be partitioned: {err}") from err


#: How often a forked worker checks that its parent is alive, in seconds.
PARENT_POLL_SECONDS = 0.2
#: A forked worker's network, cluster count and partition options (set as it starts).
_worker_task: tuple[Any, int, dict[str, Any]] | None = None


def _start_worker(null: Any, k: int, options: dict[str, Any], parent: int) -> None:
    """Initialise a forked worker: keep its task, leave Ctrl-C to the parent, and end when
    the parent ends (killed, it cannot stop its workers itself)."""
    global _worker_task
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_task = (null, k, options)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this process as soon as ``parent`` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _worker_null_ncut(
    seeds: tuple[np.random.SeedSequence, np.random.SeedSequence],
) -> tuple[float, int]:
    """:func:`_null_ncut` of the forked worker's task for one null's seeds."""
    null, k, options = _worker_task
    return _null_ncut(null, k, seeds, **options)


def _executor(workers: int, null: Any, k: int, options: dict[str, Any]) -> tuple[Executor, Any]:
    """An executor of ``workers`` forked processes (or threads, where forking is unsafe) and
    the function that partitions one null on it, given its seeds."""
    if can_fork():
        executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(null, k, options, os.getpid()),
        )
        return executor, _worker_null_ncut
    executor = ThreadPoolExecutor(workers, thread_name_prefix="neurongraph-null")
    return executor, partial(_null_ncut, null, k, **options)


def _null_ncuts(
    null: _LayerNull | _DagNull | _GraphNull,
    k: int,
    seeds: list[tuple[np.random.SeedSequence, np.random.SeedSequence]],
    workers: int,
    **options: Any,
) -> Iterator[tuple[float, int]]:
    """(n-cut, components) of every null in order, on ``workers`` workers.

    BLAS is held to one thread meanwhile (forked workers inherit the limit), so results
    are the same for every number of workers. Pending nulls are cancelled when the caller
    stops early (an error, or Ctrl-C).
    """
    with threadpool_limits(limits=1):
        if workers == 1:
            for pair in seeds:
                yield _null_ncut(null, k, pair, **options)
            return
        executor, partition = _executor(workers, null, k, options)
        try:
            yield from executor.map(partition, seeds)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)


def _connected_blocks(
    widths: list[int], blocks: list[Any], pairs: list[tuple[int, int]]
) -> tuple[list[int], list[Any], np.ndarray]:
    """A network of layers without its isolated neurons, as the papers' reference code.

    Returns the widths and blocks of the network with every neuron that has no non-zero
    weight removed, and the mask of the neurons kept (numbered layer by layer). The
    nulls shuffle this reduced network, so isolated neurons are not re-connected.
    """
    offsets = np.concatenate([[0], np.cumsum(widths)])
    degrees = np.zeros(int(offsets[-1]))
    for block, (source, target) in zip(blocks, pairs, strict=True):
        degrees[offsets[target] : offsets[target + 1]] += np.asarray(block.sum(axis=1)).ravel()
        degrees[offsets[source] : offsets[source + 1]] += np.asarray(block.sum(axis=0)).ravel()
    keep = degrees > 0
    if keep.all():
        return widths, blocks, keep
    masks = [keep[offsets[i] : offsets[i + 1]] for i in range(len(widths))]
    reduced = [int(mask.sum()) for mask in masks]
    if min(reduced) == 0:
        empty = reduced.index(0)
        raise AnalysisError(
            f"no neuron of layer {empty} has a non-zero weight: the network falls apart "
            "there; partition the layers on either side separately"
        )
    sliced = [
        block[masks[target]][:, masks[source]]
        for block, (source, target) in zip(blocks, pairs, strict=True)
    ]
    return reduced, sliced, keep


@dataclass(frozen=True)
class _NullTest:
    """The null-model options of one clusterability test, as its public function received
    them: the same for a layered network, a DAG of layers and a symmetric graph."""

    method: str
    n_shuffles: Any
    random_state: Any
    n_jobs: Any
    progress: Progress | None
    n_init: Any
    eigen_tol: Any
    spectral_method: Any

    def run(
        self,
        full: sp.csr_matrix,
        keep: np.ndarray,
        null: _LayerNull | _DagNull | _GraphNull,
        k: Any,
        labels: Any,
    ) -> ClusterabilityResult:
        """Partition the real network (into ``k`` clusters, or score the given ``labels``) and
        its nulls; ``null`` holds the network without its isolated neurons (``keep`` marks the
        neurons of ``full`` it holds)."""
        method, n_shuffles = self.method, self.n_shuffles
        random_state, n_jobs, progress = self.random_state, self.n_jobs, self.progress
        n_init, eigen_tol, spectral_method = self.n_init, self.eigen_tol, self.spectral_method
        k, given = _check_partition_args(k, labels, full)
        n_init, eigen_tol = check_options(n_init, eigen_tol, spectral_method)
        n_shuffles, n_jobs = _check_run_options(n_shuffles, n_jobs, progress)
        random_state = as_random_state(random_state)
        # Null seeds are drawn first, so they are the same whether or not labels are given.
        seeds = _null_seeds(random_state, n_shuffles)
        options = dict(method=spectral_method, n_init=n_init, eigen_tol=eigen_tol)

        if given is None:
            matrix = full if keep.all() else full[keep][:, keep]
            if isinstance(null, _LayerNull):
                reduced, real_ncut, _ = layered_labels(
                    null.widths, null.blocks, k, random_state, **options
                )
                n_components = count_components(matrix)  # exact; layered_labels counts up to k
            else:
                reduced, real_ncut, n_components = spectral_labels(
                    matrix, k, random_state, **options
                )
            warn_disconnected(n_components, "the network's graph")
            labels = np.full(full.shape[0], -1, dtype=np.int64)
            labels[keep] = reduced
        else:
            labels, real_ncut = given, ncut(full, given)

        null_ncuts = np.empty(n_shuffles)
        disconnected = 0
        workers = _n_workers(n_jobs, n_shuffles)
        logger.info("clusterability: %d %s nulls on %d worker(s)", n_shuffles, method, workers)
        if progress is not None:
            progress(0, n_shuffles)  # the real partition is done; the nulls' clock starts
        with closing(_null_ncuts(null, k, seeds, workers, **options)) as results:
            for i, (value, n_components) in enumerate(results):
                null_ncuts[i] = value
                disconnected += n_components > 1
                if progress is not None:
                    progress(i + 1, n_shuffles)
        if disconnected:
            warnings.warn(
                f"{disconnected} of {n_shuffles} null networks are disconnected; "
                "their partitions may follow components",
                NeurongraphWarning,
                stacklevel=3,
            )
        return _summarise(real_ncut, labels, k, method, spectral_method, null_ncuts)


def _check_shuffle_method(method: str) -> None:
    if method not in LAYER_SHUFFLE_METHODS:
        raise AnalysisError(
            f"unknown shuffle method {method!r}: use one of {', '.join(LAYER_SHUFFLE_METHODS)}"
        )


def _weight_graph(
    widths: list[int],
    blocks: list[Any],
    pairs: list[tuple[int, int]],
    fixed: list[bool] | None,
    method: str,
) -> tuple[sp.csr_matrix, np.ndarray, _LayerNull | _DagNull]:
    """The weight graph of a network of layers (checked), the mask of its connected neurons
    and its null: a chain when ``fixed`` is None, else a DAG whose ``fixed`` blocks the nulls
    keep."""
    reduced, kept_blocks, keep = _connected_blocks(widths, blocks, pairs)
    nonzero = method == "layer_nonzero"
    if fixed is None:
        matrix = layered_adjacency(widths, blocks)
        null = _LayerNull(reduced, kept_blocks, nonzero=nonzero)
    else:
        matrix = dag_adjacency(widths, blocks, pairs)
        null = _DagNull(reduced, kept_blocks, pairs, fixed, nonzero=nonzero)
    return matrix, keep, null


def clusterability(
    widths: Sequence[int],
    blocks: Sequence[Matrix],
    k: int | None = None,
    *,
    labels: ArrayLike | None = None,
    n_shuffles: int = DEFAULT_N_SHUFFLES,
    method: Literal["layer", "layer_nonzero"] = "layer",
    random_state: int | np.random.RandomState | None = None,
    n_jobs: int | None = None,
    progress: Progress | None = None,
    n_init: int | None = None,
    eigen_tol: float = DEFAULT_EIGEN_TOL,
    spectral_method: str = DEFAULT_METHOD,
) -> ClusterabilityResult:
    """Is a layered network's weight graph more clusterable than its shuffles?

    Partitions the network's weight graph (:func:`~neurongraph.analysis.spectral.layered_adjacency`)
    with :func:`~neurongraph.analysis.spectral.spectral_partition`, then shuffles every
    weight matrix ``n_shuffles`` times, re-partitions each null network at the same k
    and compares the n-cuts. As in the papers' reference code, isolated neurons (no
    non-zero weight) are removed first, from the real network and from the network the
    nulls shuffle (they are labelled -1), and the null's std is the population std.

    Parameters
    ----------
    widths : sequence of int
        Number of neurons of every layer, input layer first.
    blocks : sequence of array-like or scipy sparse matrices
        Non-negative weights between consecutive layers, ``blocks[i]`` of shape
        ``(widths[i + 1], widths[i])`` (target x source).
    k : int, default=None
        Number of clusters: 12 when ``labels`` is not given, else the number of clusters
        in ``labels``.
    labels : array-like of int of shape (sum(widths),), default=None
        Score this labelling of the real network (labels < 0 are ignored) instead of
        computing a spectral partition. Nulls are still partitioned spectrally.
    n_shuffles : int, default=50
        Number of null networks; 0 skips the null models (the statistics are then NaN).
    method : {"layer", "layer_nonzero"}, default="layer"
        ``layer`` permutes every entry of each weight matrix (zeros included);
        ``layer_nonzero`` permutes the non-zero values among the non-zero positions.
    random_state : int, RandomState instance or None, default=None
        Seeds the real partition and, through one child seed per null, every null.
    n_jobs : int, default=None
        Workers for the nulls (forked processes, or threads where forking is unsafe; see
        the module notes). None or -1: all cores; -2: all but one; 1: run them one after
        another in the calling thread. Results do not depend on it.
    progress : callable, default=None
        Called as ``progress(0, total)`` when the null networks start, then as
        ``progress(done, total)`` after every one.
    n_init, eigen_tol
        Passed to every spectral partition; see
        :func:`~neurongraph.analysis.spectral.spectral_partition`.
    spectral_method : {"papers", "ncut-refined"}, default="papers"
        The partitioner of the real network and of every null alike; see
        :func:`~neurongraph.analysis.spectral.spectral_partition`.

    Returns
    -------
    ClusterabilityResult

    Raises
    ------
    AnalysisError
        On malformed widths or blocks, negative weights, k outside
        [2, connected neurons], labels of the wrong length, or an unknown method.

    References
    ----------
    D. Filan, S. Casper, S. Hod, C. Wild, A. Critch and S. Russell, "Clusterability in
    neural networks", arXiv:2103.03386, 2021.

    Examples
    --------
    Two modules of two neurons per layer, joined by weak weights:

    >>> import numpy as np
    >>> W = np.array([[1.0, 1.0, 0.01, 0.01], [1.0, 1.0, 0.01, 0.01],
    ...               [0.01, 0.01, 1.0, 1.0], [0.01, 0.01, 1.0, 1.0]])
    >>> result = clusterability([4, 4, 4], [W, W], 2, n_shuffles=9, random_state=0, n_jobs=1)
    >>> result.labels.tolist()
    [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1]
    >>> result.percentile == result.min_percentile
    True
    """
    _check_shuffle_method(method)
    widths, checked = check_layers(widths, blocks)
    pairs = [(i, i + 1) for i in range(len(checked))]
    test = _NullTest(
        method, n_shuffles, random_state, n_jobs, progress, n_init, eigen_tol, spectral_method
    )
    return test.run(*_weight_graph(widths, checked, pairs, None, method), k, labels)


def dag_clusterability(
    widths: Sequence[int],
    blocks: Sequence[Matrix],
    pairs: Sequence[tuple[int, int]],
    k: int | None = None,
    *,
    fixed: Sequence[bool] | None = None,
    labels: ArrayLike | None = None,
    n_shuffles: int = DEFAULT_N_SHUFFLES,
    method: Literal["layer", "layer_nonzero"] = "layer",
    random_state: int | np.random.RandomState | None = None,
    n_jobs: int | None = None,
    progress: Progress | None = None,
    n_init: int | None = None,
    eigen_tol: float = DEFAULT_EIGEN_TOL,
    spectral_method: str = DEFAULT_METHOD,
) -> ClusterabilityResult:
    """Is the weight graph of a network whose layers form a DAG more clusterable than its
    shuffles?

    Like :func:`clusterability`, over every block of the DAG
    (:func:`~neurongraph.analysis.spectral.dag_adjacency`, partitioned as a general graph):
    each block not marked ``fixed`` is shuffled on its own; fixed blocks (the weight-1 edges
    into ``sum`` layers, which are structure, not learned weights) stay as they are.

    Parameters
    ----------
    widths : sequence of int
        Number of neurons of every layer, in topological order, input layer first.
    blocks : sequence of array-like or scipy sparse matrices
        Non-negative weights, ``blocks[i]`` from layer ``pairs[i][0]`` to layer
        ``pairs[i][1]``, shape ``(widths[target], widths[source])``.
    pairs : sequence of (int, int)
        ``(source, target)`` layer indices of every block.
    k : int, default=None
        As in :func:`clusterability`.
    fixed : sequence of bool, default=None
        Blocks the nulls keep (None: none).
    labels, n_shuffles, method, random_state, n_jobs, progress, n_init, eigen_tol
    spectral_method
        As in :func:`clusterability`.

    Returns
    -------
    ClusterabilityResult

    Examples
    --------
    Two modules joined by weak weights, with a skip connection (kept fixed by the nulls) from
    the input to the last layer:

    >>> import numpy as np
    >>> W = np.array([[1.0, 1.0, 0.01, 0.01], [1.0, 1.0, 0.01, 0.01],
    ...               [0.01, 0.01, 1.0, 1.0], [0.01, 0.01, 1.0, 1.0]])
    >>> result = dag_clusterability([4, 4, 4], [W, W, np.eye(4)], [(0, 1), (1, 2), (0, 2)], 2,
    ...                             fixed=[False, False, True], n_shuffles=9, random_state=0,
    ...                             n_jobs=1)
    >>> result.labels.tolist()
    [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1]
    """
    _check_shuffle_method(method)
    widths, checked, pairs = check_dag(widths, blocks, pairs)
    fixed = [False] * len(pairs) if fixed is None else [bool(f) for f in fixed]
    if len(fixed) != len(pairs):
        raise AnalysisError(f"fixed has {len(fixed)} entries for {len(pairs)} blocks")
    test = _NullTest(
        method, n_shuffles, random_state, n_jobs, progress, n_init, eigen_tol, spectral_method
    )
    return test.run(*_weight_graph(widths, checked, pairs, fixed, method), k, labels)


def adjacency_clusterability(
    adjacency: Matrix,
    k: int | None = None,
    *,
    labels: ArrayLike | None = None,
    n_shuffles: int = DEFAULT_N_SHUFFLES,
    method: Literal["upper_triangle", "upper_triangle_nonzero"] = "upper_triangle",
    random_state: int | np.random.RandomState | None = None,
    n_jobs: int | None = None,
    progress: Progress | None = None,
    n_init: int | None = None,
    eigen_tol: float = DEFAULT_EIGEN_TOL,
    spectral_method: str = DEFAULT_METHOD,
) -> ClusterabilityResult:
    """Is a symmetric graph (e.g. the activation graph) more clusterable than chance?

    Like :func:`clusterability`, with null graphs made by
    :func:`shuffle_upper_triangle`.

    Parameters
    ----------
    adjacency : array-like or scipy sparse matrix of shape (n, n)
        Symmetric, non-negative weighted adjacency, e.g. r^2 of activation correlations.
    k : int, default=None
        Number of clusters: 12 when ``labels`` is not given, else the number of clusters
        in ``labels``.
    labels : array-like of int of shape (n,), default=None
        Score this labelling instead of computing a spectral partition.
    n_shuffles : int, default=50
        Number of null graphs; 0 skips the null models.
    method : {"upper_triangle", "upper_triangle_nonzero"}, default="upper_triangle"
        Permute all upper-triangle entries (zeros included), or only the non-zero edge
        values among the existing edges.
    random_state, n_jobs, progress, n_init, eigen_tol, spectral_method
        As in :func:`clusterability`.

    Returns
    -------
    ClusterabilityResult

    Examples
    --------
    >>> import numpy as np
    >>> A = np.kron(np.eye(2), np.ones((4, 4))) + 0.01
    >>> np.fill_diagonal(A, 0)
    >>> result = adjacency_clusterability(A, 2, n_shuffles=9, random_state=0, n_jobs=1)
    >>> result.labels.tolist(), result.percentile == result.min_percentile
    ([0, 0, 0, 0, 1, 1, 1, 1], True)
    """
    if method not in GRAPH_SHUFFLE_METHODS:
        raise AnalysisError(
            f"unknown shuffle method {method!r}: use one of {', '.join(GRAPH_SHUFFLE_METHODS)}"
        )
    matrix = check_adjacency(adjacency)
    keep = np.diff(matrix.indptr) > 0
    reduced = matrix if keep.all() else matrix[keep][:, keep]
    null = _GraphNull(reduced, nonzero=method == "upper_triangle_nonzero")
    test = _NullTest(
        method, n_shuffles, random_state, n_jobs, progress, n_init, eigen_tol, spectral_method
    )
    return test.run(matrix, keep, null, k, labels)
