"""Clusterability regularisers: the spectral regulariser of Filan et al., L1 and L2.

The weight graph
----------------
One node per neuron: the input features (or input channels), then the units of every Linear and
Conv2d layer. Consecutive layers are joined by ``|W|``; for a convolution the edge between input
channel ``i`` and output channel ``o`` is the L1 norm of the kernel slice ``K[o, i]``, and for a
Linear layer fed by flattened conv maps the edge from channel ``i`` to unit ``o`` is the L1 norm of
the weights from that channel's positions. :func:`weight_adjacency` builds the symmetric matrix.

The spectral regulariser
------------------------
With degrees ``d = A 1 + SPECTRAL_EPS`` (so isolated neurons do not divide by zero) and
``L_sym = I - D^{-1/2} A D^{-1/2}`` with eigenvalues ``l_1 <= l_2 <= ...`` (``l_1`` is about 0),
:func:`spectral_regulariser` is ``(1/k) sum_{i=2..k+1} l_i``; training adds ``lambda`` times it.

Computing it: edges only join consecutive layers, so the graph is bipartite (even layers against
odd layers). ``D^{-1/2} A D^{-1/2}`` is then ``[[0, B], [B^T, 0]]`` with ``B`` the normalised
even-by-odd block, and its eigenvalues are ``+-s_j`` (the singular values of ``B``) plus zeros. So
the ``k + 1`` smallest ``l_i`` are ``1 - s_1, 1 - s_2, ...``, and ``s_j^2`` are the eigenvalues of
the smaller Gram matrix ``B^T B`` or ``B B^T``. The gradient flows by autograd through
:func:`torch.linalg.eigvalsh` of that Gram matrix, which has about half as many rows as ``L_sym``
(an eighth of the cost); it is computed in float64.

A network whose weight graph is not a chain (a ResNet or a transformer, whose sums are layers of
their own) gives its adjacency (:mod:`neurongraph.training.adjacency`) to
:func:`adjacency_spectral_regulariser`, which takes the eigenvalues of the full ``L_sym``.
"""

from __future__ import annotations

import torch

from neurongraph.errors import UsageError
from neurongraph.training.architectures import input_group_sizes

__all__ = [
    "SPECTRAL_EPS",
    "adjacency_spectral_regulariser",
    "l1_penalty",
    "l2_penalty",
    "spectral_regulariser",
    "weight_adjacency",
    "weight_blocks",
]

#: Added to every degree before ``D^{-1/2}``; keeps isolated neurons finite.
SPECTRAL_EPS = 1e-8
#: Floor under the squared singular values before their square root (finite gradients).
_SQUARE_FLOOR = 1e-12


