"""Turn a PyTorch module into a :class:`~neurongraph.model.chain.Chain`.

The data flow comes from ``torch.fx`` tracing; ``nn.Sequential`` order is the fallback, and a
TorchScript module is rebuilt from its submodules. Whatever the route, the chain must reproduce
the model's output on the example input and on seeded random batches (standard normal and
uniform), so a model whose data flow is not a chain (residual connections, branches, functional
nonlinearities that no module accounts for) is refused instead of being misread. For a
TorchScript model the refusal names the first operation of its graph that the chain does not
account for.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import re

import torch
from torch import fx, nn
from torch.nn import functional as F

from neurongraph.errors import IngestError, NotAChainError
from neurongraph.model.chain import Chain, Stage
from neurongraph.model.checks import check_runs, one_line, reproduction_failure

__all__ = [
    "ACTIVATIONS",
    "CHECK_DATA_EXAMPLES",
    "PASS_THROUGH",
    "example_batch",
    "extract_chain",
    "module_ops",
]

log = logging.getLogger(__name__)

#: Element-wise nonlinearities recorded on the layer they follow.
ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU)
#: Operations that move activations along without weights of their own.
PASS_THROUGH: tuple[type[nn.Module], ...] = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Identity,
    nn.Flatten,
)
_WEIGHTED = (nn.Linear, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_SUPPORTED = (*_WEIGHTED, *_NORMS, *ACTIVATIONS, *PASS_THROUGH)
_BY_NAME = {cls.__name__: cls for cls in _SUPPORTED}
#: Dataset examples added to the check batch by :func:`example_batch`.
CHECK_DATA_EXAMPLES = 256
_FUNCTIONS = {
    F.relu: nn.ReLU,
    torch.relu: nn.ReLU,
    torch.tanh: nn.Tanh,
    F.tanh: nn.Tanh,
    torch.sigmoid: nn.Sigmoid,
    F.sigmoid: nn.Sigmoid,
    F.gelu: nn.GELU,
    torch.flatten: nn.Flatten,
}
_METHODS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "flatten": nn.Flatten}
_RESHAPES = {"view", "reshape"}


def _rebuild(scripted: torch.jit.ScriptModule, path: str) -> nn.Module:
    """An eager copy of one scripted leaf module of a supported type."""
    kind = scripted.original_name
    cls = _BY_NAME.get(kind)
    if cls is None:
        raise NotAChainError(
            f"unsupported layer {path!r} ({kind}); supported: {', '.join(sorted(_BY_NAME))}"
        )
    kwargs = {}
    for name in inspect.signature(cls).parameters:
        if name == "bias":
            kwargs[name] = getattr(scripted, "bias", None) is not None
        elif name == "affine":
            kwargs[name] = getattr(scripted, "weight", None) is not None
        elif name == "num_features":
            kwargs[name] = int(scripted.running_mean.shape[0])
        elif name in {"in_features", "out_features"}:
            w = scripted.weight
            kwargs[name] = int(w.shape[1] if name == "in_features" else w.shape[0])
        elif name not in {"device", "dtype"} and hasattr(scripted, name):
            kwargs[name] = getattr(scripted, name)
    try:
        module = cls(**kwargs)
    except TypeError as err:  # a traced module keeps its weights, not its settings
        raise NotAChainError(
            f"layer {path!r} ({kind}) does not record its settings (a traced module), so it "
            "cannot be rebuilt as a chain layer"
        ) from err
    module.load_state_dict(scripted.state_dict())
    return module


def _unsupported(path: str, op: object) -> NotAChainError:
    name = getattr(op, "__name__", None) or type(op).__name__
    return NotAChainError(
        f"unsupported layer {path!r} ({name}); supported: Linear, Conv2d, BatchNorm1d/2d, "
        "ReLU/GELU/Tanh/Sigmoid/LeakyReLU, MaxPool/AvgPool, Dropout, Flatten"
    )


def _fx_ops(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Operations of a traceable model in data-flow order; raises if it is not a chain."""
    graph = fx.symbolic_trace(model).graph
    ops: list[tuple[str, nn.Module]] = []
    previous = None
    for node in graph.nodes:
        if node.op == "placeholder":
            previous = node
            continue
        if node.op == "output":
            if node.args[0] is not previous:
                raise NotAChainError("the model's output is not the end of a chain of layers")
            break
        if node.op == "call_method" and node.target == "size":
            continue
        if node.args[0] is not previous:
            raise NotAChainError(
                f"the model's data flow is not a chain of layers at {node.name!r} "
                "(branches and residual connections are not supported)"
            )
        if node.op == "call_module":
            ops.append((node.target, model.get_submodule(node.target)))
        elif node.op == "call_function" and node.target in _FUNCTIONS:
            ops.append((node.name, _function_module(node)))
        elif node.op == "call_method" and node.target in _METHODS:
            ops.append((node.name, _METHODS[node.target]()))
        elif node.op == "call_method" and node.target in _RESHAPES:
            ops.append((node.name, nn.Flatten()))
        else:
            raise _unsupported(node.name, node.target)
        previous = node
    return ops


