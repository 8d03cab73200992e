"""Lesion tests: batched evaluation against a one-lesion-at-a-time reference, planted modules,
the importance statistics, seeds, skip rules and bad input."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from torch import nn

from neurongraph.analysis import lesion_engine
from neurongraph.analysis.importance import (
    DEFAULT_N_RANDOM,
    IMPORTANT_P,
    importance,
    importance_unreachable,
)
from neurongraph.analysis.lesion import iter_lesions, lesion_accuracies
from neurongraph.analysis.lesion_groups import (
    SKIP_NOT_HIDDEN,
    SKIP_SINGLE,
    SKIP_WHOLE_LAYER,
    partition_groups,
)
from neurongraph.analysis.lesion_options import EngineOptions
from neurongraph.analysis.stats import fisher_combined
from neurongraph.errors import AnalysisError
from neurongraph.model.chain import Chain
from neurongraph.model.extract import extract_chain

TASKS = [(slice(0, 10), 0), (slice(10, 20), 1)]


# --------------------------------------------------------------------------------------------
# data and models (shared with test_coherence.py)


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1]; the first 1,200 images for training, the rest for testing."""
    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], d.target[order]
    return X[:1200], y[:1200], X[1200:], y[1200:]


def two_tasks(
    X: np.ndarray, y: np.ndarray, n_pairs: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of independent digit images side by side (128 inputs), labels (left, right)."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(X), n_pairs), rng.integers(0, len(X), n_pairs)
    return np.hstack([X[a], X[b]]), np.column_stack([y[a], y[b]])


def seeded_mlp(
    widths: list[int],
    seed: int,
    activation: type[nn.Module] = nn.ReLU,
    dropout: float = 0.0,
) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = nn.Linear(n_in, n_out)
        bound = 1.0 / np.sqrt(n_in)
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=g)
            lin.bias.uniform_(-bound, bound, generator=g)
        layers.append(lin)
        if i < len(widths) - 2:
            layers.append(activation())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def train(
    model: nn.Sequential,
    X: np.ndarray,
    y: np.ndarray,
    *,
    tasks: list[tuple[slice, int]] | None = None,
    masks: list[torch.Tensor] | None = None,
    epochs: int = 6,
    lr: float = 3e-3,
    seed: int = 0,
) -> nn.Sequential:
    """A few epochs of minibatch Adam; ``masks`` (one per Linear) are kept applied."""
    g = torch.Generator().manual_seed(seed)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    if yt.dim() == 1:
        yt = yt[:, None]
    tasks = tasks or [(slice(None), 0)]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def project() -> None:
        if masks is not None:
            with torch.no_grad():
                for lin, mask in zip(linears, masks, strict=True):
                    lin.weight.mul_(mask)

    project()
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt), generator=g).split(64):
            opt.zero_grad()
            out = model(Xt[idx])
            loss = sum(nn.functional.cross_entropy(out[:, sl], yt[idx, c]) for sl, c in tasks)
            loss.backward()
            opt.step()
            project()
    return model.eval()


def block_masks() -> list[torch.Tensor]:
    """128-64-64-20 with units 0-31 of both hidden layers serving task A, 32-63 task B."""
    m1 = torch.zeros(64, 128)
    m1[:32, :64] = 1
    m1[32:, 64:] = 1
    m2 = torch.zeros(64, 64)
    m2[:32, :32] = 1
    m2[32:, 32:] = 1
    m3 = torch.zeros(20, 64)
    m3[:10, :32] = 1
    m3[10:, 32:] = 1
    return [m1, m2, m3]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return digits_split()


@pytest.fixture(scope="module")
def digits_chain(digits) -> tuple[Chain, torch.Tensor, np.ndarray]:
    Xtr, ytr, Xte, yte = digits
    model = train(seeded_mlp([64, 24, 20, 10], 1), Xtr, ytr, epochs=4, lr=1e-2)
    X = torch.as_tensor(Xte[:300])
    return extract_chain(model, X), X, yte[:300]


