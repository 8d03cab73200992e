"""Datasets for training and activation capture: built-in sets and files on disk.

:func:`load_dataset` takes a spec string:

``digits``
    scikit-learn's ``load_digits`` (1,797 8x8 images, 10 classes), pixels scaled from 0..16 to
    [0, 1], split 80/20 stratified by class with ``random_state`` (1,437 train, 360 test).
``halves``
    Two digits images side by side as one 8x16 image; label ``(a + b) mod 10`` where ``a`` is the
    left image's digit and ``b`` the right one's. Flattened row-major, so feature ``16 r + c`` is
    row ``r`` of the left image for ``c < 8`` and of the right image otherwise.
``halves-same``
    Like ``halves``, but the right image is a *different* image of the same digit as the left one;
    the label is that digit.
``two-tasks``
    Planted modularity: two independent digits images concatenated (features 0..63 the left
    image, 64..127 the right); 20 outputs, the first 10 classify the left image (task ``A``), the
    last 10 the right (task ``B``); ``y`` has one column per task. As images: ``(2, 8, 8)``, one
    channel per image.
``poly``
    The polynomial regression task: ``x ~ N(0, I_2)``; the nine monomials ``x1^a x2^b`` with
    ``a, b in {0, 1, 2}`` form a 3x3 table (row ``a``, column ``b``) and the six outputs are its
    row and column sums, in this order::

        row0 = 1 + x2 + x2^2              col0 = 1 + x1 + x1^2
        row1 = x1 (1 + x2 + x2^2)         col1 = x2 (1 + x1 + x1^2)
        row2 = x1^2 (1 + x2 + x2^2)       col2 = x2^2 (1 + x1 + x1^2)

    so every monomial feeds exactly two outputs. Each output is one regression task (``n_classes``
    0) and one float column of ``y``; targets are not rescaled. 8,000 train and 2,000 test points.
``npz:PATH`` or a path ending in ``.npz``
    Arrays ``X`` and ``y`` (integer class labels), optionally ``X_test`` and ``y_test``; without
    them an 80/20 split seeded by ``random_state`` (stratified when every class has two or more
    examples). ``X`` is cast to float32 unchanged; an ``X`` of shape ``(n, H, W)`` or
    ``(n, C, H, W)`` also gives the dataset an image layout.
``text-task`` and ``text:FILE``
    Text for token models (:mod:`neurongraph.model.texts`): ``X`` holds token ids (int64) of
    the built-in word vocabulary, padded with ``pad_token``; ``texts`` the texts themselves,
    which a model with its own tokenizer encodes again.
``mnist:DIR``
    MNIST-format IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` in ``DIR`` (each may also be
    gzipped, with ``.gz`` appended); pixels scaled from 0..255 to [0, 1].

Paired sets (``halves``, ``halves-same``, ``two-tasks``) draw ``PAIRS_PER_IMAGE`` pairs per image of
the digits split, train pairs from train images and test pairs from test images, so no test image
is ever seen in training.

Layout: every dataset comes flat, ``X`` of shape ``(n, features)`` for MLPs. Sets with an image
layout (all but ``poly`` and flat ``.npz`` files) give it with ``load_dataset(spec, image=True)``
or :meth:`Dataset.as_images` (``(1, 8, 8)`` for ``digits``, ``(1, 8, 16)`` for the halves sets,
``(2, 8, 8)`` for ``two-tasks``, ``(1, 28, 28)`` for MNIST). :func:`check_input_shape` puts a
dataset in the layout a model expects, or says why it cannot.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import struct
import zipfile
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from neurongraph.errors import IngestError
from neurongraph.model import texts as text_data

__all__ = [
    "BUILTIN_DATASETS",
    "CLASSIFICATION",
    "DATASET_SPECS",
    "MNIST_FILES",
    "PAIRS_PER_IMAGE",
    "POLY_MONOMIALS",
    "REGRESSION",
    "TEST_FRACTION",
    "Dataset",
    "Task",
    "check_input_shape",
    "load_dataset",
    "read_idx",
]

log = logging.getLogger(__name__)

CLASSIFICATION = "classification"
REGRESSION = "regression"

BUILTIN_DATASETS = ("digits", "halves", "halves-same", "poly", "two-tasks", text_data.TEXT_TASK)
#: What :func:`load_dataset` accepts, for error messages and ``--help``.
DATASET_SPECS = (
    *BUILTIN_DATASETS,
    "npz:PATH (or a path ending in .npz)",
    "mnist:DIR",
    f"{text_data.TEXT_PREFIX}FILE",
)

#: Fraction of examples held out for testing wherever a split is made here.
TEST_FRACTION = 0.2
#: Pairs drawn per image of the digits split for ``halves``, ``halves-same`` and ``two-tasks``.
PAIRS_PER_IMAGE = 2

DIGITS_SIDE = 8
DIGITS_CLASSES = 10
DIGITS_MAX_PIXEL = 16.0

POLY_N_TRAIN = 8000
POLY_N_TEST = 2000
#: ``poly`` outputs: name and the exponents ``(a, b)`` of the monomials ``x1^a x2^b`` summed.
POLY_MONOMIALS = (
    *((f"row{a}", tuple((a, b) for b in range(3))) for a in range(3)),
    *((f"col{b}", tuple((a, b) for a in range(3))) for b in range(3)),
)

MNIST_MAX_PIXEL = 255.0
#: MNIST file stems by role; each may also carry a ``.gz`` suffix.
MNIST_FILES = {
    "train images": "train-images-idx3-ubyte",
    "train labels": "train-labels-idx1-ubyte",
    "test images": "t10k-images-idx3-ubyte",
    "test labels": "t10k-labels-idx1-ubyte",
}
#: IDX type codes (third byte of the magic number) and their big-endian numpy dtypes.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_HEADER_BYTES = 4
IDX_DIM_BYTES = 4

NPZ_PREFIX = "npz:"
MNIST_PREFIX = "mnist:"


@dataclass(frozen=True)
class Task:
    """One prediction task of a dataset.

    Parameters
    ----------
    name : str
        Task name (``'digit'``, ``'A'``, ``'row0'``...).
    output_slice : slice
        The model outputs (logits, or the regression output) that belong to this task.
    label_column : int
        Column of ``y`` holding this task's targets (0 for single-task sets, whose ``y`` is 1-D).
    n_classes : int
        Number of classes; 0 for a regression task.
    kind : {'classification', 'regression'}, default='classification'
    """

    name: str
    output_slice: slice
    label_column: int
    n_classes: int
    kind: str = CLASSIFICATION


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split with its tasks.

    Parameters
    ----------
    name : str
        The spec it was loaded from (``'digits'``, ``'npz:data.npz'``...).
    X_train, X_test : numpy.ndarray
        float32, shape ``(n, *input_shape)``.
    y_train, y_test : numpy.ndarray
        Integer labels (int64), shape ``(n,)`` for single-task sets and ``(n, n_tasks)`` for
        multi-task ones; float32 targets for regression sets.
    input_shape : tuple of int
        Shape of one example as stored in ``X``.
    tasks : list of Task
    image_shape : tuple of int or None, default=None
        ``(C, H, W)`` when the examples are images, else None.
    random_state : int, default=0
        The seed that made the split and any random draws.
    texts : tuple of numpy.ndarray or None, default=None
        For text data: the train and test texts (object arrays of str), whose token ids ``X``
        holds; None for other data.
    pad_token : int or None, default=None
        For token ids: the id that marks padding positions (left out of every reduction over
        positions); None: no padding.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]
    tasks: list[Task]
    image_shape: tuple[int, ...] | None = None
    random_state: int = 0
    texts: tuple[np.ndarray, np.ndarray] | None = None
    pad_token: int | None = None

    @property
    def n_features(self) -> int:
        """Number of input values per example."""
        return math.prod(self.input_shape)

    @property
    def n_outputs(self) -> int:
        """Number of model outputs the tasks need."""
        return max(task.output_slice.stop for task in self.tasks)

    @cached_property
    def fingerprint(self) -> str:
        """sha256 (hex) of the spec, the seed and every array; a cache key for this data."""
        digest = hashlib.sha256()
        digest.update(
            f"{self.name}\0{self.random_state}\0{self.input_shape}\0{self.pad_token}".encode()
        )
        for array in (self.X_train, self.y_train, self.X_test, self.y_test):
            array = np.ascontiguousarray(array)
            digest.update(f"\0{array.dtype.str}{array.shape}".encode())
            digest.update(array.data)
        return digest.hexdigest()

    def as_flat(self) -> Dataset:
        """This dataset with ``X`` of shape ``(n, features)``."""
        return self._reshaped((self.n_features,))

    def as_images(self) -> Dataset:
        """This dataset with ``X`` of shape ``(n, C, H, W)``.

        Raises
        ------
        IngestError
            When the dataset has no image layout.
        """
        if self.image_shape is None:
            raise IngestError(
                f"dataset {self.name!r} has no image layout (examples of shape "
                f"{self.input_shape}); use an MLP, or give images as X of shape (n, C, H, W)"
            )
        return self._reshaped(self.image_shape)

    def _reshaped(self, shape: tuple[int, ...]) -> Dataset:
        if shape == self.input_shape:
            return self
        return replace(
            self,
            X_train=self.X_train.reshape(len(self.X_train), *shape),
            X_test=self.X_test.reshape(len(self.X_test), *shape),
            input_shape=shape,
        )


def load_dataset(spec: str, *, random_state: int = 0, image: bool = False) -> Dataset:
    """Load a built-in dataset or one from disk (see the module docstring for every spec).

    Parameters
    ----------
    spec : str
        ``digits``, ``halves``, ``halves-same``, ``poly``, ``two-tasks``, ``npz:PATH`` (or a path
        ending in ``.npz``), ``mnist:DIR``, ``text-task`` or ``text:FILE``.
    random_state : int, default=0
        Seed of the train/test split and of every random draw (pairs, ``poly`` inputs).
    image : bool, default=False
        Return ``X`` as images ``(n, C, H, W)`` instead of flat ``(n, features)``.

    Returns
    -------
    Dataset

    Raises
    ------
    IngestError
        Unknown name, missing or unreadable file, corrupt IDX file, npz without ``X``/``y``,
        ``X`` and ``y`` of different lengths, NaN or infinite inputs (or regression targets),
        or ``image=True`` for a set without images.

    Examples
    --------
    >>> ds = load_dataset("two-tasks", random_state=0)
    >>> ds.X_train.shape, ds.y_train.shape, [t.name for t in ds.tasks]
    ((2874, 128), (2874, 2), ['A', 'B'])
    >>> load_dataset("digits", image=True).input_shape
    (1, 8, 8)
    """
    spec = spec.strip()
    builders = {
        "digits": _digits,
        "halves": _halves,
        "halves-same": _halves_same,
        "poly": _poly,
        "two-tasks": _two_tasks,
    }
    if spec in builders:
        dataset = builders[spec](random_state)
    elif spec.startswith(NPZ_PREFIX) or spec.lower().endswith(".npz"):
        path = spec.removeprefix(NPZ_PREFIX)
        dataset = _npz(spec, Path(path), random_state)
    elif spec == text_data.TEXT_TASK:
        dataset = _texts(spec, *text_data.text_task(random_state), random_state, "topic")
    elif spec.startswith(text_data.TEXT_PREFIX):
        path = Path(spec.removeprefix(text_data.TEXT_PREFIX))
        dataset = _texts(spec, *text_data.read_text_file(path), random_state, "class")
    elif spec.startswith(MNIST_PREFIX):
        dataset = _mnist(spec, Path(spec.removeprefix(MNIST_PREFIX)), random_state)
    else:
        raise IngestError(f"unknown dataset {spec!r}: use one of {', '.join(DATASET_SPECS)}")
    _check_finite(dataset)
    log.debug(
        "dataset %s: %d train, %d test examples of shape %s",
        dataset.name,
        len(dataset.X_train),
        len(dataset.X_test),
        dataset.input_shape,
    )
    return dataset.as_images() if image else dataset


def _check_finite(dataset: Dataset) -> None:
    """Refuse NaN or infinite inputs (or regression targets): every activation, correlation and
    accuracy computed from them would be NaN."""
    for part, array in (
        ("training inputs", dataset.X_train),
        ("test inputs", dataset.X_test),
        ("training targets", dataset.y_train),
        ("test targets", dataset.y_test),
    ):
        if array.dtype.kind != "f":
            continue
        bad = ~np.isfinite(array)
        if bad.any():
            example = int(np.argwhere(bad)[0][0])
            raise IngestError(
                f"dataset {dataset.name!r} has {int(bad.sum())} NaN or infinite value(s) in its "
                f"{part} (the first in example {example}); clean or impute the data first"
            )


def check_input_shape(dataset: Dataset, input_shape: tuple[int, ...]) -> Dataset:
    """Check that ``dataset`` fits a model's input and return it in the model's layout.

    Parameters
    ----------
    dataset : Dataset
    input_shape : tuple of int
        Shape of one example the model takes: ``(features,)`` or ``(C, H, W)``.

    Returns
    -------
    Dataset
        ``dataset`` itself, flattened, or as images, whichever matches ``input_shape``.

    Raises
    ------
    IngestError
        When neither the flat nor the image layout of the data has that shape.
    """
    shape = tuple(int(s) for s in input_shape)
    if shape == dataset.input_shape:
        return dataset
    if shape == (dataset.n_features,):
        return dataset.as_flat()
    if dataset.image_shape is not None and shape == tuple(dataset.image_shape):
        return dataset.as_images()
    image = f" (images {dataset.image_shape})" if dataset.image_shape is not None else ""
    raise IngestError(
        f"dataset {dataset.name!r} has examples of shape {dataset.input_shape}{image} but the "
        f"model takes input of shape {shape}; use a model whose input layer fits the data or "
        f"another dataset"
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped when its name ends in ``.gz``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    numpy.ndarray
        The array with the shape and type its header gives, in native byte order.

    Raises
    ------
    IngestError
        When the file is missing, unreadable, has a bad magic number, or holds fewer or more bytes
        than its header says.
    """
    path = Path(path)
    raw = _read_bytes(path)
    redo = "re-download or re-extract it"
    if len(raw) < IDX_HEADER_BYTES:
        raise IngestError(f"IDX file {path} is truncated ({len(raw)} bytes, no header); {redo}")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES or raw[3] == 0:
        raise IngestError(
            f"{path} is not an IDX file (magic number 0x{raw[:IDX_HEADER_BYTES].hex()}, expected "
            f"0x0000TTNN with a known type TT and NN dimensions); {redo}"
        )
    ndim = raw[3]
    data_start = IDX_HEADER_BYTES + IDX_DIM_BYTES * ndim
    if len(raw) < data_start:
        raise IngestError(f"IDX file {path} is truncated inside its header; {redo}")
    dims = struct.unpack(f">{ndim}I", raw[IDX_HEADER_BYTES:data_start])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = math.prod(dims) * dtype.itemsize
    found = len(raw) - data_start
    if found < expected:
        raise IngestError(
            f"IDX file {path} is truncated: its header gives shape {dims} ({expected} bytes of "
            f"data) but it holds {found}; {redo}"
        )
    if found > expected:
        raise IngestError(
            f"IDX file {path} is corrupt: {found - expected} bytes follow the {expected} bytes of "
            f"data its header (shape {dims}) describes; {redo}"
        )
    array = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=data_start)
    return array.reshape(dims).astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------------------------------------
