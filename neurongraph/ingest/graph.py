"""The graph a network is written as: layers, neurons with their biases, and weight blocks.

Pure data built from a :class:`~neurongraph.model.chain.Chain` (:func:`network_graph`) or from
a :class:`~neurongraph.model.view.ModelView` of a residual/DAG network (:func:`view_graph`);
``neurongraph.store`` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from neurongraph.ingest.defaults import DEFAULT_KERNEL_NORM, KERNEL_NORMS
from neurongraph.model.chain import Chain, Stage
from neurongraph.model.view import CHAIN, DAG, SUM, ModelView, ViewInput
from neurongraph.model.view import INPUT as INPUT_LAYER

__all__ = [
    "CHAIN",
    "DAG",
    "INPUT_LAYER",
    "KERNEL_NORMS",
    "LayerInfo",
    "NetworkGraph",
    "WeightBlock",
    "kernel_norm",
    "network_graph",
    "view_graph",
]


@dataclass(frozen=True)
class LayerInfo:
    """One layer of neurons."""

    name: str
    position: int
    kind: str
    width: int
    activation: str = ""


@dataclass(frozen=True)
class WeightBlock:
    """Weights from layer ``source`` to layer ``target`` (``source + 1`` unless given), shape
    ``(target width, source width)``.

    ``weight`` is |w| (or the kernel norm), ``signed`` the signed value (for kernels, the sum of
    the slice). Zeros in ``weight`` mean no edge.
    """

    source: int
    weight: np.ndarray
    signed: np.ndarray
    target: int = -1

    def __post_init__(self) -> None:
        if self.target < 0:
            object.__setattr__(self, "target", self.source + 1)

    @cached_property
    def n_edges(self) -> int:
        """Non-zero weights, counted once (the log of a large ingest asks after every block)."""
        return int(np.count_nonzero(self.weight))


@dataclass
class NetworkGraph:
    """Everything about a network that goes into the store."""

    layers: list[LayerInfo]
    blocks: list[WeightBlock]
    biases: list[np.ndarray | None]
    input_shape: tuple[int, ...]
    kernel_norm: str = DEFAULT_KERNEL_NORM
    meta: dict = field(default_factory=dict)
    data_flow: str = CHAIN

    @property
    def feeds(self) -> list[tuple[int, int]]:
        """``(source, target)`` layer positions of every block: the data-flow DAG."""
        return list(dict.fromkeys((b.source, b.target) for b in self.blocks))

    @property
    def n_neurons(self) -> int:
        return sum(layer.width for layer in self.layers)

    @property
    def n_edges(self) -> int:
        return sum(b.n_edges for b in self.blocks)


def kernel_norm(slices: np.ndarray, how: str) -> np.ndarray:
    """Norm of each slice over its trailing axes: ``(out, in, ...) -> (out, in)``.

    Examples
    --------
    >>> k = np.array([[[[1.0, -2.0], [0.0, 2.0]]]])
    >>> float(kernel_norm(k, "l1")[0, 0]), float(kernel_norm(k, "fro")[0, 0])
    (5.0, 3.0)
    """
    if slices.ndim == 2:
        return np.abs(slices)
    flat = slices.reshape(*slices.shape[:2], -1)
    if how == "l1":
        return np.abs(flat).sum(axis=2)
    if how == "fro" or slices.ndim == 3:
        return np.sqrt((flat**2).sum(axis=2))
    if how == "l2":
        return np.linalg.norm(slices, ord=2, axis=(2, 3))
    raise ValueError(f"kernel norm must be one of {KERNEL_NORMS}, not {how!r}")


def _block(stage: Stage, source: int, how: str) -> WeightBlock:
    w = stage.weight.detach().cpu().numpy().astype(np.float64)
    if stage.kind == "linear" and stage.in_group > 1:
        out, features = w.shape
        w = w.reshape(out, features // stage.in_group, stage.in_group)
    if w.ndim == 2:
        return WeightBlock(source, np.abs(w), w.copy())
    signed = w.reshape(*w.shape[:2], -1).sum(axis=2)
    return WeightBlock(source, kernel_norm(w, how), signed)


def network_graph(chain: Chain, *, kernel_norm: str = DEFAULT_KERNEL_NORM) -> NetworkGraph:
    """Layers, biases and weight blocks of a chain."""
    if kernel_norm not in KERNEL_NORMS:
        raise ValueError(f"kernel norm must be one of {KERNEL_NORMS}, not {kernel_norm!r}")
    layers = [LayerInfo(INPUT_LAYER, 0, "input", chain.input_width)]
    layers += [
        LayerInfo(s.name, i + 1, s.kind, s.width, s.activation_name)
        for i, s in enumerate(chain.stages)
    ]
    blocks = [_block(s, i, kernel_norm) for i, s in enumerate(chain.stages)]
    biases = [None] + [s.bias.detach().cpu().numpy().astype(np.float64) for s in chain.stages]
    return NetworkGraph(layers, blocks, biases, chain.input_shape, kernel_norm)


def _view_block(
    weight: np.ndarray, source: ViewInput, width: int, how: str
) -> tuple[np.ndarray, np.ndarray]:
    """|w| (or kernel norms) and signed values of a weight layer's block from one source of
    ``width`` units: the columns the source feeds, times their norm scale, each unit's columns
    reduced as a chain's flattened channel is (l1: sum of |w|; fro, l2: root of the sum of
    squares; a convolution's kernel slice by ``how``)."""
    w = weight[:, source.columns]
    if source.scale is not None:
        w = w * source.scale.reshape(1, -1, *([1] * (w.ndim - 2)))
    per_column = kernel_norm(w, how)
    signed_column = w.reshape(*w.shape[:2], -1).sum(axis=2)
    if len(source.units) == width and np.array_equal(source.units, np.arange(width)):
        return per_column, signed_column
    out = w.shape[0]
    absolute, signed = np.zeros((out, width)), np.zeros((out, width))
    np.add.at(signed.T, source.units, signed_column.T)
    if how == "l1":
        np.add.at(absolute.T, source.units, per_column.T)
    else:
        np.add.at(absolute.T, source.units, (per_column**2).T)
        absolute = np.sqrt(absolute)
    return absolute, signed


