"""A network's data flow as a DAG of neuron layers, read with ``torch.export``.

:func:`read_view` exports an eager module (``torch.export.export`` on the module in eval mode)
and walks the ATen graph:

- the input is a layer (its features, or its channels when a convolution reads it);
- every ``aten.linear`` / ``aten.conv2d`` is a weight layer whose output units (features,
  channels) are its neurons; an eval-mode BatchNorm right after one (its only reader) is folded
  into its weights and bias (scale ``gamma / sqrt(var + eps)``), as for chains;
- unit-preserving operations pass units through: ReLU/GELU/Tanh/Sigmoid/LeakyReLU, dropout,
  max/average pooling (adaptive included, and a mean over spatial dimensions), and
  flatten/view/reshape that only regroup features (a conv map flattened into a Linear gives
  each channel its H x W consecutive features, as a chain's ``in_group``);
- a BatchNorm anywhere else (after a sum, the input or an activation) is a per-unit affine map:
  the view runs it as such, and its per-unit scale is folded into the weights of the layers that
  read those units (:attr:`ViewInput.scale`);
- every add of two tensors of the same shape is a layer of kind ``sum``, one neuron per unit,
  fed with weight 1 by unit i of each addend.

Anything else (a matmul of two activations, concatenation, recurrent cells, data-dependent
control flow that ``torch.export`` cannot capture, shared weights) is refused with an
:class:`~neurongraph.errors.IngestError` that names the operation and the module it is in. The
view is executable (:meth:`ModelView.__call__` runs its recorded operations in float64 with the
folded weights) and must reproduce the model's own output on the example input and on seeded
random batches, with the tolerances chains are checked with
(:mod:`neurongraph.model.extract`).
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from neurongraph.errors import IngestError
from neurongraph.model.export import export_program

__all__ = ["CHAIN", "DAG", "INPUT", "SUM", "ModelView", "ViewInput", "ViewLayer", "read_view"]

log = logging.getLogger(__name__)

#: Kind of the layer that an add of two tensors becomes.
SUM = "sum"
#: Name of the input layer of every network.
INPUT = "input"
#: ``dataFlow`` of a network: a chain of weight layers, or any other DAG (sums, branches).
CHAIN = "chain"
DAG = "dag"
#: What the view reads, for messages.
SUPPORTED = (
    "Linear, Conv2d (groups=1), BatchNorm, ReLU/GELU/Tanh/Sigmoid/LeakyReLU, dropout, "
    "max/average pooling (incl. adaptive), flatten/view/reshape, adds of equal-shape tensors"
)

#: Element-wise nonlinearities, by ATen name, and the name recorded on the layer they follow.
_ACTIVATIONS = {
    "relu": "relu",
    "gelu": "gelu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "leaky_relu": "leakyrelu",
}
#: Operations that return their input in eval mode.
_IDENTITIES = {"dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout"}
_COPIES = {"clone", "contiguous", "alias", "detach", "lift_fresh_copy"}
#: Pooling over spatial positions: units (channels) pass through.
_POOLING = {
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
}
#: Pooling that returns (values, indices).
_TUPLE_POOLING = {"max_pool2d_with_indices", "adaptive_max_pool2d"}
_RESHAPES = {"flatten", "view", "reshape", "_unsafe_view", "squeeze", "unsqueeze"}
_NORMS = {"batch_norm", "_native_batch_norm_legit_no_training"}
_ADDS = {"add"}
#: ATen operations that check shapes or types and compute nothing.
_CHECKS = ("_assert", "sym_")


@dataclass
class ViewInput:
    """One incoming connection of a layer.

    Parameters
    ----------
    source : int
        Index of the layer whose units come in (:attr:`ModelView.layers`).
    group : int, default=1
        Consecutive input features of a Linear layer that come from one source unit: H*W for a
        flattened conv map, else 1.
    scale : torch.Tensor or None
        Per-unit scale of the source's units on the way (a norm that could not be folded into
        the source's own weights), float64; folded into this layer's weights in the graph.
    """

    source: int
    group: int = 1
    scale: torch.Tensor | None = None


@dataclass
class ViewLayer:
    """A layer of neurons: the input, a weight layer or a sum.

    ``weight`` and ``bias`` (float64, norms folded) are set for ``linear`` and ``conv2d``
    layers; ``conv`` holds a conv layer's stride, padding and dilation; ``inputs`` are the
    connections that feed it (one for a weight layer, one per addend for a sum);
    ``activation`` the nonlinearities applied right after it.
    """

    name: str
    kind: str
    width: int | None
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    conv: dict = field(default_factory=dict)
    inputs: list[ViewInput] = field(default_factory=list)
    activation: list[str] = field(default_factory=list)

    @property
    def activation_name(self) -> str:
        """Names of the nonlinearities, joined by '>' ('' when none)."""
        return ">".join(self.activation)


@dataclass(frozen=True)
class _Op:
    """One recorded operation: computes value ``out`` from values ``args``."""

    out: str
    args: tuple[str, ...]
    layer: int | None = None
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None


class ModelView:
    """A network as a DAG of neuron layers (see module docstring), runnable in float64.

    Parameters
    ----------
    layers : list of ViewLayer
        In topological order, the input first.
    ops : list of _Op
        The recorded operations in execution order.
    output : str
        The value the network returns.
    input_shape : tuple of int
        Shape of one example.
    """

    def __init__(
        self, layers: list[ViewLayer], ops: list[_Op], output: str, input_shape: tuple[int, ...]
    ) -> None:
        self.layers = layers
        self.ops = ops
        self.output = output
        self.input_shape = tuple(input_shape)

    @property
    def widths(self) -> list[int]:
        """Neurons per layer, the input first."""
        return [int(layer.width or 0) for layer in self.layers]

    @property
    def feeds(self) -> list[tuple[int, int]]:
        """``(source, target)`` layer indices of every connection, in target order."""
        pairs = [(i.source, t) for t, layer in enumerate(self.layers) for i in layer.inputs]
        return list(dict.fromkeys(pairs))

    @property
    def is_chain(self) -> bool:
        """Whether every layer after the input is a weight layer fed by the one before it."""
        return all(
            layer.kind != SUM
            and len(layer.inputs) == 1
            and layer.inputs[0].source == t - 1
            and layer.inputs[0].scale is None
            for t, layer in enumerate(self.layers[1:], start=1)
        )

    def _apply(self, layer: ViewLayer, x: torch.Tensor) -> torch.Tensor:
        if layer.kind == "linear":
            return F.linear(x, layer.weight, layer.bias)
        return F.conv2d(x, layer.weight, layer.bias, **layer.conv)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output on a batch ``(N, *input_shape)``, computed in float64."""
        values = {INPUT: x.double()}
        with torch.no_grad():
            for op in self.ops:
                if op.fn is not None:
                    values[op.out] = op.fn(values[op.args[0]])
                elif self.layers[op.layer].kind == SUM:
                    total = values[op.args[0]]
                    for name in op.args[1:]:
                        total = total + values[name]
                    values[op.out] = total
                else:
                    values[op.out] = self._apply(self.layers[op.layer], values[op.args[0]])
        return values[self.output]