@functools.cache
def two_task_model() -> tuple[nn.Sequential, torch.Tensor, np.ndarray]:
    """The planted two-task network: 128-64-64-20 trained with block-diagonal weight masks, so
    hidden units 0-31 of both layers serve task A (left image) and 32-63 task B (right image).

    Trained with dropout 0.3 (torch's global generator is seeded inside ``fork_rng`` and restored
    afterwards), so that losing random units is survivable, as in Hod et al.'s networks. Cached:
    test_coherence.py imports it.
    """
    Xtr, ytr, Xte, yte = digits_split()
    Xa, ya = two_tasks(Xtr, ytr, 2400, seed=1)
    Xb, yb = two_tasks(Xte, yte, 600, seed=2)
    model = seeded_mlp([128, 64, 64, 20], 2, dropout=0.3)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        train(model, Xa, ya, tasks=TASKS, masks=block_masks())
    return model, torch.as_tensor(Xb), yb


@pytest.fixture(scope="module")
def two_task_net() -> tuple[nn.Sequential, torch.Tensor, np.ndarray]:
    return two_task_model()


# --------------------------------------------------------------------------------------------
# the one-lesion-at-a-time reference


def reference(chain: Chain, lesion, X, y, tasks=None) -> tuple[float, np.ndarray, np.ndarray]:
    """Copy the chain, zero the lesioned units' incoming weights and biases, run it."""
    c = copy.deepcopy(chain)
    for layer, units in lesion:
        s = c.stages[layer - 1]
        s.weight, s.bias = s.weight.clone(), s.bias.clone()
        s.weight[list(units)] = 0
        s.bias[list(units)] = 0
    with torch.no_grad():
        out = c(torch.as_tensor(X)).reshape(len(X), -1).numpy()
    y = np.asarray(y)
    y = y[:, None] if y.ndim == 1 else y
    tasks = tasks or [(slice(0, out.shape[1]), 0)]
    task_acc, class_acc = [], []
    for sl, col in tasks:
        correct = out[:, sl].argmax(1) == y[:, col]
        task_acc.append(correct.mean())
        for k in range(sl.stop - sl.start):
            sel = y[:, col] == k
            class_acc.append(correct[sel].mean() if sel.any() else np.nan)
    return float(np.mean(task_acc)), np.array(task_acc), np.array(class_acc)


def assert_matches_reference(chain, lesions, X, y, tasks=None, **kwargs):
    res = lesion_accuracies(chain, lesions, (X, y), tasks=tasks, **kwargs)
    for k, lesion in enumerate(lesions):
        acc, task_acc, class_acc = reference(chain, lesion, X, y, tasks)
        assert_allclose(res.accuracy[k], acc, rtol=0, atol=1e-8, err_msg=f"lesion {k}")
        assert_allclose(res.task_accuracy[k], task_acc, rtol=0, atol=1e-8)
        assert_allclose(res.class_accuracy[k], class_acc, rtol=0, atol=1e-8)
    base, base_task, base_class = reference(chain, [], X, y, tasks)
    assert res.baseline_accuracy == pytest.approx(base, abs=1e-8)
    assert_allclose(res.baseline_class_accuracy, base_class, rtol=0, atol=1e-8)
    return res


def random_lesions(chain: Chain, n: int, seed: int) -> list:
    """Lesions of every kind: one layer, several layers, single units, whole layers, empty."""
    rng = np.random.default_rng(seed)
    widths = chain.widths
    n_layers = len(chain.stages)
    lesions: list = [[]]
    for _ in range(n):
        layers = rng.choice(np.arange(1, n_layers + 1), size=rng.integers(1, 3), replace=False)
        lesion = []
        for layer in layers:
            size = int(rng.integers(1, widths[layer] + 1))
            lesion.append((int(layer), rng.choice(widths[layer], size, replace=False)))
        lesions.append(lesion)
    lesions += [[(1, [u])] for u in range(widths[1])]
    lesions += [[(1, range(widths[1]))], [(n_layers, [0, 1])]]
    return lesions


# --------------------------------------------------------------------------------------------
# batched == one at a time


