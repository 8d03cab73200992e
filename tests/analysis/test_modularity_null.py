"""Louvain modularity against chance: permuted firing, planted groups and independent neurons."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from neurongraph.analysis.communities import (
    coactivation_graph,
    layer_communities,
    louvain_communities,
    modularity_null,
    permute_firing,
)
from neurongraph.analysis.firing import firing
from neurongraph.errors import AnalysisError, NeurongraphWarning

N_SHUFFLES = 9


def planted_firing(n_examples=300, n_groups=3, group_size=8, noise=0.05, seed=0):
    """Each example switches on one group, whose neurons then fire with probability 0.8."""
    rng = np.random.default_rng(seed)
    group_of_example = rng.integers(0, n_groups, n_examples)
    group_of_neuron = np.repeat(np.arange(n_groups), group_size)
    on = group_of_example[:, None] == group_of_neuron[None, :]
    fired = on & (rng.random(on.shape) < 0.8)
    return fired | (rng.random(on.shape) < noise)


def test_permutation_keeps_each_neurons_firing_worked_out_by_hand():
    # neuron 0 fires on 2 of 4 examples, neuron 1 on 1, neuron 2 never, neuron 3 always
    fired = np.array(
        [[1, 0, 0, 1], [1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 0, 1]],
        dtype=bool,
    )
    rng = np.random.default_rng(0)
    for _ in range(20):
        permuted = permute_firing(fired, rng)
        assert permuted.dtype == bool and permuted.shape == (4, 4)
        assert_array_equal(permuted.sum(axis=0), [2, 1, 0, 4])
        assert_array_equal(permuted[:, 2], False)
        assert_array_equal(permuted[:, 3], True)
    assert_array_equal(fired.sum(axis=0), [2, 1, 0, 4])  # the input is left alone


def test_columns_are_permuted_independently():
    # two identical neurons (each firing on 5 of 10 examples): one shared permutation would keep
    # them identical; independent ones make them agree on all 10 examples with probability
    # 1/C(10,5) = 1/252 per draw
    column = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    fired = np.column_stack([column, column])
    rng = np.random.default_rng(1)
    draws = [permute_firing(fired, rng) for _ in range(20)]
    assert sum(np.array_equal(d[:, 0], d[:, 1]) for d in draws) <= 1
    # every draw of a column is a rearrangement of it, and the draws differ from one another
    assert len({d[:, 0].tobytes() for d in draws}) > 10


def test_permuting_activations_or_their_firing_is_the_same():
    # a non-ReLU layer fires above each neuron's median: the threshold does not depend on order
    acts = np.random.default_rng(2).normal(size=(50, 6))
    by_firing = permute_firing(firing(acts), np.random.default_rng(3))
    by_activations = firing(np.random.default_rng(3).permuted(acts, axis=0))
    assert_array_equal(by_firing, by_activations)


def test_planted_coactivating_groups_beat_every_null():
    result = modularity_null(planted_firing(), n_shuffles=N_SHUFFLES, random_state=0)
    assert result.modularity > 0.4  # three clean groups
    assert result.null_mean < 0.05  # permuted firing leaves no groups
    assert result.z_score > 20
    assert result.percentile == pytest.approx(1 / (N_SHUFFLES + 1)) == result.min_percentile
    assert result.n_shuffles == N_SHUFFLES


def test_independent_neurons_give_a_small_z():
    # the layer's own graph is then one more draw from the null: its z and percentile vary from
    # network to network like a null's, so judge them over several networks. Rates of 0.2-0.5
    # keep Louvain finding a weak split in every graph; where many graphs give Q = 0 exactly, the
    # null is a point mass plus a tail and a z from 9 nulls can reach 4 or 5 by chance.
    z, p = [], []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        fired = rng.random((200, 30)) < rng.uniform(0.2, 0.5, 30)
        result = modularity_null(fired, n_shuffles=N_SHUFFLES, random_state=seed)
        z.append(result.z_score)
        p.append(result.percentile)
    assert max(np.abs(z)) < 3  # against > 20 for planted groups
    assert np.mean(np.abs(z)) < 1.5
    assert 0.3 < np.mean(p) < 0.75  # about uniform over 1/10 ... 1


def test_null_statistics_follow_their_formulas():
    rng = np.random.default_rng(4)
    fired = rng.random((200, 30)) < rng.uniform(0.2, 0.5, 30)  # nulls with weak, varied splits
    result = modularity_null(fired, n_shuffles=N_SHUFFLES, random_state=5)
    null = result.null_modularities
    assert null.shape == (N_SHUFFLES,) and len(set(null.round(12))) > 1
    assert result.null_mean == pytest.approx(null.mean())
    assert result.null_std == pytest.approx(np.sqrt(np.mean((null - null.mean()) ** 2)))  # ddof 0
    assert result.z_score == pytest.approx((result.modularity - null.mean()) / result.null_std)
    beyond = np.count_nonzero(null >= result.modularity)
    assert result.percentile == pytest.approx((beyond + 1) / (N_SHUFFLES + 1))
    # the layer's own Q is Louvain's on its graph with the same seed
    _, q = louvain_communities(coactivation_graph(fired), random_state=5)
    assert result.modularity == pytest.approx(q)


def test_neurons_that_always_fire_make_every_null_equal_to_the_layer():
    # permuting a constant column changes nothing: each null graph is the layer's own (complete,
    # Jaccard 1), Louvain keeps one community, Q = 0 for the layer and every null
    result = modularity_null(np.ones((20, 5), dtype=bool), n_shuffles=4, random_state=0)
    assert_allclose(result.null_modularities, 0.0, atol=1e-12)
    assert result.modularity == pytest.approx(0.0, abs=1e-12)
    assert result.z_score == 0.0  # no spread and no difference
    assert result.percentile == 1.0  # every null is as modular


def test_same_seed_same_null_and_the_communities_do_not_depend_on_the_null():
    acts = {"fc1": planted_firing(seed=6), "fc2": planted_firing(seed=7)}
    plain = layer_communities(acts, random_state=8)
    tested = layer_communities(acts, n_shuffles=4, random_state=8)
    again = layer_communities(acts, n_shuffles=4, random_state=8)
    classes = np.arange(300) % 3
    per_class = layer_communities(acts, classes, per_class=True, n_shuffles=4, random_state=8)
    for key in acts:
        assert_array_equal(
            per_class[key].null.null_modularities, tested[key].null.null_modularities
        )
        assert plain[key].null is None
        assert_array_equal(plain[key].result.labels, tested[key].result.labels)
        assert tested[key].null.modularity == tested[key].result.modularity
        assert_array_equal(tested[key].null.null_modularities, again[key].null.null_modularities)
        assert tested[key].null.percentile == pytest.approx(1 / 5)


def test_a_skipped_layer_has_no_null():
    silent = np.zeros((30, 4), dtype=bool)
    silent[0, 0] = True  # one firing neuron: no co-activation graph
    with pytest.warns(NeurongraphWarning, match="only 1 of 4 neurons fire"):
        out = layer_communities({"dead": silent}, n_shuffles=3, random_state=0)
    assert out["dead"].result is None and out["dead"].null is None


@pytest.mark.parametrize("n_shuffles", [-1, 1.5, True, "3"])
def test_bad_shuffle_counts_are_refused(n_shuffles):
    with pytest.raises(AnalysisError, match="n_shuffles must be"):
        layer_communities([planted_firing()], n_shuffles=n_shuffles)


def test_a_null_needs_at_least_one_shuffle_and_a_graph_with_edges():
    with pytest.raises(AnalysisError, match="at least 1"):
        modularity_null(planted_firing(), n_shuffles=0)
    with pytest.raises(AnalysisError, match="no edges"):
        modularity_null(np.eye(4, dtype=bool), n_shuffles=2)
