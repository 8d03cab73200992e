"""Louvain co-activation communities: hand-built firing patterns and graphs."""

import warnings

import community as community_louvain
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from networkx.algorithms.community import modularity as nx_modularity
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import adjusted_rand_score

from neurongraph.analysis import communities as comm
from neurongraph.analysis.communities import (
    coactivation_graph,
    layer_communities,
    louvain_communities,
    modularity,
    network_modularity,
)
from neurongraph.analysis.firing import firing, is_relu_like
from neurongraph.errors import AnalysisError, NeurongraphWarning


def planted_firing(n_examples=400, group_sizes=(20, 20), noise=0.05, seed=0):
    """Group g fires on the g-th block of examples only; every entry flipped with prob. noise."""
    rng = np.random.RandomState(seed)
    n_groups = len(group_sizes)
    groups = np.repeat(np.arange(n_groups), group_sizes)
    block = np.arange(n_examples) * n_groups // n_examples
    fired = block[:, None] == groups[None, :]
    fired ^= rng.rand(*fired.shape) < noise
    return fired, groups


def as_nx(adjacency):
    return nx.from_numpy_array(np.asarray(adjacency))


def partition_sets(labels):
    labels = np.asarray(labels)
    out = [set(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels[labels >= 0])]
    out += [{i} for i in np.flatnonzero(labels == -1).tolist()]
    return out


# ------------------------------------------------------------------------------------ firing


def test_firing_relu_like_layer_fires_above_zero():
    acts = np.array([[0.0, 0.2, 3.0], [1.0, 0.0, 0.0], [0.5, 0.0, 0.0]], dtype=np.float32)
    assert is_relu_like(acts)
    assert_array_equal(firing(acts), acts > 0)


def test_relu_like_rule_negatives_or_no_zeros_mean_not_relu_like():
    assert not is_relu_like([[-0.1, 0.0], [0.3, 0.0]])  # tanh/GELU/leaky: negatives
    assert not is_relu_like([[0.1, 0.7], [0.3, 0.9]])  # sigmoid/softplus: no exact zero
    assert is_relu_like([[0.1, 0.0], [0.3, 0.9]])


def test_firing_non_relu_layer_uses_per_neuron_percentile():
    rng = np.random.RandomState(0)
    acts = np.tanh(rng.randn(200, 5) + np.arange(5))  # very different offsets per neuron
    fired = firing(acts)
    assert_array_equal(fired.sum(axis=0), np.full(5, 100))  # strictly above each one's median
    assert_array_equal(firing(acts, percentile=75).sum(axis=0), np.full(5, 50))
    # a constant neuron never fires
    acts[:, 0] = 0.3
    assert not firing(acts)[:, 0].any()


def test_firing_relu_like_can_be_forced():
    acts = np.array([[-1.0, 2.0], [0.5, -0.5], [3.0, 1.0]])
    assert_array_equal(firing(acts, relu_like=True), acts > 0)
    assert firing(acts, relu_like=False).sum() == 2  # one per neuron above its median


def test_firing_takes_boolean_input_as_firing():
    fired = np.array([[True, True], [True, True]])  # no zero: would not be ReLU-like
    assert_array_equal(firing(fired), fired)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros(4), "2-D"),
        (np.zeros((0, 3)), "2-D"),
        (np.array([[0.0, np.nan]]), "NaN"),
        (np.array([["a", "b"]]), "real numbers"),
    ],
)
def test_firing_rejects_bad_activations(bad, match):
    with pytest.raises(AnalysisError, match=match):
        firing(bad)


def test_firing_rejects_bad_percentile():
    with pytest.raises(AnalysisError, match="percentile"):
        firing(np.ones((3, 2)), percentile=100)


# ------------------------------------------------------------------------------- graph


def test_jaccard_worked_out_by_hand():
    fired = np.array(
        [
            [1, 1, 0, 0],
            [1, 1, 1, 0],
            [1, 0, 1, 0],
            [0, 1, 1, 0],
            [1, 0, 0, 0],
        ],
        dtype=bool,
    )
    # n0 fires on {0,1,2,4}, n1 on {0,1,3}, n2 on {1,2,3}, n3 never
    # J01 = |{0,1}| / |{0,1,2,3,4}| = 2/5; J02 = |{1,2}| / |{0,1,2,3,4}| = 2/5;
    # J12 = |{1,3}| / |{0,1,2,3}| = 2/4
    expected = np.array(
        [
            [0, 2 / 5, 2 / 5, 0],
            [2 / 5, 0, 1 / 2, 0],
            [2 / 5, 1 / 2, 0, 0],
            [0, 0, 0, 0],
        ]
    )
    adjacency = coactivation_graph(fired)
    assert sp.issparse(adjacency)
    assert_allclose(adjacency.toarray(), expected)