@pytest.mark.parametrize("fast_dtype", [torch.float32, None])
def test_batched_equals_one_at_a_time_on_an_mlp(digits_chain, fast_dtype):
    chain, X, y = digits_chain
    lesions = random_lesions(chain, 40, seed=0)
    options = EngineOptions(fast_dtype=fast_dtype)
    res = assert_matches_reference(chain, lesions, X, y, batch_size=7, options=options)
    assert res.accuracy.shape == (len(lesions),)
    assert res.class_accuracy.shape == (len(lesions), 10)
    assert (res.accuracy < res.baseline_accuracy - 0.01).any()  # the lesions do something


def test_batched_equals_one_at_a_time_with_a_tiny_memory_budget(digits_chain):
    chain, X, y = digits_chain
    # forces many example chunks (no cached baseline) and many passes per chunk
    options = EngineOptions(batch_elements=12000)
    assert_matches_reference(chain, random_lesions(chain, 10, seed=1)[:25], X, y, options=options)


def test_batched_equals_one_at_a_time_on_a_cnn_and_other_activations(digits):
    _, _, Xte, yte = digits
    g = torch.Generator().manual_seed(3)
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(24, 12),
        nn.Tanh(),
        nn.Linear(12, 10),
    )
    with torch.no_grad():
        for p in cnn.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        cnn[1].running_mean.copy_(torch.randn(4, generator=g) * 0.1)
        cnn[1].running_var.copy_(torch.rand(4, generator=g) + 0.5)
    X = torch.as_tensor(Xte[:200]).reshape(-1, 1, 8, 8)
    y = cnn.eval()(X).argmax(1).numpy()
    y[::3] = yte[:200:3]  # not all correct
    chain = extract_chain(cnn, X)
    assert_matches_reference(chain, random_lesions(chain, 25, seed=2), X, y)

    for k, activation in enumerate([nn.Sigmoid, nn.Tanh, nn.GELU, nn.LeakyReLU]):
        mlp = seeded_mlp([64, 16, 12, 10], 4 + k, activation=activation)
        Xs = torch.as_tensor(Xte[:200])
        ys = mlp(Xs).argmax(1).detach().numpy()
        ys[::2] = yte[:200:2]
        chain = extract_chain(mlp, Xs)
        assert_matches_reference(chain, random_lesions(chain, 25, seed=3 + k), Xs, ys)


def test_certified_pairs_are_skipped_and_certifying_changes_nothing(digits_chain, monkeypatch):
    chain, X, y = digits_chain
    lesions = random_lesions(chain, 30, seed=5)
    with_cert = lesion_accuracies(chain, lesions, (X, y))
    without = lesion_accuracies(chain, lesions, (X, y), options=EngineOptions(certify=False))
    assert_array_equal(with_cert.accuracy, without.accuracy)
    assert_array_equal(with_cert.class_accuracy, without.class_accuracy)
    # a unit without outgoing weights: its lesion provably changes no answer, nothing is run
    c = copy.deepcopy(chain)
    c.stages[1].weight = c.stages[1].weight.clone()
    c.stages[1].weight[:, 5] = 0.0
    calls = []
    forward = lesion_engine.ChainEngine._forward
    monkeypatch.setattr(
        lesion_engine.ChainEngine,
        "_forward",
        lambda self, *a, **k: calls.append(a[3].numel()) or forward(self, *a, **k),
    )
    res = lesion_accuracies(c, [[(1, [5])]], (X, y))
    assert res.accuracy[0] == res.baseline_accuracy
    assert calls == []


def test_answers_too_close_for_float32_are_decided_in_the_chains_dtype():
    # logits (1, 1 + 1e-9) whatever the hidden unit does: a tie in float32, class 1 in float64
    model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
        model[2].weight.zero_()
        model[2].bias.copy_(torch.tensor([1.0, 1.0 + 1e-9], dtype=torch.float64))
    X = torch.ones(4, 1, dtype=torch.float64)
    y = np.ones(4, dtype=int)
    res = lesion_accuracies(model, [[(1, [0])], [(1, [0, 1])]], (X, y))
    assert res.baseline_accuracy == 1.0
    assert_allclose(res.accuracy, [1.0, 1.0])


def test_two_tasks_accuracies_match_the_reference_per_task(two_task_net):
    model, X, y = two_task_net
    chain = extract_chain(model, X)
    lesions = [[(1, range(32))], [(2, [3, 40])], [(1, [0]), (2, [33])]]
    res = assert_matches_reference(chain, lesions, X, y, tasks=TASKS)
    assert res.tasks == ("0", "1")
    assert res.classes[:2] == (("0", 0), ("0", 1)) and res.classes[10] == ("1", 0)
    assert_allclose(res.accuracy, res.task_accuracy.mean(axis=1))


