"""Training: tasks, pruning, checkpoints, saved models, seeds and refused options."""

import json
import re

import pytest
import torch
from torch import nn

from neurongraph.errors import IngestError, UsageError
from neurongraph.model.datasets import load_dataset
from neurongraph.model.loading import load_model
from neurongraph.training import (
    build_model,
    find_checkpoints,
    model_weights,
    read_sidecar,
    save_model,
    sidecar_path,
    train_model,
)
from neurongraph.training.pruning import pruning_schedule

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")


def test_two_tasks_mlp_learns_both_tasks():
    result = train_model("128-64-20", load_dataset("two-tasks"), epochs=4, random_state=0)
    assert set(result.task_accuracy) == {"A", "B"}
    assert result.task_accuracy["A"] > 0.6 and result.task_accuracy["B"] > 0.6  # chance: 0.1
    assert result.test_accuracy == pytest.approx(sum(result.task_accuracy.values()) / 2)
    assert [record.epoch for record in result.history] == [1, 2, 3, 4]
    assert result.history[-1].loss < result.history[0].loss


def test_poly_regression_scores_r2():
    result = train_model(
        "2-64-64-6", load_dataset("poly"), epochs=3, batch_size=128, lr=3e-3, random_state=0
    )
    assert set(result.task_accuracy) == {"row0", "row1", "row2", "col0", "col1", "col2"}
    assert all(-1.0 < r2 <= 1.0 for r2 in result.task_accuracy.values())
    assert result.test_accuracy > 0.5
    assert result.history[-1].test_loss < result.history[0].test_loss


def test_cnn_on_digits_images(digits_dataset):
    result = train_model("cnn:c8-p-f32-10", digits_dataset, epochs=3, random_state=0)
    assert result.architecture == "cnn:1x8x8-c8-p-f32-10"
    assert result.input_shape == (1, 8, 8)
    assert result.test_accuracy > 0.5
    regularised = train_model(
        "cnn:c8-p-f32-10", digits_dataset, epochs=1, spectral_reg=0.5, reg_k=2, random_state=0
    )
    assert regularised.history[0].spectral is not None


def test_pruning_reaches_the_sparsity_and_pruned_weights_stay_zero(digits_dataset, tmp_path):
    epochs, target = 8, 0.8
    result = train_model(
        "64-64-32-10",
        digits_dataset,
        epochs=epochs,
        prune=target,
        checkpoint_every=1,
        checkpoint_dir=tmp_path,
        lr=3e-3,
        random_state=0,
    )
    for weight in model_weights(result.model):
        assert (weight == 0).float().mean().item() == pytest.approx(target, abs=0.01)
    assert result.history[-1].sparsity == pytest.approx(target, abs=0.01)
    assert result.test_accuracy > 0.85  # fine-tuning recovers
    # the sparsity follows the polynomial schedule: dense first, then rising to the target
    schedule = pruning_schedule(target, epochs)
    for record in result.history:
        expected = schedule.get(record.epoch, target if record.epoch > max(schedule) else 0.0)
        assert record.sparsity == pytest.approx(expected, abs=0.01)
    # once pruned, a weight stays zero through the rest of pruning and fine-tuning
    zeros = []
    for _, path in find_checkpoints(tmp_path):
        state = torch.jit.load(str(path)).state_dict()
        zeros.append([state[key] == 0 for key in sorted(state) if key.endswith("weight")])
    for before, after in zip(zeros[:-1], zeros[1:], strict=True):
        for z_before, z_after in zip(before, after, strict=True):
            assert bool((z_after | ~z_before).all())
    for z_before, z_after in zip(zeros[max(schedule) - 1], zeros[-1], strict=True):
        assert torch.equal(z_before, z_after)


def test_checkpoints_and_sidecars(digits_dataset, tmp_path):
    seen = []
    result = train_model(
        "64-32-10",
        digits_dataset,
        epochs=5,
        checkpoint_every=2,
        checkpoint_dir=tmp_path / "ckpt",
        random_state=1,
        progress=seen.append,
    )
    assert [record.epoch for record in seen] == [1, 2, 3, 4, 5]
    found = find_checkpoints(tmp_path / "ckpt")
    assert [epoch for epoch, _ in found] == [2, 4, 5]  # every 2 epochs, and the last
    assert [path.name for _, path in found] == ["epoch-002.pt", "epoch-004.pt", "epoch-005.pt"]
    assert result.checkpoints == [path for _, path in found]
    for epoch, path in found:
        meta = read_sidecar(path)
        assert meta["epoch"] == epoch
        assert meta["testAccuracy"] == pytest.approx(result.history[epoch - 1].test_accuracy)
        assert len(meta["history"]) == epoch
    x = torch.from_numpy(digits_dataset.X_test)
    final = torch.jit.load(str(found[-1][1]))
    torch.testing.assert_close(final(x), result.model(x))


