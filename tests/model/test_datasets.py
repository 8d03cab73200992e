"""Built-in datasets, IDX and npz files, and their errors."""

import gzip
import struct

import numpy as np
import pytest
from sklearn.datasets import load_digits

from neurongraph.errors import IngestError, UsageError
from neurongraph.model.datasets import (
    BUILTIN_DATASETS,
    REGRESSION,
    check_input_shape,
    load_dataset,
    read_idx,
)

DIGITS = load_digits()
# every digits image, as its 64 raw pixel values 0..16, mapped to (label, index)
DIGIT_OF = {
    image.astype(np.uint8).tobytes(): (int(label), i)
    for i, (image, label) in enumerate(zip(DIGITS.data, DIGITS.target, strict=True))
}


def lookup(pixels: np.ndarray) -> tuple[int, int]:
    """(label, index in load_digits) of an 8x8 image given with pixels in [0, 1]."""
    raw = np.round(np.asarray(pixels, dtype=np.float64).reshape(64) * 16).astype(np.uint8)
    return DIGIT_OF[raw.tobytes()]


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


def test_digits_shapes_labels_and_split():
    ds = load_dataset("digits")
    assert ds.X_train.shape == (1437, 64) and ds.X_test.shape == (360, 64)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.input_shape == (64,) and ds.image_shape == (1, 8, 8)
    assert ds.X_train.min() >= 0.0 and ds.X_train.max() == 1.0
    assert [(t.name, t.output_slice, t.label_column, t.n_classes) for t in ds.tasks] == [
        ("digit", slice(0, 10), 0, 10)
    ]
    # every example is a digits image with its own label; train and test share none
    train = [lookup(x) for x in ds.X_train]
    test = [lookup(x) for x in ds.X_test]
    assert [label for label, _ in train] == ds.y_train.tolist()
    assert [label for label, _ in test] == ds.y_test.tolist()
    assert not {i for _, i in train} & {i for _, i in test}
    # stratified: each class has 35 to 37 of its ~180 images in the test set
    assert set(np.bincount(ds.y_test, minlength=10)) <= {35, 36, 37}


def test_digits_image_layout():
    flat = load_dataset("digits")
    images = load_dataset("digits", image=True)
    assert images.X_train.shape == (1437, 1, 8, 8) and images.input_shape == (1, 8, 8)
    np.testing.assert_array_equal(images.X_train.reshape(1437, 64), flat.X_train)
    np.testing.assert_array_equal(flat.as_images().X_test, images.X_test)
    assert images.as_flat().input_shape == (64,)


