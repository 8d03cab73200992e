"""A TorchScript module as a ``torch.fx`` graph of ATen operations, so that ``torch.export``
(and the view reader after it) sees the same operations as for the eager module.

A TorchScript file cannot be exported, but its ``inlined_graph`` holds the ATen operations its
forward runs (``aten::linear``, ``aten::conv2d``, ``aten::batch_norm``, ``aten::add`` ...),
around the bookkeeping TorchScript adds: ``prim::GetAttr`` chains that reach parameters,
buffers and attributes through the module tree, ``prim::Constant``, list and tuple
construction, and ``prim::If`` / ``prim::Loop`` on module attributes and shapes (a BatchNorm's
``if self.training``). :func:`script_graph_module` evaluates the bookkeeping on the example
input (as ``torch.jit.trace`` and ``torch.export`` specialise shapes) and keeps every
operation on tensors as a ``call_function`` node of its ``torch.ops.aten`` overload:

- parameters and buffers keep their dotted paths (``blocks.0.fc1.weight``) as attributes of
  submodules of the graph module, so layers keep their names;
- each node carries the module it ran in (``nn_module_stack``, from TorchScript's module
  hierarchy), so sums are named after their module (``layer1.add``) and refusals name it;
- in-place operations (``aten::relu_``, ``aten::add_``) stay in place, as in an eager
  module's export (the graph module runs them on the same tensors as TorchScript does);
- a traced convolution (``aten::_convolution``) becomes ``aten.conv1d`` / ``conv2d``.

Operations outside :data:`TRANSLATED` (recurrent cells such as ``aten::lstm``, calls that were
not inlined), control flow that depends on tensor values, and in-place updates of parameters
are refused with an :class:`~neurongraph.errors.IngestError` naming the TorchScript operation
and the module it is in.
"""

from __future__ import annotations

import logging
import operator
import re
from dataclasses import dataclass

import torch
from torch import fx, nn

from neurongraph.errors import IngestError
from neurongraph.model.operations import READ_OPERATIONS

__all__ = ["METADATA", "TRANSLATED", "script_graph_module"]

log = logging.getLogger(__name__)

#: ATen operations on tensors that the translation carries over (in-place forms included):
#: what the view reads, a traced convolution, and tensors made from shapes (masks, positions).
TRANSLATED = READ_OPERATIONS | {
    "_convolution",
    "baddbmm",
    "zeros",
    "ones",
    "zeros_like",
    "ones_like",
    "arange",
    "full",
}
#: Operations that read a tensor's metadata (shape, rank, device), not its values: evaluated
#: on the example input.
METADATA = frozenset(
    {
        "aten::size",
        "aten::dim",
        "aten::len",
        "aten::numel",
        "aten::is_floating_point",
        "prim::shape",
        "prim::device",
        "prim::dtype",
        "prim::is_cuda",
        "aten::__is__",
        "aten::__isnot__",
    }
)
#: TorchScript operations on numbers, lists and strings (shapes, flags), evaluated in Python.
_PYTHON = {
    "aten::len": len,
    "aten::eq": operator.eq,
    "aten::ne": operator.ne,
    "aten::lt": operator.lt,
    "aten::le": operator.le,
    "aten::gt": operator.gt,
    "aten::ge": operator.ge,
    "aten::add": operator.add,
    "aten::sub": operator.sub,
    "aten::mul": operator.mul,
    "aten::floordiv": operator.floordiv,
    "aten::div": operator.truediv,
    "aten::neg": operator.neg,
    "aten::__not__": operator.not_,
    "aten::__and__": operator.and_,
    "aten::__or__": operator.or_,
    "aten::__is__": operator.is_,
    "aten::__isnot__": operator.is_not,
    "aten::Int": int,
    "aten::Float": float,
    "aten::Bool": bool,
    "aten::format": lambda text, *args: text.format(*args),
    "aten::warn": lambda *args: None,
    "aten::list": list,
    "prim::min": min,
    "prim::max": max,
    "prim::NumToTensor": torch.scalar_tensor,
    "prim::unchecked_cast": lambda x: x,
    "prim::Uninitialized": lambda: None,
    "prim::device": lambda x: x.device,
    "prim::dtype": lambda x: x.dtype,
    "prim::is_cuda": lambda x: x.is_cuda,
    "prim::shape": lambda x: list(x.shape),
    "aten::size": lambda x, dim=None: list(x.shape) if dim is None else x.shape[dim],
    "aten::dim": lambda x: x.dim(),
    "aten::numel": lambda x: x.numel(),
    "aten::is_floating_point": lambda x: x.is_floating_point(),
}
#: TorchScript operations on lists, tuples and dicts, which may hold tensors of the graph.
_CONTAINERS = {
    "aten::__getitem__": operator.getitem,
    "aten::len": len,
    "aten::__contains__": lambda container, item: item in container,
    "aten::append": lambda items, item: items.append(item) or items,
}
#: ``name(Type)`` steps of ``torch._C.Node.getModuleHierarchy()``.
_HIERARCHY_STEP = re.compile(r"([^.()]+)\(([^()]*)\)")
#: What the module hierarchy says for a call of a function (``F.softmax``) inside a module.
_FUNCTION_CALL = "UNKNOWN_INSTANCE"
#: Containers that a forward iterates or indexes without calling them: TorchScript's module
#: hierarchy leaves them out (``0(Block)`` for ``blocks.0`` of a ModuleList ``blocks``).
_UNCALLED = frozenset({"ModuleList", "ModuleDict"})
#: Dotted module paths by their ``(name, type)`` steps in the module hierarchy (_module_paths).
_Paths = dict[tuple[tuple[str, str], ...], str]
#: Dtypes by TorchScript's ScalarType number (the order of ``c10::ScalarType``).
_DTYPES = (
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.float32,
    torch.float64,
    torch.complex32,
    torch.complex64,
    torch.complex128,
    torch.bool,
)


