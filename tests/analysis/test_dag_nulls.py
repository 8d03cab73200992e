"""The weight graph of a DAG of layers and its nulls: sum edges are structure and stay."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from neurongraph.analysis.nulls import _DagNull, clusterability, dag_clusterability
from neurongraph.analysis.spectral import dag_adjacency, layered_adjacency
from neurongraph.errors import AnalysisError


def blocks(rng, widths):
    pairs = zip(widths, widths[1:], strict=False)
    return [rng.random((b, a)) * (rng.random((b, a)) < 0.6) for a, b in pairs]


def test_consecutive_pairs_give_the_layered_adjacency():
    rng = np.random.default_rng(0)
    widths = [4, 3, 5, 2]
    bs = blocks(rng, widths)
    pairs = [(0, 1), (1, 2), (2, 3)]
    assert (dag_adjacency(widths, bs, pairs) != layered_adjacency(widths, bs)).nnz == 0


def test_a_skip_block_lands_between_its_layers():
    w = np.array([[0.0, 2.0], [3.0, 0.0]])
    a = dag_adjacency([2, 1, 2], [np.ones((1, 2)), np.ones((2, 1)), w], [(0, 1), (1, 2), (0, 2)])
    assert_array_equal(a.toarray()[3:, :2], w)
    assert_array_equal(a.toarray(), a.toarray().T)


@pytest.mark.parametrize("nonzero", [False, True])
def test_nulls_shuffle_weight_blocks_and_keep_sum_blocks(nonzero):
    rng = np.random.default_rng(1)
    widths = [4, 4, 4, 4]
    bs = blocks(rng, widths[:3]) + [np.eye(4), np.eye(4)]
    pairs = [(0, 1), (1, 2), (2, 3), (0, 3)]
    null = _DagNull(
        widths, bs[:2] + [np.eye(4), np.eye(4)], pairs, [False, False, True, True], nonzero
    )
    real = dag_adjacency(widths, null.blocks, pairs).toarray()
    shuffled = null.adjacency(np.random.default_rng(2)).toarray()
    assert_array_equal(shuffled[12:, 8:12], np.eye(4))  # sum edges from layer 2
    assert_array_equal(shuffled[12:, :4], np.eye(4))  # and from the input
    for rows, cols in ((slice(4, 8), slice(0, 4)), (slice(8, 12), slice(4, 8))):
        assert_allclose(np.sort(shuffled[rows, cols], None), np.sort(real[rows, cols], None))
    assert not np.array_equal(shuffled[4:8, :4], real[4:8, :4])
    if nonzero:
        assert_array_equal(shuffled[4:8, :4] != 0, real[4:8, :4] != 0)


def test_dag_clusterability_is_seeded_and_refuses_bad_blocks():
    rng = np.random.default_rng(3)
    widths = [6, 6, 6]
    bs = blocks(rng, widths) + [np.eye(6)]
    pairs = [(0, 1), (1, 2), (0, 2)]
    args = dict(fixed=[False, False, True], n_shuffles=4, random_state=5, n_jobs=1)
    first = dag_clusterability(widths, bs, pairs, 3, **args)
    again = dag_clusterability(widths, bs, pairs, 3, **args)
    assert first.ncut == again.ncut
    assert_array_equal(first.null_ncuts, again.null_ncuts)
    with pytest.raises(AnalysisError, match="later one"):
        dag_clusterability(widths, bs, [(0, 1), (1, 2), (2, 0)], 3, n_jobs=1)
    with pytest.raises(AnalysisError, match="negative"):
        dag_clusterability(widths, [-b for b in bs], pairs, 3, n_jobs=1)


def test_a_chain_given_as_a_dag_partitions_like_a_chain():
    """Same graph, same k: the general partition agrees with the layered one (ARI 1 on a
    planted chain)."""
    from sklearn.metrics import adjusted_rand_score

    module = np.kron(np.eye(2), np.ones((3, 3))) + 0.01
    widths = [6, 6, 6]
    chain = clusterability(widths, [module, module], 2, n_shuffles=0, random_state=0, n_jobs=1)
    dag = dag_clusterability(
        widths, [module, module], [(0, 1), (1, 2)], 2, n_shuffles=0, random_state=0, n_jobs=1
    )
    assert adjusted_rand_score(chain.labels, dag.labels) == 1.0
    assert sp.issparse(dag_adjacency(widths, [module, module], [(0, 1), (1, 2)]))
