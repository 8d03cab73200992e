"""Firing entropy: hand-made firing patterns worked out by hand."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from neurongraph.analysis.entropy import (
    binary_entropy,
    class_firing_entropy,
    entropy_summary,
    firing_entropy,
)
from neurongraph.errors import AnalysisError

H_TWO_THIRDS = -(2 / 3) * np.log2(2 / 3) - (1 / 3) * np.log2(1 / 3)  # 0.9183 bits


def test_always_on_always_off_and_half_on_give_0_0_and_1_bit():
    fired = np.array([[1, 0, 1], [1, 0, 0], [1, 0, 1], [1, 0, 0]], dtype=bool)
    assert_allclose(firing_entropy(fired), [0.0, 0.0, 1.0], rtol=0, atol=1e-15)


def test_binary_entropy_values():
    assert binary_entropy(0.5) == pytest.approx(1.0, abs=1e-15)
    assert binary_entropy(0.0) == pytest.approx(0.0, abs=1e-15)
    assert binary_entropy(1.0) == pytest.approx(0.0, abs=1e-15)
    assert isinstance(binary_entropy(0.25), float)
    # H(1/4) = 1/4 * 2 + 3/4 * log2(4/3)
    assert binary_entropy(0.25) == pytest.approx(0.5 + 0.75 * np.log2(4 / 3))
    p = np.linspace(0, 1, 11)
    assert_allclose(binary_entropy(p), binary_entropy(1 - p))  # symmetric
    assert (binary_entropy(p) <= 1.0 + 1e-15).all()
    assert binary_entropy(np.array([[0.5]])).shape == (1, 1)


@pytest.mark.parametrize("bad", [-0.1, 1.2, np.nan, [0.5, 2.0]])
def test_binary_entropy_rejects_non_probabilities(bad):
    with pytest.raises(AnalysisError, match="between 0 and 1"):
        binary_entropy(bad)


def test_firing_entropy_matches_hand_computation():
    # neuron fires on 4 of 6 examples: H(2/3)
    fired = np.array([1, 1, 0, 0, 1, 1], dtype=bool)[:, None]
    assert_allclose(firing_entropy(fired), [H_TWO_THIRDS])


def test_class_entropy_is_the_unweighted_mean_over_classes_worked_by_hand():
    # class 0 has 4 examples, class 1 has 2.
    labels = np.array([0, 0, 0, 0, 1, 1])
    fired = np.array(
        [
            # n0: half of class 0 (1 bit), all of class 1 (0 bits) -> mean 0.5
            # n1: all of class 0, none of class 1 -> 0 (perfectly class-selective)
            # n2: 1 of 4 in class 0 (H(1/4)), 1 of 2 in class 1 (1 bit)
            [1, 1, 1],
            [1, 1, 0],
            [0, 1, 0],
            [0, 1, 0],
            [1, 0, 1],
            [1, 0, 0],
        ],
        dtype=bool,
    )
    h14 = 0.5 + 0.75 * np.log2(4 / 3)
    got = class_firing_entropy(fired, labels)
    assert_allclose(got, [0.5, 0.0, (h14 + 1.0) / 2])
    # weighted by class size it would have been 4/6 * 1 + 2/6 * 0 for n0
    assert got[0] != pytest.approx(4 / 6)
    # over the whole dataset n0 fires on 4 of 6 and n1 on 4 of 6: both H(2/3)
    assert_allclose(firing_entropy(fired)[:2], [H_TWO_THIRDS, H_TWO_THIRDS])


def test_class_entropy_ignores_absent_classes_and_label_values():
    fired = np.array([[1, 0], [0, 0], [1, 1], [1, 0]], dtype=bool)
    a = class_firing_entropy(fired, [3, 3, 7, 7])
    b = class_firing_entropy(fired, [0, 0, 1, 1])
    assert_allclose(a, b)
    assert_allclose(a, [0.5, 0.5])


@pytest.mark.parametrize(
    "fired, labels, match",
    [
        (np.ones((3, 2), bool), [0, 1], "one class per example"),
        (np.ones((3, 2), bool), [0.0, 1.0, 1.0], "integer"),
        (np.full((3, 2), 0.5), [0, 1, 1], "0/1"),
        (np.ones(3, bool), [0, 1, 1], "2-D"),
    ],
)
def test_class_entropy_rejects_bad_input(fired, labels, match):
    with pytest.raises(AnalysisError, match=match):
        class_firing_entropy(fired, labels)


def test_entropy_summary_layer_means_and_pooled_network_mean():
    # layer a: 2 neurons, entropies [1, 0]; layer b: 4 neurons, entropies [1, 1, 1, 1]
    a = np.array([[0.7, 0.0], [0.0, 0.0], [1.2, 0.0], [0.0, 0.0]], dtype=np.float32)
    b = np.tile(np.array([[1.0], [0.0]], dtype=np.float32), (2, 4))
    labels = np.array([0, 0, 1, 1])
    s = entropy_summary({"a": a, "b": b}, labels)
    assert_allclose(s.layers["a"].entropy, [1.0, 0.0])
    assert s.layers["a"].mean == pytest.approx(0.5)
    assert s.layers["b"].mean == pytest.approx(1.0)
    assert s.mean == pytest.approx(5 / 6)  # pooled over the 6 neurons, not (0.5 + 1) / 2
    # class entropies: a0 fires on example 0 of class 0 and 0 of class 1 -> 1 bit each
    assert_allclose(s.layers["a"].class_entropy, [1.0, 0.0])
    assert_allclose(s.layers["b"].class_entropy, [1.0] * 4)
    assert s.class_mean == pytest.approx(5 / 6)


def test_entropy_summary_without_labels_and_from_a_list():
    s = entropy_summary([np.eye(4, dtype=np.float32)])
    assert s.class_mean is None and s.layers[0].class_entropy is None
    assert_allclose(s.layers[0].entropy, [binary_entropy(0.25)] * 4)


def test_entropy_summary_non_relu_layer_fires_above_the_median():
    rng = np.random.RandomState(0)
    acts = np.tanh(rng.randn(100, 3))  # negatives: not ReLU-like, each fires on exactly half
    s = entropy_summary([acts])
    assert_allclose(s.layers[0].entropy, [1.0, 1.0, 1.0])
    forced = entropy_summary([acts], relu_like=True)  # > 0 instead: about half, not exactly
    assert (forced.layers[0].entropy < 1.0).all() and (forced.layers[0].entropy > 0.9).all()


def test_entropy_summary_takes_boolean_firing_as_is():
    fired = np.array([[True, True], [True, False]])
    s = entropy_summary({"fc": fired})
    assert_allclose(s.layers["fc"].entropy, [0.0, 1.0])


def test_entropy_summary_rejects_mismatched_layers():
    with pytest.raises(AnalysisError, match="same examples"):
        entropy_summary([np.ones((4, 2)), np.ones((3, 2))])