# built-in sets


def _digits_split(random_state: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits images ``(n, 8, 8)`` in [0, 1] and labels, split 80/20 stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / DIGITS_MAX_PIXEL).astype(np.float32)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=TEST_FRACTION, stratify=labels, random_state=random_state
    )
    return x_train, y_train, x_test, y_test


def _classes(n_tasks: int, names: tuple[str, ...] = ("digit",)) -> list[Task]:
    return [
        Task(
            name=names[i],
            output_slice=slice(DIGITS_CLASSES * i, DIGITS_CLASSES * (i + 1)),
            label_column=i,
            n_classes=DIGITS_CLASSES,
        )
        for i in range(n_tasks)
    ]


def _digits(random_state: int) -> Dataset:
    x_train, y_train, x_test, y_test = _digits_split(random_state)
    return Dataset(
        name="digits",
        X_train=x_train.reshape(len(x_train), -1),
        y_train=y_train,
        X_test=x_test.reshape(len(x_test), -1),
        y_test=y_test,
        input_shape=(DIGITS_SIDE * DIGITS_SIDE,),
        tasks=_classes(1),
        image_shape=(1, DIGITS_SIDE, DIGITS_SIDE),
        random_state=random_state,
    )


def _random_pairs(
    labels: np.ndarray, rng: np.random.Generator, *, same_class: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``PAIRS_PER_IMAGE * len(labels)`` index pairs; the right one of the left's class if asked."""
    n_pairs = PAIRS_PER_IMAGE * len(labels)
    left = rng.integers(len(labels), size=n_pairs)
    if not same_class:
        return left, rng.integers(len(labels), size=n_pairs)
    right = np.empty_like(left)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        chosen = np.flatnonzero(labels[left] == label)
        position = np.searchsorted(members, left[chosen])
        # draw among the other members of the class: skip over the left image's own position
        offset = rng.integers(len(members) - 1, size=len(chosen))
        right[chosen] = members[offset + (offset >= position)]
    return left, right


def _paired(
    name: str, random_state: int, *, same_class: bool, side_by_side: bool
) -> tuple[Dataset, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:
    """Pairs of digits images per split: ``(images_left, images_right, labels_l, labels_r)``."""
    x_train, y_train, x_test, y_test = _digits_split(random_state)
    rng = np.random.default_rng(random_state)
    parts = []
    for images, labels in ((x_train, y_train), (x_test, y_test)):
        left, right = _random_pairs(labels, rng, same_class=same_class)
        parts.append((images[left], images[right], labels[left], labels[right]))
    if side_by_side:
        image_shape = (1, DIGITS_SIDE, 2 * DIGITS_SIDE)
        xs = [np.concatenate((a, b), axis=2).reshape(len(a), -1) for a, b, _, _ in parts]
    else:
        image_shape = (2, DIGITS_SIDE, DIGITS_SIDE)
        xs = [np.stack((a, b), axis=1).reshape(len(a), -1) for a, b, _, _ in parts]
    base = Dataset(
        name=name,
        X_train=xs[0],
        y_train=np.empty(0, dtype=np.int64),
        X_test=xs[1],
        y_test=np.empty(0, dtype=np.int64),
        input_shape=(2 * DIGITS_SIDE * DIGITS_SIDE,),
        tasks=[],
        image_shape=image_shape,
        random_state=random_state,
    )
    return base, parts


def _halves(random_state: int) -> Dataset:
    base, parts = _paired("halves", random_state, same_class=False, side_by_side=True)
    (_, _, a_train, b_train), (_, _, a_test, b_test) = parts
    return replace(
        base,
        y_train=(a_train + b_train) % DIGITS_CLASSES,
        y_test=(a_test + b_test) % DIGITS_CLASSES,
        tasks=_classes(1, ("sum-mod-10",)),
    )


def _halves_same(random_state: int) -> Dataset:
    base, parts = _paired("halves-same", random_state, same_class=True, side_by_side=True)
    (_, _, a_train, _), (_, _, a_test, _) = parts
    return replace(base, y_train=a_train, y_test=a_test, tasks=_classes(1))


def _two_tasks(random_state: int) -> Dataset:
    base, parts = _paired("two-tasks", random_state, same_class=False, side_by_side=False)
    (_, _, a_train, b_train), (_, _, a_test, b_test) = parts
    return replace(
        base,
        y_train=np.stack((a_train, b_train), axis=1),
        y_test=np.stack((a_test, b_test), axis=1),
        tasks=_classes(2, ("A", "B")),
    )


def _poly(random_state: int) -> Dataset:
    rng = np.random.default_rng(random_state)
    x = rng.standard_normal((POLY_N_TRAIN + POLY_N_TEST, 2))
    y = np.stack(
        [sum(x[:, 0] ** a * x[:, 1] ** b for a, b in exponents) for _, exponents in POLY_MONOMIALS],
        axis=1,
    )
    x, y = x.astype(np.float32), y.astype(np.float32)
    tasks = [
        Task(name=name, output_slice=slice(i, i + 1), label_column=i, n_classes=0, kind=REGRESSION)
        for i, (name, _) in enumerate(POLY_MONOMIALS)
    ]
    return Dataset(
        name="poly",
        X_train=x[:POLY_N_TRAIN],
        y_train=y[:POLY_N_TRAIN],
        X_test=x[POLY_N_TRAIN:],
        y_test=y[POLY_N_TRAIN:],
        input_shape=(2,),
        tasks=tasks,
        random_state=random_state,
    )


# ---------------------------------------------------------------------------------------------
# files on disk


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise IngestError(f"file not found: {path}; check the path")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError) as err:
        raise IngestError(f"cannot read {path}: {err}; re-download or re-extract it") from err


def _labels(y: np.ndarray, source: str) -> np.ndarray:
    """Check that ``y`` holds non-negative integer class labels and return them as int64."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iuf" or (len(y) and y.min() < 0):
        raise IngestError(
            f"{source} must be a 1-D array of non-negative integer class labels, got "
            f"{y.dtype} of shape {y.shape}"
        )
    if y.dtype.kind == "f" and (not np.all(np.isfinite(y)) or np.any(y != np.round(y))):
        raise IngestError(f"{source} holds non-integer values; give integer class labels")
    return y.astype(np.int64)


def _image_shape(example_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    if len(example_shape) == 2:
        return (1, *example_shape)
    if len(example_shape) == 3:
        return example_shape
    return None


def _split(
    x: np.ndarray, y: np.ndarray, random_state: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    n_test = math.ceil(TEST_FRACTION * len(y))
    counts = np.bincount(y)
    n_classes = int(np.count_nonzero(counts))
    stratify = (
        y if counts[counts > 0].min() >= 2 and min(n_test, len(y) - n_test) >= n_classes else None
    )
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=n_test, stratify=stratify, random_state=random_state
    )
    return x_train, y_train, x_test, y_test


def _npz(name: str, path: Path, random_state: int) -> Dataset:
    if not path.is_file():
        raise IngestError(f"npz file not found: {path}; check the path")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise IngestError(f"cannot read {path} as an .npz archive: {err}") from err
    missing = [key for key in ("X", "y") if key not in arrays]
    if missing:
        raise IngestError(
            f"{path} has no array {' or '.join(missing)} (it holds {sorted(arrays) or 'nothing'});"
            f" save it with np.savez(path, X=..., y=...)"
        )
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise IngestError(f"{path} has only one of X_test and y_test; give both or neither")
    pairs = [("X", "y")] + ([("X_test", "y_test")] if "X_test" in arrays else [])
    for xkey, ykey in pairs:
        x = arrays[xkey]
        if x.ndim < 2 or x.dtype.kind not in "iuf":
            raise IngestError(
                f"{path}: {xkey} must be numeric with one row per example (at least 2-D), got "
                f"{x.dtype} of shape {x.shape}"
            )
        arrays[ykey] = _labels(arrays[ykey], f"{path}: {ykey}")
        if len(x) != len(arrays[ykey]):
            raise IngestError(
                f"{path}: {xkey} has {len(x)} examples but {ykey} has {len(arrays[ykey])}; they "
                f"must have the same length"
            )
    x = arrays["X"].astype(np.float32)
    y = arrays["y"]
    if "X_test" in arrays:
        x_train, y_train = x, y
        x_test, y_test = arrays["X_test"].astype(np.float32), arrays["y_test"]
        if x_test.shape[1:] != x_train.shape[1:]:
            raise IngestError(
                f"{path}: X_test examples have shape {x_test.shape[1:]} but X examples "
                f"{x_train.shape[1:]}; they must match"
            )
    else:
        if len(y) < 2:
            raise IngestError(f"{path} holds {len(y)} example(s); a train/test split needs 2")
        x_train, y_train, x_test, y_test = _split(x, y, random_state)
    return _from_arrays(name, x_train, y_train, x_test, y_test, random_state)


def _from_arrays(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    random_state: int,
) -> Dataset:
    example_shape = tuple(x_train.shape[1:])
    n_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    task = Task("class", output_slice=slice(0, n_classes), label_column=0, n_classes=n_classes)
    return Dataset(
        name=name,
        X_train=x_train.reshape(len(x_train), -1),
        y_train=y_train,
        X_test=x_test.reshape(len(x_test), -1),
        y_test=y_test,
        input_shape=(math.prod(example_shape),),
        tasks=[task],
        image_shape=_image_shape(example_shape),
        random_state=random_state,
    )


def _texts(
    name: str, texts: list[str], labels: np.ndarray, random_state: int, task: str
) -> Dataset:
    """Texts and labels as a dataset of word ids, split 80/20 (stratified where it can be)."""
    if len(texts) < 2:
        raise IngestError(f"{name} holds {len(texts)} example(s); a train/test split needs 2")
    ids = text_data.encode_words(texts)
    train, y_train, test, y_test = _split(np.arange(len(texts)), labels, random_state)
    strings = np.asarray(texts, dtype=object)
    n_classes = int(labels.max()) + 1
    return Dataset(
        name=name,
        X_train=ids[train],
        y_train=y_train,
        X_test=ids[test],
        y_test=y_test,
        input_shape=(ids.shape[1],),
        tasks=[Task(task, output_slice=slice(0, n_classes), label_column=0, n_classes=n_classes)],
        random_state=random_state,
        texts=(strings[train], strings[test]),
        pad_token=text_data.PAD_ID,
    )


def _mnist_file(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise IngestError(
        f"{directory} has no {stem} (or {stem}.gz); an MNIST directory needs "
        f"{', '.join(MNIST_FILES.values())}"
    )


def _mnist(name: str, directory: Path, random_state: int) -> Dataset:
    if not directory.is_dir():
        raise IngestError(f"MNIST directory not found: {directory}; check the path")
    arrays = {role: read_idx(_mnist_file(directory, stem)) for role, stem in MNIST_FILES.items()}
    split = {}
    for part in ("train", "test"):
        images, labels = arrays[f"{part} images"], arrays[f"{part} labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise IngestError(
                f"{directory}: {part} images must be 3-D and labels 1-D, got shapes "
                f"{images.shape} and {labels.shape}; check the files"
            )
        if len(images) != len(labels):
            raise IngestError(
                f"{directory}: {len(images)} {part} images but {len(labels)} {part} labels; "
                f"the files do not belong together"
            )
        split[part] = (
            (images / MNIST_MAX_PIXEL).astype(np.float32)[:, None],
            _labels(labels, f"{directory}: {part} labels"),
        )
    (x_train, y_train), (x_test, y_test) = split["train"], split["test"]
    if x_train.shape[1:] != x_test.shape[1:]:
        raise IngestError(
            f"{directory}: train images are {x_train.shape[2:]} but test images "
            f"{x_test.shape[2:]}; they must match"
        )
    return _from_arrays(name, x_train, y_train, x_test, y_test, random_state)
