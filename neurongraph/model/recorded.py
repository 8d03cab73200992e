"""What a stored network recorded, for the commands that run its model: the dataset in the
layout it takes, and its cached activations."""

from __future__ import annotations

import torch

from neurongraph.errors import UsageError
from neurongraph.model.activations import ActivationCache
from neurongraph.model.chain import Chain
from neurongraph.model.datasets import Dataset, check_input_shape
from neurongraph.model.view import ModelView
from neurongraph.store import Store
from neurongraph.store.files import ACTIVATIONS

__all__ = ["activation_cache", "fit_dataset"]


def fit_dataset(dataset: Dataset, network: Chain | ModelView, name: str) -> Dataset:
    """``dataset`` in the layout the network (its chain or its view) takes; UsageError when its
    inputs or its tasks' outputs do not fit the network."""
    if isinstance(network, ModelView) and network.tokens:
        raise UsageError(
            f"network {name!r} takes token ids; recording the activations of token models on "
            "text is not supported yet"
        )
    dataset = check_input_shape(dataset, network.input_shape)
    outputs = output_width(network)
    if dataset.n_outputs > outputs:
        raise UsageError(
            f"dataset {dataset.name!r} needs {dataset.n_outputs} outputs but network {name!r} "
            f"has {outputs}; use the dataset the model was trained on (--data)"
        )
    return dataset


def output_width(network: Chain | ModelView) -> int:
    """Features of the network's output (a chain's last layer; what a view returns)."""
    if isinstance(network, Chain):
        return network.stages[-1].width
    example = torch.zeros((1, *network.input_shape), dtype=torch.float64)
    return int(network(example).reshape(1, -1).shape[1])


def activation_cache(store: Store, name: str) -> ActivationCache:
    """The cached activations of a complete network; UsageError naming the command that makes
    them when there are none."""
    network = store.require_network(name)
    recorded = network.get("activationsCache")
    path = store.files.resolve(recorded, ACTIVATIONS, ".npy") if recorded else None
    if path is None or not path.exists():
        raise UsageError(
            f"no activations cached for network {name!r}; record them with "
            f"`neurongraph activations {name} --data DATASET`"
        )
    return ActivationCache.load(path)
