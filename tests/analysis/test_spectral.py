"""Spectral partitions and the weight graph (neurongraph.analysis.spectral)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import adjusted_rand_score

from neurongraph.analysis import cuts, nulls, spectral
from neurongraph.analysis.spectral import layered_adjacency, ncut, spectral_partition
from neurongraph.errors import AnalysisError, NeurongraphWarning


def planted_layers(module_widths, n_modules, *, cross=0.02, seed=0):
    """A layered network whose weights are block-diagonal across modules.

    Every layer holds ``module_widths[i]`` neurons of each of the ``n_modules`` modules;
    weights inside a module are U(0.5, 1.5), across modules ``cross`` times that.
    Returns (widths, blocks, true module of every node in layer order).
    """
    rng = np.random.default_rng(seed)
    modules = [np.repeat(np.arange(n_modules), w) for w in module_widths]
    widths = [m.size for m in modules]
    blocks = []
    for source, target in zip(modules[:-1], modules[1:], strict=True):
        same = target[:, None] == source[None, :]
        blocks.append(rng.uniform(0.5, 1.5, same.shape) * np.where(same, 1.0, cross))
    return widths, blocks, np.concatenate(modules)


def planted_graph(n, n_modules, *, p_in=0.5, p_out=0.02, seed=0):
    """A symmetric stochastic block model with weights U(0.5, 1.5) (not bipartite)."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % n_modules
    p = np.where(truth[:, None] == truth[None, :], p_in, p_out)
    upper = np.triu((rng.uniform(size=(n, n)) < p) * rng.uniform(0.5, 1.5, (n, n)), 1)
    return upper + upper.T, truth


# --------------------------------------------------------------------------------------
# layered_adjacency
# --------------------------------------------------------------------------------------


def test_layered_adjacency_by_hand():
    # Layers of 2, 1 and 2 neurons: nodes 0, 1 | 2 | 3, 4.
    w0 = np.array([[0.5, 2.0]])  # layer 1 <- layer 0, (1 x 2)
    w1 = np.array([[3.0], [0.0]])  # layer 2 <- layer 1, (2 x 1)
    a = layered_adjacency([2, 1, 2], [w0, sp.csr_matrix(w1)])
    expected = np.zeros((5, 5))
    expected[2, 0] = expected[0, 2] = 0.5
    expected[2, 1] = expected[1, 2] = 2.0
    expected[3, 2] = expected[2, 3] = 3.0
    assert isinstance(a, sp.csr_matrix)
    assert_allclose(a.toarray(), expected)
    assert a.nnz == 6  # the zero weight is not stored


@pytest.mark.parametrize(
    ("widths", "blocks", "message"),
    [
        ([2, 1], [np.ones((2, 1))], "shape"),
        ([2, 1, 2], [np.ones((1, 2))], "need 2 weight blocks"),
        ([2], [], "at least 2 layers"),
        ([2, 0], [np.ones((0, 2))], "positive"),
        ([2, 1], [-np.ones((1, 2))], "negative"),
        ([2, 1], [np.full((1, 2), np.inf)], "infinite"),
        ([2.5, 1], [np.ones((1, 2))], "integers"),
    ],
)
def test_layered_adjacency_rejects_bad_layers(widths, blocks, message):
    with pytest.raises(AnalysisError, match=message):
        layered_adjacency(widths, blocks)


# --------------------------------------------------------------------------------------
# spectral_partition
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_modules", "seed"), [(2, 0), (3, 1), (4, 2)])
def test_planted_modules_of_a_layered_network_are_found(n_modules, seed):
    widths, blocks, truth = planted_layers([5, 8, 8, 6, 3], n_modules, seed=seed)
    labels = spectral_partition(layered_adjacency(widths, blocks), n_modules, seed)
    assert adjusted_rand_score(truth, labels) >= 0.95
    assert_allclose(
        ncut(layered_adjacency(widths, blocks), labels),
        ncut(layered_adjacency(widths, blocks), truth),
        rtol=1e-9,
    )


def test_planted_modules_of_a_general_graph_are_found():
    adjacency, truth = planted_graph(90, 3, seed=3)
    labels = spectral_partition(sp.csr_matrix(adjacency), 3, random_state=0)
    assert adjusted_rand_score(truth, labels) >= 0.95