@dataclass(frozen=True)
class _Module:
    """A submodule reached by ``prim::GetAttr``, with its dotted path."""

    module: torch.jit.ScriptModule
    path: str


@dataclass(frozen=True)
class _Tensor:
    """A tensor of the fx graph (computed in the forward, or a parameter), with its value on
    the example input."""

    node: fx.Node
    example: torch.Tensor


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _module_paths(model: torch.jit.ScriptModule) -> _Paths:
    """The dotted path of every submodule of ``model`` by its steps in TorchScript's module
    hierarchy, ``(name, type)`` each, which leave out :data:`_UNCALLED` containers: ``((
    '0', 'Block'),)`` is ``blocks.0`` for a ModuleList ``blocks``. Steps that two submodules
    share (two ModuleLists of the same blocks) are left out, and keep their hierarchy names."""
    kinds = {path: module.original_name for path, module in model.named_modules()}
    found: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for path in kinds:
        parts = path.split(".") if path else []
        prefixes = [".".join(parts[: k + 1]) for k in range(len(parts))]
        steps = tuple(
            (part, kinds[prefix])
            for part, prefix in zip(parts, prefixes, strict=True)
            if kinds[prefix] not in _UNCALLED
        )
        found.setdefault(steps, []).append(path)
    return {steps: paths[0] for steps, paths in found.items() if len(paths) == 1}


def _hierarchy(node: torch._C.Node, paths: _Paths) -> list[tuple[str, str]]:
    """``[('layer1', 'BasicBlock'), ('layer1.conv1', 'Conv2d')]``: the modules a node ran in,
    by their dotted paths where ``paths`` (:func:`_module_paths`) knows them."""
    result, steps, path = [], (), ""
    for name, kind in _HIERARCHY_STEP.findall(node.getModuleHierarchy() or ""):
        if name == _FUNCTION_CALL:
            continue
        kind = kind.rsplit(".", 1)[-1]
        path, steps = _join(path, name), (*steps, (name, kind))
        result.append((paths.get(steps, path), kind))
    return result


def _where(node: torch._C.Node, paths: _Paths) -> str:
    steps = _hierarchy(node, paths)
    if steps:
        path, kind = steps[-1]
        return f"module {path!r} ({kind})"
    return "the model's forward"


def _refuse(node: torch._C.Node, why: str, paths: _Paths) -> IngestError:
    """The refusal of ``node``, naming its module by its dotted path (:func:`_module_paths`)."""
    return IngestError(f"{node.kind()} in {_where(node, paths)} {why}")


