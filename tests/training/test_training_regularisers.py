"""The weight graph, the spectral regulariser and its effect on clusterability."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from neurongraph.errors import UsageError
from neurongraph.training import (
    l1_penalty,
    l2_penalty,
    model_weights,
    spectral_regulariser,
    train_model,
    weight_adjacency,
    weight_blocks,
)
from neurongraph.training.regularisers import SPECTRAL_EPS


def mlp_weights(seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(5, 3), (6, 5), (2, 6)]
    return [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in shapes]


def cnn_weights(seed: int = 0) -> list[torch.Tensor]:
    """Conv 2->3 channels, conv 3->4, then a Linear from 4 channels x 2x2 positions to 3 units."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 2, 3, 3), (4, 3, 3, 3), (3, 16)]
    return [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in shapes]


def laplacian_eigenvalues(weights: list[torch.Tensor]) -> torch.Tensor:
    """Eigenvalues of L_sym = I - D^-1/2 A D^-1/2 of the full adjacency, ascending."""
    adjacency, _ = weight_adjacency(weights)
    degree = adjacency.sum(dim=1) + SPECTRAL_EPS
    scale = degree.rsqrt()
    laplacian = torch.eye(len(adjacency), dtype=adjacency.dtype) - (
        scale[:, None] * adjacency * scale[None, :]
    )
    return torch.linalg.eigvalsh(laplacian)


def test_adjacency_by_hand():
    w1 = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.0, 3.0]])
    w2 = torch.tensor([[-4.0, 1.0]])
    adjacency, widths = weight_adjacency([w1, w2])
    assert widths == [3, 2, 1]
    expected = torch.zeros(6, 6)
    expected[3:5, 0:3] = w1.abs()
    expected[5:6, 3:5] = w2.abs()
    expected = expected + expected.T
    assert torch.equal(adjacency, expected)


def test_conv_blocks_use_kernel_and_channel_l1_norms():
    weights = cnn_weights()
    blocks = weight_blocks(weights)
    assert [tuple(b.shape) for b in blocks] == [(3, 2), (4, 3), (3, 4)]
    torch.testing.assert_close(blocks[0][2, 1], weights[0][2, 1].abs().sum())
    # Linear fed by 4 flattened channels of 2x2: channel c owns inputs 4c .. 4c+3
    torch.testing.assert_close(blocks[2][1, 3], weights[2][1, 12:16].abs().sum())
    assert weight_adjacency(weights)[1] == [2, 3, 4, 3]


@pytest.mark.parametrize("make", [mlp_weights, cnn_weights])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_regulariser_equals_the_full_laplacian_sum(make, k):
    weights = make()
    expected = laplacian_eigenvalues(weights)[1 : k + 1].sum() / k
    torch.testing.assert_close(spectral_regulariser(weights, k), expected)
    # and so does its gradient
    grads = torch.autograd.grad(spectral_regulariser(weights, k), weights)
    expected_grads = torch.autograd.grad(expected, weights)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("make", [mlp_weights, cnn_weights])
def test_regulariser_gradient_matches_finite_differences(make):
    weights = make(seed=3)
    assert torch.autograd.gradcheck(lambda *w: spectral_regulariser(list(w), 2), weights)


def test_regulariser_handles_isolated_neurons():
    weights = mlp_weights()
    with torch.no_grad():
        weights[0][:, 1] = 0  # input 1 has no edges
        weights[1][2] = 0
        weights[2][:, 2] = 0  # hidden unit 2 of layer 2 neither
    value = spectral_regulariser(weights, 3)
    value.backward()
    assert torch.isfinite(value) and all(torch.isfinite(w.grad).all() for w in weights)


def test_regulariser_refuses_bad_k():
    weights = mlp_weights()
    for k in (0, 16, 2.5):
        with pytest.raises(UsageError, match="k must be an integer"):
            spectral_regulariser(weights, k)
    assert spectral_regulariser(weights, 15).item() > 0  # 16 neurons: k = 15 is the largest


def test_l1_penalty():
    weights = mlp_weights()
    expected = sum(w.abs().sum() for w in weights)
    torch.testing.assert_close(l1_penalty(weights), expected)


def test_l2_penalty_by_hand_and_in_training(digits_dataset):
    weights = [torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0], [-0.5]])]
    torch.testing.assert_close(l2_penalty(weights), torch.tensor(1 + 4 + 9 + 0.25))

    def sum_of_squares(**options) -> float:
        result = train_model(
            "64-16-10", digits_dataset, epochs=2, lr=0.01, random_state=0, **options
        )
        return l2_penalty(model_weights(result.model)).item()

    # same seed, same batches: the penalty alone makes the weights smaller
    assert sum_of_squares(l2=1e-2) < 0.8 * sum_of_squares()


def clusterability(model: torch.nn.Module, k: int) -> tuple[float, float]:
    """Sum of eigenvalues 2..k+1 of L_sym and the n-cut of a (k+1)-way spectral partition."""
    adjacency, _ = weight_adjacency([w.detach().double() for w in model_weights(model)])
    adjacency = adjacency.numpy()
    keep = adjacency.sum(axis=1) > 0
    adjacency = adjacency[keep][:, keep]
    degree = adjacency.sum(axis=1)
    scale = 1 / np.sqrt(degree)
    laplacian = np.eye(len(adjacency)) - scale[:, None] * adjacency * scale[None, :]
    values, vectors = np.linalg.eigh(laplacian)
    embedding = vectors[:, : k + 1] / np.linalg.norm(vectors[:, : k + 1], axis=1, keepdims=True)
    labels = KMeans(k + 1, n_init=10, random_state=0).fit_predict(embedding)
    ncut = sum(
        adjacency[labels == c][:, labels != c].sum() / adjacency[labels == c].sum()
        for c in range(k + 1)
    )
    return float(values[1 : k + 1].sum()), float(ncut)


def test_spectral_regulariser_makes_a_trained_mlp_more_clusterable(digits_dataset):
    options = {"epochs": 6, "reg_k": 3, "spectral_every": 1, "random_state": 0}
    plain = train_model("64-32-32-10", digits_dataset, **options)
    regularised = train_model("64-32-32-10", digits_dataset, spectral_reg=1.0, **options)
    eig_plain, ncut_plain = clusterability(plain.model, 3)
    eig_reg, ncut_reg = clusterability(regularised.model, 3)
    assert eig_reg < 0.7 * eig_plain
    assert ncut_reg < 0.8 * ncut_plain
    assert regularised.test_accuracy > 0.5
    # the regulariser value recorded during training goes down
    spectral = [record.spectral for record in regularised.history]
    assert spectral[-1] < spectral[0] and plain.history[-1].spectral is None