@dataclass
class _Value:
    """What the walk knows about a tensor of the data flow."""

    layer: int
    shape: tuple[int, ...]
    group: int = 1
    scale: torch.Tensor | None = None
    fresh: bool = False
    direct: bool = False
    parts: tuple | None = None


def _packet(target: object) -> str:
    """``relu`` for ``aten.relu_.default``: the op's name without overload or in-place mark."""
    if isinstance(target, torch._ops.OpOverload):
        name = target.overloadpacket.__name__
        return name[:-1] if name.endswith("_") and not name.endswith("__") else name
    return getattr(target, "__name__", str(target))


def _op_name(target: object) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target.overloadpacket.__name__}"
    return getattr(target, "__name__", None) or str(target)


def _bind(node: torch.fx.Node) -> dict:
    """The node's arguments by name, defaults filled in from the op's schema."""
    schema = node.target._schema
    bound = {}
    for i, argument in enumerate(schema.arguments):
        if i < len(node.args):
            bound[argument.name] = node.args[i]
        elif argument.name in node.kwargs:
            bound[argument.name] = node.kwargs[argument.name]
        elif argument.has_default_value():
            bound[argument.name] = argument.default_value
    return bound


def _where(node: torch.fx.Node) -> str:
    """``module 'layer1.0' (BasicBlock)`` or ``the model's forward``."""
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path, kind = list(stack.values())[-1]
        kind = kind.rsplit(".", 1)[-1] if isinstance(kind, str) else getattr(kind, "__name__", "")
        if path:
            return f"module {path!r} ({kind})"
    return "the model's forward"