def test_accepts_an_nn_module_numpy_data_and_mapping_lesions(digits_chain, digits):
    model = seeded_mlp([64, 8, 10], 5)
    _, _, Xte, yte = digits
    res = lesion_accuracies(model, [{1: [0, 1]}, [(1, np.array([0, 1]))]], (Xte[:50], yte[:50]))
    assert res.accuracy[0] == res.accuracy[1]
    assert res.class_counts.sum() == 50


def test_iter_lesions_yields_every_lesion_once_with_progress(digits_chain):
    chain, X, y = digits_chain
    lesions = random_lesions(chain, 12, seed=4)
    chunks = list(iter_lesions(chain, lesions, (X, y), batch_size=5))
    seen = np.concatenate([c.indices for c in chunks])
    assert sorted(seen.tolist()) == list(range(len(lesions)))
    assert [c.done for c in chunks] == sorted(c.done for c in chunks)
    assert chunks[-1].done == chunks[-1].total == len(lesions)
    full = lesion_accuracies(chain, lesions, (X, y))
    for c in chunks:
        assert_allclose(c.accuracy, full.accuracy[c.indices])
    calls = []
    lesion_accuracies(
        chain, lesions, (X, y), batch_size=5, progress=lambda d, t: calls.append((d, t))
    )
    assert calls[0] == (0, len(lesions))  # when the lesions start
    assert calls[-1] == (len(lesions), len(lesions)) and len(calls) == len(chunks) + 1


# --------------------------------------------------------------------------------------------
# importance: planted structure


def test_lesioning_the_task_a_module_kills_task_a_only_and_is_significant(two_task_net):
    model, X, y = two_task_net
    chain = extract_chain(model, X)
    labels = np.repeat([0, 1], 32)
    n = DEFAULT_N_RANDOM  # the fewest random groups that let p get below IMPORTANT_P
    res = importance(chain, {1: labels, 2: labels}, (X, y), tasks=TASKS, n_random=n, random_state=0)
    assert res.baseline_task_accuracy.min() > 0.85  # about 90 % on each task
    assert [(g.layer, g.label) for g in res.groups] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    for g in res.groups:
        hit, spared = (0, 1) if g.label == 0 else (1, 0)
        lesioned = res.baseline_task_accuracy + g.task_deltas
        assert lesioned[hit] < 0.2  # chance is 10 %
        assert g.task_deltas[spared] == pytest.approx(0.0, abs=1e-11)  # the modules are disjoint
        assert g.task_p[hit] == pytest.approx(1 / (n + 1))  # the smallest possible p
        assert g.p == pytest.approx(1 / (n + 1)) and g.p < IMPORTANT_P
        assert g.important
        # random groups of 32 of the 64 units hit both tasks, but neither as hard
        assert (g.random_task_deltas[:, hit] > g.task_deltas[hit]).all()
    assert res.fisher_p == pytest.approx(fisher_combined([1 / (n + 1)] * 4))
    assert res.fisher_p < 0.01


# --------------------------------------------------------------------------------------------
# importance: statistics, seeds, skips


def test_the_default_random_sets_are_the_fewest_that_can_reach_the_threshold():
    assert IMPORTANT_P == 0.01
    assert 1 / (DEFAULT_N_RANDOM + 1) < IMPORTANT_P <= 1 / DEFAULT_N_RANDOM
    assert importance_unreachable(DEFAULT_N_RANDOM) is None
    assert importance_unreachable(5000) is None
    # 1/100 is not below 0.01: p < 0.01 needs at least 100 random groups
    for n, smallest in [(99, "1/100 = 0.01"), (20, "1/21 = 0.0476"), (1, "1/2 = 0.5")]:
        note = importance_unreachable(n)
        assert f"with {n} random sets the smallest p is {smallest}" in note
        assert "p < 0.01" in note and "`n_random=` 100 or more" in note
    with pytest.raises(AnalysisError, match="`n_random=` must be at least 1"):
        importance_unreachable(0)