def test_seed_fixes_split_and_fingerprint():
    a, b, c = (load_dataset("halves", random_state=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert a.fingerprint != c.fingerprint and not np.array_equal(a.y_train, c.y_train)


def test_halves_labels_by_hand():
    ds = load_dataset("halves")
    digits = load_dataset("digits")
    assert ds.X_train.shape == (2874, 128) and ds.X_test.shape == (720, 128)
    assert ds.image_shape == (1, 8, 16)
    # by hand on a few examples: left 8 columns and right 8 columns are digits images
    for i in (0, 1, 7, 100, 2873):
        image = ds.X_train[i].reshape(8, 16)
        (a, _), (b, _) = lookup(image[:, :8]), lookup(image[:, 8:])
        assert ds.y_train[i] == (a + b) % 10
    image = ds.X_test[5].reshape(8, 16)
    assert ds.y_test[5] == (lookup(image[:, :8])[0] + lookup(image[:, 8:])[0]) % 10
    # and on all of them; test pairs come from test images only
    test_images = {i for _, i in (lookup(x) for x in digits.X_test)}
    for x, y, is_test in [(x, y, False) for x, y in zip(ds.X_train, ds.y_train, strict=True)] + [
        (x, y, True) for x, y in zip(ds.X_test, ds.y_test, strict=True)
    ]:
        image = x.reshape(8, 16)
        (a, i), (b, j) = lookup(image[:, :8]), lookup(image[:, 8:])
        assert y == (a + b) % 10
        assert (i in test_images) == is_test and (j in test_images) == is_test
    np.testing.assert_array_equal(ds.as_images().X_train[3, 0], ds.X_train[3].reshape(8, 16))
    assert len(set(ds.y_train.tolist())) == 10


def test_halves_same_pairs_different_images_of_one_digit():
    ds = load_dataset("halves-same")
    assert ds.X_train.shape == (2874, 128) and ds.tasks[0].n_classes == 10
    for x, y in zip(ds.X_train, ds.y_train, strict=True):
        image = x.reshape(8, 16)
        (a, i), (b, j) = lookup(image[:, :8]), lookup(image[:, 8:])
        assert a == b == y and i != j


def test_two_tasks_inputs_and_outputs_are_disjoint_halves():
    ds = load_dataset("two-tasks")
    assert ds.X_train.shape == (2874, 128) and ds.y_train.shape == (2874, 2)
    assert ds.n_outputs == 20 and ds.image_shape == (2, 8, 8)
    assert [(t.name, t.output_slice, t.label_column) for t in ds.tasks] == [
        ("A", slice(0, 10), 0),
        ("B", slice(10, 20), 1),
    ]
    left = [lookup(x[:64])[0] for x in ds.X_test]
    right = [lookup(x[64:])[0] for x in ds.X_test]
    assert left == ds.y_test[:, 0].tolist() and right == ds.y_test[:, 1].tolist()
    # independent draws: the two labels agree about one time in ten
    assert np.mean(ds.y_train[:, 0] == ds.y_train[:, 1]) < 0.2
    np.testing.assert_array_equal(ds.as_images().X_test[:, 1].reshape(720, 64), ds.X_test[:, 64:])


def test_poly_is_row_and_column_sums_of_the_monomial_table():
    ds = load_dataset("poly")
    assert ds.X_train.shape == (8000, 2) and ds.y_train.shape == (8000, 6)
    assert ds.image_shape is None
    assert [t.name for t in ds.tasks] == ["row0", "row1", "row2", "col0", "col1", "col2"]
    assert all(t.kind == REGRESSION and t.n_classes == 0 for t in ds.tasks)
    assert [t.output_slice for t in ds.tasks] == [slice(i, i + 1) for i in range(6)]
    x1, x2 = ds.X_test[:, 0].astype(np.float64), ds.X_test[:, 1].astype(np.float64)
    expected = np.stack(
        [
            1 + x2 + x2**2,
            x1 * (1 + x2 + x2**2),
            x1**2 * (1 + x2 + x2**2),
            1 + x1 + x1**2,
            x2 * (1 + x1 + x1**2),
            x2**2 * (1 + x1 + x1**2),
        ],
        axis=1,
    )
    np.testing.assert_allclose(ds.y_test, expected, rtol=1e-4, atol=1e-4)
    assert abs(ds.X_train.mean()) < 0.05 and abs(ds.X_train.std() - 1) < 0.05
    with pytest.raises(IngestError, match="no image layout"):
        ds.as_images()


def test_every_builtin_loads():
    for name in BUILTIN_DATASETS:
        ds = load_dataset(name)
        assert ds.name == name and len(ds.X_train) == len(ds.y_train)
        assert ds.X_train.shape[1:] == ds.input_shape


# ---------------------------------------------------------------------------------------------
# IDX files


def idx_bytes(array: np.ndarray, type_code: int = 0x08, dtype: str = ">u1") -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 5, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 3, 12, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 5, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([0, 1, 2, 2, 1], dtype=np.uint8),
    }
    for name, array in arrays.items():
        if name.startswith("train-images"):  # one gzipped file
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))
        else:
            (tmp_path / name).write_bytes(idx_bytes(array))
    return tmp_path, arrays


def test_mnist_idx_round_trip(mnist_dir):
    directory, arrays = mnist_dir
    ds = load_dataset(f"mnist:{directory}")
    images = arrays["train-images-idx3-ubyte"]
    np.testing.assert_allclose(ds.X_train, images.reshape(12, 20) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(ds.y_test, [0, 1, 2, 2, 1])
    assert ds.input_shape == (20,) and ds.image_shape == (1, 5, 4)
    assert ds.tasks[0].n_classes == 3 and ds.y_train.dtype == np.int64
    np.testing.assert_allclose(ds.as_images().X_test[:, 0], arrays["t10k-images-idx3-ubyte"] / 255)


def test_read_idx_other_types(tmp_path):
    values = np.array([[1, -2, 70000], [3, 4, -5]], dtype=np.int32)
    path = tmp_path / "ints.idx"
    path.write_bytes(idx_bytes(values, 0x0C, ">i4"))
    read = read_idx(path)
    np.testing.assert_array_equal(read, values)
    assert read.shape == (2, 3)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda raw: raw[:-3], "truncated"),
        (lambda raw: raw[:6], "truncated inside its header"),
        (lambda raw: raw[:2], "truncated"),
        (lambda raw: raw + b"\0\0", "corrupt"),
        (lambda raw: b"\x08\x03" + raw[2:], "magic number"),
        (lambda raw: raw[:2] + b"\x42" + raw[3:], "magic number"),
    ],
)
def test_damaged_idx_file(mnist_dir, damage, match):
    directory, _ = mnist_dir
    path = directory / "t10k-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(IngestError, match=match) as excinfo:
        load_dataset(f"mnist:{directory}")
    assert str(path) in one_line_error(excinfo)