def weight_blocks(weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """``|W|`` between consecutive layers, one ``(units_out, units_in)`` matrix per weight layer.

    Conv kernels and the flattened positions of a channel are reduced by their L1 norm. Gradients
    flow back to ``weights``.
    """
    blocks = []
    for weight, group in zip(weights, input_group_sizes(weights), strict=True):
        magnitude = weight.abs()
        if magnitude.dim() > 2:
            magnitude = magnitude.flatten(2).sum(dim=2)
        if group > 1:
            magnitude = magnitude.view(magnitude.shape[0], -1, group).sum(dim=2)
        blocks.append(magnitude)
    return blocks


def weight_adjacency(weights: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
    """The symmetric weight-graph adjacency over all neurons and the number of neurons per layer.

    Parameters
    ----------
    weights : list of torch.Tensor
        Weight tensors of a chain of Linear/Conv2d layers, input side first.

    Returns
    -------
    adjacency : torch.Tensor
        ``(N, N)``; rows ordered input layer first; differentiable in ``weights``.
    widths : list of int
        Neurons per layer, the input layer first; they sum to N.

    Examples
    --------
    >>> a, widths = weight_adjacency([torch.tensor([[1.0, -2.0]])])
    >>> widths, a.tolist()
    ([2, 1], [[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [1.0, 2.0, 0.0]])
    """
    blocks = weight_blocks(weights)
    widths = [blocks[0].shape[1], *(block.shape[0] for block in blocks)]
    offsets = [sum(widths[:i]) for i in range(len(widths) + 1)]
    adjacency = blocks[0].new_zeros(offsets[-1], offsets[-1])
    for layer, block in enumerate(blocks):
        rows = slice(offsets[layer + 1], offsets[layer + 2])
        cols = slice(offsets[layer], offsets[layer + 1])
        adjacency[rows, cols] = block
        adjacency[cols, rows] = block.T
    return adjacency, widths


def spectral_regulariser(weights: list[torch.Tensor], k: int) -> torch.Tensor:
    """``(1/k) sum_{i=2..k+1} l_i`` over the smallest eigenvalues of the weight graph's ``L_sym``.

    Parameters
    ----------
    weights : list of torch.Tensor
        Weight tensors of a chain of Linear/Conv2d layers, input side first.
    k : int
        Number of eigenvalues summed, K; minimising them favours K + 1 clusters.

    Returns
    -------
    torch.Tensor
        A scalar in the dtype of ``weights[0]``, differentiable in ``weights``.

    Raises
    ------
    UsageError
        When ``k < 1`` or the network has fewer than ``k + 1`` neurons.

    Notes
    -----
    Computed through the bipartite structure of the graph (see the module docstring); the values
    equal the eigenvalues of the full ``L_sym``.

    References
    ----------
    Filan, Casper, Hod, Wild, Critch, Russell. *Clusterability in Neural Networks*, 2021.
    """
    blocks = [block.double() for block in weight_blocks(weights)]
    widths = [blocks[0].shape[1], *(block.shape[0] for block in blocks)]
    n_neurons = sum(widths)
    _check_k(k, n_neurons)
    degrees = [torch.zeros(width, dtype=torch.float64) + SPECTRAL_EPS for width in widths]
    for layer, block in enumerate(blocks):
        degrees[layer] = degrees[layer] + block.sum(dim=0)
        degrees[layer + 1] = degrees[layer + 1] + block.sum(dim=1)
    scale = [d.rsqrt() for d in degrees]
    # even layers are the rows of B, odd layers its columns
    position = [sum(widths[j] for j in range(i % 2, i, 2)) for i in range(len(widths))]
    n_even, n_odd = sum(widths[0::2]), sum(widths[1::2])
    bipartite = blocks[0].new_zeros(n_even, n_odd)
    for layer, block in enumerate(blocks):
        normalised = scale[layer + 1][:, None] * block * scale[layer][None, :]
        even, odd = (layer, layer + 1) if layer % 2 == 0 else (layer + 1, layer)
        rows = slice(position[even], position[even] + widths[even])
        cols = slice(position[odd], position[odd] + widths[odd])
        bipartite[rows, cols] = normalised.T if layer % 2 == 0 else normalised
    gram = bipartite.T @ bipartite if n_odd <= n_even else bipartite @ bipartite.T
    singular = torch.linalg.eigvalsh(gram).flip(0).clamp(min=_SQUARE_FLOOR).sqrt()
    # eigenvalues of D^-1/2 A D^-1/2, largest first: +s, then zeros, then -s
    n_zero = n_neurons - 2 * len(singular)
    adjacency_eigs = torch.cat([singular, singular.new_zeros(n_zero), -singular.flip(0)])
    laplacian_eigs = 1.0 - adjacency_eigs
    return (laplacian_eigs[1 : k + 1].sum() / k).to(weights[0].dtype)


def adjacency_spectral_regulariser(adjacency: torch.Tensor, k: int) -> torch.Tensor:
    """``(1/k) sum_{i=2..k+1} l_i`` of ``L_sym`` of any weight graph, from its adjacency.

    Parameters
    ----------
    adjacency : torch.Tensor
        Symmetric ``(N, N)`` non-negative weights (e.g.
        :func:`neurongraph.training.resnet.residual_weight_adjacency`).
    k : int
        Number of eigenvalues summed, K.

    Returns
    -------
    torch.Tensor
        A float64 scalar, differentiable in ``adjacency``.

    Raises
    ------
    UsageError
        When ``k < 1`` or the graph has fewer than ``k + 1`` neurons.

    Examples
    --------
    >>> two_pairs = torch.tensor([[0.0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    >>> round(float(adjacency_spectral_regulariser(two_pairs, 1)), 6)
    0.0
    """
    _check_k(k, adjacency.shape[0])
    adjacency = adjacency.double()
    scale = (adjacency.sum(dim=1) + SPECTRAL_EPS).rsqrt()
    normalised = scale[:, None] * adjacency * scale[None, :]
    laplacian = torch.eye(len(scale), dtype=torch.float64) - normalised
    return torch.linalg.eigvalsh(laplacian)[1 : k + 1].sum() / k


def _check_k(k: int, n_neurons: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n_neurons:
        raise UsageError(
            f"the number of eigenvalues k must be an integer from 1 to {n_neurons - 1} for a "
            f"network of {n_neurons} neurons, not {k!r}"
        )


def l1_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """Sum of ``|w|`` over every weight (biases excluded)."""
    return sum(weight.abs().sum() for weight in weights)


def l2_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """Sum of ``w ** 2`` over every weight (biases excluded), as Keras' ``l2`` regulariser."""
    return sum(weight.square().sum() for weight in weights)
