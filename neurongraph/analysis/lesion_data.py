"""Validation at the edge of the lesion and coherence tests: the network, its data, tasks.

Both tests take a model (a :class:`~neurongraph.model.chain.Chain`, a
:class:`~neurongraph.model.view.ModelView` or an ``nn.Module``), examples and labels, and
optionally classification tasks; this module checks them once and turns them into a network and
a :class:`CheckedData`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neurongraph.analysis.view_lesion import (
    ACCURACY,
    OUTPUT_CHANGE,
    OutputTasks,
    check_metric,
    hidden_layers,
)
from neurongraph.errors import AnalysisError, arg
from neurongraph.model.chain import Chain
from neurongraph.model.extract import NotAChainError, extract_chain
from neurongraph.model.view import ModelView, read_view

__all__ = [
    "CheckedData",
    "Lesion",
    "Network",
    "Tasks",
    "as_network",
    "check_layer",
    "check_model_and_data",
    "check_n_random",
    "check_tasks",
    "group_layers",
]

#: Examples used to extract a chain from an ``nn.Module``.
EXTRACT_EXAMPLES = 8

#: ``(layer, unit_indices)`` pairs, or a mapping ``{layer: unit_indices}``.
Lesion = Sequence[tuple[int, Sequence[int]]] | Mapping[int, Sequence[int]]


@dataclass(frozen=True)
class Tasks:
    """Output slices and label columns of the tasks, checked against the data."""

    names: tuple[str, ...]
    slices: tuple[slice, ...]
    columns: tuple[int, ...]
    n_classes: tuple[int, ...]

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.n_classes)[:-1]]).astype(np.int64)

    @property
    def classes(self) -> tuple[tuple[str, int], ...]:
        return tuple(
            (name, c) for name, n in zip(self.names, self.n_classes, strict=True) for c in range(n)
        )

    @property
    def n_columns(self) -> int:
        return int(sum(self.n_classes))


@dataclass(frozen=True)
class CheckedData:
    X: torch.Tensor
    y: np.ndarray | None  # (N, n_columns of y) int64; None for output-change
    tasks: Tasks | OutputTasks
    metric: str = ACCURACY

    @property
    def labels(self) -> np.ndarray:
        """(N, n_tasks) labels, task by task."""
        return self.y[:, list(self.tasks.columns)]

    @property
    def class_columns(self) -> np.ndarray:
        """(N, n_tasks) column of each example's class in the (task, class) list."""
        return self.labels + self.tasks.offsets[None, :]


Network = Chain | ModelView


def as_network(model: Chain | ModelView | nn.Module, X: torch.Tensor) -> Network:
    """The chain or view of ``model``: an ``nn.Module`` is read as a chain when it is one, else
    as a view of its data flow."""
    if isinstance(model, Chain | ModelView):
        return model
    if isinstance(model, nn.Module):
        dtype = next((p.dtype for p in model.parameters()), X.dtype)
        example = X[:EXTRACT_EXAMPLES]
        example = example.to(dtype) if example.is_floating_point() else example
        if not example.is_floating_point():
            return read_view(model, example)
        try:
            return extract_chain(model, example)
        except NotAChainError:
            return read_view(model, example)
    raise AnalysisError(
        "model must be a neurongraph Chain or ModelView or a torch nn.Module, not "
        f"{type(model).__name__}"
    )


def _n_outputs(network: Network, X: torch.Tensor) -> int:
    with torch.no_grad():
        return int(network(X[:1]).reshape(1, -1).shape[1])


def group_layers(network: Network) -> list[int]:
    """Layers whose groups are tested: a chain's hidden layers, a view's
    :func:`~neurongraph.analysis.view_lesion.hidden_layers`."""
    if isinstance(network, Chain):
        return list(range(1, len(network.stages)))
    return hidden_layers(network)


def _as_tensor(X: Any) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return X.detach()
    try:
        arr = np.asarray(X)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        return torch.as_tensor(arr)
    except (TypeError, ValueError) as err:
        raise AnalysisError(f"data X must be a numeric array: {err}") from err


def _split_data(data: Any) -> tuple[torch.Tensor, Any]:
    if not isinstance(data, Sequence) or isinstance(data, str) or len(data) != 2:
        raise AnalysisError("data must be a pair (X, y) of examples and labels (y None: none)")
    X, y = data
    return _as_tensor(X), y