def test_p_is_the_percentile_formula_on_a_hand_built_network():
    # logits (h0, h1, 0.5): hidden unit 0 answers class 0, unit 1 class 1, units 2 and 3 have no
    # outgoing weights. Lesioning unit 0 or 1 costs 50 points, both 100, units 2 and 3 nothing;
    # so only a random group equal to {0, 1} is as bad as the group {0, 1}, and none is worse.
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0], [0, 1.0], [1.0, 1.0], [1.0, 1.0]]))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 0]]))
        model[2].bias.copy_(torch.tensor([0.0, 0.0, 0.5]))
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).repeat(10, 1)
    y = np.tile([0, 1], 10)
    res = importance(model, [(1, "a", [0, 1])], (X, y), n_random=20, random_state=7)
    (g,) = res.groups
    assert res.baseline_accuracy == 1.0
    assert g.delta == pytest.approx(-1.0)
    assert_allclose(g.class_deltas, [-1.0, -1.0, np.nan])  # class 2 has no examples
    is_same = [set(r) == {0, 1} for r in g.random_units.tolist()]
    assert 0 < sum(is_same) < 20  # seed 7 draws {0, 1} a few times
    # a random group as bad as the group (a tie) counts as extreme (stats.percentile)
    assert g.p == pytest.approx((sum(is_same) + 1) / 21)
    expected = [
        -1.0 if same else -0.5 * len({0, 1} & set(r))
        for same, r in zip(is_same, g.random_units.tolist(), strict=True)
    ]
    assert_allclose(g.random_deltas, expected)
    assert not g.important  # p >= 1/21 can never be below IMPORTANT_P
    assert_allclose(res.neurons[1].delta, [-0.5, -0.5, 0.0, 0.0])
    assert_allclose(res.neurons[1].importance, [0.5, 0.5, 0.0, 0.0])


def test_importance_p_values_follow_the_formula_and_the_rule(digits_chain):
    chain, X, y = digits_chain
    labels1 = np.arange(24) % 4
    labels2 = np.arange(20) % 3
    res = importance(chain, {1: labels1, 2: labels2}, (X, y), n_random=9, random_state=0)
    assert len(res.groups) == 7
    for g in res.groups:
        assert g.random_deltas.shape == (9,) and g.random_units.shape == (9, g.size)
        assert g.p == pytest.approx((np.sum(g.random_deltas <= g.delta) + 1) / 10)
        assert g.important == (g.p < IMPORTANT_P and g.delta <= -0.01)
        assert not g.important  # with 9 random groups p >= 1/10
        acc, task_acc, class_acc = reference(chain, [(g.layer, g.units)], X, y)
        assert g.delta == pytest.approx(acc - res.baseline_accuracy, abs=1e-8)
        assert_allclose(g.class_deltas, class_acc - res.baseline_class_accuracy, atol=1e-8)
        for units, delta in zip(g.random_units[:3], g.random_deltas, strict=False):
            acc, _, _ = reference(chain, [(g.layer, units)], X, y)
            assert delta == pytest.approx(acc - res.baseline_accuracy, abs=1e-8)
    assert res.fisher_p == pytest.approx(fisher_combined([g.p for g in res.groups]))
    for layer in (1, 2):
        for u in (0, 5):
            acc, _, _ = reference(chain, [(layer, [u])], X, y)
            assert res.neurons[layer].delta[u] == pytest.approx(acc - res.baseline_accuracy)


def test_same_seed_same_result_other_seed_other_groups(digits_chain):
    chain, X, y = digits_chain
    groups = {1: np.arange(24) % 3}
    a = importance(chain, groups, (X, y), n_random=5, random_state=3, single_neurons=False)
    b = importance(chain, groups, (X, y), n_random=5, random_state=3, single_neurons=False)
    c = importance(chain, groups, (X, y), n_random=5, random_state=4, single_neurons=False)
    for ga, gb in zip(a.groups, b.groups, strict=True):
        assert_array_equal(ga.random_units, gb.random_units)
        assert ga.p == gb.p
        assert_array_equal(ga.random_deltas, gb.random_deltas)
    assert any(
        not np.array_equal(ga.random_units, gc.random_units)
        for ga, gc in zip(a.groups, c.groups, strict=True)
    )
    rng = np.random.RandomState(3)
    d = importance(chain, groups, (X, y), n_random=5, random_state=rng, single_neurons=False)
    assert_array_equal(d.groups[0].random_units, a.groups[0].random_units)
    assert a.neurons == {}