def test_save_model_round_trip(digits_dataset, tmp_path):
    result = train_model("64-32-10", digits_dataset, epochs=2, dropout=0.2, l1=1e-5, random_state=2)
    model_path, sidecar = result.save(tmp_path / "out" / "model.pt")
    assert sidecar == sidecar_path(model_path) == tmp_path / "out" / "model.pt.json"
    loaded = torch.jit.load(str(model_path))
    x = torch.from_numpy(digits_dataset.X_test)
    torch.testing.assert_close(loaded(x), result.model(x))
    assert not result.model.training
    meta = json.loads(sidecar.read_text())
    assert meta["architecture"] == "64-32-10" and meta["dataset"] == "digits"
    assert meta["inputShape"] == [64] and meta["seed"] == 2 and meta["epoch"] == 2
    assert meta["testAccuracy"] == pytest.approx(result.test_accuracy)
    assert meta["taskAccuracy"] == pytest.approx(result.task_accuracy)
    assert meta["history"][-1]["testAccuracy"] == pytest.approx(result.test_accuracy)
    assert meta["options"]["dropout"] == 0.2 and meta["options"]["l1"] == 1e-5
    assert meta["datasetFingerprint"] == digits_dataset.fingerprint
    assert not [key for key in meta if "_" in key]  # camelCase, as every JSON the tool writes
    # any Sequential of the supported modules saves the same way
    path, _ = save_model(build_model("cnn:1x8x8-c4-p-3", random_state=0), tmp_path / "c.pt", {})
    assert torch.jit.load(str(path))(torch.zeros(1, 1, 8, 8)).shape == (1, 3)


def test_same_seed_same_weights(digits_dataset):
    options = {"epochs": 1, "dropout": 0.3, "batch_size": 128}
    state = torch.random.get_rng_state()
    a = train_model("64-32-10", digits_dataset, random_state=5, **options)
    b = train_model("64-32-10", digits_dataset, random_state=5, **options)
    c = train_model("64-32-10", digits_dataset, random_state=6, **options)
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.model[0].weight, c.model[0].weight)


def test_unseeded_training_records_the_drawn_seed(digits_dataset):
    result = train_model("64-10", digits_dataset, epochs=0, random_state=None)
    again = train_model("64-10", digits_dataset, epochs=0, random_state=result.seed)
    assert torch.equal(result.model[0].weight, again.model[0].weight)
    assert result.history == [] and 0.0 <= result.test_accuracy <= 0.3


def test_training_a_given_model(digits_dataset):
    model = build_model("64-16-10", random_state=0)
    result = train_model(model, digits_dataset, epochs=3, lr=1e-2, random_state=0)
    assert result.model is model and result.architecture is None
    assert result.test_accuracy > 0.5
    with pytest.raises(UsageError, match="dropout"):
        train_model(model, digits_dataset, epochs=1, dropout=0.5)
    with pytest.raises(IngestError, match="does not take"):
        train_model(build_model("32-10", random_state=0), digits_dataset, epochs=1)


@pytest.mark.parametrize(
    ("arch", "dataset", "match"),
    [
        ("64-32-5", "digits", "has 5 outputs but dataset 'digits' needs 10"),
        ("128-32-10", "digits", r"\(64,\).*\(128,\)"),
        ("cnn:c8-6", "poly", "no image layout"),
        ("cnn:c8-10", "halves", None),
        ("cnn:1x8x8-c8-10", "two-tasks", r"\(2, 8, 8\)"),
        ("64-x-10", "digits", "malformed"),
    ],
)
def test_data_that_does_not_fit_is_refused(arch, dataset, match):
    ds = load_dataset(dataset)
    if match is None:  # fits: the halves images are 1x8x16
        assert train_model(arch, ds, epochs=0, random_state=0).input_shape == (1, 8, 16)
        return
    with pytest.raises(IngestError, match=match) as excinfo:
        train_model(arch, ds, epochs=1, random_state=0)
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"epochs": -1}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"prune": 1.0}, "prune"),
        ({"prune": 0.5, "epochs": 0}, "pruning"),
        ({"l1": -1.0}, "l1"),
        ({"l2": -1.0}, "l2"),
        ({"modular_init": 0}, "modular_init"),
        ({"checkpoint_every": 1}, "checkpoint directory"),
        ({"spectral_reg": 1.0, "reg_k": 5000}, "k must be an integer"),
        ({"spectral_every": 0}, "spectral_every"),
    ],
)
def test_bad_options_are_refused(digits_dataset, options, match):
    with pytest.raises(UsageError, match=match):
        train_model("64-16-10", digits_dataset, random_state=0, **{"epochs": 1, **options})


def test_a_sidecar_with_the_old_snake_case_keys_stays_readable(digits_dataset, tmp_path):
    result = train_model("64-10", digits_dataset, epochs=1, random_state=0)
    model_path, sidecar = result.save(tmp_path / "model.pt")
    new = json.loads(sidecar.read_text())
    snake = {re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), k): v for k, v in new.items()}
    assert snake["test_accuracy"] == new["testAccuracy"] and "input_shape" in snake
    sidecar.write_text(json.dumps(snake))
    assert read_sidecar(model_path) == new
    loaded = load_model(str(model_path))
    assert loaded.properties()["trainedAccuracy"] == pytest.approx(result.test_accuracy)


def test_checkpoint_lookup_errors(tmp_path):
    with pytest.raises(IngestError, match="holds no epoch-NNN.pt"):
        find_checkpoints(tmp_path)
    with pytest.raises(IngestError, match="not found"):
        find_checkpoints(tmp_path / "missing")
    with pytest.raises(IngestError, match="no sidecar"):
        read_sidecar(tmp_path / "model.pt")


def test_models_are_plain_sequentials_of_supported_modules(digits_dataset):
    allowed = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout, nn.Flatten)
    result = train_model("cnn:c4-p-f8-10", digits_dataset, epochs=0, dropout=0.1, random_state=0)
    assert isinstance(result.model, nn.Sequential)
    assert all(isinstance(module, allowed) for module in result.model)