def test_truncated_gzip_idx(mnist_dir):
    directory, _ = mnist_dir
    path = directory / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(IngestError) as excinfo:
        load_dataset(f"mnist:{directory}")
    assert "train-images" in one_line_error(excinfo)


def test_mnist_missing_and_mismatched_files(mnist_dir, tmp_path):
    directory, _ = mnist_dir
    (directory / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(IngestError, match="5 test images but 4 test labels") as excinfo:
        load_dataset(f"mnist:{directory}")
    one_line_error(excinfo)
    (directory / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(IngestError, match="no t10k-labels-idx1-ubyte"):
        load_dataset(f"mnist:{directory}")
    with pytest.raises(IngestError, match="not found"):
        load_dataset(f"mnist:{tmp_path / 'nowhere'}")


# ---------------------------------------------------------------------------------------------
# npz files


def test_npz_round_trip_with_test_arrays(tmp_path):
    rng = np.random.default_rng(1)
    x, x_test = rng.random((30, 3, 4)), rng.random((7, 3, 4))
    y, y_test = rng.integers(0, 4, 30), rng.integers(0, 4, 7)
    path = tmp_path / "data.npz"
    np.savez(path, X=x, y=y, X_test=x_test, y_test=y_test)
    for spec in (str(path), f"npz:{path}"):
        ds = load_dataset(spec)
        np.testing.assert_allclose(ds.X_train, x.reshape(30, 12).astype(np.float32))
        np.testing.assert_array_equal(ds.y_test, y_test)
        assert ds.input_shape == (12,) and ds.image_shape == (1, 3, 4)
        assert ds.n_outputs == int(max(y.max(), y_test.max())) + 1
    assert load_dataset(str(path), image=True).X_test.shape == (7, 1, 3, 4)


def test_npz_seeded_split(tmp_path):
    x = np.arange(60, dtype=np.float64).reshape(30, 2)
    y = np.repeat([0, 1, 2], 10)
    path = tmp_path / "split.npz"
    np.savez(path, X=x, y=y)
    ds = load_dataset(str(path), random_state=3)
    assert len(ds.X_train) == 24 and len(ds.X_test) == 6
    assert ds.image_shape is None
    rows = np.concatenate([ds.X_train, ds.X_test])
    assert sorted(rows[:, 0].tolist()) == x[:, 0].tolist()
    # labels follow their rows, and the split is stratified
    np.testing.assert_array_equal(ds.y_train, y[(ds.X_train[:, 0] // 2).astype(int)])
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2]
    again = load_dataset(str(path), random_state=3)
    np.testing.assert_array_equal(again.X_test, ds.X_test)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"X": np.zeros((4, 2))}, "no array y"),
        ({"y": np.zeros(4)}, "no array X"),
        ({"X": np.zeros((4, 2)), "y": np.zeros(5)}, "X has 4 examples but y has 5"),
        ({"X": np.zeros((4, 2)), "y": np.array([0.5, 1, 0, 1])}, "non-integer"),
        ({"X": np.zeros(4), "y": np.zeros(4)}, "at least 2-D"),
        ({"X": np.zeros((4, 2)), "y": np.zeros(4), "X_test": np.zeros((2, 2))}, "both or neither"),
        (
            {"X": np.zeros((4, 2)), "y": np.zeros(4), "X_test": np.zeros((2, 3)), "y_test": [0, 1]},
            "must match",
        ),
    ],
)
def test_bad_npz(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(IngestError, match=match) as excinfo:
        load_dataset(str(path))
    one_line_error(excinfo)


def test_npz_missing_or_not_an_archive(tmp_path):
    with pytest.raises(IngestError, match="not found"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    path = tmp_path / "text.npz"
    path.write_text("not a zip")
    with pytest.raises(IngestError, match="cannot read"):
        load_dataset(str(path))


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(IngestError) as excinfo:
        load_dataset("cifar")
    message = one_line_error(excinfo)
    assert "'cifar'" in message and "mnist:DIR" in message and "npz:PATH" in message
    assert all(name in message for name in BUILTIN_DATASETS)
    assert isinstance(excinfo.value, UsageError)


def test_check_input_shape():
    ds = load_dataset("digits")
    assert check_input_shape(ds, (64,)) is ds
    assert check_input_shape(ds, (1, 8, 8)).X_train.shape == (1437, 1, 8, 8)
    assert check_input_shape(ds.as_images(), [64]).X_test.shape == (360, 64)
    with pytest.raises(IngestError) as excinfo:
        check_input_shape(ds, (784,))
    message = one_line_error(excinfo)
    assert "(64,)" in message and "(784,)" in message
    with pytest.raises(IngestError, match=r"\(1, 28, 28\)"):
        check_input_shape(ds, (1, 28, 28))
    with pytest.raises(IngestError, match=r"\(2, 8, 8\)"):
        check_input_shape(load_dataset("halves"), (2, 8, 8))
