"""Transformers, attention, norms and concatenation in the model view: graphs worked out by hand,
packed projections split by role, query/key layers without outgoing edges, and the view checked
against the model (read_view raises unless the view reproduces the model's output)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from numpy.testing import assert_allclose
from torch import nn
from torch.nn import functional as F

from neurongraph.errors import IngestError
from neurongraph.ingest import ingest_model
from neurongraph.ingest.graph import view_graph
from neurongraph.model.extract import example_batch
from neurongraph.model.view import read_view


def blocks(graph):
    """``{(source, target): block}`` by layer name."""
    names = [layer.name for layer in graph.layers]
    return {(names[b.source], names[b.target]): b for b in graph.blocks}


def by_hand(linear, rows):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(rows, dtype=torch.float32))
        linear.bias.zero_()


class Concatenated(nn.Module):
    """``fc(cat(a(x), b(x)))``: fc's columns 0-1 read a's units, 2-3 b's."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.fc = nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(4, 1)

    def forward(self, x):
        return self.fc(torch.relu(torch.cat([self.a(x), self.b(x)], dim=1)))


def test_concatenation_maps_unit_ranges():
    model = Concatenated()
    by_hand(model.a, [[1, 0], [0, 1]])
    by_hand(model.b, [[2, 0], [0, 2]])
    by_hand(model.fc, [[1, -2, 3, -4]])
    graph = view_graph(read_view(model, example_batch((2,))))
    found = blocks(graph)
    assert set(found) == {("input", "a"), ("input", "b"), ("a", "fc"), ("b", "fc")}
    assert_allclose(found[("a", "fc")].signed, [[1, -2]])
    assert_allclose(found[("b", "fc")].signed, [[3, -4]])
    assert_allclose(found[("b", "fc")].weight, [[3, 4]])


class Normed(nn.Module):
    """``fc2(norm(fc1(x)))``: the norm's gamma is folded into fc2's weights."""

    def __init__(self, norm):
        super().__init__()
        self.fc1, self.norm, self.fc2 = nn.Linear(3, 2), norm, nn.Linear(2, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.norm(self.fc1(x))))


@pytest.mark.parametrize("norm", [nn.LayerNorm(2), nn.RMSNorm(2)])
def test_a_norms_gamma_is_folded_into_the_reader(norm):
    torch.manual_seed(0)
    model = Normed(norm)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([2.0, -0.5]))
    by_hand(model.fc2, [[1, 1], [3, -1]])
    graph = view_graph(read_view(model, example_batch((3,))))
    assert [la.kind for la in graph.layers] == ["input", "linear", "linear"]
    # the norm between the layers is not a chain stage: runtime analyses cannot run it as one
    assert graph.data_flow == "dag"
    assert_allclose(blocks(graph)[("fc1", "fc2")].signed, [[2.0, -0.5], [6.0, 0.5]])