def test_large_graph_goes_through_arpack():
    adjacency, truth = planted_graph(spectral.DENSE_MAX_NODES + 100, 4, p_in=0.2, seed=4)
    labels = spectral_partition(sp.csr_matrix(adjacency), 4, random_state=0)
    assert adjusted_rand_score(truth, labels) >= 0.95


@pytest.mark.parametrize(
    "patch",
    [
        {"DENSE_MAX_GRAM": 8},  # ARPACK on the Gram operator
        {"DENSE_MAX_ENTRIES": 0},  # sparse biadjacency
        {"DENSE_MAX_ENTRIES": 0, "DENSE_MAX_GRAM": 8},
    ],
)
def test_bipartite_solver_variants_agree(monkeypatch, patch):
    widths, blocks, truth = planted_layers([4, 10, 10, 10, 2], 3, seed=5)
    adjacency = layered_adjacency(widths, blocks)
    expected = spectral_partition(adjacency, 3, 0)
    for name, value in patch.items():
        monkeypatch.setattr(spectral, name, value)
    assert adjusted_rand_score(spectral_partition(adjacency, 3, 0), expected) == 1.0
    labels, value, _ = spectral.layered_labels(
        widths, blocks, 3, np.random.RandomState(0), n_init=10, eigen_tol=1e-4
    )
    assert adjusted_rand_score(labels, truth) >= 0.95
    assert_allclose(value, ncut(adjacency, labels))


def test_layered_path_matches_the_general_adjacency_path():
    # layered_labels (biadjacency built from the blocks) and spectral_partition (bipartite
    # structure found by search) solve the same problem with the same random stream.
    widths, blocks, _ = planted_layers([6, 9, 7], 2, cross=0.3, seed=6)
    adjacency = layered_adjacency(widths, blocks)
    labels, value, n_components = spectral.layered_labels(
        widths, blocks, 2, np.random.RandomState(7), n_init=10, eigen_tol=1e-4
    )
    assert_array_equal(labels, spectral_partition(adjacency, 2, 7))
    assert_allclose(value, ncut(adjacency, labels))
    assert n_components == 1


def test_same_seed_same_labels_and_canonical_numbering():
    adjacency, _ = planted_graph(60, 4, p_in=0.3, p_out=0.1, seed=8)
    first = spectral_partition(adjacency, 4, 11)
    assert_array_equal(first, spectral_partition(adjacency, 4, 11))
    assert_array_equal(first, spectral_partition(adjacency, 4, seed=11))
    assert_array_equal(first, spectral_partition(adjacency, 4, np.random.RandomState(11)))
    # Labels are numbered in order of first appearance.
    _, first_seen = np.unique(first, return_index=True)
    assert np.all(np.diff(first_seen) > 0)
    assert first[0] == 0
    assert first.dtype == np.int64


def test_partition_is_invariant_to_node_order():
    widths, blocks, truth = planted_layers([6, 10, 10, 4], 3, seed=9)
    adjacency = layered_adjacency(widths, blocks).toarray()
    labels = spectral_partition(adjacency, 3, 0)
    order = np.random.default_rng(0).permutation(adjacency.shape[0])
    permuted = spectral_partition(adjacency[np.ix_(order, order)], 3, 0)
    back = np.empty_like(permuted)
    back[order] = permuted
    assert adjusted_rand_score(labels, back) == 1.0
    assert adjusted_rand_score(truth, back) >= 0.95


def test_isolated_nodes_get_minus_one():
    widths, blocks, truth = planted_layers([4, 6, 6], 2, seed=10)
    blocks[0][:, :2] = 0.0  # the first two input neurons lose every weight
    labels = spectral_partition(layered_adjacency(widths, blocks), 2, 0)
    assert_array_equal(labels[:2], [-1, -1])
    assert (labels[2:] >= 0).all()
    assert adjusted_rand_score(truth[2:], labels[2:]) >= 0.95
    # k counts connected neurons only.
    n_connected = sum(widths) - 2
    spectral_partition(layered_adjacency(widths, blocks), n_connected, 0)
    with pytest.raises(AnalysisError, match=f"connected neurons \\({n_connected}\\)"):
        spectral_partition(layered_adjacency(widths, blocks), n_connected + 1, 0)


