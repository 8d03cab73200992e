"""Architecture strings, seeded model building and the weight layers of a model.

Grammar
-------
MLP: widths joined by ``-``, the input width first and the output width last::

    64-256-256-256-256-10     Linear 64->256, ReLU, ..., Linear 256->10 (no output activation)

CNN: ``cnn:`` then an optional input shape ``CxHxW`` and tokens joined by ``-``::

    cnn:[CxHxW-]TOKEN-...-N
      cK   3x3 convolution to K channels, stride 1, padding 1 (keeps H x W), then ReLU
      p    2x2 max pooling, stride 2 (halves H and W, rounding down)
      fK   dense layer of K units, then ReLU; the first one flattens the feature maps
      N    the output layer, N units, no activation (always the last token)

At least one ``cK`` comes first; no ``cK`` or ``p`` after an ``fK``. ``cnn:c16-c32-p-f64-10`` on
``(1, 8, 8)`` images is Conv 1->16, ReLU, Conv 16->32, ReLU, MaxPool 2 (32 x 4 x 4), Flatten,
Linear 512->64, ReLU, Linear 64->10. Without ``CxHxW`` the input shape comes from the data
(:meth:`Architecture.with_input_shape`).

ResNet: ``resnet:`` then an optional input shape ``CxHxW`` and stages joined by ``-``::

    resnet:[CxHxW-]cWxN-...-K
      cWxN  a stage of N basic blocks of width W (:mod:`neurongraph.training.resnet`); the first
            block of every stage after the first strides 2
      K     the Linear head, K units (always the last token)

``resnet:c16x2-c32x2-10`` is a 3x3 stem conv to 16 channels with BatchNorm and ReLU, two blocks
of 16, two of 32 (the first strided, with a 1x1 projection shortcut), adaptive average pooling and
Linear 32->10.

Transformer: ``transformer:dD-hH-bB-N``, a tiny transformer classifier of token ids with model
width ``D``, ``H`` attention heads (``D`` divisible by ``H``), ``B`` blocks and ``N`` classes
(:mod:`neurongraph.training.transformer`, which builds it for the positions of its text data).

The other models are plain :class:`torch.nn.Sequential` stacks of Linear, Conv2d, ReLU,
MaxPool2d, Dropout and Flatten (a ResNet's also hold BatchNorm2d, BasicBlock and
AdaptiveAvgPool2d), so :func:`torch.jit.script` and the ingest both take them.

Seeds
-----
``random_state`` is an int, a :class:`torch.Generator` (used and advanced as is) or None (a seed
is drawn from the operating system and logged). Nothing here touches torch's or numpy's global
generators: weights are drawn from one local generator, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
for weights and biases, the distribution of PyTorch's default initialisation.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
from torch import nn

from neurongraph.errors import IngestError, UsageError
from neurongraph.seeds import resolve_seed
from neurongraph.training.defaults import (
    FFN_FACTOR,
    IMAGE_KINDS,
    MLP_EXAMPLE,
    TRANSFORMER_EXAMPLE,
    TRANSFORMER_PREFIX,
)
from neurongraph.training.resnet import build_resnet

__all__ = [
    "CNN_EXAMPLE",
    "CNN_PREFIX",
    "CONV_KERNEL_SIZE",
    "IMAGE_KINDS",
    "MLP_EXAMPLE",
    "POOL_SIZE",
    "RESNET_EXAMPLE",
    "RESNET_PREFIX",
    "TRANSFORMER_PREFIX",
    "Architecture",
    "LayerSpec",
    "build_model",
    "count_neurons",
    "input_group_sizes",
    "make_generator",
    "model_weights",
    "parse_architecture",
    "resnet_stages",
    "transformer_shape",
]

log = logging.getLogger(__name__)

CNN_EXAMPLE = "cnn:c16-c32-p-f64-10"
CNN_PREFIX = "cnn:"
RESNET_EXAMPLE = "resnet:c16x2-c32x2-10"
RESNET_PREFIX = "resnet:"
CONV_KERNEL_SIZE = 3
POOL_SIZE = 2

CONV, POOL, DENSE, OUTPUT = "conv", "pool", "dense", "output"
#: A ResNet's blocks: the first of a stage, and the others.
STAGE, BLOCK = "stage", "block"
#: How messages name each kind.
_KIND_NAMES = {"mlp": "MLP", "cnn": "CNN", "resnet": "ResNet", "transformer": "transformer"}
_INPUT_SHAPE = re.compile(r"(\d+)x(\d+)x(\d+)")
_TOKEN = re.compile(r"([cf]?)(\d+)|(p)")
_STAGE_TOKEN = re.compile(r"c(\d+)x(\d+)")
_TRANSFORMER = re.compile(r"d(\d+)-h(\d+)-b(\d+)-(\d+)")


class LayerSpec(NamedTuple):
    """One architecture token: ``kind`` (conv, pool, dense, output; a ResNet's stage and block)
    and ``width`` (0 for pool)."""

    kind: str
    width: int = 0


@dataclass(frozen=True)
class Architecture:
    """A parsed architecture string (see the module docstring for the grammar).

    Parameters
    ----------
    kind : {'mlp', 'cnn', 'resnet', 'transformer'}
    layers : tuple of LayerSpec
        Hidden layers in order, then one ``output`` layer. A ResNet has one ``block`` per basic
        block, the first of each stage as ``stage``; a transformer one ``block`` of the model
        width per transformer block.
    input_shape : tuple of int or None
        ``(features,)`` for an MLP; ``(C, H, W)`` for a CNN or ResNet, or None until the data
        fixes it; None for a transformer (its text data fixes its positions).
    heads : int or None, default=None
        A transformer's attention heads; None for the other kinds.
    """

    kind: str
    layers: tuple[LayerSpec, ...]
    input_shape: tuple[int, ...] | None = None
    heads: int | None = None

    @property
    def spec(self) -> str:
        """The canonical architecture string."""
        if self.kind == "mlp":
            widths = (*self.input_shape, *(layer.width for layer in self.layers))
            return "-".join(map(str, widths))
        if self.kind == "transformer":
            width, heads, blocks, classes = transformer_shape(self)
            return f"{TRANSFORMER_PREFIX}d{width}-h{heads}-b{blocks}-{classes}"
        tokens = ["x".join(map(str, self.input_shape))] if self.input_shape else []
        if self.kind == "resnet":
            tokens += [f"c{width}x{blocks}" for width, blocks in resnet_stages(self)]
            return RESNET_PREFIX + "-".join([*tokens, str(self.n_outputs)])
        prefix = {CONV: "c", POOL: "p", DENSE: "f", OUTPUT: ""}
        for layer in self.layers:
            tokens.append(prefix[layer.kind] + (str(layer.width) if layer.kind != POOL else ""))
        return CNN_PREFIX + "-".join(tokens)

    @property
    def n_outputs(self) -> int:
        """Width of the output layer."""
        return self.layers[-1].width

    def __str__(self) -> str:
        return self.spec

    def with_input_shape(self, input_shape: tuple[int, ...]) -> Architecture:
        """This architecture with its input shape fixed.

        Raises
        ------
        IngestError
            When the shape contradicts the one in the string, or pooling shrinks a map to nothing.
        """
        shape = tuple(int(s) for s in input_shape)
        if self.input_shape is not None and shape != self.input_shape:
            raise IngestError(
                f"architecture {self.spec!r} takes input of shape {self.input_shape}, not {shape}; "
                f"change the architecture or the data"
            )
        if self.kind in IMAGE_KINDS and len(shape) != 3:
            raise IngestError(
                f"a {_kind_name(self.kind)} takes images (C, H, W), not examples of shape "
                f"{shape}; use image data or an MLP such as {MLP_EXAMPLE!r}"
            )
        arch = replace(self, input_shape=shape)
        if arch.kind == "cnn":
            _feature_map(arch)
        return arch


def parse_architecture(spec: str) -> Architecture:
    """Parse an MLP (``64-256-10``), CNN (``cnn:c16-p-f64-10``), ResNet (``resnet:c16x2-10``)
    or transformer (``transformer:d32-h2-b1-4``).

    Parameters
    ----------
    spec : str
        See the module docstring for the grammar.

    Returns
    -------
    Architecture

    Raises
    ------
    IngestError
        When the string is malformed; the message shows the expected forms.

    Examples
    --------
    >>> parse_architecture("64-256-10").layers
    (LayerSpec(kind='dense', width=256), LayerSpec(kind='output', width=10))
    >>> parse_architecture("cnn:1x8x8-c16-p-f32-10").spec
    'cnn:1x8x8-c16-p-f32-10'
    >>> [layer.kind for layer in parse_architecture("resnet:c16x2-c32x1-10").layers]
    ['stage', 'block', 'stage', 'output']
    >>> parse_architecture("transformer:d32-h2-b1-4").heads
    2
    """
    text = spec.strip()
    if text.startswith(TRANSFORMER_PREFIX):
        return _parse_transformer(spec, text.removeprefix(TRANSFORMER_PREFIX))
    if text.startswith(CNN_PREFIX):
        return _parse_cnn(spec, text.removeprefix(CNN_PREFIX).split("-"))
    if text.startswith(RESNET_PREFIX):
        return _parse_resnet(spec, text.removeprefix(RESNET_PREFIX).split("-"))
    tokens = text.split("-")
    widths = [_positive(spec, token) for token in tokens]
    if len(widths) < 2:
        raise _malformed(spec, "an MLP needs at least an input and an output width")
    layers = tuple(LayerSpec(DENSE, w) for w in widths[1:-1]) + (LayerSpec(OUTPUT, widths[-1]),)
    return Architecture(kind="mlp", layers=layers, input_shape=(widths[0],))


def build_model(
    arch: str | Architecture,
    *,
    dropout: float = 0.0,
    random_state: int | torch.Generator | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> nn.Sequential:
    """Build an architecture as a seeded :class:`torch.nn.Sequential`.

    Parameters
    ----------
    arch : str or Architecture
    dropout : float, default=0.0
        Probability of a Dropout after every hidden ReLU (none when 0).
    random_state : int, torch.Generator or None, default=None
        Seed of the weights (see the module docstring).
    input_shape : tuple of int, optional
        Shape of one example; needed for a CNN string without ``CxHxW``.

    Returns
    -------
    torch.nn.Sequential
        Linear, Conv2d, ReLU, MaxPool2d, Dropout and Flatten modules only (a ResNet's: see
        :func:`neurongraph.training.resnet.build_resnet`), in training mode.

    Raises
    ------
    IngestError
        Malformed architecture, or a CNN or ResNet without an input shape.
    UsageError
        ``dropout`` outside [0, 1).
    """
    if isinstance(arch, str):
        arch = parse_architecture(arch)
    if arch.kind == "transformer":
        raise UsageError(
            f"{arch.spec!r} is a transformer, built for the positions of its text data: build "
            "it with neurongraph.training.transformer.build_transformer"
        )
    if input_shape is not None:
        arch = arch.with_input_shape(input_shape)
    if arch.input_shape is None:
        prefix = RESNET_PREFIX if arch.kind == "resnet" else CNN_PREFIX
        raise IngestError(
            f"{_kind_name(arch.kind)} {arch.spec!r} has no input shape: write it as "
            f"'{prefix}CxHxW-...' (e.g. {prefix}1x8x8-...) or train it on image data"
        )
    if not 0.0 <= dropout < 1.0:
        raise UsageError(f"dropout must be in [0, 1), not {dropout}")
    generator = make_generator(random_state)
    if arch.kind == "resnet":
        return build_resnet(
            arch.input_shape[0],
            resnet_stages(arch),
            arch.n_outputs,
            generator=generator,
            dropout=dropout,
        )
    modules: list[nn.Module] = []
    channels, features = arch.input_shape[0], math.prod(arch.input_shape)
    flat = arch.kind == "mlp"
    for layer in arch.layers:
        if layer.kind == POOL:
            modules.append(nn.MaxPool2d(POOL_SIZE))
            continue
        if layer.kind == CONV:
            modules.append(_conv(channels, layer.width, generator))
            channels = layer.width
        else:
            if not flat:
                modules.append(nn.Flatten())
                features, flat = math.prod(_feature_map(arch)), True
            modules.append(_linear(features, layer.width, generator))
            features = layer.width
        if layer.kind != OUTPUT:
            modules.append(nn.ReLU())
            if dropout > 0:
                modules.append(nn.Dropout(dropout))
    return nn.Sequential(*modules)


def resnet_stages(arch: Architecture) -> list[tuple[int, int]]:
    """``(width, blocks)`` of each stage of a ResNet architecture.

    Examples
    --------
    >>> resnet_stages(parse_architecture("resnet:c16x2-c32x1-10"))
    [(16, 2), (32, 1)]
    """
    stages: list[tuple[int, int]] = []
    for layer in arch.layers:
        if layer.kind == STAGE:
            stages.append((layer.width, 1))
        elif layer.kind == BLOCK:
            stages[-1] = (layer.width, stages[-1][1] + 1)
    return stages


def transformer_shape(arch: Architecture) -> tuple[int, int, int, int]:
    """``(width, heads, blocks, classes)`` of a transformer architecture.

    Examples
    --------
    >>> transformer_shape(parse_architecture("transformer:d32-h2-b1-4"))
    (32, 2, 1, 4)
    """
    return arch.layers[0].width, arch.heads, len(arch.layers) - 1, arch.n_outputs


def count_neurons(arch: Architecture) -> int:
    """Neurons of an architecture's graph (with its input shape known), as the ingest makes them.

    Input features or channels, the units of every Linear and channels of every Conv2d, and for
    a ResNet one ``sum`` layer per block and the projection shortcuts. A transformer's input is
    its width ``D`` (the embedding's output); each block has ``11 D`` (q, k, v, o, the two
    ``sum`` layers and the second feed-forward Linear ``D`` each, the first ``4 D``), and the
    head one per class.

    Examples
    --------
    >>> count_neurons(parse_architecture("64-32-10"))
    106
    >>> count_neurons(parse_architecture("resnet:1x8x8-c4x1-c8x1-10"))
    59
    >>> count_neurons(parse_architecture("transformer:d32-h2-b1-4"))
    388
    """
    if arch.kind == "transformer":
        width, _, blocks, classes = transformer_shape(arch)
        per_block = (7 + FFN_FACTOR) * width  # q, k, v, o, ff2 and two sums; ff1
        return width + blocks * per_block + classes
    total = arch.input_shape[0] + sum(layer.width for layer in arch.layers)
    if arch.kind != "resnet":
        return total
    width = arch.layers[0].width  # the stem's
    total += width
    for position, block in enumerate(arch.layers[:-1]):
        strided = block.kind == STAGE and position > 0
        # conv1 is counted above; conv2, the sum and a projection shortcut are not
        total += 2 * block.width + (block.width if strided or block.width != width else 0)
        width = block.width
    return total


def model_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight tensors of every Linear and Conv2d layer, in module order."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def input_group_sizes(weights: list[torch.Tensor]) -> list[int]:
    """How many consecutive input features of each layer come from one unit of the layer before.

    1 everywhere except for a Linear layer fed by flattened conv maps, where it is H x W: its
    ``in_features`` are the previous layer's channels times their positions.

    Raises
    ------
    ValueError
        When a layer's inputs do not fit the previous layer's outputs (not a chain).
    """
    sizes = [1]
    for before, weight in zip(weights[:-1], weights[1:], strict=True):
        units, inputs = before.shape[0], weight.shape[1]
        if inputs % units:
            raise ValueError(
                f"a layer with {inputs} inputs cannot follow one with {units} units in a chain"
            )
        if weight.dim() > 2 and inputs != units:
            raise ValueError(f"a conv layer with {inputs} channels cannot follow {units} units")
        sizes.append(inputs // units)
    return sizes


def make_generator(random_state: int | torch.Generator | None) -> torch.Generator:
    """A local :class:`torch.Generator`: ``random_state`` itself if it is one, else seeded by it."""
    if isinstance(random_state, torch.Generator):
        return random_state
    return torch.Generator().manual_seed(resolve_seed(random_state))


def _linear(n_in: int, n_out: int, generator: torch.Generator) -> nn.Linear:
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out)
    _default_init(layer, n_in, generator)
    return layer


def _conv(n_in: int, n_out: int, generator: torch.Generator) -> nn.Conv2d:
    layer = nn.utils.skip_init(
        nn.Conv2d, n_in, n_out, CONV_KERNEL_SIZE, padding=CONV_KERNEL_SIZE // 2
    )
    _default_init(layer, n_in * CONV_KERNEL_SIZE**2, generator)
    return layer


@torch.no_grad()
def _default_init(layer: nn.Linear | nn.Conv2d, fan_in: int, generator: torch.Generator) -> None:
    bound = 1.0 / math.sqrt(fan_in)
    layer.weight.uniform_(-bound, bound, generator=generator)
    layer.bias.uniform_(-bound, bound, generator=generator)


def _feature_map(arch: Architecture) -> tuple[int, int, int]:
    """``(C, H, W)`` after the conv and pool layers of a CNN with a known input shape."""
    channels, height, width = arch.input_shape
    for position, layer in enumerate(arch.layers, start=1):
        if layer.kind == CONV:
            channels = layer.width
        elif layer.kind == POOL:
            if height < POOL_SIZE or width < POOL_SIZE:
                raise IngestError(
                    f"architecture {arch.spec!r}: pooling token {position} gets a "
                    f"{height}x{width} map, too small to pool; use fewer 'p' tokens"
                )
            height, width = height // POOL_SIZE, width // POOL_SIZE
    return channels, height, width


def _kind_name(kind: str) -> str:
    return _KIND_NAMES.get(kind, kind)


def _malformed(spec: str, problem: str) -> IngestError:
    return IngestError(
        f"architecture {spec!r} is malformed: {problem}; expected an MLP like {MLP_EXAMPLE!r} or a "
        f"CNN like {CNN_EXAMPLE!r} (tokens cK conv, p pool, fK dense, N output; optional 'CxHxW-' "
        f"input shape first), or a ResNet like {RESNET_EXAMPLE!r}"
    )


def _malformed_resnet(spec: str, problem: str) -> IngestError:
    return IngestError(
        f"architecture {spec!r} is malformed: {problem}; expected a ResNet like "
        f"{RESNET_EXAMPLE!r} (stages cWxN of N basic blocks of width W, each stage after the "
        f"first halving H and W; the output width last; optional 'CxHxW-' input shape first)"
    )


def _parse_resnet(spec: str, tokens: list[str]) -> Architecture:
    input_shape = None
    match = _INPUT_SHAPE.fullmatch(tokens[0])
    if match:
        input_shape = tuple(int(group) for group in match.groups())
        if 0 in input_shape:
            raise _malformed_resnet(spec, f"input shape {tokens[0]!r} has a zero")
        tokens = tokens[1:]
    if len(tokens) < 2 or not tokens[-1].isdigit() or int(tokens[-1]) == 0:
        raise _malformed_resnet(spec, "a ResNet needs at least one stage, then its output width")
    layers = []
    for token in tokens[:-1]:
        match = _STAGE_TOKEN.fullmatch(token)
        if not match:
            raise _malformed_resnet(spec, f"token {token!r} is not a stage cWxN")
        width, blocks = (int(group) for group in match.groups())
        if width == 0 or blocks == 0:
            raise _malformed_resnet(spec, f"stage {token!r} needs a positive width and blocks")
        layers += [LayerSpec(STAGE, width), *[LayerSpec(BLOCK, width)] * (blocks - 1)]
    layers.append(LayerSpec(OUTPUT, int(tokens[-1])))
    arch = Architecture(kind="resnet", layers=tuple(layers))
    return arch if input_shape is None else arch.with_input_shape(input_shape)


def _parse_transformer(spec: str, text: str) -> Architecture:
    match = _TRANSFORMER.fullmatch(text)
    numbers = tuple(int(g) for g in match.groups()) if match else ()
    if not numbers or 0 in numbers:
        raise IngestError(
            f"architecture {spec!r} is malformed; expected {TRANSFORMER_PREFIX}dD-hH-bB-N with "
            f"positive numbers (width D, H heads, B blocks, N classes), e.g. "
            f"{TRANSFORMER_EXAMPLE!r}"
        )
    width, heads, blocks, classes = numbers
    if width % heads:
        raise IngestError(f"architecture {spec!r}: width {width} is not divisible by {heads} heads")
    layers = (*[LayerSpec(BLOCK, width)] * blocks, LayerSpec(OUTPUT, classes))
    return Architecture(kind="transformer", layers=layers, heads=heads)


def _positive(spec: str, token: str) -> int:
    if not token.isdigit() or int(token) == 0:
        raise _malformed(spec, f"{token!r} is not a positive width")
    return int(token)


def _parse_cnn(spec: str, tokens: list[str]) -> Architecture:
    input_shape = None
    match = _INPUT_SHAPE.fullmatch(tokens[0])
    if match:
        input_shape = tuple(_positive(spec, group) for group in match.groups())
        tokens = tokens[1:]
    if not tokens or not tokens[-1].isdigit():
        raise _malformed(spec, "a CNN must end with its output width")
    layers = []
    for token in tokens:
        match = _TOKEN.fullmatch(token)
        if not match:
            raise _malformed(spec, f"token {token!r} is not cK, p, fK or an output width")
        prefix, width, pool = match.groups()
        if pool:
            layers.append(LayerSpec(POOL))
            continue
        kind = {"c": CONV, "f": DENSE, "": OUTPUT}[prefix]
        layers.append(LayerSpec(kind, _positive(spec, width)))
    kinds = [layer.kind for layer in layers]
    if kinds.count(OUTPUT) != 1:
        raise _malformed(spec, "only the last token may be a bare output width")
    if kinds[0] != CONV:
        raise _malformed(spec, "a CNN starts with a conv token cK")
    first_dense = kinds.index(DENSE) if DENSE in kinds else len(kinds) - 1
    if any(kind in (CONV, POOL) for kind in kinds[first_dense:]):
        raise _malformed(spec, "conv and pool tokens must come before the dense ones")
    arch = Architecture(kind="cnn", layers=tuple(layers))
    return arch if input_shape is None else arch.with_input_shape(input_shape)
