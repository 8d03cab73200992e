"""Activations: every neuron's post-nonlinearity response to a dataset, streamed to a disk cache.

The matrix has one row per example (the dataset's train and test examples, in that order) and one
float32 column per neuron, the layers in order (input features or input channels first). It is
written batch by batch into a ``.npy`` file (a view replays in ``RECORD_DTYPE``, float32), so
memory holds one batch at a time, never more than the matrix itself. Per-neuron summaries and the
Spearman correlation graph are computed from it in column blocks.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neurongraph.analysis.stats import selectivity
from neurongraph.model.chain import CHANNEL_REDUCTIONS, Chain, reduce_channels
from neurongraph.model.datasets import Dataset
from neurongraph.model.defaults import DEFAULT_BATCH_SIZE, DEFAULT_CORR_TOP_K
from neurongraph.model.view import TOKEN_REDUCTIONS, ModelView
from neurongraph.progress import Progress
from neurongraph.store.files import network_key

__all__ = [
    "ActivationCache",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CORR_TOP_K",
    "all_labels",
    "capture_activations",
    "neuron_summaries",
    "spearman_matrix",
    "spearman_top_k",
]

log = logging.getLogger(__name__)

#: Positions (examples x tokens) per forward pass of a token model: bounds the memory its
#: intermediate values take, whatever ``batch_size`` says.
TOKENS_PER_PASS = 8192
#: Neurons per column block when summarising or ranking the cached matrix.
COLUMN_BLOCK = 256
#: Neurons whose correlations with all others are computed at once when picking the strongest.
ROW_BLOCK = 1024
#: Pairs whose rho is computed (in float64) at once.
PAIR_BLOCK = 4096
CACHE_VERSION = 2
#: The dtype a view replays in while recording: the cache holds float32, and a float64 replay
#: of a transformer takes twice as long for the same stored values (to a float32 rounding).
RECORD_DTYPE = torch.float32


@dataclass(frozen=True)
class ActivationCache:
    """Where a network's activations on one dataset live, and how to read them."""

    path: Path
    widths: tuple[int, ...]
    n_examples: int

    @property
    def meta_path(self) -> Path:
        return self.path.with_suffix(".json")

    @property
    def labels_path(self) -> Path:
        return self.path.with_suffix(".labels.npy")

    def labels(self) -> np.ndarray:
        """Class label of each row (the first task's, for multi-task data)."""
        return np.load(self.labels_path)

    @property
    def offsets(self) -> np.ndarray:
        """Column where each layer starts (and the total at the end)."""
        return np.concatenate(([0], np.cumsum(self.widths)))

    def matrix(self) -> np.ndarray:
        """The activation matrix, memory-mapped read-only."""
        return np.load(self.path, mmap_mode="r")

    def layer(self, position: int) -> np.ndarray:
        """One layer's activations ``(n_examples, width)`` (read into memory)."""
        lo, hi = self.offsets[position], self.offsets[position + 1]
        return np.asarray(self.matrix()[:, lo:hi])

    def exists(self) -> bool:
        return all(p.exists() for p in (self.path, self.meta_path, self.labels_path))

    @classmethod
    def locate(
        cls,
        directory: Path,
        network: dict,
        widths: tuple[int, ...],
        dataset: Dataset,
        channel_reduce: str,
        token_reduce: str = "mean",
    ) -> ActivationCache:
        """The cache file for ``network`` (its ingest, sha256 and creation time) on ``dataset``.

        Its name starts with the network's :func:`~neurongraph.store.files.network_key` (not
        its name, which an ingest changes at its end), so the store finds every cache of a
        network it drops."""
        prefix = network_key(network)
        key = hashlib.sha256(
            json.dumps(
                [
                    CACHE_VERSION,
                    prefix,
                    network.get("sha256", ""),
                    network.get("createdAt", ""),
                    dataset.fingerprint,
                    channel_reduce,
                    token_reduce,
                ]
            ).encode()
        ).hexdigest()[:20]
        n = len(dataset.X_train) + len(dataset.X_test)
        return cls(directory / f"{prefix}-{key}.npy", tuple(widths), n)

    @classmethod
    def load(cls, path: str | Path) -> ActivationCache:
        """A cache written earlier, from its ``.npy`` path."""
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        return cls(path, tuple(meta["widths"]), int(meta["nExamples"]))


