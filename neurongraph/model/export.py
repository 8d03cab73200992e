"""A model as a ``torch.export`` program: the one form the view reader reads.

- An eager module is exported with ``torch.export.export``.
- A TorchScript module (scripted or traced) cannot be exported; its inlined graph is
  translated into a graph module of the same ATen operations
  (:func:`~neurongraph.model.torchscript.script_graph_module`), which is exported.
- A saved program (``torch.export.save``, a ``.pt2`` file) is loaded as a :class:`SavedProgram`,
  a module that runs it; its own program is what is read.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from neurongraph.model.torchscript import script_graph_module

__all__ = ["SavedProgram", "export_program", "pieces"]

log = logging.getLogger(__name__)


def pieces(x: torch.Tensor, batch: int | None) -> list[tuple[torch.Tensor, int]]:
    """``x`` in pieces of ``batch`` examples (a program exported for that batch size only runs
    on it), each with its number of real examples; the last one is padded with copies of its
    first example. ``batch`` None: ``x`` whole.

    Examples
    --------
    >>> [(tuple(p.shape), n) for p, n in pieces(torch.zeros(5, 2), 2)]
    [((2, 2), 2), ((2, 2), 2), ((2, 2), 1)]
    """
    if batch is None or len(x) == batch:
        return [(x, len(x))]
    out = []
    for start in range(0, len(x), batch):
        piece = x[start : start + batch]
        n = len(piece)
        if n < batch:
            piece = torch.cat([piece, piece[:1].expand(batch - n, *piece.shape[1:])])
        out.append((piece, n))
    return out


class SavedProgram(nn.Module):
    """A loaded ``torch.export`` program as a module that runs on batches of any size.

    A program exported with a fixed batch size runs only on that batch size (its input is
    guarded); other batches are run in pieces of it (:func:`pieces`).

    Parameters
    ----------
    program : torch.export.ExportedProgram
        As ``torch.export.load`` returns it.
    """

    def __init__(self, program: torch.export.ExportedProgram) -> None:
        super().__init__()
        self.program = program
        self.runner = program.module()
        shape = _input_shape(program)
        self.batch = shape[0] if shape and isinstance(shape[0], int) else None
        rest = shape[1:] if shape else None
        #: Shape of one example, when the program fixes it.
        self.input_shape = tuple(rest) if rest and all(isinstance(s, int) for s in rest) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The program's output on ``x``."""
        return torch.cat([self.runner(piece)[:n] for piece, n in pieces(x, self.batch)])

    def train(self, mode: bool = True) -> SavedProgram:
        """A saved program runs as it was exported (in eval mode, for the view); the mode of
        its runner cannot be changed."""
        self.training = mode
        return self


def _input_shape(program: torch.export.ExportedProgram) -> tuple | None:
    """The shape of a program's one input (ints, or symbols for dynamic dimensions); None
    when it takes anything else."""
    kinds = torch.export.graph_signature.InputKind
    names = [
        spec.arg.name
        for spec in program.graph_signature.input_specs
        if spec.kind == kinds.USER_INPUT
    ]
    for node in program.graph.nodes:
        if node.op == "placeholder" and names == [node.name]:
            value = node.meta.get("val")
            return tuple(value.shape) if isinstance(value, torch.Tensor) and value.dim() else None
    return None


def export_program(model: nn.Module, example_input: torch.Tensor) -> torch.export.ExportedProgram:
    """The ``torch.export`` program of a model, whatever form it came in.

    Parameters
    ----------
    model : nn.Module
        An eager module, a TorchScript module or a :class:`SavedProgram`, in eval mode.
    example_input : torch.Tensor
        A batch ``(N, *input_shape)`` to export (and translate TorchScript) with.

    Returns
    -------
    torch.export.ExportedProgram
        Exported for any batch size when the model allows it, else for the example's. Its
        graph holds ATen operations (``aten.linear``, ``aten.conv2d``, ``aten.add`` ...),
        parameters under their module paths and each node's module in ``nn_module_stack``.

    Raises
    ------
    IngestError
        A TorchScript operation that is not translated (named, with its module).
    Exception
        Whatever ``torch.export.export`` raises on a model it cannot capture.
    """
    if isinstance(model, SavedProgram):
        return model.program
    if isinstance(model, torch.jit.ScriptModule):
        model = script_graph_module(model, example_input)
    batch = torch.export.Dim("batch", min=1)
    try:
        return torch.export.export(model, (example_input,), dynamic_shapes=({0: batch},))
    except Exception as err:  # specialised on the batch size, or not capturable at all
        log.debug("no export for any batch size (%s); exporting for the example's", err)
    return torch.export.export(model, (example_input,))
