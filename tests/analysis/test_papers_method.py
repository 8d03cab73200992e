"""The papers' partitioner against scikit-learn's SpectralClustering, isolated neurons, methods.

Filan et al.'s reference code partitions with ``SpectralClustering(affinity='precomputed',
assign_labels='kmeans', eigen_solver='arpack', n_init=25)``; the ``papers`` method must be
equal to it in distribution: same real n-cut, same null mean and spread, on the same graphs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import planted_layers, train
from numpy.testing import assert_array_equal
from sklearn.cluster import SpectralClustering
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits
from torch import nn

from neurongraph.analysis.cuts import ncut
from neurongraph.analysis.nulls import (
    _connected_blocks,
    _LayerNull,
    _null_seeds,
    clusterability,
    shuffle_layer,
)
from neurongraph.analysis.spectral import (
    DEFAULT_METHOD,
    METHODS,
    NCUT_REFINED,
    PAPERS,
    default_n_init,
    layered_adjacency,
    spectral_partition,
)
from neurongraph.analysis.stats import percentile
from neurongraph.errors import AnalysisError

N_NULLS = 15
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def mlp(digits):
    """The small digits MLP of conftest, its biases' initialisation seeded too: the comparisons
    below hold for this network whatever ran before in the session."""
    X, y = digits
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 10)
        )
    return train(model, X, y)


def _blocks(model: nn.Sequential) -> tuple[list[int], list[np.ndarray]]:
    linears = [m for m in model if isinstance(m, nn.Linear)]
    widths = [linears[0].in_features] + [m.out_features for m in linears]
    return widths, [m.weight.detach().abs().numpy().astype(np.float64) for m in linears]


def _sklearn_ncut(matrix, k: int, seed: int) -> float:
    model = SpectralClustering(
        n_clusters=k,
        affinity="precomputed",
        assign_labels="kmeans",
        eigen_solver="arpack",
        n_init=default_n_init(PAPERS, matrix.shape[0]),
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "graph is not fully connected"
        return ncut(matrix, model.fit(matrix).labels_)


def _graph(name, mlp):
    if name == "trained":
        return (*_blocks(mlp), 6)
    if name == "shuffled":
        widths, blocks = _blocks(mlp)
        rng = np.random.default_rng(5)
        return widths, [shuffle_layer(b, rng) for b in blocks], 6
    return (*planted_layers([4, 6, 6, 4], 3, cross=0.3, seed=2)[:2], 3)


@pytest.mark.parametrize("graph", ["trained", "shuffled", "planted"])
def test_papers_method_equals_scikit_learn_in_distribution(mlp, graph):
    widths, blocks, k = _graph(graph, mlp)
    adjacency = layered_adjacency(widths, blocks)
    with threadpool_limits(1):
        ours = clusterability(widths, blocks, k, n_shuffles=N_NULLS, random_state=0, n_jobs=1)
        assert ours.spectral_method == PAPERS == DEFAULT_METHOD
        # scikit-learn partitions the same null networks: the shuffles of the same seeds
        pairs = [(i, i + 1) for i in range(len(blocks))]
        null = _LayerNull(*_connected_blocks(widths, blocks, pairs)[:2], nonzero=False)
        seeds = _null_seeds(check_random_state(0), N_NULLS)
        theirs = np.array(
            [
                _sklearn_ncut(null.adjacency(np.random.default_rng(s)), k, i)
                for i, (s, _) in enumerate(seeds)
            ]
        )
        ours_real = np.mean([ncut(adjacency, spectral_partition(adjacency, k, s)) for s in SEEDS])
        theirs_real = np.mean([_sklearn_ncut(adjacency, k, s) for s in SEEDS])
    assert ours_real == pytest.approx(theirs_real, rel=5e-3)
    assert ours.null_mean == pytest.approx(theirs.mean(), rel=5e-3)
    assert ours.null_std == pytest.approx(theirs.std(), rel=0.25)
    assert ours.null_std > 0


def test_ncut_refined_is_another_partitioner(mlp):
    # both methods give k clusters of the trained network's neurons, by different rules (the
    # refined one row-normalises the embedding and keeps the restart of lowest n-cut), so
    # their partitions differ; which has the lower n-cut depends on the network and k
    widths, blocks = _blocks(mlp)
    adjacency = layered_adjacency(widths, blocks)
    labels = {
        method: [spectral_partition(adjacency, 6, s, method=method) for s in SEEDS]
        for method in METHODS
    }
    for runs in labels.values():
        for found in runs:
            assert sorted(set(found[found >= 0].tolist())) == list(range(6))
    assert any(
        not np.array_equal(a, b) for a, b in zip(labels[PAPERS], labels[NCUT_REFINED], strict=True)
    )


def test_unknown_method_is_refused():
    with pytest.raises(AnalysisError, match="unknown spectral method 'kmeans'.*papers"):
        spectral_partition(np.ones((4, 4)) - np.eye(4), 2, method="kmeans")
    widths, blocks = planted_layers([2, 2], 2, cross=0.1, seed=0)[:2]
    with pytest.raises(AnalysisError, match="unknown spectral method"):
        clusterability(widths, blocks, 2, n_shuffles=1, spectral_method="sk", n_jobs=1)


def test_isolated_neurons_are_removed_before_shuffling():
    # Two isolated neurons (no non-zero weight): one in layer 1, one in layer 2. The nulls
    # shuffle the network without them, exactly as if they had never been there.
    widths, blocks = planted_layers([3, 3, 3, 3], 2, cross=0.2, seed=1)[:2]
    blocks[0][2, :] = 0.0
    blocks[1][:, 2] = 0.0  # neuron 2 of layer 1
    blocks[1][4, :] = 0.0
    blocks[2][:, 4] = 0.0  # neuron 4 of layer 2
    isolated = [6 + 2, 12 + 4]
    full = clusterability(widths, blocks, 2, n_shuffles=8, random_state=4, n_jobs=1)

    keep = np.ones(sum(widths), dtype=bool)
    keep[isolated] = False
    reduced_widths = [6, 5, 5, 6]
    reduced_blocks = [
        np.delete(blocks[0], 2, axis=0),
        np.delete(np.delete(blocks[1], 2, axis=1), 4, axis=0),
        np.delete(blocks[2], 4, axis=1),
    ]
    by_hand = clusterability(
        reduced_widths, reduced_blocks, 2, n_shuffles=8, random_state=4, n_jobs=1
    )
    assert_array_equal(full.labels[isolated], [-1, -1])
    assert_array_equal(full.labels[keep], by_hand.labels)
    np.testing.assert_allclose(full.null_ncuts, by_hand.null_ncuts, rtol=1e-12)
    assert full.ncut == pytest.approx(by_hand.ncut, rel=1e-12)


def test_a_layer_without_connected_neurons_is_refused():
    # the first block is all zeros: no neuron of the input layer is connected
    widths, blocks = planted_layers([2, 2, 2], 2, cross=0.1, seed=0)[:2]
    blocks[0][:] = 0.0
    with pytest.raises(AnalysisError, match="no neuron of layer 0 has a non-zero weight"):
        clusterability(widths, blocks, 2, n_shuffles=1, n_jobs=1)


def test_one_percentile_convention_ties_count_as_extreme():
    # (#{null as extreme, ties included} + 1) / (n + 1): the reference code's (null < ncut)
    # wherever nothing ties, and a valid p-value where something does
    assert percentile(2.0, [1.0, 2.0, 2.0, 3.0]) == pytest.approx(4 / 5)
    assert percentile(2.0, [1.0, 2.0, 2.0, 3.0], tail="upper") == pytest.approx(4 / 5)
    assert percentile(2.5, [1.0, 2.0, 2.0, 3.0]) == pytest.approx(4 / 5)
    assert percentile(0.5, [1.0, 2.0, 2.0, 3.0]) == pytest.approx(1 / 5)
    # the clusterability test uses it: a planted network whose nulls can never tie
    widths, blocks = planted_layers([3, 3, 3], 3, cross=0.05, seed=3)[:2]
    result = clusterability(widths, blocks, 3, n_shuffles=6, random_state=0, n_jobs=1)
    assert result.percentile == percentile(result.ncut, result.null_ncuts)
    assert result.percentile == pytest.approx(1 / 7)
