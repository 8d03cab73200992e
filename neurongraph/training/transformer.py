"""A tiny transformer classifier of token ids, for the built-in text task.

Grammar (parsed by :func:`~neurongraph.training.architectures.parse_architecture`):
``transformer:dD-hH-bB-N``: model width ``D``, ``H`` attention heads (``D`` divisible by ``H``),
``B`` blocks, ``N`` classes; the feed-forward width is ``FFN_FACTOR * D``. E.g.
``transformer:d32-h2-b1-4`` for the four topics of ``text-task``. The vocabulary is the
built-in word vocabulary (:data:`~neurongraph.model.texts.WORDS`) and the number of positions
comes from the data.

The model: a token embedding plus a learned position embedding; per block (pre-norm)
``LayerNorm -> q, k, v Linear -> scaled_dot_product_attention (padding keys masked) -> o
Linear -> add``, then ``LayerNorm -> Linear -> GELU -> Linear -> add``; a final LayerNorm, the
mean over the non-padding positions and a Linear head. With ``dropout > 0`` a Dropout acts on
each block's two outputs before their adds (the residual dropout of Vaswani et al. 2017); it is
the identity in eval mode, so the saved model and its view are those of the same weights
without it. Only plain Linear layers, no control
flow on data: :func:`torch.jit.script` takes it and the model view reads the script.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from neurongraph.model.texts import PAD_ID, WORDS
from neurongraph.training.adjacency import block_adjacency
from neurongraph.training.architectures import Architecture, transformer_shape
from neurongraph.training.defaults import FFN_FACTOR

__all__ = [
    "FFN_FACTOR",
    "TinyTransformer",
    "build_transformer",
    "transformer_weight_adjacency",
]

#: What a padding key adds to an attention score: far below any real score, yet finite.
MASK_BIAS = -1e4


class Block(nn.Module):
    """One pre-norm transformer block of plain Linear layers."""

    def __init__(self, width: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.drop = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(width)
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.o = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff1 = nn.Linear(width, FFN_FACTOR * width)
        self.ff2 = nn.Linear(FFN_FACTOR * width, width)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        # heads split and joined on the last dimension only: the script holds no batch size,
        # so its view runs (and lesions batch) on any number of examples
        h = self.norm1(x)
        heads = [self.heads, x.shape[-1] // self.heads]
        q = self.q(h).unflatten(-1, heads).transpose(1, 2)
        k = self.k(h).unflatten(-1, heads).transpose(1, 2)
        v = self.v(h).unflatten(-1, heads).transpose(1, 2)
        mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = x + self.drop(self.o(mixed.transpose(1, 2).flatten(2)))
        return x + self.drop(self.ff2(F.gelu(self.ff1(self.norm2(x)))))


class TinyTransformer(nn.Module):
    """Token ids ``(N, positions)`` (``PAD_ID`` pads) to class scores ``(N, classes)``."""

    def __init__(
        self,
        vocab_size: int,
        positions: int,
        width: int,
        heads: int,
        blocks: int,
        classes: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.pad_id = PAD_ID
        self.mask_bias = MASK_BIAS
        self.embed = nn.Embedding(vocab_size, width)
        self.position = nn.Parameter(torch.zeros(positions, width))
        self.blocks = nn.ModuleList([Block(width, heads, dropout) for _ in range(blocks)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = (ids != self.pad_id).to(torch.float32)
        bias = ((1.0 - keep) * self.mask_bias)[:, None, None, :]
        x = self.embed(ids) + self.position
        for block in self.blocks:
            x = block(x, bias)
        x = self.norm(x)
        pooled = (x * keep[:, :, None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1.0)
        return self.head(pooled)


def build_transformer(
    arch: Architecture, positions: int, generator: torch.Generator, dropout: float = 0.0
) -> TinyTransformer:
    """A seeded :class:`TinyTransformer` of a transformer architecture (from
    :func:`~neurongraph.training.architectures.parse_architecture`) for ``positions`` word
    positions, with residual ``dropout``.

    Weights of Linear layers and embeddings are drawn from ``generator`` (Linear:
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, PyTorch's default; embeddings ``N(0, 1)``, position
    embeddings ``N(0, 0.02^2)``); norms start at 1 and 0.
    """
    width, heads, blocks, classes = transformer_shape(arch)
    model = TinyTransformer(len(WORDS), positions, width, heads, blocks, classes, dropout)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)
                module.weight.uniform_(-bound, bound, generator=generator)
                module.bias.uniform_(-bound, bound, generator=generator)
        model.embed.weight.normal_(generator=generator)
        model.position.normal_(std=0.02, generator=generator)
    return model


def transformer_weight_adjacency(model: TinyTransformer) -> torch.Tensor:
    """The symmetric float64 weight-graph adjacency of a :class:`TinyTransformer`, as ``ingest``
    writes its graph.

    Layers in the ingest's order: the input (the embedded positions, width ``D``); per block
    ``q``, ``k``, ``v``, ``o``, the attention's ``add``, ``ff1``, ``ff2`` and the block's
    ``add_1``; the head. Edges: the residual stream to ``q``, ``k`` and ``v`` and ``add`` to
    ``ff1`` by ``|W diag(gamma)|`` (the LayerNorm before them folded in), ``v`` to ``o`` and
    ``ff1`` to ``ff2`` by ``|W|``, each sum's two addends by the identity (weight-1 edges), and
    the last stream to the head by ``|W diag(gamma)|`` of the final LayerNorm. Differentiable
    in the Linear and LayerNorm weights.
    """
    widths = [model.position.shape[1]]
    blocks: list[tuple[int, int, torch.Tensor]] = []

    def layer(magnitude: torch.Tensor, *sources: int) -> int:
        widths.append(magnitude.shape[0])
        blocks.extend((source, len(widths) - 1, magnitude) for source in sources)
        return len(widths) - 1

    def folded(linear: nn.Linear, norm: nn.LayerNorm) -> torch.Tensor:
        return (linear.weight * norm.weight[None, :]).abs()

    stream = 0
    for block in model.blocks:
        for scores in (block.q, block.k):  # they feed the attention's scores, no layer
            layer(folded(scores, block.norm1), stream)
        value = layer(folded(block.v, block.norm1), stream)
        attended = layer(block.o.weight.abs(), value)
        identity = torch.eye(widths[stream], dtype=torch.float64)
        stream = layer(identity, stream, attended)
        hidden = layer(folded(block.ff1, block.norm2), stream)
        out = layer(block.ff2.weight.abs(), hidden)
        stream = layer(identity, stream, out)
    layer(folded(model.head, model.norm), stream)
    return block_adjacency(widths, blocks)