class Conv1dNet(nn.Module):
    """Conv1d -> GroupNorm -> mean over positions -> RMSNorm -> Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3)
        self.group = nn.GroupNorm(2, 4)
        self.rms = nn.RMSNorm(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.rms(F.relu(self.group(self.conv(x))).mean(-1)))


def test_conv1d_and_group_norm():
    torch.manual_seed(0)
    model = Conv1dNet()
    with torch.no_grad():
        model.group.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        model.rms.weight.copy_(torch.tensor([1.0, -1.0, 0.5, 2.0]))
    view = read_view(model, example_batch((3, 10)))
    assert [(la.kind, la.width) for la in view.layers] == [
        ("input", 3),
        ("conv1d", 4),
        ("linear", 2),
    ]
    found = blocks(view_graph(view))
    gammas = np.array([1.0, 2.0, 3.0, 4.0]) * np.array([1.0, -1.0, 0.5, 2.0])
    w = model.fc.weight.detach().double().numpy()
    assert_allclose(found[("conv", "fc")].signed, w * gammas, rtol=1e-6)
    k = model.conv.weight.detach().double().numpy()
    assert_allclose(found[("input", "conv")].weight, np.abs(k).sum(axis=2), rtol=1e-6)


class Manual(nn.Module):
    """Attention written out: softmax(q k^T / sqrt(d)) v, then an output projection."""

    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(4, 4) for _ in range(4))

    def forward(self, x):
        scores = self.q(x) @ self.k(x).transpose(1, 2) / 2.0
        return x + self.o(torch.softmax(scores, dim=-1) @ self.v(x))


class Packed(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        y = x + self.attn(x, x, x, need_weights=False)[0]
        return self.head(y.mean(1))


def test_written_out_attention_reads_as_attention():
    torch.manual_seed(0)
    graph = view_graph(read_view(Manual(), torch.randn(2, 5, 4)))
    kinds = {la.name: la.kind for la in graph.layers}
    assert kinds == {
        "input": "input",
        "q": "attention-q",
        "k": "attention-k",
        "v": "attention-v",
        "o": "linear",
        "add": "sum",
    }
    assert set(blocks(graph)) == {
        ("input", "q"),
        ("input", "k"),
        ("input", "v"),
        ("v", "o"),
        ("input", "add"),
        ("o", "add"),
    }


def test_a_packed_projection_is_split_by_role():
    torch.manual_seed(0)
    model = Packed()
    graph = view_graph(read_view(model, torch.randn(3, 5, 4)))
    names = [(la.name, la.kind, la.width) for la in graph.layers]
    assert names == [
        ("input", "input", 4),
        ("attn.in_proj.query", "attention-q", 4),
        ("attn.in_proj.key", "attention-k", 4),
        ("attn.in_proj.value", "attention-v", 4),
        ("attn.out_proj", "linear", 4),
        ("add", "sum", 4),
        ("head", "linear", 3),
    ]
    found = blocks(graph)
    packed = model.attn.in_proj_weight.detach().double().numpy()
    assert_allclose(found[("input", "attn.in_proj.value")].signed, packed[8:], rtol=1e-6)
    assert_allclose(found[("input", "attn.in_proj.query")].signed, packed[:4], rtol=1e-6)
    assert not [key for key in found if key[0].endswith(("query", "key"))]


class Gated(nn.Module):
    """A gated MLP (as in LLaMA): a product of two activations that is not attention."""

    def __init__(self):
        super().__init__()
        self.gate, self.up, self.down = nn.Linear(4, 6), nn.Linear(4, 6), nn.Linear(6, 4)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


def test_a_gate_is_refused_by_name():
    with pytest.raises(IngestError, match=r"aten\.mul in the model's forward .*gate"):
        read_view(Gated(), example_batch((4,)))


class Encoder(nn.Module):
    """A ``transformers`` model taking token ids and returning its last hidden state."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids).last_hidden_state


def bert(layers=2, hidden=32):
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=2 * hidden,
    )
    return Encoder(transformers.BertModel(config, add_pooling_layer=False)).eval()


def tokens(vocab=100, positions=8):
    return torch.randint(0, vocab, (4, positions), generator=torch.Generator().manual_seed(1))


def test_a_bert_encoder():
    model = bert()
    view = read_view(model, tokens())
    graph = view_graph(view)
    assert view.tokens and graph.data_flow == "dag"
    kinds = [la.kind for la in graph.layers]
    assert kinds[0] == "input" and graph.layers[0].width == 32
    per_layer = ["attention-q", "attention-k", "attention-v", "linear", "sum", "linear"]
    per_layer += ["linear", "sum"]
    assert kinds[1:] == per_layer * 2
    assert [la.activation for la in graph.layers if la.activation] == ["gelu", "gelu"]
    found = blocks(graph)
    scores = {la.name for la in graph.layers if la.kind in ("attention-q", "attention-k")}
    assert scores and not [key for key in found if key[0] in scores]
    # the residual sum after the first attention reads the embeddings' LayerNorm output: unit i
    # with weight gamma_i, and the output projection's unit i with weight 1
    gamma = model.model.embeddings.LayerNorm.weight.detach().double().numpy()
    first_sum = "model.encoder.layer.0.attention.output.add"
    assert_allclose(found[("input", first_sum)].signed, np.diag(gamma), rtol=1e-6)
    dense = "model.encoder.layer.0.attention.output.dense"
    assert_allclose(found[(dense, first_sum)].signed, np.eye(32))
    value = "model.encoder.layer.0.attention.self.value"
    w = model.model.encoder.layer[0].attention.self.value.weight.detach().double().numpy()
    assert_allclose(found[("input", value)].signed, w * gamma, rtol=1e-6)