def test_jaccard_matches_pairwise_definition():
    rng = np.random.RandomState(1)
    fired = rng.rand(60, 9) < rng.uniform(0.05, 0.9, 9)
    fired[:, 3] = False  # never fires
    got = coactivation_graph(fired).toarray()
    for i in range(9):
        for j in range(9):
            either = (fired[:, i] | fired[:, j]).sum()
            both = (fired[:, i] & fired[:, j]).sum()
            want = 0.0 if i == j or either == 0 else both / either
            assert got[i, j] == pytest.approx(want)
    assert_allclose(got, got.T)
    assert not got[3].any()  # isolated


def test_correlation_is_pearson_of_firing_clipped_at_zero():
    rng = np.random.RandomState(2)
    base = rng.rand(300) < 0.5
    fired = np.column_stack(
        [
            base,
            base ^ (rng.rand(300) < 0.1),  # positively correlated with 0
            ~base,  # perfectly anti-correlated with 0
            rng.rand(300) < 0.3,
        ]
    )
    got = coactivation_graph(fired, edge="correlation").toarray()
    r = np.corrcoef(fired.T.astype(float))
    assert r[0, 2] == pytest.approx(-1.0)
    assert got[0, 2] == 0.0  # clipped, not negative
    want = np.clip(r, 0, None)
    np.fill_diagonal(want, 0)
    assert_allclose(got, want, atol=1e-12)
    assert (got >= 0).all() and got[0, 1] > 0.7


def test_never_and_always_firing_neurons():
    fired = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [0, 1, 0, 1], [1, 1, 0, 1]], dtype=bool)
    jac = coactivation_graph(fired).toarray()
    cor = coactivation_graph(fired, edge="correlation").toarray()
    assert not jac[2].any() and not cor[2].any()  # never fires: isolated in both
    assert_allclose(jac[3, :2], [3 / 4, 3 / 4])  # always fires: J = share of the other
    assert not cor[3].any()  # always fires: no variance, isolated under correlation


def test_threshold_drops_weak_edges():
    fired = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 0]], bool)
    a = coactivation_graph(fired, threshold=0.45).toarray()
    assert_allclose(a[1, 2], 0.5)
    assert a[0, 1] == 0 and a[0, 2] == 0  # 2/5 < 0.45


def test_top_k_keeps_strongest_edges_symmetrically():
    rng = np.random.RandomState(3)
    fired = rng.rand(200, 30) < 0.4
    dense = coactivation_graph(fired, top_k=None).toarray()
    sparse = coactivation_graph(fired, top_k=3).toarray()
    assert_allclose(sparse, sparse.T)
    kept = sparse > 0
    assert (kept.sum(axis=1) >= 3).all() and kept.sum() < dense.astype(bool).sum()
    assert_allclose(sparse[kept], dense[kept])
    for i in range(30):  # each neuron's 3 strongest edges are all kept
        assert kept[i, np.argsort(-dense[i])[:3]].all()


def test_top_k_auto_is_dense_for_narrow_layers():
    rng = np.random.RandomState(4)
    fired = rng.rand(50, 20) < 0.5
    auto = coactivation_graph(fired)
    assert auto.nnz == coactivation_graph(fired, top_k=None).nnz == 20 * 19


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"edge": "cosine"}, "edge"),
        ({"threshold": 1.5}, "threshold"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": "many"}, "top_k"),
    ],
)
def test_coactivation_graph_rejects_bad_options(kwargs, match):
    with pytest.raises(AnalysisError, match=match):
        coactivation_graph(np.ones((3, 3), dtype=bool), **kwargs)


def test_coactivation_graph_rejects_non_binary_firing():
    with pytest.raises(AnalysisError, match="0/1"):
        coactivation_graph(np.array([[0.5, 1.0], [0.0, 1.0]]))


# ---------------------------------------------------------------------------- modularity


