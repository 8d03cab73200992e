"""Shuffles, null models and clusterability (neurongraph.analysis.nulls)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import planted_layers
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import adjusted_rand_score

from neurongraph.analysis import nulls
from neurongraph.analysis.nulls import (
    ClusterabilityResult,
    adjacency_clusterability,
    clusterability,
    shuffle_layer,
    shuffle_layer_nonzero,
    shuffle_upper_triangle,
)
from neurongraph.analysis.spectral import layered_adjacency, ncut
from neurongraph.errors import AnalysisError
from neurongraph.runtime import can_fork

N_SHUFFLES = 19  # the smallest possible percentile is then 1/20


def planted_graph(n, n_modules, *, p_in=0.5, p_out=0.02, seed=0):
    """A symmetric stochastic block model with weights U(0.5, 1.5)."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % n_modules
    p = np.where(truth[:, None] == truth[None, :], p_in, p_out)
    upper = np.triu((rng.uniform(size=(n, n)) < p) * rng.uniform(0.5, 1.5, (n, n)), 1)
    return upper + upper.T, truth


def sparse_weights(shape, density, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 1.0, shape) * (rng.uniform(size=shape) < density)


# --------------------------------------------------------------------------------------
# Shuffles
# --------------------------------------------------------------------------------------


def test_shuffle_layer_keeps_the_multiset_of_values():
    w = sparse_weights((7, 9), 0.5, 0)
    shuffled = shuffle_layer(w, 0)
    assert isinstance(shuffled, np.ndarray)
    assert shuffled.shape == w.shape
    assert_array_equal(np.sort(shuffled.ravel()), np.sort(w.ravel()))
    assert not np.array_equal(shuffled, w)
    assert not np.array_equal(shuffled != 0, w != 0)  # zeros move too


@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csc_matrix, sp.coo_array, sp.csr_array])
def test_shuffle_layer_on_sparse_keeps_kind_and_multiset(kind):
    w = sparse_weights((8, 6), 0.3, 1)
    shuffled = shuffle_layer(kind(w), np.random.default_rng(1))
    assert type(shuffled) is kind
    assert_array_equal(np.sort(shuffled.toarray().ravel()), np.sort(w.ravel()))


def test_shuffle_layer_nonzero_keeps_the_zero_pattern():
    w = sparse_weights((10, 12), 0.4, 2)
    shuffled = shuffle_layer_nonzero(w, 2)
    assert_array_equal(shuffled != 0, w != 0)
    assert_array_equal(np.sort(shuffled[shuffled != 0]), np.sort(w[w != 0]))
    assert not np.array_equal(shuffled, w)


@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csc_array, sp.coo_matrix])
def test_shuffle_layer_nonzero_on_sparse(kind):
    w = sparse_weights((10, 12), 0.4, 3)
    matrix = kind(w)
    shuffled = shuffle_layer_nonzero(matrix, 3)
    assert type(shuffled) is kind
    dense = shuffled.toarray()
    assert_array_equal(dense != 0, w != 0)
    assert_array_equal(np.sort(dense[dense != 0]), np.sort(w[w != 0]))


def test_shuffle_layer_nonzero_treats_stored_zeros_as_zeros():
    w = sp.csr_matrix(np.array([[1.0, 2.0], [3.0, 4.0]]))
    w.data[1] = 0.0  # stored zero at (0, 1)
    for seed in range(5):
        assert shuffle_layer_nonzero(w, seed).toarray()[0, 1] == 0.0


def test_shuffles_are_reproducible_from_the_seed():
    w = sparse_weights((6, 6), 0.6, 4)
    for shuffle in (shuffle_layer, shuffle_layer_nonzero, shuffle_upper_triangle):
        sym = w + w.T
        assert_array_equal(shuffle(sym, 5), shuffle(sym, 5))
        assert_array_equal(shuffle(sym, np.random.RandomState(5)), shuffle(sym, 5))
        assert_array_equal(
            shuffle(sym, np.random.default_rng(6)), shuffle(sym, np.random.default_rng(6))
        )


