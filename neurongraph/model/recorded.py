"""What a stored network recorded, for the commands that run its model: whether it is a chain,
the dataset in the layout it takes, and its cached activations."""

from __future__ import annotations

import torch

from neurongraph.errors import UsageError
from neurongraph.model.activations import ActivationCache
from neurongraph.model.chain import Chain
from neurongraph.model.datasets import Dataset, check_input_shape
from neurongraph.model.view import CHAIN, ModelView
from neurongraph.store import Store
from neurongraph.store.files import ACTIVATIONS

__all__ = ["DAG_NOT_SUPPORTED", "activation_cache", "fit_dataset", "require_chain"]


#: Why a runtime analysis refuses a network that is not a chain.
DAG_NOT_SUPPORTED = (
    "residual/DAG networks are not supported by this analysis yet (analyze spectral, "
    "activations, analyze louvain and analyze entropy are)"
)


def require_chain(network: dict, analysis: str | None = None) -> None:
    """UsageError (exit 2) when a stored network is not a chain of layers: runtime analyses
    (activations and what reads them, lesions, coherence) run the model as a chain.
    ``analysis`` (e.g. ``"activations"``) starts the message."""
    if network.get("dataFlow", CHAIN) != CHAIN:
        start = f"{analysis}: " if analysis else ""
        raise UsageError(
            f"{start}network {network['name']!r} is not a chain of layers: {DAG_NOT_SUPPORTED}"
        )


def fit_dataset(dataset: Dataset, network: Chain | ModelView, name: str) -> Dataset:
    """``dataset`` in the layout the network (its chain or its view) takes; UsageError when its
    inputs or its tasks' outputs do not fit the network. A network of token ids takes text
    encoded with its tokenizer (:meth:`~neurongraph.model.hf.TokenInput.encode`); its tasks
    are checked only when it gives one score per class."""
    tokens = isinstance(network, ModelView) and network.tokens
    if tokens != (dataset.texts is not None):
        takes = "token ids (text)" if tokens else "feature vectors"
        gives = "text" if dataset.texts is not None else "feature vectors"
        raise UsageError(
            f"network {name!r} takes {takes} but dataset {dataset.name!r} gives {gives}; "
            "use the kind of data the model was made for (--data)"
        )
    dataset = check_input_shape(dataset, network.input_shape)
    outputs = output_width(network)
    if outputs is not None and dataset.n_outputs > outputs:
        raise UsageError(
            f"dataset {dataset.name!r} needs {dataset.n_outputs} outputs but network {name!r} "
            f"has {outputs}; use the dataset the model was trained on (--data)"
        )
    return dataset


def output_width(network: Chain | ModelView) -> int | None:
    """Features of the network's output (a chain's last layer; what a view returns); None
    for a token model that returns more than one vector per example (hidden states of every
    position, not scores)."""
    if isinstance(network, Chain):
        return network.stages[-1].width
    dtype = torch.int64 if network.tokens else torch.float64
    output = network(torch.zeros((1, *network.input_shape), dtype=dtype))
    if network.tokens and output.dim() > 2:
        return None
    return int(output.reshape(1, -1).shape[1])


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
