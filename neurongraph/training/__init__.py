"""Training the small models the experiments need, with the clusterability regularisers.

See :mod:`neurongraph.training.architectures` for the architecture grammar (and
:mod:`neurongraph.training.resnet` for the residual CNNs),
:mod:`neurongraph.training.train` for the training loop, checkpoints and saved models,
:mod:`neurongraph.training.regularisers`, :mod:`neurongraph.training.modular` and
:mod:`neurongraph.training.pruning` for the options from Filan et al.
"""

from neurongraph.training.architectures import (
    Architecture,
    build_model,
    model_weights,
    parse_architecture,
)
from neurongraph.training.modular import MODULAR_INIT_RATIO, apply_modular_init
from neurongraph.training.pruning import weight_sparsity
from neurongraph.training.regularisers import (
    l1_penalty,
    l2_penalty,
    spectral_regulariser,
    weight_adjacency,
    weight_blocks,
)
from neurongraph.training.train import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_L1,
    DEFAULT_L2,
    DEFAULT_LR,
    DEFAULT_PRUNE,
    DEFAULT_REG_K,
    DEFAULT_SPECTRAL_EVERY,
    DEFAULT_SPECTRAL_REG,
    EpochRecord,
    Evaluation,
    TrainResult,
    evaluate_model,
    find_checkpoints,
    read_sidecar,
    save_model,
    sidecar_path,
    train_model,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_DROPOUT",
    "DEFAULT_EPOCHS",
    "DEFAULT_L1",
    "DEFAULT_L2",
    "DEFAULT_LR",
    "DEFAULT_PRUNE",
    "DEFAULT_REG_K",
    "DEFAULT_SPECTRAL_EVERY",
    "DEFAULT_SPECTRAL_REG",
    "MODULAR_INIT_RATIO",
    "Architecture",
    "EpochRecord",
    "Evaluation",
    "TrainResult",
    "apply_modular_init",
    "build_model",
    "evaluate_model",
    "find_checkpoints",
    "l1_penalty",
    "l2_penalty",
    "model_weights",
    "parse_architecture",
    "read_sidecar",
    "save_model",
    "sidecar_path",
    "spectral_regulariser",
    "train_model",
    "weight_adjacency",
    "weight_blocks",
    "weight_sparsity",
]