def test_double_lesions_report_joint_delta_interaction_and_p(two_task_net):
    model, X, y = two_task_net
    chain = extract_chain(model, X)
    labels = np.repeat([0, 1], 32)
    res = importance(
        chain,
        {1: labels, 2: labels},
        (X, y),
        tasks=TASKS,
        n_random=4,
        random_state=0,
        double=True,
        single_neurons=False,
    )
    assert [(p.first, p.second) for p in res.pairs] == [
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 2),
        (1, 3),
        (2, 3),
    ]
    for pair in res.pairs:
        a, b = res.groups[pair.first], res.groups[pair.second]
        acc, _, _ = reference(chain, [(a.layer, a.units), (b.layer, b.units)], X, y, TASKS)
        assert pair.delta == pytest.approx(acc - res.baseline_accuracy, abs=1e-8)
        assert pair.interaction == pytest.approx(pair.delta - a.delta - b.delta)
        assert pair.random_deltas.shape == (4,)
        assert pair.p == pytest.approx((np.sum(pair.random_deltas <= pair.delta) + 1) / 5)
    # the A modules of layers 1 and 2 are in series: lesioning both is no worse than one
    ab = res.pairs[1]  # groups (1, A) and (2, A)
    assert ab.interaction > 0.3


def test_skip_rules(digits_chain):
    chain, X, y = digits_chain
    labels1 = np.zeros(24, dtype=int)
    labels1[0] = 1  # a single neuron
    labels1[1:3] = 2
    labels1[3] = -1  # unassigned: not a group at all
    tested, skipped = partition_groups(
        chain, {0: np.zeros(64), 1: labels1, 2: np.zeros(20), 3: np.arange(10) % 2}
    )
    assert [(g.layer, g.label, g.size) for g in tested] == [(1, 0, 20), (1, 2, 2)]
    reasons = {(s.layer, s.label): s.reason for s in skipped}
    assert reasons == {
        (0, 0.0): SKIP_NOT_HIDDEN,
        (1, 1): SKIP_SINGLE,
        (2, 0.0): SKIP_WHOLE_LAYER,
        (3, 0): SKIP_NOT_HIDDEN,
        (3, 1): SKIP_NOT_HIDDEN,
    }
    res = importance(chain, {1: labels1, 2: np.zeros(20)}, (X, y), n_random=2, random_state=0)
    assert [g.label for g in res.groups] == [0, 2]
    assert {(s.layer, s.reason) for s in res.skipped} == {(1, SKIP_SINGLE), (2, SKIP_WHOLE_LAYER)}


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("n_random", [0, -3, 1.5])
def test_random_sets_below_one_are_refused(digits_chain, n_random):
    chain, X, y = digits_chain
    with pytest.raises(AnalysisError, match="`n_random=` must be at least 1"):
        importance(chain, {1: np.arange(24) % 2}, (X, y), n_random=n_random)


def test_data_that_does_not_fit_the_model_is_refused(digits_chain):
    chain, X, y = digits_chain
    with pytest.raises(AnalysisError, match="does not fit the model"):
        lesion_accuracies(chain, [[]], (X[:, :60], y))
    with pytest.raises(AnalysisError, match="does not fit"):
        lesion_accuracies(chain, [[]], (X, y[:-1]))
    with pytest.raises(AnalysisError, match="does not fit the model"):
        lesion_accuracies(chain, [[]], (X, y + 5))
    with pytest.raises(AnalysisError, match="outputs"):
        lesion_accuracies(chain, [[]], (X, np.column_stack([y, y])), tasks=TASKS)
    with pytest.raises(AnalysisError, match="no tasks"):
        lesion_accuracies(chain, [[]], (X, np.column_stack([y, y])))
    with pytest.raises(AnalysisError, match="pair"):
        lesion_accuracies(chain, [[]], X)
    with pytest.raises(AnalysisError, match="regression"):
        from neurongraph.model.datasets import Task

        lesion_accuracies(chain, [[]], (X, y), tasks=[Task("r", slice(0, 10), 0, 0, "regression")])