@pytest.mark.parametrize("nonzero", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_shuffle_upper_triangle(nonzero, sparse):
    a, _ = planted_graph(15, 3, p_in=0.6, p_out=0.1, seed=7)
    np.fill_diagonal(a, np.arange(15) % 2)  # a few self-loops stay where they are
    shuffled = shuffle_upper_triangle(sp.csr_matrix(a) if sparse else a, 8, nonzero=nonzero)
    if sparse:
        assert isinstance(shuffled, sp.csr_matrix)
        shuffled = shuffled.toarray()
    assert_allclose(shuffled, shuffled.T)
    assert_array_equal(np.diag(shuffled), np.diag(a))
    upper = np.triu_indices(15, 1)
    assert_array_equal(np.sort(shuffled[upper]), np.sort(a[upper]))
    assert not np.array_equal(shuffled, a)
    if nonzero:
        assert_array_equal(shuffled != 0, a != 0)
    else:
        assert not np.array_equal(shuffled != 0, a != 0)


def test_shuffles_reject_non_matrices():
    with pytest.raises(AnalysisError, match="2-D"):
        shuffle_layer(np.ones(4), 0)
    with pytest.raises(AnalysisError, match="square"):
        shuffle_upper_triangle(np.ones((2, 3)), 0)


# --------------------------------------------------------------------------------------
# Clusterability
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_modules", "seed"), [(2, 0), (4, 1)])
def test_planted_network_is_clusterable(n_modules, seed):
    widths, blocks, truth = planted_layers([5, 8, 8, 4], n_modules, seed=seed)
    result = clusterability(
        widths, blocks, n_modules, n_shuffles=N_SHUFFLES, random_state=seed, n_jobs=1
    )
    assert isinstance(result, ClusterabilityResult)
    assert adjusted_rand_score(truth, result.labels) >= 0.95
    assert result.percentile == pytest.approx(1 / (N_SHUFFLES + 1))
    assert result.percentile == result.min_percentile
    assert result.z_score < -5
    assert result.ncut < result.null_ncuts.min()
    assert_allclose(result.ncut, ncut(layered_adjacency(widths, blocks), result.labels))
    assert result.k == n_modules and result.n_shuffles == N_SHUFFLES
    assert result.method == "layer"
    assert_array_equal(result.cluster_sizes, np.bincount(truth))


def test_layer_shuffled_planted_network_is_not_clusterable():
    widths, blocks, _ = planted_layers([5, 8, 8, 4], 3, seed=2)
    rng = np.random.default_rng(2)
    shuffled = [shuffle_layer(block, rng) for block in blocks]
    result = clusterability(widths, shuffled, 3, n_shuffles=N_SHUFFLES, random_state=2, n_jobs=1)
    assert result.percentile >= 5 / (N_SHUFFLES + 1)  # well above the minimum, 1/20
    assert abs(result.z_score) < 3


def test_statistics_follow_their_definitions():
    widths, blocks, _ = planted_layers([4, 6, 6], 2, cross=0.5, seed=3)
    result = clusterability(widths, blocks, 2, n_shuffles=N_SHUFFLES, random_state=3, n_jobs=1)
    nulls = result.null_ncuts
    assert nulls.shape == (N_SHUFFLES,)
    assert_allclose(result.null_mean, nulls.mean())
    # population std (ddof=0), as the papers' reference code (np.std)
    assert_allclose(result.null_std, nulls.std(ddof=0))
    assert_allclose(result.z_score, (result.ncut - nulls.mean()) / nulls.std(ddof=0))
    assert_allclose(result.percentile, (np.sum(nulls < result.ncut) + 1) / (N_SHUFFLES + 1))


def test_same_seed_same_labels_and_null_ncuts():
    widths, blocks, _ = planted_layers([4, 8, 8, 3], 3, cross=0.3, seed=4)
    first = clusterability(widths, blocks, 3, n_shuffles=8, random_state=7, n_jobs=1)
    again = clusterability(widths, blocks, 3, n_shuffles=8, random_state=7, n_jobs=1)
    assert_array_equal(first.labels, again.labels)
    assert_allclose(first.null_ncuts, again.null_ncuts, rtol=1e-12, atol=0)
    other = clusterability(widths, blocks, 3, n_shuffles=8, random_state=8, n_jobs=1)
    assert not np.allclose(first.null_ncuts, other.null_ncuts)


def test_results_do_not_depend_on_n_jobs_with_worker_threads(monkeypatch):
    """Where forking is unsafe (a JVM in the process, as in this test session), the nulls run
    on threads, with the same results as one after another."""
    monkeypatch.setattr(nulls, "can_fork", lambda: False)
    widths, blocks, _ = planted_layers([4, 8, 8, 3], 3, cross=0.3, seed=5)
    one = clusterability(widths, blocks, 3, n_shuffles=6, random_state=9, n_jobs=1)
    two = clusterability(widths, blocks, 3, n_shuffles=6, random_state=9, n_jobs=2)
    assert_array_equal(one.labels, two.labels)
    assert_allclose(one.null_ncuts, two.null_ncuts, rtol=1e-12, atol=0)
    assert_allclose(one.ncut, two.ncut, rtol=1e-12, atol=0)


def _script_env() -> dict[str, str]:
    """The environment of a Python script that imports the tests' helpers (``conftest``)."""
    tests = Path(__file__).resolve().parents[1]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), *sys.path])}


