"""Cuts, volumes and the normalised cut (neurongraph.analysis.cuts)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from neurongraph.analysis.cuts import cut_size, ncut, volume
from neurongraph.errors import AnalysisError, UsageError


def graph(n, edges):
    """Symmetric dense adjacency from (i, j, weight) triples."""
    a = np.zeros((n, n))
    for i, j, w in edges:
        a[i, j] = a[j, i] = w
    return a


# Path 0 -2- 1 -1- 2 -3- 3 (edge weights between the dashes).
PATH = graph(4, [(0, 1, 2.0), (1, 2, 1.0), (2, 3, 3.0)])

# Five nodes in three clusters {0, 1}, {2, 3}, {4}.
FIVE = graph(5, [(0, 1, 4.0), (2, 3, 5.0), (1, 2, 1.0), (3, 4, 2.0), (0, 4, 3.0)])


def test_ncut_path_by_hand():
    # degrees: d0 = 2, d1 = 2 + 1 = 3, d2 = 1 + 3 = 4, d3 = 3.
    # {0, 1}: cut = w12 = 1, vol = 2 + 3 = 5;  {2, 3}: cut = 1, vol = 4 + 3 = 7.
    # ncut = 1/5 + 1/7 = 12/35.
    assert_allclose(ncut(PATH, [0, 0, 1, 1]), 12 / 35)
    # {0}, {1, 2, 3}: cut = 2, vol = 2 and 10 -> 2/2 + 2/10 = 6/5.
    assert_allclose(ncut(PATH, [0, 1, 1, 1]), 6 / 5)


def test_ncut_three_clusters_by_hand():
    # degrees: d0 = 4 + 3 = 7, d1 = 4 + 1 = 5, d2 = 5 + 1 = 6, d3 = 5 + 2 = 7, d4 = 2 + 3 = 5.
    # {0, 1}: vol 12, leaving 1-2 (1) + 0-4 (3) = 4  -> 4/12 = 1/3
    # {2, 3}: vol 13, leaving 1-2 (1) + 3-4 (2) = 3  -> 3/13
    # {4}:    vol 5,  leaving 3-4 (2) + 0-4 (3) = 5  -> 1
    # ncut = 1/3 + 3/13 + 1 = 61/39.
    assert_allclose(ncut(FIVE, [0, 0, 1, 1, 2]), 61 / 39)


def test_ncut_self_loop_by_hand():
    # A self-loop of weight 1 on node 0 of PATH: d0 = 3, so vol{0, 1} = 6 and the cut
    # is unchanged: 1/6 + 1/7 = 13/42.
    looped = PATH.copy()
    looped[0, 0] = 1.0
    assert_allclose(ncut(looped, [0, 0, 1, 1]), 13 / 42)


def test_negative_labels_drop_nodes_before_scoring():
    # Without node 4, FIVE is 0 -4- 1 -1- 2 -5- 3: d = 4, 5, 6, 5.
    # {0, 1}: cut 1, vol 9; {2, 3}: cut 1, vol 11 -> 1/9 + 1/11 = 20/99.
    assert_allclose(ncut(FIVE, [0, 0, 1, 1, -1]), 20 / 99)
    assert_allclose(ncut(FIVE, [0, 0, 1, 1, -7]), 20 / 99)
    assert ncut(FIVE, [-1] * 5) == 0.0


def test_zero_volume_cluster_contributes_nothing():
    # An isolated node in its own cluster has volume 0.
    padded = np.zeros((5, 5))
    padded[:4, :4] = PATH
    assert_allclose(ncut(padded, [0, 0, 1, 1, 2]), 12 / 35)


def test_labels_need_not_be_contiguous_and_input_kinds_agree():
    expected = 61 / 39
    for adjacency in (FIVE, sp.csr_matrix(FIVE), sp.coo_array(FIVE), FIVE.tolist()):
        assert_allclose(ncut(adjacency, [5, 5, 9, 9, 2]), expected)
    assert_allclose(ncut(FIVE, np.array([0.0, 0.0, 1.0, 1.0, 2.0])), expected)


def test_maximum_is_k_when_every_edge_leaves_its_cluster():
    # Complete 3-partite graph K(3,3,3) with each part as a cluster: every edge is cut,
    # so each cluster's cut equals its volume and the n-cut is exactly k = 3.
    parts = np.repeat([0, 1, 2], 3)
    adjacency = (parts[:, None] != parts[None, :]).astype(float)
    assert_allclose(ncut(adjacency, parts), 3.0)
    # Bipartite graph, sides as the two clusters: exactly 2.
    rng = np.random.default_rng(0)
    block = rng.uniform(0.1, 1.0, (4, 6))
    bipartite = np.block([[np.zeros((4, 4)), block], [block.T, np.zeros((6, 6))]])
    assert_allclose(ncut(bipartite, np.repeat([0, 1], [4, 6])), 2.0)


def test_ncut_never_exceeds_number_of_clusters():
    rng = np.random.default_rng(1)
    for k in (2, 3, 5):
        a = rng.uniform(size=(30, 30)) * (rng.uniform(size=(30, 30)) < 0.3)
        a = np.triu(a, 1)
        a = a + a.T
        labels = rng.integers(k, size=30)
        assert 0.0 <= ncut(a, labels) <= k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_way_ncut_matches_networkx(seed):
    g = nx.gnp_random_graph(25, 0.3, seed=seed)
    rng = np.random.default_rng(seed)
    for u, v in g.edges:
        g.edges[u, v]["weight"] = float(rng.uniform(0.1, 2.0))
    nodes = sorted(g.nodes)
    adjacency = nx.to_scipy_sparse_array(g, nodelist=nodes, weight="weight")
    side = rng.uniform(size=25) < 0.4
    s = {n for n in nodes if side[n]}
    t = set(nodes) - s
    expected = nx.normalized_cut_size(g, s, t, weight="weight")
    assert_allclose(ncut(adjacency, side.astype(int)), expected)
    assert_allclose(cut_size(adjacency, side), nx.cut_size(g, s, t, weight="weight"))
    assert_allclose(volume(adjacency, sorted(s)), nx.volume(g, s, weight="weight"))


def test_cut_size_and_volume_by_hand():
    assert cut_size(PATH, [0, 1]) == 1.0
    assert cut_size(PATH, [0], [2, 3]) == 0.0
    assert cut_size(PATH, [1], [2, 3]) == 1.0
    assert volume(PATH, [0, 1]) == 5.0
    assert volume(PATH, np.array([False, False, True, True])) == 7.0


def test_sparse_input_is_not_modified():
    a = sp.csr_matrix(PATH)
    a.data[a.indices == 0] = 0.0  # explicitly stored zeros: A[1, 0] ...
    a.data[0] = 0.0  # ... and A[0, 1]
    before = (a.data.copy(), a.indices.copy(), a.indptr.copy())
    ncut(a, [0, 0, 1, 1])
    for old, new in zip(before, (a.data, a.indices, a.indptr), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize(
    ("adjacency", "labels", "message"),
    [
        (np.ones((3, 4)), [0, 0, 1], "square"),
        (np.ones(3), [0, 0, 1], "2-D"),
        (np.array([[0, 1], [2, 0]]), [0, 1], "not symmetric"),
        (np.array([[0, -1], [-1, 0]]), [0, 1], "negative"),
        (np.array([[0, np.nan], [np.nan, 0]]), [0, 1], "NaN"),
        (PATH, [0, 1, 1], "one per node"),
        (PATH, [0, 0.5, 1, 1], "integers"),
        ("graph", [0], "numeric"),
    ],
)
def test_bad_input_is_a_usage_error(adjacency, labels, message):
    with pytest.raises(AnalysisError, match=message) as info:
        ncut(adjacency, labels)
    assert isinstance(info.value, UsageError)
    assert "\n" not in str(info.value)


def test_bad_node_sets():
    with pytest.raises(AnalysisError, match="outside"):
        cut_size(PATH, [0, 4])
    with pytest.raises(AnalysisError, match="boolean mask"):
        volume(PATH, np.array([True, False]))
