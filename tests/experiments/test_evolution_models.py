"""The model set of `experiment evolution`: specs, narrower layers and label noise, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from neurongraph.errors import UsageError
from neurongraph.experiments.evolution_models import (
    DEFAULT_MODEL_SPECS,
    NOISE_AND_EPOCH_SPECS,
    ModelSpec,
    parse_model_specs,
    scale_widths,
    with_label_noise,
)
from neurongraph.model.datasets import load_dataset


def test_specs_parse_and_refuse_with_the_spec_named():
    assert parse_model_specs(["arch=64-8-10/epochs=3", "noise=0.25"], "64-16-10") == [
        ModelSpec("arch=64-8-10/epochs=3", arch="64-8-10", epochs=3),
        ModelSpec("noise=0.25", noise=0.25),
    ]
    assert parse_model_specs(["none"], "64-16-10") == parse_model_specs([], "64-16-10") == []
    assert [s.text for s in parse_model_specs(None, "64-16-10")] == list(DEFAULT_MODEL_SPECS)
    assert [s.text for s in parse_model_specs(None, "cnn:c4-p-10")] == list(NOISE_AND_EPOCH_SPECS)
    for bad, message in [
        ("width", "'width' is not one of"),
        ("width=2/width=3", "each once"),
        ("epochs=1.5", "epochs an integer"),
        ("epochs=0", "epochs at least 1"),
        ("width=0", "width must be positive"),
        ("noise=1", "noise in [0, 1)"),
        ("arch=64-x-10", "64-x-10"),
        ("arch=cnn:c4-p-10/width=0.5", "give arch="),
    ]:
        with pytest.raises(UsageError, match=message.replace("[", r"\[").replace(")", r"\)")):
            parse_model_specs(["noise=0.1", bad], "64-16-10")


def test_scale_widths_keeps_input_and_output():
    assert scale_widths("64-256-256-10", 0.25) == "64-64-64-10"
    assert scale_widths("64-3-10", 0.1) == "64-1-10"  # at least one unit
    assert scale_widths("64-30-10", 1.5) == "64-45-10"
    with pytest.raises(UsageError, match="not one; give arch="):
        scale_widths("cnn:c4-p-10", 0.5)


def test_label_noise_flips_exactly_that_fraction_of_training_labels():
    digits = load_dataset("digits")
    noisy = with_label_noise(digits, 0.3, random_state=0)
    changed = noisy.y_train != digits.y_train
    assert changed.sum() == round(0.3 * len(digits.y_train))  # each picked label changes class
    assert set(np.unique(noisy.y_train)) <= set(range(10))
    np.testing.assert_array_equal(noisy.y_test, digits.y_test)
    np.testing.assert_array_equal(noisy.X_train, digits.X_train)
    assert noisy.fingerprint != digits.fingerprint and digits.name in noisy.name
    again = with_label_noise(digits, 0.3, random_state=0)
    np.testing.assert_array_equal(again.y_train, noisy.y_train)
    assert with_label_noise(digits, 0.0, random_state=0) is digits
    with pytest.raises(UsageError, match="not one classification task"):
        with_label_noise(load_dataset("poly"), 0.3, random_state=0)