def check_model_and_data(
    model: Chain | ModelView | nn.Module,
    data: Any,
    tasks: Sequence[Any] | None,
    metric: str | None = ACCURACY,
) -> tuple[Network, CheckedData]:
    """Validate ``(X, y)``, ``tasks`` and ``metric`` against the model; returns its chain or
    view and the data. ``metric`` None: accuracy when ``y`` holds labels of classification
    tasks, else output-change (views only)."""
    X, y = _split_data(data)
    if X.dim() < 2 or X.shape[0] == 0:
        raise AnalysisError(
            f"data X must hold at least one example, shape (n_examples, ...), got {tuple(X.shape)}"
        )
    network = as_network(model, X)
    shape = tuple(network.input_shape)
    if tuple(X.shape[1:]) != shape:
        if math.prod(X.shape[1:]) != math.prod(shape):
            raise AnalysisError(
                f"the dataset does not fit the model: examples of shape {tuple(X.shape[1:])} but "
                f"the model takes input of shape {shape}; use the dataset the model was trained on"
            )
        X = X.reshape(X.shape[0], *shape)
    if isinstance(network, Chain):
        X = X.to(network.dtype)
    else:
        X = X.long() if network.tokens else X.double()
    labelled = y is not None and all(
        getattr(task, "kind", "classification") == "classification" for task in tasks or ()
    )
    # chains keep their own messages for regression tasks (they have no other metric)
    chain = isinstance(network, Chain)
    if metric is None:
        metric = ACCURACY if labelled or chain else OUTPUT_CHANGE
    metric = check_metric(metric, labelled or (chain and y is not None))
    if metric != ACCURACY:
        if isinstance(network, Chain):
            raise AnalysisError(
                f"the {metric} metric is for networks read as a view; chains score accuracy"
            )
        return network, CheckedData(X, None, OutputTasks(), metric)
    try:
        y_arr = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
    except (TypeError, ValueError) as err:
        raise AnalysisError(f"labels y must be an integer array: {err}") from err
    if y_arr.ndim == 1:
        y_arr = y_arr[:, None]
    if y_arr.ndim != 2 or y_arr.shape[0] != X.shape[0]:
        raise AnalysisError(
            f"the dataset does not fit: {X.shape[0]} examples but labels of shape "
            f"{y_arr.shape}; y needs one row per example (one column per task)"
        )
    if not np.issubdtype(y_arr.dtype, np.number) or (
        not np.issubdtype(y_arr.dtype, np.integer) and not np.all(y_arr == np.round(y_arr))
    ):
        raise AnalysisError("labels y must be integer class labels (classification tasks only)")
    y_arr = y_arr.astype(np.int64)
    n_outputs = _n_outputs(network, X)
    checked = check_tasks(tasks, n_outputs, y_arr.shape[1])
    for name, column, n in zip(checked.names, checked.columns, checked.n_classes, strict=True):
        labels = y_arr[:, column]
        if labels.min() < 0 or labels.max() >= n:
            raise AnalysisError(
                f"the dataset does not fit the model: task {name!r} has labels from "
                f"{labels.min()} to {labels.max()} but {n} outputs; use the dataset the model "
                f"was trained on"
            )
    return network, CheckedData(X, y_arr, checked)


def check_tasks(tasks: Sequence[Any] | None, n_outputs: int, n_columns: int) -> Tasks:
    if tasks is None:
        if n_columns != 1:
            raise AnalysisError(
                f"labels y have {n_columns} columns but no tasks were given; pass tasks "
                f"(output slice and label column of each)"
            )
        return Tasks(("all",), (slice(0, n_outputs),), (0,), (n_outputs,))
    names, slices, columns, n_classes = [], [], [], []
    for i, task in enumerate(tasks):
        if isinstance(task, Sequence) and len(task) == 2:
            sl, column, name, kind = task[0], task[1], str(i), "classification"
        else:
            sl = getattr(task, "output_slice", None)
            column = getattr(task, "label_column", None)
            name = str(getattr(task, "name", i))
            kind = getattr(task, "kind", "classification")
        if kind != "classification" or getattr(task, "n_classes", 1) == 0:
            raise AnalysisError(
                f"task {name!r} is a regression task; lesion and coherence scores need "
                f"classification tasks"
            )
        if not isinstance(sl, slice) or not isinstance(column, numbers.Integral):
            raise AnalysisError(
                f"task {i} must have an output_slice (slice) and a label_column (int), or be a "
                f"pair (slice, column)"
            )
        start, stop, step = sl.indices(n_outputs)
        if step != 1 or stop - start < 2 or sl.stop is None or sl.stop > n_outputs:
            raise AnalysisError(
                f"task {name!r} takes outputs {sl.start}:{sl.stop} but the model has "
                f"{n_outputs} outputs; the dataset does not fit the model"
            )
        if not 0 <= column < n_columns:
            raise AnalysisError(
                f"task {name!r} reads label column {column} but y has {n_columns} column(s)"
            )
        names.append(name)
        slices.append(slice(start, stop))
        columns.append(int(column))
        n_classes.append(stop - start)
    if not names:
        raise AnalysisError("tasks must name at least one task")
    return Tasks(tuple(names), tuple(slices), tuple(columns), tuple(n_classes))


def check_n_random(n_random: int) -> int:
    if not isinstance(n_random, numbers.Integral) or isinstance(n_random, bool) or n_random < 1:
        raise AnalysisError(
            f"{arg('n_random')} must be at least 1 (got {n_random!r}): each group is compared with "
            f"that many random same-size groups"
        )
    return int(n_random)


def check_layer(layer: Any, n_layers: int) -> None:
    if not isinstance(layer, numbers.Integral) or not 0 <= layer <= n_layers:
        raise AnalysisError(
            f"layer {layer!r} is not a layer of the network (positions 0..{n_layers}, input 0)"
        )
