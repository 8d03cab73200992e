"""A weight graph's adjacency from its blocks, for networks that are not chains.

:func:`~neurongraph.training.resnet.residual_weight_adjacency` and
:func:`~neurongraph.training.transformer.transformer_weight_adjacency` list the blocks of the
graph that ``ingest`` writes (``|W|`` between two layers, the identity of a residual sum's
weight-1 edges); :func:`block_adjacency` places them in one symmetric matrix for
:func:`~neurongraph.training.regularisers.adjacency_spectral_regulariser`.
"""

from __future__ import annotations

import torch

__all__ = ["block_adjacency"]


def block_adjacency(widths: list[int], blocks: list[tuple[int, int, torch.Tensor]]) -> torch.Tensor:
    """The symmetric float64 adjacency of a weight graph given as blocks.

    Parameters
    ----------
    widths : list of int
        Neurons per layer, in the order of the matrix's rows.
    blocks : list of (source, target, magnitude)
        Layer indices and the ``(widths[target], widths[source])`` edge weights between them;
        blocks between the same two layers add up. Gradients flow back to them.

    Examples
    --------
    >>> block_adjacency([1, 2], [(0, 1, torch.tensor([[2.0], [3.0]]))]).tolist()
    [[0.0, 2.0, 3.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
    """
    offsets = [0]
    for width in widths:
        offsets.append(offsets[-1] + width)
    adjacency = torch.zeros(offsets[-1], offsets[-1], dtype=torch.float64)
    for source, target, magnitude in blocks:
        rows = slice(offsets[target], offsets[target + 1])
        cols = slice(offsets[source], offsets[source + 1])
        adjacency[rows, cols] = adjacency[rows, cols] + magnitude.double()
    return adjacency + adjacency.T
