"""Turn a PyTorch module into a :class:`~neurongraph.ingest.chain.Chain`.

The data flow comes from ``torch.fx`` tracing; ``nn.Sequential`` order is the fallback, and a
TorchScript module is rebuilt from its submodules. Whatever the route, the chain is run on the
example input and must reproduce the model's output, so a model whose data flow is not a chain
(residual connections, branches) is refused instead of being misread.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math

import torch
from torch import fx, nn
from torch.nn import functional as F

from neurongraph.errors import IngestError
from neurongraph.ingest.chain import Chain, Stage

__all__ = ["ACTIVATIONS", "PASS_THROUGH", "extract_chain", "module_ops"]

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
#: Relative tolerance between the model's output and the extracted chain's output.
OUTPUT_RTOL = 1e-4
OUTPUT_ATOL = 1e-5

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
        raise IngestError(
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
    module = cls(**kwargs)
    module.load_state_dict(scripted.state_dict())
    return module


def _unsupported(path: str, op: object) -> IngestError:
    name = getattr(op, "__name__", None) or type(op).__name__
    return IngestError(
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
                raise IngestError("the model's output is not the end of a chain of layers")
            break
        if node.op == "call_method" and node.target == "size":
            continue
        if node.args[0] is not previous:
            raise IngestError(
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
        raise IngestError(
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


def extract_chain(model: nn.Module, example_input: torch.Tensor) -> Chain:
    """Extract the chain of weight stages of ``model``.

    Parameters
    ----------
    model : nn.Module
        An eager module or a TorchScript module made of supported layers.
    example_input : torch.Tensor
        A batch of at least one example, ``(N, *input_shape)``.

    Returns
    -------
    Chain
        Float64 stages that reproduce ``model(example_input)``.

    Raises
    ------
    IngestError
        Unsupported layer (named), NaN/Inf weights, a data flow that is not a chain, or an example
        input the model cannot take.
    """
    model = model.eval()
    ops = module_ops(model)
    x = example_input.detach().double()
    try:
        with torch.no_grad():
            expected = model(example_input)
    except Exception as err:
        raise IngestError(
            f"the model cannot run on an input of shape {tuple(example_input.shape)} "
            f"({type(err).__name__}: {err}); pass the model's input shape"
        ) from err
    stages: list[Stage] = []
    pending: list[nn.Module] = []
    flattened_from: int | None = None
    with torch.no_grad():
        for path, op in ops:
            op = copy.deepcopy(op).double().eval()
            if isinstance(op, _WEIGHTED):
                if isinstance(op, nn.Linear) and x.dim() != 2:
                    raise IngestError(
                        f"layer {path!r} (Linear) receives a {x.dim()}-D input; "
                        "add an nn.Flatten before it"
                    )
                in_group = flattened_from if isinstance(op, nn.Linear) and stages else 1
                stage = _new_stage(path, op, pending, in_group or 1)
                stages.append(stage)
                pending, flattened_from = [], None
            elif isinstance(op, _NORMS):
                if not stages or pending or stages[-1].activation:
                    raise IngestError(
                        f"BatchNorm {path!r} does not directly follow a Linear or Conv2d layer; "
                        "only BatchNorm right after a weight layer can be folded"
                    )
                _fold_batchnorm(stages[-1], op)
            elif isinstance(op, ACTIVATIONS) and stages and not pending:
                stages[-1].activation.append(op)
            elif isinstance(op, ACTIVATIONS):
                raise IngestError(
                    f"activation {path!r} follows a pooling/flatten/dropout step or the input; "
                    "only activations right after a weight layer are supported"
                )
            else:
                if isinstance(op, nn.Flatten) and x.dim() > 2:
                    flattened_from = math.prod(x.shape[2:])
                pending.append(op)
            x = op(x)
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
    with torch.no_grad():
        got = chain(example_input.double())
    if got.shape != expected.shape or not torch.allclose(
        got, expected.double(), rtol=OUTPUT_RTOL, atol=OUTPUT_ATOL
    ):
        raise IngestError(
            "the layers found do not reproduce the model's output (its data flow is not a plain "
            "chain of supported layers); write the model as an nn.Sequential"
        )
    return chain
