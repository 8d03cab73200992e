"""The tiny transformer's training options on its weight graph: the spectral regulariser's
adjacency is the graph `ingest` writes, and training with it lowers its low eigenvalues."""

from __future__ import annotations

import numpy as np
import torch

from neurongraph.model.datasets import load_dataset
from neurongraph.training import parse_architecture
from neurongraph.training.architectures import count_neurons
from neurongraph.training.regularisers import adjacency_spectral_regulariser
from neurongraph.training.train import train_model
from neurongraph.training.transformer import build_transformer, transformer_weight_adjacency

ARCH = "transformer:d16-h2-b2-4"


def _ids(model, n: int = 5, positions: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, model.vocab_size, (n, positions), generator=g)
    ids[1, 5:] = model.pad_id
    return ids


def test_transformer_adjacency_is_the_ingested_weight_graph(ingested_adjacency):
    arch = parse_architecture(ARCH)
    model = build_transformer(arch, 7, torch.Generator().manual_seed(0)).eval()
    with torch.no_grad():  # LayerNorm scales away from 1, so that folding them shows
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)):
            norm.weight.uniform_(-2.0, 2.0, generator=torch.Generator().manual_seed(1))
    expected = ingested_adjacency(model, _ids(model))
    assert len(expected) == count_neurons(arch)
    adjacency = transformer_weight_adjacency(model)
    np.testing.assert_allclose(adjacency.detach().numpy(), expected, rtol=1e-6, atol=1e-7)


def test_the_spectral_regulariser_acts_on_a_transformer():
    """Trained with the regulariser, the transformer's weight graph has smaller low eigenvalues
    than trained alike without it (the same seed, so the same start)."""
    data = load_dataset("text-task", random_state=0)
    options = {"epochs": 3, "lr": 0.01, "reg_k": 3, "random_state": 0}
    plain = train_model("transformer:d16-h2-b1-4", data, **options)
    regularised = train_model(
        "transformer:d16-h2-b1-4", data, spectral_reg=5.0, spectral_every=1, **options
    )
    assert regularised.history[-1].spectral is not None and plain.history[-1].spectral is None

    @torch.no_grad()
    def value(result):
        return float(adjacency_spectral_regulariser(transformer_weight_adjacency(result.model), 3))

    assert value(regularised) < 0.7 * value(plain)
    assert regularised.test_accuracy > 0.5