def weighted_test_graphs():
    rng = np.random.RandomState(5)
    karate = nx.to_numpy_array(nx.karate_club_graph(), weight=None)
    weighted = rng.rand(25, 25) * (rng.rand(25, 25) < 0.3)
    weighted = np.triu(weighted, 1)
    weighted += weighted.T
    fired, _ = planted_firing(group_sizes=(8, 8, 8), seed=6)
    coact = coactivation_graph(fired).toarray()
    loops = weighted.copy()
    loops[np.arange(0, 25, 3), np.arange(0, 25, 3)] = 0.7  # self-loops
    return {"karate": karate, "weighted": weighted, "coactivation": coact, "self-loops": loops}


@pytest.mark.parametrize("name", ["karate", "weighted", "coactivation", "self-loops"])
@pytest.mark.parametrize("resolution", [1.0, 0.5, 2.0])
def test_modularity_agrees_with_networkx(name, resolution):
    adjacency = weighted_test_graphs()[name]
    n = adjacency.shape[0]
    graph = as_nx(adjacency)
    rng = np.random.RandomState(7)
    partitions = [
        rng.randint(0, 4, n),
        np.zeros(n, dtype=int),
        np.arange(n),
        louvain_communities(adjacency, random_state=0)[0],
    ]
    for labels in partitions:
        want = nx_modularity(graph, partition_sets(labels), weight="weight", resolution=resolution)
        assert modularity(adjacency, labels, resolution=resolution) == pytest.approx(
            want, abs=1e-12
        )
        assert modularity(sp.csr_array(adjacency), labels, resolution=resolution) == pytest.approx(
            want, abs=1e-12
        )


@pytest.mark.parametrize("name", ["karate", "weighted", "coactivation"])
def test_louvain_modularity_agrees_with_both_implementations(name):
    adjacency = weighted_test_graphs()[name]
    labels, q = louvain_communities(adjacency, random_state=0)
    graph = as_nx(adjacency)
    assert q == pytest.approx(modularity(adjacency, labels), abs=1e-12)
    assert q == pytest.approx(nx_modularity(graph, partition_sets(labels)), abs=1e-12)
    as_dict = {i: int(c) for i, c in enumerate(labels)}
    assert q == pytest.approx(community_louvain.modularity(as_dict, graph), abs=1e-12)


def test_modularity_two_triangles_by_hand():
    a = np.zeros((6, 6))
    for i, j in [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3)]:
        a[i, j] = a[j, i] = 1.0
    # m = 7; each triangle: L_c = 3, d_c = 7 -> Q = 2 * (3/7 - (7/14)**2) = 5/14
    assert modularity(a, [0, 0, 0, 1, 1, 1]) == pytest.approx(5 / 14)
    assert modularity(a, [0, 0, 0, 0, 0, 0]) == pytest.approx(0.0, abs=1e-15)


def test_modularity_minus_one_is_a_singleton_and_isolated_nodes_add_nothing():
    a = weighted_test_graphs()["weighted"]
    a = np.pad(a, ((0, 2), (0, 2)))  # two isolated nodes 25, 26
    labels = np.random.RandomState(8).randint(0, 3, 27)
    with_minus = labels.copy()
    with_minus[[4, 25, 26]] = -1
    singletons = labels.copy()
    singletons[[4, 25, 26]] = [10, 11, 12]
    assert modularity(a, with_minus) == pytest.approx(modularity(a, singletons), abs=1e-14)
    joined = singletons.copy()
    joined[[25, 26]] = 0
    assert modularity(a, joined) == pytest.approx(modularity(a, singletons), abs=1e-14)


@pytest.mark.parametrize(
    "adjacency, labels, match",
    [
        (np.array([[0.0, 1.0], [0.0, 0.0]]), [0, 0], "symmetric"),
        (np.array([[0.0, -1.0], [-1.0, 0.0]]), [0, 0], "non-negative"),
        (np.zeros((2, 3)), [0, 0], "square"),
        (np.zeros((2, 2)), [0, 1], "without edges"),
        (np.ones((2, 2)), [0], "one entry per node"),
        (np.ones((2, 2)), [0.5, 1], "integers"),
        (np.ones((2, 2)), [-2, 0], ">= 0"),
    ],
)
def test_modularity_rejects_bad_input(adjacency, labels, match):
    with pytest.raises(AnalysisError, match=match):
        modularity(adjacency, labels)


# ------------------------------------------------------------------------------- Louvain