def test_unsorted_repeated_and_split_unit_lists_are_the_same_lesion(digits_chain):
    chain, X, y = digits_chain
    same = [
        [(1, [3, 7, 11])],
        [(1, np.array([11, 3, 7, 3], dtype=np.int32))],
        [(1, [7]), (1, (11, 3))],
        {1: range(3, 12, 4)},
    ]
    res = lesion_accuracies(chain, [*same, [(1, [3, 7])]], (X, y))
    assert_array_equal(res.accuracy[:4], np.full(4, res.accuracy[0]))
    assert_array_equal(res.class_accuracy[1:4], np.tile(res.class_accuracy[0], (3, 1)))
    assert (
        res.accuracy[0] != res.accuracy[4] or (res.class_accuracy[0] != res.class_accuracy[4]).any()
    )


def test_a_repeated_lesion_runs_once_and_every_copy_gets_its_answer(digits_chain, monkeypatch):
    chain, X, y = digits_chain
    distinct = random_lesions(chain, 6, seed=7)[1:7]  # six different non-empty lesions
    order = [0, 3, 0, 1, 2, 3, 4, 0, 5, 2]
    lesions = [distinct[k] for k in order]
    lesions[2] = [(layer, list(units)[::-1]) for layer, units in lesions[2]]  # same lesion
    evaluated = []
    evaluate = lesion_engine.ChainEngine.evaluate
    monkeypatch.setattr(
        lesion_engine.ChainEngine,
        "evaluate",
        lambda self, batch: evaluated.extend(batch) or evaluate(self, batch),
    )
    chunks = list(iter_lesions(chain, lesions, (X, y), batch_size=2))
    assert len(evaluated) == len(distinct)
    seen = np.concatenate([c.indices for c in chunks])
    assert sorted(seen.tolist()) == list(range(len(lesions)))
    assert chunks[-1].done == chunks[-1].total == len(lesions)
    full = lesion_accuracies(chain, lesions, (X, y))
    alone = lesion_accuracies(chain, distinct, (X, y))
    assert_array_equal(full.accuracy, alone.accuracy[order])
    assert_array_equal(full.class_accuracy, alone.class_accuracy[order])
    for c in chunks:
        assert_array_equal(c.accuracy, full.accuracy[c.indices])


def test_malformed_lesions_and_partitions_are_refused(digits_chain):
    chain, X, y = digits_chain
    with pytest.raises(AnalysisError, match="lesionable layers are 1..3"):
        lesion_accuracies(chain, [[(0, [1])]], (X, y))
    with pytest.raises(AnalysisError, match="units 0..23"):
        lesion_accuracies(chain, [[(1, [24])]], (X, y))
    with pytest.raises(AnalysisError, match=r"units 0..23, got -1..2"):
        lesion_accuracies(chain, [[(1, [2, -1])]], (X, y))
    with pytest.raises(AnalysisError, match="must be integers"):
        lesion_accuracies(chain, [[(1, [0.5])]], (X, y))
    with pytest.raises(AnalysisError, match="batch_size"):
        lesion_accuracies(chain, [[]], (X, y), batch_size=0)
    with pytest.raises(AnalysisError, match="24 units but 3 cluster labels"):
        importance(chain, {1: [0, 1, 1]}, (X, y))
    with pytest.raises(AnalysisError, match="not a layer"):
        importance(chain, {7: [0, 1, 1]}, (X, y))
    with pytest.raises(AnalysisError, match="no groups"):
        importance(chain, {}, (X, y))


@pytest.mark.parametrize(
    "options, match",
    [
        ({"batch_elements": 0}, "batch_elements"),
        ({"batch_elements": 2.5}, "batch_elements"),
        ({"fast_dtype": torch.int32}, "fast_dtype"),
        ({"tie_rtol": -1.0}, "tie_rtol"),
    ],
)
def test_engine_options_reject_bad_values(options, match):
    with pytest.raises(AnalysisError, match=match):
        EngineOptions(**options)