def _is_tensor_type(value: torch._C.Value) -> bool:
    return isinstance(value.type(), torch._C.TensorType)


def _holds_tensor(value: object) -> bool:
    """Whether a value is, or holds, a tensor of the graph."""
    if isinstance(value, list | tuple):
        return any(_holds_tensor(v) for v in value)
    return isinstance(value, _Tensor)


def _example(value: object) -> object:
    if isinstance(value, _Tensor):
        return value.example
    if isinstance(value, list | tuple):
        return type(value)(_example(v) for v in value)
    return value


def _overload(
    node: torch._C.Node, paths: _Paths
) -> tuple[torch._ops.OpOverload, torch._C.FunctionSchema]:
    """The ``torch.ops.aten`` overload of a TorchScript ATen node."""
    schema = node.schema()
    if schema == "(no schema)":
        raise _refuse(node, "has no operator schema; it cannot be translated", paths)
    parsed = torch._C.parse_schema(schema)
    packet = getattr(torch.ops.aten, parsed.name.split("::", 1)[1], None)
    overload = getattr(packet, parsed.overload_name or "default", None) if packet else None
    if overload is None:
        raise _refuse(node, "has no ATen operator; it cannot be translated", paths)
    return overload, parsed


class _Translator:
    """One pass over a TorchScript module's inlined graph (see :func:`script_graph_module`)."""

    def __init__(self, model: torch.jit.ScriptModule) -> None:
        self.model = model
        self.paths = _module_paths(model)
        self.root = nn.Module()
        self.graph = fx.Graph()
        self.values: dict[int, object] = {}
        self.attributes: dict[str, _Tensor] = {}
        self.constants = 0

    def refuse(self, node: torch._C.Node, why: str) -> IngestError:
        return _refuse(node, why, self.paths)

    # -- values ----------------------------------------------------------------------------
    def get(self, value: torch._C.Value) -> object:
        return self.values[value.unique()]

    def set(self, value: torch._C.Value, obj: object) -> None:
        self.values[value.unique()] = obj

    def attribute(self, owner: _Module, name: str) -> object:
        found = getattr(owner.module, name)
        path = _join(owner.path, name)
        if isinstance(found, torch.jit.ScriptModule):
            return _Module(found, path)
        if isinstance(found, torch.Tensor):
            return self.state(path, found, owner.module, name)
        return found

    def state(
        self, path: str, tensor: torch.Tensor, owner: torch.jit.ScriptModule, name: str
    ) -> _Tensor:
        """A parameter or buffer as a ``get_attr`` node at its own dotted path."""
        if path not in self.attributes:
            holder = self.root
            for part in path.split(".")[:-1]:
                if not hasattr(holder, part):
                    holder.add_module(part, nn.Module())
                holder = getattr(holder, part)
            parameters = dict(owner.named_parameters(recurse=False))
            if name in parameters:
                holder.register_parameter(name, nn.Parameter(tensor.detach(), False))
            else:
                holder.register_buffer(name, tensor.detach())
            node = self.graph.get_attr(path)
            self.attributes[path] = _Tensor(node, tensor.detach())
        return self.attributes[path]

    def constant(self, tensor: torch.Tensor) -> _Tensor:
        """A tensor constant of the graph (a ``prim::Constant`` or one computed from numbers),
        kept as a buffer of the graph module."""
        name = f"_constant{self.constants}"
        self.constants += 1
        self.root.register_buffer(name, tensor.detach())
        return _Tensor(self.graph.get_attr(name), tensor.detach())

    def fx_arg(self, value: object) -> object:
        if isinstance(value, _Tensor):
            return value.node
        if isinstance(value, torch.Tensor):
            return self.constant(value).node
        if isinstance(value, list | tuple):
            return type(value)(self.fx_arg(v) for v in value)
        if isinstance(value, _Module):
            raise IngestError(f"a module ({value.path!r}) is passed as a value")
        return value

    # -- the walk --------------------------------------------------------------------------
    def run(self, example: torch.Tensor) -> fx.GraphModule:
        graph = self.model.inlined_graph
        inputs = list(graph.inputs())
        if len(inputs) != 2:
            raise IngestError(
                f"the TorchScript model takes {len(inputs) - 1} inputs; only models of one "
                "input tensor are read"
            )
        self.set(inputs[0], _Module(self.model, ""))
        self.set(inputs[1], _Tensor(self.graph.placeholder("x"), example.clone()))
        outputs = self.block(graph.nodes(), graph.return_node())
        result = outputs[0] if len(outputs) == 1 else tuple(outputs)
        self.graph.output(self.fx_arg(result))
        module = fx.GraphModule(self.root, self.graph, class_name=self.model.original_name)
        return module.eval()

    def block(self, nodes, returned: torch._C.Node) -> list:
        for node in nodes:
            self.node(node)
        return [self.get(v) for v in returned.inputs()]

    def node(self, node: torch._C.Node) -> None:
        kind = node.kind()
        if kind == "prim::Constant":
            self.set(node.output(), node.output().toIValue())
        elif kind == "prim::GetAttr":
            owner = self.get(node.input())
            if not isinstance(owner, _Module):
                raise self.refuse(node, "reads an attribute of something other than a module")
            self.set(node.output(), self.attribute(owner, node.s("name")))
        elif kind == "prim::ListConstruct":
            self.set(node.output(), [self.get(v) for v in node.inputs()])
        elif kind == "prim::TupleConstruct":
            self.set(node.output(), tuple(self.get(v) for v in node.inputs()))
        elif kind in ("prim::ListUnpack", "prim::TupleUnpack"):
            items = self.get(node.input())
            for out, item in zip(node.outputs(), items, strict=True):
                self.set(out, item)
        elif kind == "prim::TupleIndex":
            self.set(node.output(), self.get(node.inputsAt(0))[self.get(node.inputsAt(1))])
        elif kind == "prim::If":
            self.branch(node)
        elif kind == "prim::Loop":
            self.loop(node)
        elif kind == "prim::RaiseException":
            raise self.refuse(node, "raises an exception on the example input")
        elif kind in _CONTAINERS and isinstance(
            self.get(node.inputsAt(0)), list | tuple | dict | str
        ):
            result = _CONTAINERS[kind](*[self.get(v) for v in node.inputs()])
            self.set(node.output(), result)
        elif kind in METADATA or (
            kind in _PYTHON and not any(_holds_tensor(self.get(v)) for v in node.inputs())
        ):
            self.python(node)
        elif kind.startswith("aten::"):
            self.aten(node)
        else:
            raise self.refuse(node, "is not translated from TorchScript")

    def python(self, node: torch._C.Node) -> None:
        args = [_example(self.get(v)) for v in node.inputs()]
        try:
            result = _PYTHON[node.kind()](*args)
        except Exception as err:
            raise self.refuse(node, f"cannot be evaluated ({type(err).__name__})") from err
        if node.outputsSize():
            self.set(node.output(), result)

    def condition(self, node: torch._C.Node, value: object) -> bool:
        if isinstance(value, _Tensor) or not isinstance(value, bool | int):
            raise self.refuse(
                node,
                "branches on the values of a tensor (data-dependent control flow), which the "
                "neuron graph cannot read",
            )
        return bool(value)

    def branch(self, node: torch._C.Node) -> None:
        taken = list(node.blocks())[0 if self.condition(node, self.get(node.input())) else 1]
        for out, value in zip(
            node.outputs(), self.block(taken.nodes(), taken.returnNode()), strict=True
        ):
            self.set(out, value)

    def loop(self, node: torch._C.Node) -> None:
        trips, go, *carried = [self.get(v) for v in node.inputs()]
        (body,) = list(node.blocks())
        if isinstance(trips, _Tensor) or not isinstance(trips, int):
            raise self.refuse(node, "loops a number of times that depends on tensor values")
        step = 0
        while step < trips and self.condition(node, go):
            index, *state = list(body.inputs())
            self.set(index, step)
            for value, item in zip(state, carried, strict=True):
                self.set(value, item)
            go, *carried = self.block(body.nodes(), body.returnNode())
            step += 1
        for out, value in zip(node.outputs(), carried, strict=True):
            self.set(out, value)

    def aten(self, node: torch._C.Node) -> None:
        name = node.kind().split("::", 1)[1]
        base = name[:-1] if name.endswith("_") and not name.endswith("__") else name
        if not all(_is_tensor_type(v) or _is_tensor_list(v) for v in node.outputs()):
            raise self.refuse(
                node,
                "turns a tensor into a number (data-dependent control flow), which the "
                "neuron graph cannot read",
            )
        if base not in TRANSLATED:
            raise self.refuse(
                node,
                "is not translated from TorchScript (recurrent cells and other operations "
                "outside the feed-forward ATen set are not read)",
            )
        values = [self.get(v) for v in node.inputs()]
        in_place = base != name
        if in_place and (not isinstance(values[0], _Tensor) or values[0].node.op == "get_attr"):
            raise self.refuse(node, "changes a parameter, buffer or constant in place")
        overload, schema = _overload(node, self.paths)
        if base == "_convolution":
            overload, values, schema = _convolution(node, values, self.paths)
        args, kwargs = [], {}
        for argument, value in zip(schema.arguments, values, strict=False):
            value = _dtype(argument, value)
            if argument.kwarg_only:
                kwargs[argument.name] = value
            else:
                args.append(value)
        try:
            example = overload(*_example(args), **_example(kwargs))
        except Exception as err:
            raise self.refuse(node, f"fails on the example input ({type(err).__name__})") from err
        call = self.graph.call_function(
            overload,
            tuple(self.fx_arg(a) for a in args),
            {k: self.fx_arg(v) for k, v in kwargs.items()},
        )
        steps = _hierarchy(node, self.paths)
        if steps:
            call.meta["nn_module_stack"] = {
                f"L__self___{path.replace('.', '_')}": (path, kind) for path, kind in steps
            }
        outputs = list(node.outputs())
        if len(outputs) == 1 and not isinstance(example, tuple | list):
            self.set(outputs[0], _Tensor(call, example))
            return
        parts = list(example)
        items = [
            _Tensor(self.graph.call_function(operator.getitem, (call, i)), part)
            for i, part in enumerate(parts)
        ]
        if len(outputs) == 1:
            self.set(outputs[0], items)
        else:
            for out, item in zip(outputs, items, strict=True):
                self.set(out, item)