def test_planted_two_groups_give_two_communities_and_high_modularity():
    fired, groups = planted_firing(group_sizes=(20, 20), noise=0.05, seed=0)
    for edge in ("jaccard", "correlation"):
        labels, q = louvain_communities(coactivation_graph(fired, edge=edge), random_state=0)
        assert labels.max() + 1 == 2
        assert adjusted_rand_score(groups, labels) >= 0.95
        assert q > 0.3


def test_planted_groups_found_by_layer_communities_with_uneven_sizes():
    fired, groups = planted_firing(n_examples=600, group_sizes=(25, 10, 15), noise=0.05, seed=9)
    acts = fired * np.random.RandomState(9).gamma(2.0, 1.0, fired.shape)  # ReLU-like values
    result = layer_communities({"fc1": acts}, random_state=0)["fc1"].result
    assert result.n_communities == 3
    assert_array_equal(result.sizes, [25, 15, 10])  # numbered by decreasing size
    assert adjusted_rand_score(groups, result.labels) >= 0.95
    assert result.modularity > 0.3
    assert result.n_edges == 50 * 49 // 2  # dense at this width, and noise links every pair
    assert result.n_firing == 50


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_independent_random_firing_has_modularity_near_zero(seed):
    # Jaccard between independent neurons concentrates around a common value, so the dense graph
    # is nearly uniform and no split beats Q = 0 by much; a threshold below that common value
    # (~1/3 at firing rate 1/2) keeps the graph dense and Q near 0. Heterogeneous rates too.
    rng = np.random.RandomState(seed)
    homogeneous = rng.rand(1000, 40) < 0.5
    heterogeneous = rng.rand(1000, 40) < rng.uniform(0.1, 0.9, 40)
    for fired in (homogeneous, heterogeneous):
        for threshold in (None, 0.25):
            adjacency = coactivation_graph(fired, threshold=threshold)
            _, q = louvain_communities(adjacency, random_state=seed)
            assert abs(q) < 0.1


def test_same_seed_same_labels_and_seed_is_passed_as_random_state(monkeypatch):
    rng = np.random.RandomState(10)
    fired = rng.rand(300, 60) < rng.uniform(0.2, 0.8, 60)
    adjacency = coactivation_graph(fired)
    seen = []
    real = community_louvain.best_partition

    def spy(*args, **kwargs):
        seen.append(kwargs.get("random_state"))
        return real(*args, **kwargs)

    monkeypatch.setattr(comm.community_louvain, "best_partition", spy)
    before = np.random.get_state()[1].copy()
    first, q1 = louvain_communities(adjacency, random_state=3)
    second, q2 = louvain_communities(adjacency, random_state=3)
    assert all(isinstance(r, np.random.RandomState) for r in seen)
    assert_array_equal(np.random.get_state()[1], before)  # global generator untouched
    assert_array_equal(first, second)
    assert q1 == q2
    # a RandomState instance is used as given
    third, _ = louvain_communities(adjacency, random_state=np.random.RandomState(3))
    assert_array_equal(first, third)


def test_labels_are_canonical_and_permutation_invariant():
    fired, groups = planted_firing(group_sizes=(12, 20, 8), noise=0.03, seed=11)
    labels, q = louvain_communities(coactivation_graph(fired), random_state=0)
    sizes = np.bincount(labels)
    assert (np.diff(sizes) <= 0).all()
    assert labels[12] == 0  # the 20-neuron group, the largest, is community 0
    perm = np.random.RandomState(12).permutation(fired.shape[1])
    labels_p, q_p = louvain_communities(coactivation_graph(fired[:, perm]), random_state=0)
    assert adjusted_rand_score(labels[perm], labels_p) == pytest.approx(1.0)
    assert q_p == pytest.approx(q)


def test_isolated_neurons_get_minus_one_and_do_not_change_modularity():
    fired, groups = planted_firing(group_sizes=(10, 10), seed=13)
    padded = np.column_stack([fired[:, :5], np.zeros((400, 2), bool), fired[:, 5:]])
    labels, q = louvain_communities(coactivation_graph(padded), random_state=0)
    assert_array_equal(labels[5:7], [-1, -1])
    _, q_plain = louvain_communities(coactivation_graph(fired), random_state=0)
    assert q == pytest.approx(q_plain)
    assert q == pytest.approx(modularity(coactivation_graph(padded), labels))


def test_louvain_rejects_graph_without_edges():
    with pytest.raises(AnalysisError, match="no edges"):
        louvain_communities(np.zeros((3, 3)), random_state=0)