def test_gpt2_conv1d_and_its_packed_attention():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=32)
    model = Encoder(transformers.GPT2Model(config)).eval()
    graph = view_graph(read_view(model, tokens(50, 6)))
    names = [(la.name, la.kind) for la in graph.layers]
    assert names[:5] == [
        ("input", "input"),
        ("model.h.0.attn.c_attn.query", "attention-q"),
        ("model.h.0.attn.c_attn.key", "attention-k"),
        ("model.h.0.attn.c_attn.value", "attention-v"),
        ("model.h.0.attn.c_proj", "linear"),
    ]
    found = blocks(graph)
    gamma = model.model.h[0].ln_1.weight.detach().double().numpy()
    packed = model.model.h[0].attn.c_attn.weight.detach().double().numpy()  # (in, 3 * out)
    assert_allclose(
        found[("input", "model.h.0.attn.c_attn.value")].signed,
        packed[:, 32:].T * gamma,
        rtol=1e-6,
    )


def test_a_bert_encoder_in_the_store(store, name):
    model = bert(layers=1)
    ingest_model(store, model, name, tokens())
    layers = {la["name"]: la["kind"] for la in store.layers(name)}
    assert sorted(set(layers.values())) == [
        "attention-k",
        "attention-q",
        "attention-v",
        "input",
        "linear",
        "sum",
    ]
    outgoing = store.read(
        "MATCH (l:Layer {network: $name})-[:HAS_NEURON]->(:Neuron)-[:WEIGHT]->() "
        "RETURN DISTINCT l.kind AS kind",
        {"name": name},
    )
    assert {r["kind"] for r in outgoing} == {"input", "attention-v", "linear", "sum"}
    edges = store.read(
        "MATCH (:Neuron {network: $name})-[w:WEIGHT]->() RETURN count(w) AS n", {"name": name}
    )[0]["n"]
    graph = view_graph(read_view(model, tokens()))
    assert edges == sum(int(np.count_nonzero(b.weight)) for b in graph.blocks)


class TokenClassifier(nn.Module):
    """nn.Embedding -> nn.TransformerEncoder -> mean over positions -> Linear."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(8, 3)

    def forward(self, ids):
        return self.head(self.enc(self.emb(ids)).mean(1))


class VisionTransformer(nn.Module):
    """Patches by a strided conv, a learned class token and positions, a pre-norm encoder
    layer, a head on the class token."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(1, 8, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 8))
        self.pos = nn.Parameter(torch.randn(1, 5, 8))
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, norm_first=True)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        patches = self.patch(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls.expand(len(x), -1, -1), patches], 1) + self.pos
        return self.head(self.layer(h)[:, 0])


@pytest.mark.parametrize(
    ("model", "example", "first"),
    [
        (TokenClassifier, tokens(20, 5), ("input", 8)),
        (VisionTransformer, torch.randn(3, 1, 8, 8), ("patch", 8)),
    ],
)
def test_pytorch_transformer_layers(model, example, first):
    torch.manual_seed(0)
    graph = view_graph(read_view(model().eval(), example))
    kinds = [(la.kind, la.width) for la in graph.layers]
    assert (graph.layers[-10].name, graph.layers[-10].width) == first
    assert kinds[-9:] == [
        ("attention-q", 8),
        ("attention-k", 8),
        ("attention-v", 8),
        ("linear", 8),
        ("sum", 8),
        ("linear", 16),
        ("linear", 8),
        ("sum", 8),
        ("linear", kinds[-1][1]),
    ]
    found = blocks(graph)
    names = [la.name for la in graph.layers]
    # the residual stream: the first sum reads the encoder's input and the output projection
    assert {key[0] for key in found if key[1] == names[-5]} == {names[-10], names[-6]}


def test_a_softmax_over_the_output_units_passes_them_through():
    """A softmax normalises over units per example, as a norm does: units pass, not a layer."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)).eval()
    view = read_view(model, example_batch((4,)))
    assert [(la.kind, la.width) for la in view.layers] == [("input", 4), ("linear", 3)]
    x = torch.randn(5, 4)
    assert_allclose(view(x).numpy(), model(x).detach().double().numpy(), rtol=1e-6)