def _function_module(node: fx.Node) -> nn.Module:
    cls = _FUNCTIONS[node.target]
    if cls is nn.Flatten:
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        return nn.Flatten(start_dim=start)
    return cls()


def _leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(p, m) for p, m in model.named_modules() if not list(m.children()) and p]


def module_ops(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's operations in data-flow order, as ``(path, module)`` pairs.

    Raises
    ------
    IngestError
        When an operation is not supported (its path and type are named) or the data flow cannot
        be determined.
    """
    if isinstance(model, torch.jit.ScriptModule):
        return [
            (path, _rebuild(sub, path))
            for path, sub in model.named_modules()
            if path and not list(sub.children())
        ]
    for path, sub in _leaf_modules(model):
        if not isinstance(sub, _SUPPORTED):
            raise _unsupported(path, sub)
    try:
        return _fx_ops(model)
    except IngestError:
        raise
    except Exception as err:  # fx raises many kinds of error on untraceable code
        if isinstance(model, nn.Sequential):
            log.info("fx tracing failed (%s); using nn.Sequential order", err)
            return _leaf_modules(model)
        raise NotAChainError(
            f"cannot trace the model's data flow ({type(err).__name__}: {err}); "
            "write it as an nn.Sequential or remove data-dependent control flow"
        ) from err


def _fold_batchnorm(stage: Stage, bn: nn.Module) -> None:
    """Fold an eval-mode BatchNorm into the stage's weights: scale by gamma/sqrt(var+eps)."""
    var = bn.running_var.double()
    mean = bn.running_mean.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    stage.weight = stage.weight * scale.view(-1, *([1] * (stage.weight.dim() - 1)))
    stage.bias = (stage.bias - mean) * scale + beta


def _new_stage(path: str, module: nn.Module, pending: list[nn.Module], in_group: int) -> Stage:
    weight = module.weight.detach().double().clone()
    bias = (
        module.bias.detach().double().clone()
        if module.bias is not None
        else torch.zeros(weight.shape[0], dtype=torch.float64)
    )
    if isinstance(module, nn.Conv2d):
        if module.groups != 1 or module.padding_mode != "zeros":
            raise IngestError(
                f"unsupported layer {path!r} (Conv2d with groups={module.groups}, "
                f"padding_mode={module.padding_mode!r}); only groups=1 and zero padding"
            )
        conv = {"stride": module.stride, "padding": module.padding, "dilation": module.dilation}
        return Stage(path, "conv2d", weight, bias, pending, conv=conv)
    return Stage(path, "linear", weight, bias, pending, in_group=in_group)


def _check_finite(stage: Stage) -> None:
    if not (torch.isfinite(stage.weight).all() and torch.isfinite(stage.bias).all()):
        raise IngestError(
            f"layer {stage.name!r} has NaN or Inf weights or biases; "
            "re-train or fix the checkpoint before ingesting it"
        )


def _check_width(path: str, module: nn.Module) -> None:
    """A weight layer with no units (or no inputs) has nothing to ingest and no data flow."""
    shape = tuple(module.weight.shape)
    if min(shape) == 0:
        raise IngestError(
            f"layer {path!r} ({type(module).__name__}) has a zero-width weight {shape}; "
            "every Linear/Conv2d layer needs at least one input and one output unit"
        )


def example_batch(
    input_shape: tuple[int, ...], examples: torch.Tensor | None = None
) -> torch.Tensor:
    """The example input to extract a chain with: two zero examples, then up to
    ``CHECK_DATA_EXAMPLES`` of ``examples`` (a dataset's, in the model's layout), so that the
    chain is also checked on the data the model is meant for.

    Examples
    --------
    >>> example_batch((3,)).shape
    torch.Size([2, 3])
    >>> example_batch((3,), torch.ones(500, 3)).shape
    torch.Size([258, 3])
    """
    zeros = torch.zeros((2, *input_shape))
    if examples is None:
        return zeros
    data = torch.as_tensor(examples[:CHECK_DATA_EXAMPLES], dtype=zeros.dtype)
    return torch.cat([zeros, data.reshape(len(data), *input_shape)])


def extract_chain(model: nn.Module, example_input: torch.Tensor) -> Chain:
    """Extract the chain of weight stages of ``model``.

    Parameters
    ----------
    model : nn.Module
        An eager module or a TorchScript module made of supported layers.
    example_input : torch.Tensor
        A batch of at least one example, ``(N, *input_shape)`` (see :func:`example_batch`).

    Returns
    -------
    Chain
        Float64 stages that reproduce the model's output on ``example_input`` and on seeded
        random batches of its example shape (``CHECK_EXAMPLES`` standard-normal and as many
        uniform examples), within ``OUTPUT_RTOL`` of the output's scale plus ``OUTPUT_ATOL``
        (:func:`~neurongraph.model.checks.reproduction_failure`).

    Raises
    ------
    IngestError
        Unsupported layer (named), a zero-width layer, NaN/Inf weights, a data flow that is not a
        chain (for TorchScript, the first operation the chain does not account for is named), or
        an example input the model cannot take.
    """
    model = model.eval()
    ops = module_ops(model)
    check_runs(model, example_input)
    x = example_input.detach().double()
    stages: list[Stage] = []
    pending: list[nn.Module] = []
    flattened_from: int | None = None
    with torch.no_grad():
        for path, op in ops:
            op = copy.deepcopy(op).double().eval()
            if isinstance(op, _WEIGHTED):
                _check_width(path, op)
                if isinstance(op, nn.Linear) and x.dim() != 2:
                    raise NotAChainError(
                        f"layer {path!r} (Linear) receives a {x.dim()}-D input; "
                        "add an nn.Flatten before it"
                    )
                in_group = flattened_from if isinstance(op, nn.Linear) and stages else 1
                stage = _new_stage(path, op, pending, in_group or 1)
                stages.append(stage)
                pending, flattened_from = [], None
            elif isinstance(op, _NORMS):
                if not stages or pending or stages[-1].activation:
                    raise NotAChainError(
                        f"BatchNorm {path!r} does not directly follow a Linear or Conv2d layer; "
                        "only BatchNorm right after a weight layer can be folded"
                    )
                _fold_batchnorm(stages[-1], op)
            elif isinstance(op, ACTIVATIONS) and stages and not pending:
                stages[-1].activation.append(op)
            elif isinstance(op, ACTIVATIONS):
                raise NotAChainError(
                    f"activation {path!r} follows a pooling/flatten/dropout step or the input; "
                    "only activations right after a weight layer are supported"
                )
            else:
                if isinstance(op, nn.Flatten) and x.dim() > 2:
                    flattened_from = math.prod(x.shape[2:])
                pending.append(op)
            try:
                x = op(x)
            except RuntimeError as err:  # the modules are not in data-flow order, or not a chain
                raise _not_a_chain(
                    model,
                    f"layer {path!r} cannot take what the layers before it give ({one_line(err)})",
                ) from err
    if not stages:
        raise IngestError("the model has no Linear or Conv2d layer to ingest")
    chain = Chain(
        stages,
        input_shape=tuple(example_input.shape[1:]),
        input_width=int(stages[0].weight.shape[1]),
        tail=pending,
    )
    for s in stages:
        _check_finite(s)
    failure = reproduction_failure(model, chain, example_input)
    if failure is not None:
        raise _not_a_chain(model, failure)
    return chain


def _not_a_chain(model: nn.Module, failure: str) -> NotAChainError:
    """The error for a model whose layers, taken as a chain, fail with ``failure``; for
    TorchScript it names the first operation the chain does not account for."""
    found = _script_diagnosis(model) if isinstance(model, torch.jit.ScriptModule) else None
    if found:
        return NotAChainError(
            f"the model's data flow is not a chain of supported modules: {found}; {failure}; "
            "write the model as an nn.Sequential of supported layers"
        )
    return NotAChainError(
        f"the layers found do not reproduce the model's output: {failure}, so its data flow is "
        "not a plain chain of supported modules; write the model as an nn.Sequential of "
        "supported layers"
    )


class _Unexplained(Exception):
    """An operation of a TorchScript graph that the chain of leaf modules does not account for."""


#: Graph nodes that read a tensor's metadata, not its values.
_METADATA_OPS = frozenset(
    {"aten::size", "aten::dim", "aten::len", "aten::numel", "prim::shape", "prim::device"}
    | {"prim::dtype", "prim::is_cuda", "aten::__isnot__", "aten::__is__"}
)


def _script_diagnosis(model: torch.jit.ScriptModule) -> str | None:
    """The first operation in a TorchScript model's data flow that its chain of leaf modules
    does not account for, as a phrase; None when there is none or the graph cannot be read."""
    try:
        graph = model.graph
        inputs = list(graph.inputs())[1:]
        labels = ["the model's input"] + [None] * (len(inputs) - 1)
        calls: list[str] = []
        _walk_script(model, "", labels, calls)
    except _Unexplained as found:
        return str(found)
    except Exception as err:  # a graph this walk does not know how to read
        log.debug("cannot read the TorchScript graph (%s)", one_line(err))
        return None
    leaves = [path for path, _ in module_ops(model)]
    called = [path for path in calls if path in leaves]
    if called != leaves:
        unused = [path for path in leaves if path not in called]
        if unused:
            return f"module {unused[0]!r} is never called on the data flow"
        return (
            f"the model calls its modules in the order {', '.join(called)}, not in the order "
            "they are defined"
        )
    return None


def _source(node) -> str:
    """`` (file, line N)`` of a graph node's source, when TorchScript kept it."""
    text = node.sourceRange() or ""
    found = re.match(r'\s*File "([^"]+)", line (\d+)', text)
    return f" ({found[1]}, line {found[2]})" if found else ""


def _walk_script(module, path: str, input_labels: list[str | None], calls: list[str]) -> str | None:
    """Follow the values derived from the input through ``module``'s forward graph.

    Leaf-module calls carry them along (their paths are appended to ``calls``); a composite
    submodule is followed into; metadata reads are ignored. Anything else that touches them
    raises :class:`_Unexplained`. Returns the label of the value the forward returns.
    """
    graph = module.graph
    values = list(graph.inputs())
    modules = {values[0]: (path, module)}
    derived = {v: label for v, label in zip(values[1:], input_labels, strict=True) if label}
    consumer: dict = {}
    where = f"the forward of {path!r}" if path else "the model's forward"

    def uses(node) -> list:
        found = [v for v in node.inputs() if v in derived]
        for block in node.blocks():
            for inner in block.nodes():
                found += uses(inner)
            found += [v for v in block.returnNode().inputs() if v in derived]
        return list(dict.fromkeys(found))

    for node in graph.nodes():
        kind = node.kind()
        if kind == "prim::GetAttr" and node.input() in modules:
            owner_path, owner = modules[node.input()]
            attr = getattr(owner, node.s("name"), None)
            if isinstance(attr, torch.jit.ScriptModule):
                sub_path = f"{owner_path}.{node.s('name')}" if owner_path else node.s("name")
                modules[node.output()] = (sub_path, attr)
            continue
        used = uses(node)
        if not used or kind in _METADATA_OPS:
            continue
        labels = [derived[v] for v in used]
        if kind == "prim::CallMethod" and node.inputsAt(0) in modules and len(used) == 1:
            sub_path, sub = modules[node.inputsAt(0)]
            value = used[0]
            if value in consumer:
                raise _Unexplained(
                    f"{labels[0]} goes both into {consumer[value]!r} and into {sub_path!r} in "
                    f"{where}{_source(node)} (a branch)"
                )
            consumer[value] = sub_path
            if list(sub.children()):
                args = [derived.get(v) for v in list(node.inputs())[1:]]
                label = _walk_script(sub, sub_path, args, calls)
            else:
                calls.append(sub_path)
                label = f"the output of {sub_path!r}"
            if label is not None:
                derived[node.output()] = label
            continue
        op = kind
        if kind == "prim::CallFunction":
            op = f"functional {node.inputsAt(0).node().s('name')}()"
        elif kind == "prim::CallMethod":
            op = f"method {node.s('name')}()"
        if len(used) > 1:
            raise _Unexplained(
                f"{op} in {where}{_source(node)} combines {labels[0]} with {labels[1]} "
                "(a residual connection or a branch)"
            )
        raise _Unexplained(
            f"{op} in {where}{_source(node)} acts on {labels[0]} outside any module "
            "(use a module such as nn.ReLU or nn.Flatten for it)"
        )
    returned = [v for v in graph.return_node().inputs() if v in derived]
    return derived[returned[0]] if len(returned) == 1 else None
