"""Training the small models the experiments need, with the clusterability regularisers.

See :mod:`neurongraph.training.architectures` for the architecture grammar (and
:mod:`neurongraph.training.resnet` for the residual CNNs),
:mod:`neurongraph.training.train` for the training loop, checkpoints and saved models,
:mod:`neurongraph.training.regularisers`, :mod:`neurongraph.training.modular` and
:mod:`neurongraph.training.pruning` for the options from Filan et al.

Everything is imported on first use, so that importing the package (or its light
:mod:`~neurongraph.training.defaults`) does not pull in torch.
"""

from importlib import import_module
from typing import Any

#: The module each public name comes from.
_SOURCES = {
    "Architecture": "neurongraph.training.architectures",
    "build_model": "neurongraph.training.architectures",
    "model_weights": "neurongraph.training.architectures",
    "parse_architecture": "neurongraph.training.architectures",
    "MODULAR_INIT_RATIO": "neurongraph.training.modular",
    "apply_modular_init": "neurongraph.training.modular",
    "weight_sparsity": "neurongraph.training.pruning",
    "l1_penalty": "neurongraph.training.regularisers",
    "l2_penalty": "neurongraph.training.regularisers",
    "spectral_regulariser": "neurongraph.training.regularisers",
    "weight_adjacency": "neurongraph.training.regularisers",
    "weight_blocks": "neurongraph.training.regularisers",
    "DEFAULT_BATCH_SIZE": "neurongraph.training.defaults",
    "DEFAULT_DROPOUT": "neurongraph.training.defaults",
    "DEFAULT_EPOCHS": "neurongraph.training.defaults",
    "DEFAULT_L1": "neurongraph.training.defaults",
    "DEFAULT_L2": "neurongraph.training.defaults",
    "DEFAULT_LR": "neurongraph.training.defaults",
    "DEFAULT_PRUNE": "neurongraph.training.defaults",
    "DEFAULT_REG_K": "neurongraph.training.defaults",
    "DEFAULT_SPECTRAL_EVERY": "neurongraph.training.train",
    "DEFAULT_SPECTRAL_REG": "neurongraph.training.defaults",
    "EpochRecord": "neurongraph.training.train",
    "Evaluation": "neurongraph.training.train",
    "TrainResult": "neurongraph.training.train",
    "evaluate_model": "neurongraph.training.train",
    "find_checkpoints": "neurongraph.training.train",
    "read_sidecar": "neurongraph.training.train",
    "save_model": "neurongraph.training.train",
    "sidecar_path": "neurongraph.training.train",
    "train_model": "neurongraph.training.train",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        return getattr(import_module(_SOURCES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