FORKED = """
import os
from conftest import planted_layers
from neurongraph.analysis import nulls
from neurongraph.runtime import can_fork

assert can_fork()
children = set()
partition = nulls._null_ncut
def recorded(*args, **kwargs):
    children.add(os.getpid())
    return partition(*args, **kwargs)
nulls._null_ncut = recorded  # forked workers inherit it, and what they record stays in them
widths, blocks, _ = planted_layers([4, 8, 8, 3], 3, cross=0.3, seed=5)
one = nulls.clusterability(widths, blocks, 3, n_shuffles=6, random_state=9, n_jobs=1)
assert children == {os.getpid()}
children.clear()
two = nulls.clusterability(widths, blocks, 3, n_shuffles=6, random_state=9, n_jobs=2)
assert (one.null_ncuts == two.null_ncuts).all() and one.ncut == two.ncut
print(len(children), os.getpid() in children)
"""


def test_nulls_run_in_forked_processes_with_the_same_results():
    """In a process without a JVM the nulls run in forked worker processes."""
    result = subprocess.run(
        [sys.executable, "-c", FORKED],
        capture_output=True,
        text=True,
        timeout=300,
        env=_script_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False"]


ENDLESS = """
import sys
from conftest import planted_layers
from neurongraph.analysis.nulls import clusterability

def started(done, total):
    if done == 1:
        print("nulls running", flush=True)
widths, blocks, _ = planted_layers([16, 64, 64, 8], 3, cross=0.3, seed=5)
clusterability(widths, blocks, 3, n_shuffles=2000, random_state=1, n_jobs=2, progress=started)
"""


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_forked_workers_end_when_their_parent_is_killed():
    """A killed process cannot stop its workers: they notice, and end, on their own."""
    parent = subprocess.Popen(
        [sys.executable, "-c", ENDLESS],
        stdout=subprocess.PIPE,
        text=True,
        env=_script_env(),
    )
    try:
        assert parent.stdout.readline().strip() == "nulls running"
        workers = _children(parent.pid)
        assert len(workers) == 2 and all(_alive(w) for w in workers)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


def test_no_forking_while_the_embedded_store_runs_a_jvm(store):
    assert store is not None
    jpype = sys.modules.get("jpype")
    assert jpype is not None and jpype.isJVMStarted()
    assert not can_fork()


def test_layer_nonzero_method_on_a_pruned_sparse_network():
    widths, blocks, truth = planted_layers([5, 8, 8], 2, seed=6)
    rng = np.random.default_rng(6)
    pruned = [sp.csr_matrix(b * (rng.uniform(size=b.shape) < 0.7)) for b in blocks]
    result = clusterability(
        widths, pruned, 2, n_shuffles=9, method="layer_nonzero", random_state=6, n_jobs=1
    )
    assert result.method == "layer_nonzero"
    assert adjusted_rand_score(truth, result.labels) >= 0.95
    assert result.percentile == result.min_percentile


def test_scoring_given_labels():
    widths, blocks, truth = planted_layers([4, 6, 6], 3, seed=7)
    progress = []
    result = clusterability(
        widths,
        blocks,
        labels=truth,
        n_shuffles=5,
        random_state=0,
        n_jobs=1,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert result.k == 3
    assert_array_equal(result.labels, truth)
    assert_allclose(result.ncut, ncut(layered_adjacency(widths, blocks), truth))
    assert progress == [(i, 5) for i in range(6)]  # (0, 5) when the nulls start
    # The same nulls as without labels: null seeds do not depend on them.
    computed = clusterability(widths, blocks, 3, n_shuffles=5, random_state=0, n_jobs=1)
    assert_allclose(result.null_ncuts, computed.null_ncuts)
    with pytest.raises(AnalysisError, match="labels hold 3 clusters"):
        clusterability(widths, blocks, 4, labels=truth, n_shuffles=1)


def test_no_nulls():
    widths, blocks, _ = planted_layers([4, 6], 2, seed=8)
    result = clusterability(widths, blocks, 2, n_shuffles=0, random_state=0)
    assert result.n_shuffles == 0 and result.null_ncuts.size == 0
    for value in (result.null_mean, result.null_std, result.z_score, result.percentile):
        assert np.isnan(value)
    assert result.ncut >= 0


def test_activation_graph_clusterability():
    adjacency, truth = planted_graph(60, 3, seed=9)
    result = adjacency_clusterability(adjacency, 3, n_shuffles=N_SHUFFLES, random_state=0, n_jobs=1)
    assert adjusted_rand_score(truth, result.labels) >= 0.95
    assert result.percentile == result.min_percentile
    assert result.method == "upper_triangle"
    # Keeping the edge set keeps this graph's modules (its edges lie mostly inside them);
    # in a complete graph whose weights carry the modules, it does not.
    complete = np.where(truth[:, None] == truth[None, :], 1.0, 0.05)
    complete *= np.random.default_rng(9).uniform(0.5, 1.5, complete.shape)
    complete = np.triu(complete, 1) + np.triu(complete, 1).T
    kept = adjacency_clusterability(
        sp.csr_matrix(complete),
        3,
        n_shuffles=5,
        method="upper_triangle_nonzero",
        random_state=0,
        n_jobs=1,
    )
    assert kept.percentile == kept.min_percentile
    rng = np.random.default_rng(9)
    null = shuffle_upper_triangle(adjacency, rng)
    shuffled = adjacency_clusterability(null, 3, n_shuffles=N_SHUFFLES, random_state=0, n_jobs=1)
    assert shuffled.percentile >= 5 / (N_SHUFFLES + 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "upper_triangle"}, "unknown shuffle method"),
        ({"n_shuffles": -1}, "n_shuffles"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"n_jobs": 1.5}, "n_jobs"),
        ({"progress": 3}, "progress"),
        ({"labels": [0, 1]}, "one per node"),
    ],
)
def test_bad_options(options, message):
    widths, blocks, _ = planted_layers([3, 4], 2, seed=10)
    with pytest.raises(AnalysisError, match=message):
        clusterability(widths, blocks, **options)


@pytest.mark.filterwarnings("ignore::neurongraph.errors.NeurongraphWarning")
def test_bad_k_and_unpartitionable_nulls():
    widths, blocks, _ = planted_layers([3, 4], 2, seed=11)
    with pytest.raises(AnalysisError, match="at least 2"):
        clusterability(widths, blocks, 1)
    with pytest.raises(AnalysisError, match="larger than the number of connected neurons"):
        clusterability(widths, blocks, 15)
    with pytest.raises(AnalysisError, match="unknown shuffle method"):
        adjacency_clusterability(np.ones((3, 3)), 2, method="layer")
    # A sparse layer whose layer-shuffle leaves neurons without weights: k = every neuron
    # works for the real network, not for the nulls.
    w = np.zeros((4, 4))
    np.fill_diagonal(w, 1.0)
    with pytest.raises(AnalysisError, match="a null network cannot be partitioned"):
        clusterability([4, 4], [w], 8, n_shuffles=3, random_state=0, n_jobs=1)