def all_labels(dataset: Dataset) -> np.ndarray:
    """Class labels of the rows of the activation matrix (train then test); for a multi-task set,
    the first task's labels."""
    y = np.concatenate([dataset.y_train, dataset.y_test])
    return y[:, 0] if y.ndim > 1 else y


def capture_activations(
    network: Chain | ModelView,
    dataset: Dataset,
    cache: ActivationCache,
    *,
    channel_reduce: str = "mean",
    token_reduce: str = "mean",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> ActivationCache:
    """Run the dataset through the network (its chain, or its view) and stream every neuron's
    activation to ``cache``.

    A token model's units are reduced over positions with ``token_reduce``
    (:data:`~neurongraph.model.view.TOKEN_REDUCTIONS`), its padding (``dataset.pad_token``)
    left out, in passes of at most ``TOKENS_PER_PASS`` positions. Written to a temporary file
    batch by batch and renamed at the end, so a half-written cache never exists and memory
    holds one batch at a time.
    """
    if channel_reduce not in CHANNEL_REDUCTIONS:
        raise ValueError(f"channel reduction must be one of {CHANNEL_REDUCTIONS}")
    if token_reduce not in TOKEN_REDUCTIONS:
        raise ValueError(f"token reduction must be one of {TOKEN_REDUCTIONS}")
    tokens = isinstance(network, ModelView) and network.tokens
    if isinstance(network, ModelView):
        network = network.cast(RECORD_DTYPE)
    if tokens:
        batch_size = max(1, min(batch_size, TOKENS_PER_PASS // max(1, dataset.input_shape[0])))
    cache.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.path.with_name(cache.path.name + ".partial.npy")
    out = np.lib.format.open_memmap(
        tmp, mode="w+", dtype=np.float32, shape=(cache.n_examples, sum(cache.widths))
    )
    row = 0
    if progress is not None:
        progress(0, cache.n_examples)
    with torch.no_grad():
        for X in (dataset.X_train, dataset.X_test):
            for start in range(0, len(X), batch_size):
                x = torch.as_tensor(np.asarray(X[start : start + batch_size]))
                if tokens:
                    mask = x != dataset.pad_token if dataset.pad_token is not None else None
                    layers, _ = network.activations(x, token_reduce=token_reduce, mask=mask)
                elif isinstance(network, ModelView):
                    layers, _ = network.activations(x, channel_reduce=channel_reduce)
                else:
                    stages, _ = network.activations(x, channel_reduce=channel_reduce)
                    inputs = reduce_channels(x.to(network.dtype), channel_reduce).flatten(1)
                    layers = [inputs, *stages]
                block = torch.cat(layers, dim=1)
                out[row : row + len(x)] = block.numpy().astype(np.float32)
                row += len(x)
                if progress is not None:
                    progress(row, cache.n_examples)
    out.flush()
    del out
    np.save(cache.labels_path, all_labels(dataset))
    tmp.replace(cache.path)
    cache.meta_path.write_text(
        json.dumps({"widths": list(cache.widths), "nExamples": cache.n_examples})
    )
    return cache


def neuron_summaries(matrix: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per neuron: ``actMean``, ``actStd``, ``fracActive`` (activation > 0), and the class
    ``selectivity`` and ``preferredClass`` of :func:`neurongraph.analysis.stats.selectivity`
    (the largest |Pearson r| with a one-hot class indicator and its class; 0 and -1 for a
    constant neuron).

    Examples
    --------
    >>> m = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    >>> s = neuron_summaries(m, np.array([0, 1, 0, 1]))
    >>> s["preferredClass"].tolist(), s["selectivity"].round(6).tolist(), s["fracActive"].tolist()
    ([0, 0], [1.0, 1.0], [0.5, 0.5])
    """
    classes = np.unique(labels)
    onehot = (labels[:, None] == classes[None, :]).astype(np.float64)
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("actMean", "actStd", "fracActive", "selectivity", "preferredClass")
    }
    for lo in range(0, matrix.shape[1], COLUMN_BLOCK):
        block = np.asarray(matrix[:, lo : lo + COLUMN_BLOCK], dtype=np.float64)
        _, best, preferred = selectivity(block, onehot)
        parts["actMean"].append(block.mean(axis=0))
        parts["actStd"].append(block.std(axis=0))
        parts["fracActive"].append((block > 0).mean(axis=0))
        parts["selectivity"].append(best)
        parts["preferredClass"].append(np.where(preferred < 0, -1, classes[preferred]))
    return {k: np.concatenate(v) for k, v in parts.items()}


def _ranks(matrix: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Centred, unit-norm average ranks of the given columns (float32); constant columns are 0."""
    from scipy import stats

    ranks = np.empty((matrix.shape[0], len(columns)), dtype=np.float32)
    for lo in range(0, len(columns), COLUMN_BLOCK):
        cols = columns[lo : lo + COLUMN_BLOCK]
        r = stats.rankdata(np.asarray(matrix[:, cols]), axis=0)
        r -= r.mean(axis=0)
        norms = np.linalg.norm(r, axis=0)
        norms[norms == 0] = np.inf
        ranks[:, lo : lo + len(cols)] = r / norms
    return ranks


def spearman_matrix(matrix: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Spearman's rho between every pair of ``columns`` (float64; 0 for constant columns).

    Examples
    --------
    >>> m = np.array([[1.0, 2.0, 5.0], [2.0, 1.0, 5.0], [3.0, 0.0, 5.0]])
    >>> spearman_matrix(m, np.arange(3)).round(6).tolist()
    [[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    ranks = _ranks(matrix, columns).astype(np.float64)
    return ranks.T @ ranks


def spearman_top_k(
    matrix: np.ndarray, columns: np.ndarray, *, top_k: int = DEFAULT_CORR_TOP_K
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The strongest Spearman correlations among ``columns`` of the activation matrix.

    For each neuron, its ``top_k`` partners by |r| (ties broken by column order); the union of
    these pairs, each unordered pair once. Constant neurons correlate with nothing. The
    correlations are computed ``ROW_BLOCK`` neurons at a time, so memory holds the ranks and
    one block of rows, never the whole correlation matrix; partners are chosen on float32
    products of the ranks and each pair's rho computed in float64.

    Returns
    -------
    i, j : ndarray
        Column indices (into ``columns``) with ``i < j``.
    r : ndarray
        Spearman's rho of each pair.

    Examples
    --------
    >>> m = np.array([[1.0, 2.0, 5.0, 1.0], [2.0, 1.0, 5.0, 3.0], [3.0, 0.0, 5.0, 2.0]])
    >>> i, j, r = spearman_top_k(m, np.arange(4), top_k=1)
    >>> i.tolist(), j.tolist(), r.round(6).tolist()
    ([0, 0], [1, 3], [-1.0, 0.5])
    """
    ranks = _ranks(matrix, columns)
    n = len(columns)
    k = min(top_k, n - 1)
    found: list[tuple[np.ndarray, np.ndarray]] = []
    for lo in range(0, n, ROW_BLOCK):
        rows = np.arange(lo, min(lo + ROW_BLOCK, n))
        corr = ranks[:, rows].T @ ranks  # float32 to choose; rho itself in float64 below
        corr[np.arange(len(rows)), rows] = 0.0
        strength = np.abs(corr)
        chosen = _strongest(strength, k) & (strength > 0)
        block_rows, cols = np.nonzero(chosen)
        found.append((rows[block_rows], cols))
    pairs = np.concatenate(
        [np.stack(part, axis=1) for part in found] or [np.empty((0, 2), dtype=np.int64)]
    )
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    if pairs.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    rho = np.empty(len(pairs))
    for lo in range(0, len(pairs), PAIR_BLOCK):
        a, b = pairs[lo : lo + PAIR_BLOCK, 0], pairs[lo : lo + PAIR_BLOCK, 1]
        rho[lo : lo + len(a)] = np.einsum(
            "ij,ij->j", ranks[:, a].astype(np.float64), ranks[:, b].astype(np.float64)
        )
    return pairs[:, 0], pairs[:, 1], rho


def _strongest(strength: np.ndarray, k: int) -> np.ndarray:
    """Per row, the ``k`` largest entries (ties at the k-th value broken by column order)."""
    if k <= 0:
        return np.zeros_like(strength, dtype=bool)
    kth = -np.partition(-strength, k - 1, axis=1)[:, k - 1 : k]
    above = strength > kth
    tied = strength == kth
    room = k - above.sum(axis=1, keepdims=True)
    return above | (tied & (np.cumsum(tied, axis=1) <= room))