def _module_path(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


def _shape(node: torch.fx.Node) -> tuple[int, ...]:
    value = node.meta.get("val")
    return tuple(int(s) for s in value.shape) if isinstance(value, torch.Tensor) else ()


def _constant_call(target, node_args: tuple, kwargs: dict) -> Callable:
    """``x -> target(x, *node_args[1:], **kwargs)``, the op made out-of-place."""
    if isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable:
        packet = getattr(torch.ops.aten, _packet(target))
        target = getattr(packet, target._overloadname)
    rest = tuple(node_args[1:])

    def call(x: torch.Tensor) -> torch.Tensor:
        return target(x, *rest, **kwargs)

    return call


def _per_unit(scale: torch.Tensor, shift: torch.Tensor) -> Callable:
    def affine(x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * scale.view(shape) + shift.view(shape)

    return affine


def _first(fn: Callable) -> Callable:
    """``x -> fn(x)[0]``: the values of an op that also returns indices."""

    def first(x: torch.Tensor) -> torch.Tensor:
        return fn(x)[0]

    return first


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)


class _Reader:
    """One walk over an exported program's graph (see :func:`read_view`)."""

    def __init__(self, program: torch.export.ExportedProgram) -> None:
        self.program = program
        self.tensors: dict[str, torch.Tensor] = {}
        self.targets: dict[str, str] = {}
        self.values: dict[str, _Value] = {}
        self.layers: list[ViewLayer] = []
        self.ops: list[_Op] = []
        self.names: set[str] = set()
        self.weights: set[str] = set()
        self.input_shape: tuple[int, ...] = ()
        state = {**program.state_dict, **program.constants}
        kinds = torch.export.graph_signature.InputKind
        user_inputs = []
        for spec in program.graph_signature.input_specs:
            if spec.kind == kinds.USER_INPUT:
                user_inputs.append(spec.arg.name)
            elif spec.target in state:
                self.tensors[spec.arg.name] = state[spec.target]
                self.targets[spec.arg.name] = spec.target
        if len(user_inputs) != 1:
            raise IngestError(
                f"the model takes {len(user_inputs)} inputs; only models of one input tensor "
                "are read"
            )
        self.input_name = user_inputs[0]

    # -- helpers ---------------------------------------------------------------------------
    def refuse(self, node: torch.fx.Node, why: str) -> IngestError:
        return IngestError(f"{_op_name(node.target)} in {_where(node)} {why}")

    def value(self, arg: object) -> _Value | None:
        return self.values.get(arg.name) if isinstance(arg, torch.fx.Node) else None

    def parameter(self, node: torch.fx.Node, arg: object, what: str) -> torch.Tensor | None:
        if arg is None:
            return None
        if isinstance(arg, torch.fx.Node) and arg.name in self.tensors:
            return self.tensors[arg.name].detach().double().clone()
        raise self.refuse(node, f"takes a {what} computed in the forward, not a parameter")

    def claim(self, node: torch.fx.Node, value: _Value, units: int) -> None:
        """``value`` carries ``units`` units of its layer; fixes the input layer's width."""
        layer = self.layers[value.layer]
        if layer.width is None:
            layer.width = units
        elif layer.width != units:
            raise self.refuse(
                node,
                f"reads {units} units of layer {layer.name!r}, which has {layer.width} "
                "(the input read both per channel and per feature?)",
            )

    def units(self, value: _Value) -> int:
        return value.shape[1] if len(value.shape) >= 3 else value.shape[1] // value.group

    def layer_name(self, name: str) -> str:
        candidate, i = name, 1
        while candidate in self.names:
            candidate = f"{name}_{i}"
            i += 1
        self.names.add(candidate)
        return candidate

    def add_layer(self, layer: ViewLayer) -> int:
        self.layers.append(layer)
        return len(self.layers) - 1

    # -- the walk --------------------------------------------------------------------------
    def read(self) -> ModelView:
        output = None
        for node in self.program.graph.nodes:
            if node.op == "placeholder":
                if node.name == self.input_name:
                    self.start(node)
                continue
            if node.op == "output":
                output = self.finish(node)
                continue
            if node.op != "call_function":
                data = [a for a in node.all_input_nodes if a.name in self.values]
                if data:
                    raise self.refuse(node, "is not an operation the neuron graph reads")
                continue
            self.step(node)
        for layer in self.layers:
            if layer.width is None:
                layer.width = self.input_shape[0] if self.input_shape else 0
        if not any(layer.kind in ("linear", "conv2d") for layer in self.layers):
            raise IngestError("the model has no Linear or Conv2d layer to ingest")
        return ModelView(self.layers, self.ops, output, self.input_shape)

    def start(self, node: torch.fx.Node) -> None:
        shape = _shape(node)
        if len(shape) < 2:
            raise IngestError(f"the model's input has shape {shape}; give a batch of examples")
        self.input_shape = shape[1:]
        width = shape[1] if len(shape) == 2 else None
        self.names.add(INPUT)
        self.add_layer(ViewLayer(INPUT, "input", width))
        self.values[node.name] = _Value(0, shape, direct=True)
        self.input_node = node.name

    def arg_name(self, arg: torch.fx.Node) -> str:
        return INPUT if arg.name == self.input_node else arg.name

    def finish(self, node: torch.fx.Node) -> str:
        outputs = node.args[0]
        outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        if len(outputs) != 1 or self.value(outputs[0]) is None:
            raise IngestError(
                f"the model returns {len(outputs)} outputs; only models that return one tensor "
                "computed from their input are read"
            )
        return self.arg_name(outputs[0])

    def step(self, node: torch.fx.Node) -> None:
        target = node.target
        data = [a for a in node.all_input_nodes if a.name in self.values]
        if target is operator.getitem:
            self.getitem(node)
            return
        if not data:
            return  # shape checks and computations on parameters alone; readers refuse these
        if not isinstance(target, torch._ops.OpOverload):
            raise self.refuse(node, f"is not read by the neuron graph (supported: {SUPPORTED})")
        name = _packet(target)
        if name == "linear":
            self.weight_layer(node, "linear")
        elif name == "conv2d":
            self.weight_layer(node, "conv2d")
        elif name in _NORMS:
            self.norm(node, name)
        elif name in _ADDS:
            self.add(node)
        elif name in _ACTIVATIONS:
            self.unit_op(node, data, activation=_ACTIVATIONS[name])
        elif name in _IDENTITIES:
            bound = _bind(node)
            if bound.get("train", False):
                raise self.refuse(node, "runs in training mode; put it in eval mode")
            self.unit_op(node, data, fn=_identity)
        elif name in _COPIES:
            self.unit_op(node, data, fn=_identity)
        elif name in _POOLING or name in _TUPLE_POOLING or name == "mean":
            self.pool(node, data, name)
        elif name in _RESHAPES:
            self.reshape(node, data)
        elif name.startswith(_CHECKS):
            return
        else:
            raise self.refuse(node, f"is not read by the neuron graph yet (supported: {SUPPORTED})")

    def single(self, node: torch.fx.Node, data: list) -> _Value:
        if len(data) != 1 or node.args[0] is not data[0]:
            raise self.refuse(node, "combines several tensors of the data flow")
        return self.values[data[0].name]

    def record(self, node: torch.fx.Node, value: _Value, op: _Op) -> None:
        self.ops.append(op)
        self.values[node.name] = value

    def unit_op(
        self,
        node: torch.fx.Node,
        data: list,
        *,
        activation: str | None = None,
        fn: Callable | None = None,
    ) -> None:
        x = self.single(node, data)
        if _shape(node) != x.shape:
            raise self.refuse(node, f"changes the shape {x.shape} to {_shape(node)}")
        if activation is not None:
            fn = _constant_call(node.target, node.args, dict(node.kwargs))
            if x.direct and len(node.args[0].users) == 1:
                self.layers[x.layer].activation.append(activation)
        alone = len(node.args[0].users) == 1
        out = _Value(
            x.layer,
            x.shape,
            x.group,
            x.scale,
            fresh=x.fresh and fn is _identity and alone,
            direct=x.direct and alone,
        )
        self.record(node, out, _Op(node.name, (self.arg_name(node.args[0]),), fn=fn))

    def pool(self, node: torch.fx.Node, data: list, name: str) -> None:
        x = self.single(node, data)
        if len(x.shape) < 3:
            raise self.refuse(node, f"pools a {len(x.shape)}-D tensor; only conv maps are pooled")
        shape = _shape(node) if name not in _TUPLE_POOLING else _shape_of_part(node)
        if name == "mean":
            dims = _bind(node).get("dim") or []
            dims = [d % len(x.shape) for d in dims]
            if not dims or min(dims) < 2:
                raise self.refuse(node, "averages over the batch or the channels")
        if len(shape) < 2 or shape[0] != x.shape[0] or shape[1] != x.shape[1]:
            raise self.refuse(node, f"changes the channels: {x.shape} to {shape}")
        fn = _constant_call(node.target, node.args, dict(node.kwargs))
        out = _Value(x.layer, shape, 1, x.scale)
        if name in _TUPLE_POOLING:
            fn = _first(fn)
            out.parts = ("pooled",)
        self.record(node, out, _Op(node.name, (self.arg_name(node.args[0]),), fn=fn))

    def getitem(self, node: torch.fx.Node) -> None:
        source, index = node.args
        value = self.value(source)
        if value is None:
            return
        if value.parts is None or index != 0:
            if node.users:
                raise self.refuse(node, f"uses output {index} of {source.name}")
            return
        self.values[node.name] = _Value(
            value.layer, value.shape, value.group, value.scale, value.fresh, value.direct
        )
        self.ops.append(_Op(node.name, (self.arg_name(source),), fn=_identity))

    def reshape(self, node: torch.fx.Node, data: list) -> None:
        x = self.single(node, data)
        shape = _shape(node)
        if shape == x.shape:
            self.unit_op(node, data, fn=_identity)
            return
        features = math.prod(x.shape[1:])
        if len(shape) != 2 or shape[0] != x.shape[0] or shape[1] != features:
            raise self.refuse(
                node,
                f"reshapes {x.shape} to {shape}; only flattening an example's features is read",
            )
        layer = self.layers[x.layer]
        if len(x.shape) == 2:
            group = x.group
        elif x.layer == 0 and layer.width in (None, features):
            layer.width, group = features, 1  # the input's pixels are its units, as for chains
        else:
            self.claim(node, x, x.shape[1])
            group = math.prod(x.shape[2:])
        out = _Value(x.layer, shape, group, x.scale, direct=False)
        self.record(node, out, _Op(node.name, (self.arg_name(node.args[0]),), fn=_flatten))

    def weight_layer(self, node: torch.fx.Node, kind: str) -> None:
        bound = _bind(node)
        x = self.value(bound["input"])
        if x is None or any(
            self.value(bound.get(k)) is not None for k in ("weight", "bias") if k in bound
        ):
            raise self.refuse(node, "multiplies two tensors of the data flow")
        weight = self.parameter(node, bound["weight"], "weight")
        bias = self.parameter(node, bound.get("bias"), "bias")
        if bias is None:
            bias = torch.zeros(weight.shape[0], dtype=torch.float64)
        if min(weight.shape) == 0:
            raise self.refuse(node, f"has a zero-width weight {tuple(weight.shape)}")
        conv: dict = {}
        if kind == "linear":
            if len(x.shape) != 2:
                raise self.refuse(
                    node,
                    f"reads a {len(x.shape)}-D input {x.shape}; only Linear layers on "
                    "(batch, features) are read yet (no sequence or token models)",
                )
            if weight.shape[1] % x.group:
                raise self.refuse(node, "reads features that do not group into units")
            self.claim(node, x, weight.shape[1] // x.group)
        else:
            if bound.get("groups", 1) != 1:
                raise self.refuse(node, f"has groups={bound['groups']}; only groups=1 is read")
            if len(x.shape) != 4:
                raise self.refuse(node, f"reads a {len(x.shape)}-D input; give a batch of maps")
            self.claim(node, x, x.shape[1])
            conv = {k: bound[k] for k in ("stride", "padding", "dilation")}
        path = self.targets[bound["weight"].name]
        base = path[: -len(".weight")] if path.endswith(".weight") else path
        if base in self.weights:
            raise self.refuse(
                node,
                f"uses the weights of {base!r} a second time; shared weights are not read yet",
            )
        self.weights.add(base)
        layer = ViewLayer(
            self.layer_name(base),
            kind,
            int(weight.shape[0]),
            weight,
            bias,
            conv,
            [ViewInput(x.layer, x.group if kind == "linear" else 1, x.scale)],
        )
        index = self.add_layer(layer)
        self.record(
            node,
            _Value(index, _shape(node), fresh=True, direct=True),
            _Op(node.name, (self.arg_name(bound["input"]),), layer=index),
        )

    def norm(self, node: torch.fx.Node, name: str) -> None:
        bound = _bind(node)
        x = self.value(bound["input"])
        if bound.get("training", False):
            raise self.refuse(node, "runs in training mode; put the model in eval mode")
        tensors = {
            k: self.parameter(node, bound.get(k), k)
            for k in ("weight", "bias", "running_mean", "running_var")
        }
        if tensors["running_mean"] is None or tensors["running_var"] is None:
            raise self.refuse(node, "has no running statistics (track_running_stats=False)")
        var, mean = tensors["running_var"], tensors["running_mean"]
        gamma = tensors["weight"] if tensors["weight"] is not None else torch.ones_like(var)
        beta = tensors["bias"] if tensors["bias"] is not None else torch.zeros_like(var)
        scale = gamma / torch.sqrt(var + float(bound["eps"]))
        source = bound["input"]
        parts = ("normed",) if name != "batch_norm" else None
        layer = self.layers[x.layer]
        if x.fresh and len(source.users) == 1 and layer.kind in ("linear", "conv2d"):
            shape = (-1,) + (1,) * (layer.weight.dim() - 1)
            layer.weight = layer.weight * scale.view(shape)
            layer.bias = (layer.bias - mean) * scale + beta
            out = _Value(x.layer, x.shape, x.group, x.scale, True, x.direct, parts)
            self.record(node, out, _Op(node.name, (self.arg_name(source),), fn=_identity))
            return
        if len(x.shape) == 2 and x.group != 1:
            raise self.refuse(node, "normalises the features of a flattened map one by one")
        self.claim(node, x, x.shape[1])
        shift = beta - mean * scale
        combined = scale if x.scale is None else x.scale * scale
        out = _Value(x.layer, x.shape, x.group, combined, False, x.direct, parts)
        self.record(node, out, _Op(node.name, (self.arg_name(source),), fn=_per_unit(scale, shift)))

    def add(self, node: torch.fx.Node) -> None:
        bound = _bind(node)
        a, b = self.value(bound.get("self")), self.value(bound.get("other"))
        if a is None or b is None:
            raise self.refuse(
                node,
                "adds a constant or a parameter to the data flow; only adds of two tensors of "
                "the data flow (residual connections) are read",
            )
        if bound.get("alpha", 1) != 1:
            raise self.refuse(node, f"adds with alpha={bound['alpha']}; only plain adds are read")
        if a.shape != b.shape:
            raise self.refuse(node, f"adds tensors of shapes {a.shape} and {b.shape}")
        if len(a.shape) == 2 and a.group != b.group:
            raise self.refuse(node, "adds flattened maps whose features group differently")
        units = self.units(a)
        self.claim(node, a, units)
        self.claim(node, b, units)
        path = _module_path(node)
        layer = ViewLayer(
            self.layer_name(f"{path}.add" if path else "add"),
            SUM,
            units,
            inputs=[ViewInput(a.layer, 1, a.scale), ViewInput(b.layer, 1, b.scale)],
        )
        index = self.add_layer(layer)
        args = (self.arg_name(bound["self"]), self.arg_name(bound["other"]))
        self.record(node, _Value(index, a.shape, a.group, direct=True), _Op(node.name, args, index))


def _shape_of_part(node: torch.fx.Node) -> tuple[int, ...]:
    value = node.meta.get("val")
    if isinstance(value, tuple | list) and value and isinstance(value[0], torch.Tensor):
        return tuple(int(s) for s in value[0].shape)
    return ()


def read_view(model: nn.Module, example_input: torch.Tensor) -> ModelView:
    """Read an eager module's data flow as a DAG of neuron layers.

    Parameters
    ----------
    model : nn.Module
        An eager module, a TorchScript module or a saved program (put in eval mode; see
        :func:`~neurongraph.model.export.export_program`).
    example_input : torch.Tensor
        A batch ``(N, *input_shape)`` with N >= 2 (see
        :func:`~neurongraph.model.extract.example_batch`); the view is also checked on it.

    Returns
    -------
    ModelView
        Float64 layers that reproduce the model's output on ``example_input`` and on seeded
        random batches of its example shape, within the tolerances of
        :func:`~neurongraph.model.extract.extract_chain`.

    Raises
    ------
    IngestError
        A model ``torch.export`` cannot capture, a TorchScript operation that is not
        translated, an operation the view does not read (named, with its module), NaN/Inf
        weights, or a view that does not reproduce the model.
    """
    from neurongraph.model.extract import _check_batches, _mismatch, _one_line, check_runs

    model = model.eval()
    check_runs(model, example_input)
    try:
        program = export_program(model, example_input)
    except IngestError:
        raise
    except Exception as err:  # export fails in many ways on what it cannot capture
        raise IngestError(
            f"torch.export cannot capture the model's data flow ({_one_line(err)}); "
            "data-dependent control flow is not supported"
        ) from err
    view = _Reader(program).read()
    for layer in view.layers:
        for tensor in (layer.weight, layer.bias):
            if tensor is not None and not bool(torch.isfinite(tensor).all()):
                raise IngestError(
                    f"layer {layer.name!r} has NaN or Inf weights or biases; "
                    "re-train or fix the checkpoint before ingesting it"
                )
    for what, batch in _check_batches(example_input):
        mismatch = _mismatch(model, view, batch)
        if mismatch is not None:
            raise IngestError(
                f"the model's neuron-graph view does not reproduce its output: on {what} "
                f"{mismatch}; an operation changes values in a way the view does not read"
            )
    log.info(
        "read the model as a %s of %d layers",
        "chain" if view.is_chain else "DAG",
        len(view.layers),
    )
    return view
