"""Coherence tests: planted template modules, a neuron that copies a pixel, seeds, hand-computed
entropies and consistencies, PNGs and bad input."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from test_lesion import TASKS, digits_split, seeded_mlp, two_tasks
from torch import nn

from neurongraph.analysis.coherence import class_consistency, class_entropy, coherence
from neurongraph.analysis.feature_vis import feature_visualisation, save_visualisation_png
from neurongraph.analysis.stats import fisher_combined, selectivity
from neurongraph.errors import AnalysisError
from neurongraph.model.extract import extract_chain

PIXEL = 37


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    return digits_split()


def template_two_task_net(Xtr: np.ndarray, ytr: np.ndarray) -> nn.Sequential:
    """A constructed 128-64-64-20 two-task network with planted, coherent modules.

    Hidden layer 1: units 3d..3d+2 (d = 0..9) are template matchers for digit d in the left
    image (centred class-mean template, bias set so that a unit fires on about 15 % of the
    images), units 30-31 silent; units 32-63 the same for the right image. Layer 2 copies layer 1.
    Logit d of task A (B) sums the three units of digit d of module A (B).
    """
    g = np.random.default_rng(0)
    means = np.stack([Xtr[ytr == d].mean(0) for d in range(10)])
    templates = means - means.mean(0)
    w1 = np.zeros((64, 128))
    b1 = np.zeros(64)
    for module, offset in ((0, 0), (32, 64)):
        for d in range(10):
            for r in range(3):
                t = templates[d] + 0.02 * g.standard_normal(64)
                unit = module + 3 * d + r
                w1[unit, offset : offset + 64] = t
                b1[unit] = -np.quantile(Xtr @ t, 0.85)
        b1[module + 30 : module + 32] = -1.0  # silent spare units
    w3 = np.zeros((20, 64))
    for d in range(10):
        w3[d, 3 * d : 3 * d + 3] = 1.0
        w3[10 + d, 32 + 3 * d : 32 + 3 * d + 3] = 1.0
    model = nn.Sequential(
        nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 20)
    )
    with torch.no_grad():
        model[0].weight.copy_(torch.as_tensor(w1))
        model[0].bias.copy_(torch.as_tensor(b1))
        model[2].weight.copy_(torch.eye(64))
        model[2].bias.zero_()
        model[4].weight.copy_(torch.as_tensor(w3))
        model[4].bias.zero_()
    return model.eval()


@pytest.fixture(scope="module")
def template_net(digits):
    Xtr, ytr, Xte, yte = digits
    model = template_two_task_net(Xtr, ytr)
    X, y = two_tasks(Xte, yte, 600, seed=3)
    X = torch.as_tensor(X)
    return extract_chain(model, X), X, y


def copy_pixel_net(seed: int = 0) -> nn.Sequential:
    """64-6-10: hidden unit 0 is relu(x[PIXEL]) (weight 1 on that pixel, 0 elsewhere)."""
    model = seeded_mlp([64, 6, 10], seed)
    with torch.no_grad():
        model[0].weight[0].zero_()
        model[0].weight[0, PIXEL] = 1.0
        model[0].bias[0] = 0.0
    return model


# --------------------------------------------------------------------------------------------
# planted structure


def test_groups_inside_a_module_have_low_example_entropy_against_random_groups(template_net):
    chain, X, y = template_net
    labels = np.repeat(np.arange(22), 3)[:64]  # digit groups 0-9 (A), 10-19 (B), spares 20-21
    labels[30:32], labels[62:64] = 20, 21
    labels[32:62] = np.repeat(np.arange(10, 20), 3)
    res = coherence(
        chain, {1: labels}, (X, y), tasks=TASKS, n_random=19, random_state=0, visualise=False
    )
    assert min(res.groups[0].example_task_entropy) >= 0
    digit_groups = [g for g in res.groups if g.label < 20]
    assert len(digit_groups) == 20
    for g in digit_groups:
        own = 0 if g.label < 10 else 1
        # the top examples are images of the group's digit on its own side ...
        assert g.example_task_entropy[own] < 1.5
        # ... and anything on the other side
        assert g.example_task_entropy[1 - own] > 2.5
        assert g.example_entropy == pytest.approx(g.example_task_entropy[own])
        assert g.example_entropy < np.median(g.random_example_entropy)
        assert g.class_consistency == 1.0
    ps = np.array([g.example_entropy_p for g in digit_groups])
    # random groups of 3 sometimes land in one digit's units too: p is at its minimum 1/20 for
    # more than half of the groups, and small for every one
    assert np.mean(np.isclose(ps, 1 / 20)) > 0.5
    assert ps.max() <= 0.25
    assert fisher_combined(ps) < 1e-5
    assert res.fisher_p["example_entropy"] < 1e-4  # the silent spare groups included (p = 1)
    spare = [g for g in res.groups if g.label >= 20]
    assert all(np.isnan(g.class_consistency) for g in spare)
    # selectivity: unit 3d of module A prefers digit d of task A
    sel = res.neurons[1]
    assert_array_equal(sel.preferred_class[0:30:3], np.arange(10))
    assert_array_equal(sel.preferred_task[0:30], 0)
    assert_array_equal(sel.preferred_task[32:62], 1)
    assert_array_equal(sel.preferred[30:32], -1)  # silent units have no preferred class
    assert (sel.selectivity[30:32] == 0).all()


# --------------------------------------------------------------------------------------------
# feature visualisation


@pytest.mark.parametrize(
    ("parameterisation", "image_shape"), [("pixel", None), ("fourier", (1, 8, 8))]
)
def test_the_visualisation_of_a_pixel_copying_neuron_lights_that_pixel(
    parameterisation, image_shape
):
    model = copy_pixel_net()
    chain = extract_chain(model, torch.zeros(1, 64))
    vis = feature_visualisation(
        chain,
        [(1, [0])],
        steps=64,
        parameterisation=parameterisation,
        image_shape=image_shape,
        random_state=0,
    )
    x = vis.inputs[0]
    assert x.shape == (64,)
    assert int(np.argmax(x)) == PIXEL
    assert x[PIXEL] > 0.9
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert vis.objective[0] == pytest.approx(x[PIXEL], rel=1e-5)  # relu(x[PIXEL])
    assert 0.0 <= vis.entropy[0] <= np.log2(10) + 1e-9


def test_visualisations_are_deterministic_from_the_seed_and_batching_changes_nothing():
    chain = extract_chain(copy_pixel_net(1), torch.zeros(1, 64))
    groups = [(1, [0]), (1, [1, 2]), (2, [3]), (1, [4, 5])]
    a = feature_visualisation(chain, groups, steps=20, random_state=5)
    b = feature_visualisation(chain, groups, steps=20, random_state=5)
    c = feature_visualisation(chain, groups, steps=20, random_state=6)
    assert_array_equal(a.inputs, b.inputs)
    assert_array_equal(a.objective, b.objective)
    assert not np.array_equal(a.inputs, c.inputs)
    one_by_one = feature_visualisation(chain, groups, steps=20, random_state=5, batch_size=1)
    assert_allclose(one_by_one.inputs, a.inputs, atol=1e-5)
    assert_allclose(one_by_one.objective, a.objective, rtol=1e-5, atol=1e-6)
    jittered = feature_visualisation(
        chain, groups, steps=5, random_state=5, jitter=1, image_shape=(8, 8)
    )
    again = feature_visualisation(
        chain, groups, steps=5, random_state=5, jitter=1, image_shape=(8, 8)
    )
    assert_array_equal(jittered.inputs, again.inputs)


def test_coherence_scores_follow_the_percentile_formulas_and_are_reproducible(digits):
    _, _, Xte, yte = digits
    model = seeded_mlp([64, 12, 10], 7)
    X = torch.as_tensor(Xte[:200])
    labels = np.repeat([0, 1, 2, 3], 3)
    kwargs = dict(n_random=4, steps=8, top_k=20, random_state=0)
    res = coherence(model, {1: labels}, (X, yte[:200]), **kwargs)
    again = coherence(model, {1: labels}, (X, yte[:200]), **kwargs)
    assert res.seed == again.seed
    assert len(res.groups) == 4 and res.skipped == []
    for g, h in zip(res.groups, again.groups, strict=True):
        assert_array_equal(g.random_units, h.random_units)
        assert_array_equal(g.vis_input, h.vis_input)
        assert_array_equal(g.example_indices, h.example_indices)
        assert g.vis_input.shape == (64,)
        assert g.example_indices.shape == (20,)
        n = 4
        assert g.vis_objective_p == pytest.approx(
            (np.sum(g.random_vis_objective >= g.vis_objective) + 1) / (n + 1)
        )
        assert g.vis_entropy_p == pytest.approx(
            (np.sum(g.random_vis_entropy <= g.vis_entropy) + 1) / (n + 1)
        )
        assert g.example_entropy_p == pytest.approx(
            (np.sum(g.random_example_entropy <= g.example_entropy) + 1) / (n + 1)
        )
        assert g.example_entropy == pytest.approx(class_entropy(yte[:200][g.example_indices]))
    assert res.fisher_p["vis_objective"] == pytest.approx(
        fisher_combined([g.vis_objective_p for g in res.groups])
    )
    assert res.options["steps"] == 8 and res.options["parameterisation"] == "pixel"


# --------------------------------------------------------------------------------------------
# hand-computed scores


def test_class_entropy_by_hand():
    assert class_entropy([4, 4, 4, 4]) == 0.0
    assert class_entropy([0, 1, 0, 1]) == pytest.approx(1.0)
    assert class_entropy([0, 1, 2, 3]) == pytest.approx(2.0)
    # 1/2, 1/4, 1/4: 0.5 * 1 + 2 * 0.25 * 2 = 1.5 bits
    assert class_entropy([7, 7, 2, 5]) == pytest.approx(1.5)
    with pytest.raises(AnalysisError):
        class_entropy([])
    with pytest.raises(AnalysisError):
        class_entropy([0, 3], n_classes=3)


def test_class_consistency_by_hand():
    assert class_consistency([3, 3, 3]) == 1.0
    assert class_consistency([3, 3, 1, 3, -1]) == 0.75  # the constant neuron is left out
    assert class_consistency([0, 1, 2, 3]) == 0.25
    assert np.isnan(class_consistency([-1, -1]))


def test_selectivity_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    a = np.column_stack(
        [
            [1.0, 1.0, 0.0, 0.0, 0.0, 0.0],  # on for class 0 only: r = 1 with class 0
            [3.0, 3.0, 3.0, 3.0, 3.0, 3.0],  # constant
            [0.0, 0.0, 0.0, 0.0, 2.0, 1.0],  # on for class 2 (two strengths)
        ]
    )
    corr, sel, pref = selectivity(a, np.eye(3)[y])
    assert_allclose(corr[0], [1.0, 0.5, 0.5])
    assert_array_equal(pref, [0, -1, 2])
    assert sel[1] == 0.0
    # neuron 2 with class 2: r = 3 / sqrt(8/3 * 4/3 * 3 ...) worked out with numpy's corrcoef
    assert sel[2] == pytest.approx(abs(np.corrcoef(a[:, 2], y == 2)[0, 1]))


# --------------------------------------------------------------------------------------------
# PNGs and bad input


def test_save_visualisation_png(tmp_path):
    x = np.zeros(64)
    x[PIXEL] = 1.0
    path = save_visualisation_png(x, tmp_path / "v.png", (8, 8))
    img = matplotlib.image.imread(path)
    assert img.shape[:2] == (8, 8)
    assert np.unravel_index(np.argmax(img[..., 0]), (8, 8)) == divmod(PIXEL, 8)
    two = save_visualisation_png(np.zeros((2, 8, 8)), tmp_path / "two.png")
    assert matplotlib.image.imread(two).shape[:2] == (8, 16)
    with pytest.raises(AnalysisError, match="image_shape"):
        save_visualisation_png(x, tmp_path / "flat.png")


def test_bad_input_is_refused(digits):
    _, _, Xte, yte = digits
    chain = extract_chain(copy_pixel_net(), torch.zeros(1, 64))
    X, y = torch.as_tensor(Xte[:50]), yte[:50]
    for steps in (0, -1):
        with pytest.raises(AnalysisError, match="steps must be an integer of at least 1"):
            feature_visualisation(chain, [(1, [0])], steps=steps)
        with pytest.raises(AnalysisError, match="steps"):
            coherence(chain, {1: [0, 0, 1, 1, 2, 2]}, (X, y), steps=steps)
    with pytest.raises(AnalysisError, match=r"`image_shape=` \(C, H, W\)"):
        feature_visualisation(chain, [(1, [0])], parameterisation="fourier")
    with pytest.raises(AnalysisError, match="image_shape"):
        coherence(chain, {1: [0, 0, 1, 1, 2, 2]}, (X, y), jitter=2)
    with pytest.raises(AnalysisError, match="does not fit"):
        feature_visualisation(chain, [(1, [0])], parameterisation="fourier", image_shape=(7, 7))
    with pytest.raises(AnalysisError, match="parameterisation"):
        feature_visualisation(chain, [(1, [0])], parameterisation="wavelet")
    with pytest.raises(AnalysisError, match="`n_random=` must be at least 1"):
        coherence(chain, {1: [0, 0, 1, 1, 2, 2]}, (X, y), n_random=0)
    with pytest.raises(AnalysisError, match="top_k"):
        coherence(chain, {1: [0, 0, 1, 1, 2, 2]}, (X, y), top_k=51)
    with pytest.raises(AnalysisError, match="does not fit the model"):
        coherence(chain, {1: [0, 0, 1, 1, 2, 2]}, (X[:, :32], y))
    with pytest.raises(AnalysisError, match="units among"):
        feature_visualisation(chain, [(1, [6])])