@pytest.mark.parametrize("bipartite", [True, False])
def test_disconnected_graph_warns_and_is_split_into_components(bipartite):
    if bipartite:
        widths, blocks, _ = planted_layers([3, 5, 5], 2, cross=0.0, seed=11)
        adjacency = layered_adjacency(widths, blocks)
        _, components = sp.csgraph.connected_components(adjacency)
    else:
        adjacency, components = planted_graph(40, 2, p_in=0.6, p_out=0.0, seed=11)
    with pytest.warns(NeurongraphWarning, match="2 connected components"):
        labels = spectral_partition(adjacency, 2, 0)
    assert adjusted_rand_score(components, labels) == 1.0
    # Asking for more clusters than components still works.
    with pytest.warns(NeurongraphWarning):
        labels = spectral_partition(adjacency, 4, 0)
    assert len(np.unique(labels)) == 4


def test_connected_graph_does_not_warn():
    adjacency, _ = planted_graph(40, 2, seed=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spectral_partition(adjacency, 2, 0)


def test_k_equal_to_the_number_of_nodes():
    adjacency, _ = planted_graph(12, 2, seed=13)
    labels = spectral_partition(adjacency, 12, 0)
    assert sorted(labels) == list(range(12))


def test_more_clusters_than_the_smaller_side_of_a_bipartite_graph():
    # k = 5 > 2 input neurons: the Gram route does not apply, the general solver does.
    rng = np.random.default_rng(17)
    adjacency = layered_adjacency([2, 10], [rng.uniform(size=(10, 2))])
    labels = spectral_partition(adjacency, 5, 0)
    assert sorted(np.unique(labels)) == [0, 1, 2, 3, 4]


def test_no_worse_than_scikit_learn():
    # Same graph, same k: our n-cut is at most 1% above SpectralClustering's.
    from sklearn.cluster import SpectralClustering

    rng = np.random.default_rng(14)
    widths = [16, 32, 32, 8]
    blocks = [rng.uniform(size=(b, a)) ** 3 for a, b in zip(widths[:-1], widths[1:], strict=True)]
    adjacency = layered_adjacency(widths, blocks)
    theirs = SpectralClustering(
        n_clusters=4, affinity="precomputed", n_init=25, random_state=0
    ).fit(adjacency)
    ours = spectral_partition(adjacency, 4, 0)
    assert ncut(adjacency, ours) <= 1.01 * ncut(adjacency, theirs.labels_)


@pytest.mark.parametrize(
    ("k", "message"),
    [
        (1, "at least 2"),
        (0, "at least 2"),
        (13, "larger than the number of connected neurons \\(12\\)"),
        (2.5, "integer"),
        (True, "integer"),
        ("3", "integer"),
    ],
)
def test_k_is_validated(k, message):
    adjacency, _ = planted_graph(12, 2, seed=15)
    with pytest.raises(AnalysisError, match=message):
        spectral_partition(adjacency, k, 0)


def test_other_options_are_validated():
    adjacency, _ = planted_graph(12, 2, seed=16)
    with pytest.raises(AnalysisError, match="not both"):
        spectral_partition(adjacency, 2, 0, seed=1)
    with pytest.raises(AnalysisError, match="n_init"):
        spectral_partition(adjacency, 2, 0, n_init=0)
    with pytest.raises(AnalysisError, match="eigen_tol"):
        spectral_partition(adjacency, 2, 0, eigen_tol=-1)
    with pytest.raises(AnalysisError, match="symmetric"):
        spectral_partition(np.triu(adjacency), 2, 0)


def test_public_names():
    assert spectral.ncut is cuts.ncut
    # the shuffles live in nulls and the store-reading graphs in graphs, nowhere else
    for name in ("shuffle_layer", "weight_adjacency"):
        assert not hasattr(spectral, name)
    assert callable(nulls.shuffle_layer)
    with pytest.raises(AttributeError):
        spectral.no_such_name  # noqa: B018
    for module in (spectral, cuts, nulls):
        for name in module.__all__:
            assert getattr(module, name) is not None