def _is_tensor_list(value: torch._C.Value) -> bool:
    kind = value.type()
    return isinstance(kind, torch._C.ListType) and isinstance(
        kind.getElementType(), torch._C.TensorType
    )


def _dtype(argument: torch._C.Argument, value: object) -> object:
    """TorchScript passes dtypes as ScalarType numbers."""
    scalar_type = "ScalarType" in str(argument.type)
    if scalar_type and isinstance(value, int) and not isinstance(value, bool):
        return _DTYPES[value]
    return value


def _convolution(node: torch._C.Node, values: list, paths: _Paths) -> tuple:
    """A traced ``aten::_convolution`` as ``aten.conv1d`` / ``conv2d`` (same arguments)."""
    x, weight, bias, stride, padding, dilation, transposed, _, groups = values[:9]
    dims = _example(weight).dim() - 2
    overload = {1: torch.ops.aten.conv1d.default, 2: torch.ops.aten.conv2d.default}.get(dims)
    if transposed or overload is None:
        raise _refuse(node, "is a transposed or 3-D convolution, which is not read", paths)
    values = [x, weight, bias, stride, padding, dilation, groups]
    return overload, values, overload._schema


def script_graph_module(
    model: torch.jit.ScriptModule, example_input: torch.Tensor
) -> fx.GraphModule:
    """Translate a TorchScript module into a graph module of ATen operations.

    Parameters
    ----------
    model : torch.jit.ScriptModule
        A scripted or traced module, in eval mode.
    example_input : torch.Tensor
        A batch ``(N, *input_shape)``: shapes and module attributes are evaluated on it.

    Returns
    -------
    torch.fx.GraphModule
        Computes what ``model`` computes on inputs of the example's shape, with one
        ``call_function`` node per ATen operation (``torch.ops.aten`` overloads), parameters
        and buffers at their dotted paths, and each node's module in ``nn_module_stack``.

    Raises
    ------
    IngestError
        An operation that is not translated (see :data:`TRANSLATED`), with the module it is in;
        control flow on tensor values; a model of more than one input.
    """
    with torch.no_grad():
        module = _Translator(model).run(example_input)
    log.info("translated the TorchScript model into %d graph nodes", len(module.graph.nodes))
    return module