def test_louvain_rejects_bad_resolution():
    with pytest.raises(AnalysisError, match="resolution"):
        louvain_communities(np.ones((2, 2)) - np.eye(2), resolution=0, random_state=0)


# ------------------------------------------------------------------------------ per layer


def test_layer_with_fewer_than_two_firing_neurons_is_skipped_with_a_warning():
    fired, _ = planted_firing(group_sizes=(6, 6), seed=14)
    dead = np.zeros((400, 5), dtype=np.float32)
    dead[::7, 2] = 1.0  # one firing neuron
    with pytest.warns(NeurongraphWarning, match="fc2.*1 of 5 neurons fire"):
        out = layer_communities({"fc1": fired.astype(np.float32), "fc2": dead}, random_state=0)
    assert out["fc2"].result is None
    assert out["fc1"].result is not None and out["fc1"].result.n_communities == 2
    assert network_modularity(out) == pytest.approx(out["fc1"].result.modularity)


def test_layer_whose_graph_has_no_edge_is_skipped_with_a_warning():
    fired = np.zeros((10, 3), dtype=bool)
    fired[:5, 0] = True
    fired[5:, 1] = True  # two neurons fire, never together
    with pytest.warns(NeurongraphWarning, match="no edge"):
        out = layer_communities([fired], random_state=0)
    assert out[0].result is None
    assert np.isnan(network_modularity(out))


def test_per_class_results_and_whole_dataset_results_do_not_depend_on_per_class():
    rng = np.random.RandomState(15)
    fired, groups = planted_firing(n_examples=400, group_sizes=(10, 10), seed=15)
    y = rng.randint(0, 3, 400)
    acts = {"a": fired.astype(np.float32), "b": (rng.rand(400, 30) < 0.5).astype(np.float32)}
    acts["b"][y == 2] = 0.0  # layer b never fires on class 2
    plain = layer_communities(acts, y, random_state=4)
    with pytest.warns(NeurongraphWarning, match="b, class 2"):
        both = layer_communities(acts, y, per_class=True, random_state=4)
    for key in acts:
        assert_array_equal(plain[key].result.labels, both[key].result.labels)
        assert plain[key].per_class == {}
        assert sorted(both[key].per_class) == [0, 1, 2]
    assert both["b"].per_class[2] is None
    class0 = both["a"].per_class[0]
    direct, q = louvain_communities(coactivation_graph(fired[y == 0]), random_state=0)
    assert adjusted_rand_score(class0.labels, direct) > 0.9
    assert class0.modularity == pytest.approx(q, abs=0.05)


def test_per_class_uses_firing_decided_on_all_examples():
    rng = np.random.RandomState(16)
    acts = rng.randn(200, 6)  # not ReLU-like: fires above the median over all 200 examples
    y = np.repeat([0, 1], 100)
    acts[y == 1] += 10.0  # class 1 is above every neuron's overall median
    with pytest.warns(NeurongraphWarning, match="class 0: only 0 of 6"):
        out = layer_communities([acts], y, per_class=True, random_state=0)
    assert out[0].per_class[0] is None  # nothing fires on class 0


def test_layer_communities_same_seed_same_result():
    rng = np.random.RandomState(17)
    acts = [np.maximum(rng.randn(300, 50) @ rng.randn(50, 50), 0) for _ in range(2)]
    first = layer_communities(acts, random_state=5)
    second = layer_communities(acts, random_state=5)
    for key in (0, 1):
        assert_array_equal(first[key].result.labels, second[key].result.labels)
        assert first[key].result.modularity == second[key].result.modularity


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: layer_communities(np.ones((4, 3))), "mapping"),
        (lambda: layer_communities({}), "no layers"),
        (lambda: layer_communities([np.ones((4, 3)), np.ones((5, 3))]), "same examples"),
        (lambda: layer_communities([np.ones((4, 3))], per_class=True), "labels"),
        (lambda: layer_communities([np.ones((4, 3))], [0, 1]), "one class per example"),
        (lambda: layer_communities([np.ones((4, 3))], [0.5] * 4), "integer"),
        (lambda: layer_communities({"fc": np.full((4, 3), np.nan)}), "layer fc: .*NaN"),
        (lambda: layer_communities([np.ones((4, 3))], threshold=-1), "threshold"),
        (lambda: layer_communities([np.ones((4, 3))], edge="cos"), "edge"),
    ],
)
def test_layer_communities_rejects_bad_input(call, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeurongraphWarning)
        with pytest.raises(AnalysisError, match=match):
            call()