def view_graph(view: ModelView, *, kernel_norm: str = DEFAULT_KERNEL_NORM) -> NetworkGraph:
    """Layers, biases and weight blocks of a model view: one block per (source, layer) pair.

    A weight layer's block holds its weights (kernel norms for convolutions, a flattened
    channel's weights reduced as for chains), times the per-unit scale of norms on the way; a
    ``sum`` layer's block from each addend is the identity (times such a scale), so unit i
    feeds unit i with weight 1.
    """
    if kernel_norm not in KERNEL_NORMS:
        raise ValueError(f"kernel norm must be one of {KERNEL_NORMS}, not {kernel_norm!r}")
    layers = [
        LayerInfo(layer.name, i, layer.kind, int(layer.width), layer.activation_name)
        for i, layer in enumerate(view.layers)
    ]
    blocks: list[WeightBlock] = []
    biases: list[np.ndarray | None] = []
    widths = view.widths
    for target, layer in enumerate(view.layers):
        biases.append(
            None if layer.bias is None else layer.bias.detach().cpu().numpy().astype(np.float64)
        )
        if not layer.inputs:
            continue
        if layer.kind == SUM:
            sums: dict[int, np.ndarray] = {}
            for source in layer.inputs:
                signed = sums.setdefault(
                    source.source, np.zeros((int(layer.width), widths[source.source]))
                )
                scale = 1.0 if source.scale is None else source.scale
                np.add.at(signed, (source.columns, source.units), scale)
            for source, signed in sums.items():
                blocks.append(WeightBlock(source, np.abs(signed), signed, target))
            continue
        weight = layer.weight.detach().cpu().numpy().astype(np.float64)
        for source in layer.inputs:
            absolute, signed = _view_block(weight, source, widths[source.source], kernel_norm)
            blocks.append(WeightBlock(source.source, absolute, signed, target))
    return NetworkGraph(
        layers,
        blocks,
        biases,
        view.input_shape,
        kernel_norm,
        data_flow=CHAIN if view.is_chain else DAG,
    )
