"""TorchScript models and saved torch.export programs read through the one view reader: the
same ATen operations, layers, FEEDS and weights as the eager model, and what cannot be
translated refused by its TorchScript name and module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import train
from numpy.testing import assert_allclose
from torch import nn
from zoo import FunctionalRelu, Recurrent, ResidualOnInput, TinyResNet

from neurongraph.errors import IngestError
from neurongraph.ingest.pipeline import read_network
from neurongraph.model.export import SavedProgram, export_program
from neurongraph.model.extract import example_batch
from neurongraph.model.input_shape import infer_input_shape
from neurongraph.model.loading import load_model
from neurongraph.model.view import ModelView, read_view


class ResidualMLP(nn.Module):
    """Two residual blocks in a ModuleList, so layer names carry dotted paths."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"fc1": nn.Linear(6, 6), "fc2": nn.Linear(6, 6)}) for _ in range(2)
        )
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        for block in self.blocks:
            x = x + block["fc2"](torch.relu(block["fc1"](x)))
        return self.head(x)


class Block(nn.Module):
    """A residual block whose add is in its own forward."""

    def __init__(self, width: int = 6):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x + torch.relu(self.fc(x))


class Stacked(nn.Module):
    """Blocks in a ModuleList, which TorchScript's module hierarchy leaves out of their paths
    (``0(Block)``), and an LSTM in a second one with ``recurrent``."""

    def __init__(self, recurrent: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(Block() for _ in range(2))
        self.cells = nn.ModuleList([nn.LSTM(6, 6, batch_first=True)] if recurrent else [])
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        for cell in self.cells:
            x = cell(x)[0]
        return self.head(x)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.a(x)
        return self.b(x)


class Flattened(nn.Module):
    """``view(x.size(0), -1)``: traced as size, NumToTensor, Int and a list of sizes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.fc = nn.Linear(3 * 6 * 6, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.fc(h.view(h.size(0), -1))


class Counting(nn.Module):
    """Updates a buffer in place in its forward."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls.add_(1)
        return self.fc(x)


@pytest.fixture(scope="module")
def resnet(digits):
    X, y = digits
    torch.manual_seed(0)
    return train(TinyResNet(), X.reshape(-1, 1, 8, 8), y, epochs=10)


def saved(module: nn.Module, how: str, shape: tuple[int, ...], folder) -> nn.Module:
    """``module`` scripted or traced, saved and loaded back as a TorchScript file."""
    module = module.eval()
    if how == "script":
        scripted = torch.jit.script(module)
    else:
        scripted = torch.jit.trace(module, torch.randn(3, *shape))
    path = folder / f"{how}.pt"
    torch.jit.save(scripted, str(path))
    return torch.jit.load(str(path))


def assert_same_view(ours, theirs):
    assert [(la.name, la.kind, la.width, la.activation) for la in ours.layers] == [
        (la.name, la.kind, la.width, la.activation) for la in theirs.layers
    ]
    assert ours.feeds == theirs.feeds
    for a, b in zip(ours.layers, theirs.layers, strict=True):
        for x, y in ((a.weight, b.weight), (a.bias, b.bias)):
            assert (x is None) == (y is None)
            if x is not None:
                assert_allclose(x.numpy(), y.numpy(), rtol=1e-12, atol=1e-15)


def targets(program: torch.export.ExportedProgram) -> set:
    return {n.target for n in program.graph.nodes if n.op == "call_function"}


@pytest.mark.parametrize("how", ["script", "trace"])
@pytest.mark.parametrize("which", ["mlp", "resnet"])
def test_a_torchscript_dag_gives_the_eager_view(request, tmp_path, how, which):
    if which == "mlp":
        torch.manual_seed(0)
        model, shape = ResidualMLP().eval(), (6,)
    else:
        model, shape = request.getfixturevalue("resnet"), (1, 8, 8)
    example = example_batch(shape)
    scripted = saved(model, how, shape, tmp_path)
    assert targets(export_program(scripted, example)) == targets(export_program(model, example))
    view = read_view(scripted, example)
    assert_same_view(view, read_view(model, example))
    assert not view.is_chain
    names = [la.name for la in view.layers]
    if which == "mlp":
        assert names[:4] == ["input", "blocks.0.fc1", "blocks.0.fc2", "add"]
    else:
        assert {"layer1.add", "layer2.add", "layer2.shortcut.0"} <= set(names)
    x = torch.randn(9, *shape, generator=torch.Generator().manual_seed(1))
    expected = scripted(x).detach().double().numpy()
    assert_allclose(view(x).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("how", ["script", "trace"])
def test_a_sum_in_a_block_of_a_module_list_is_named_by_its_path(tmp_path, how):
    torch.manual_seed(0)
    model = Stacked().eval()
    example = example_batch((6,))
    view = read_view(saved(model, how, (6,), tmp_path), example)
    assert_same_view(view, read_view(model, example))
    assert [la.name for la in view.layers] == [
        "input",
        "blocks.0.fc",
        "blocks.0.add",
        "blocks.1.fc",
        "blocks.1.add",
        "head",
    ]


def test_a_refusal_names_a_module_of_a_module_list_by_its_path(tmp_path):
    torch.manual_seed(0)
    scripted = saved(Stacked(recurrent=True), "script", (3, 6), tmp_path)
    with pytest.raises(IngestError, match=r"^aten::lstm in module 'cells\.0' \(LSTM\)"):
        read_view(scripted, example_batch((3, 6)))


@pytest.mark.parametrize("how", ["script", "trace"])
def test_shapes_read_in_the_forward_are_evaluated_on_the_example(tmp_path, how):
    torch.manual_seed(0)
    model = Flattened().eval()
    example = example_batch((1, 8, 8))
    view = read_view(saved(model, how, (1, 8, 8), tmp_path), example)
    assert_same_view(view, read_view(model, example))
    assert [la.name for la in view.layers] == ["input", "conv", "fc"] and view.is_chain


def test_an_in_place_update_of_a_buffer_is_refused(tmp_path):
    scripted = saved(Counting(), "script", (4,), tmp_path)
    with pytest.raises(IngestError, match=r"^aten::add_ in the model's forward changes a"):
        read_view(scripted, example_batch((4,)))
    assert float(scripted.calls) == 1  # only the run that checks the model ran it


@pytest.mark.parametrize("model", [ResidualOnInput, FunctionalRelu])
def test_the_scripted_misreads_are_read_through_their_data_flow(tmp_path, model):
    """The chain reader refuses both (issue 12); their data flow gives the eager graph."""
    torch.manual_seed(0)
    eager = model().eval()
    scripted = saved(eager, "script", (64,), tmp_path)
    example = example_batch((64,))
    runner, graph = read_network(scripted, example)
    _, expected = read_network(eager, example)
    assert isinstance(runner, ModelView)  # not a chain: what runs it is its view
    assert graph.layers == expected.layers and graph.feeds == expected.feeds
    for a, b in zip(graph.blocks, expected.blocks, strict=True):
        assert (a.source, a.target) == (b.source, b.target)
        assert_allclose(a.signed, b.signed, rtol=1e-12)
    view = read_view(scripted, example)
    x = torch.randn(20, 64, generator=torch.Generator().manual_seed(2))
    assert_allclose(view(x).numpy(), scripted(x).detach().double().numpy(), rtol=1e-5, atol=1e-5)
    assert view.layers[1].activation == ["relu"]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("how", ["script", "trace"])
def test_an_lstm_is_refused_by_its_torchscript_name(tmp_path, how):
    torch.manual_seed(0)
    scripted = saved(Recurrent(), how, (3, 4), tmp_path)
    with pytest.raises(IngestError) as refused:
        read_view(scripted, example_batch((3, 4)))
    message = str(refused.value)
    assert message.startswith("aten::lstm in module 'rnn' (LSTM)") and "\n" not in message


def test_control_flow_on_tensor_values_is_refused(tmp_path):
    scripted = saved(Branchy(), "script", (4,), tmp_path)
    with pytest.raises(IngestError, match=r"^aten::Bool .*data-dependent control flow"):
        read_view(scripted, example_batch((4,)))


@pytest.mark.parametrize("batch", [None, 3])
def test_a_saved_program_runs_on_any_batch_and_gives_the_eager_view(tmp_path, resnet, batch):
    """A program exported with a fixed batch size is run in chunks of it."""
    dynamic = {"dynamic_shapes": ({0: torch.export.Dim("batch")},)} if batch is None else {}
    program = torch.export.export(resnet, (torch.randn(batch or 4, 1, 8, 8),), **dynamic)
    path = tmp_path / "resnet.bin"  # found by its content, not its name
    torch.export.save(program, path)
    loaded = load_model(str(path), trust_pickle=True)
    assert isinstance(loaded.module, SavedProgram) and loaded.kind == "export"
    assert loaded.module.batch == batch and infer_input_shape(loaded.module) == (1, 8, 8)
    x = torch.randn(7, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    assert_allclose(loaded.module(x).detach().numpy(), resnet(x).detach().numpy(), atol=1e-6)
    example = example_batch((1, 8, 8))
    assert_same_view(read_view(loaded.module, example), read_view(resnet, example))
    assert np.isfinite(loaded.module(example).detach().numpy()).all()
