"""Coherence on ModelViews: a chain read as a view scores as the chain does, a residual network's
inputs are optimised through the replayed graph (truncated at the group's layer), and a network
of token ids skips the visualisation with a note while its dataset examples are still ranked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zoo
from numpy.testing import assert_allclose, assert_array_equal
from test_lesion import digits_split, seeded_mlp
from transformers import BertConfig, BertModel

from neurongraph.analysis.coherence import coherence
from neurongraph.analysis.feature_vis import TOKENS_NOTE, feature_visualisation
from neurongraph.errors import AnalysisError
from neurongraph.model.extract import extract_chain
from neurongraph.model.hf import load_directory
from neurongraph.model.view import read_view

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_chain_read_as_a_view_scores_as_the_chain():
    X, y, _, _ = digits_split()
    X, y = X[:300], y[:300]
    model = seeded_mlp([64, 12, 10, 10], seed=3).double()
    chain = extract_chain(model, torch.as_tensor(X[:4], dtype=torch.float64))
    view = read_view(model, torch.as_tensor(X[:4], dtype=torch.float64))
    groups = {1: np.arange(12) % 3, 2: np.arange(10) % 2}
    options = dict(n_random=3, steps=25, top_k=15, random_state=4)
    a = coherence(chain, groups, (X, y), **options)
    b = coherence(view, groups, (X, y), **options)
    assert [(g.layer, g.label) for g in a.groups] == [(g.layer, g.label) for g in b.groups]
    for ga, gb in zip(a.groups, b.groups, strict=True):
        assert_array_equal(ga.random_units, gb.random_units)
        assert_array_equal(ga.example_indices, gb.example_indices)
        assert ga.example_entropy == pytest.approx(gb.example_entropy)
        assert ga.class_consistency == pytest.approx(gb.class_consistency, nan_ok=True)
        # the chain optimises in float32, the view in float64: the same ascent, to rounding
        assert_allclose(gb.vis_input, ga.vis_input, atol=1e-3)
        assert gb.vis_objective == pytest.approx(ga.vis_objective, rel=1e-3, abs=1e-4)
    for layer in (1, 2):
        assert_allclose(b.neurons[layer].selectivity, a.neurons[layer].selectivity, atol=1e-9)
    assert b.notes == [] and b.options["visualise"]


def test_a_resnet_group_is_driven_through_the_view_to_its_layer_only():
    torch.manual_seed(0)
    model = zoo.TinyResNet().eval()
    X, _, _, _ = digits_split()
    images = torch.as_tensor(X[:200]).reshape(-1, 1, 8, 8)
    view = read_view(model, images[:8])
    layer = next(p for p, la in enumerate(view.layers) if la.name == "layer1.add")
    # the truncated read gives the full replay's activations, with gradients
    x = images[:5].double().requires_grad_(True)
    acts = view.layer_activations(x, layer)
    full, _ = view.activations(images[:5])
    assert_allclose(acts.detach().numpy(), full[layer].numpy(), rtol=1e-12, atol=1e-12)
    acts[:, 1].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    vis = feature_visualisation(view, [(layer, [1, 2]), (layer, [0])], steps=60, random_state=0)
    on_data = view.activations(images)[0][layer]
    assert vis.inputs.shape == (2, 1, 8, 8)
    assert vis.inputs.min() >= 0.0 and vis.inputs.max() <= 1.0
    assert vis.objective[0] > on_data[:, [1, 2]].sum(1).max().item()
    assert vis.objective[1] > on_data[:, 0].max().item()


@pytest.fixture(scope="module")
def bert_view(tmp_path_factory):
    """A tiny random BERT encoder saved as a Hugging Face directory, read as a view of 6
    positions."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=30,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
    )
    BertModel(config).save_pretrained(directory)
    loaded = load_directory(directory)
    return read_view(loaded.module, loaded.tokens.example((6,)))


def test_a_token_model_skips_visualisation_and_still_ranks_its_examples(bert_view):
    view = bert_view
    assert view.tokens
    ids = torch.randint(0, 30, (60, 6), generator=torch.Generator().manual_seed(1))
    y = (ids == 7).any(1).long().numpy()  # does token 7 occur
    layer = next(p for p in range(1, len(view.layers) - 1) if view.layers[p].width == 8)
    groups = [(layer, "a", [0, 1, 2]), (layer, "b", [3, 4, 5, 6, 7])]
    result = coherence(
        view, groups, (ids, y), n_random=3, top_k=10, random_state=0, tasks=[(slice(0, 2), 0)]
    )
    assert result.notes == [TOKENS_NOTE]
    assert not result.options["visualise"]
    acts = view.activations(ids)[0][layer].numpy()
    z = (acts - acts.mean(0)) / acts.std(0)
    for g in result.groups:
        assert g.vis_input is None and np.isnan(g.vis_objective) and np.isnan(g.vis_objective_p)
        assert 0 < g.example_entropy_p <= 1
        # the top examples are those with the largest summed z-score of the group's units
        scores = z[:, g.units].sum(1)
        assert scores[g.example_indices].min() >= np.sort(scores)[-10] - 1e-9
    assert set(result.neurons) == set(range(1, len(view.layers) - 1))
    with pytest.raises(AnalysisError, match="token ids"):
        feature_visualisation(view, [(layer, [0])], steps=2)
