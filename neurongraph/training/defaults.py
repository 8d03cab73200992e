"""Training's names and defaults that the command line shows, importable without torch.

:mod:`~neurongraph.training.train`, :mod:`~neurongraph.training.architectures` and
:mod:`~neurongraph.training.transformer` take them from here, so each is named once and
``--help`` costs no heavy import.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_DROPOUT",
    "DEFAULT_EPOCHS",
    "DEFAULT_L1",
    "DEFAULT_L2",
    "DEFAULT_LR",
    "DEFAULT_PRUNE",
    "DEFAULT_REG_K",
    "DEFAULT_SPECTRAL_REG",
    "FFN_FACTOR",
    "IMAGE_KINDS",
    "MLP_EXAMPLE",
    "TRANSFORMER_EXAMPLE",
    "TRANSFORMER_PREFIX",
]

DEFAULT_EPOCHS = 20
DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 64
DEFAULT_DROPOUT = 0.0
DEFAULT_L1 = 0.0
DEFAULT_L2 = 0.0
DEFAULT_PRUNE = 0.0
DEFAULT_SPECTRAL_REG = 0.0
#: Eigenvalues in the spectral regulariser: K = 11 favours the 12 clusters of the default
#: spectral partition (DESIGN.md section 4).
DEFAULT_REG_K = 11
#: An MLP architecture, as examples and defaults name it.
MLP_EXAMPLE = "64-256-256-256-256-10"
#: Architecture kinds that take images ``(C, H, W)``.
IMAGE_KINDS = frozenset({"cnn", "resnet"})
#: How a transformer architecture string starts.
TRANSFORMER_PREFIX = "transformer:"
#: A transformer architecture, as help texts and messages name it.
TRANSFORMER_EXAMPLE = TRANSFORMER_PREFIX + "d32-h2-b1-4"
#: Feed-forward width of a transformer architecture's blocks per unit of its width.
FFN_FACTOR = 4
