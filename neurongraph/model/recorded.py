"""What a stored network recorded, for the commands that run its model: the example input it
is read with, the dataset in the layout it takes, and its cached activations."""

from __future__ import annotations

import torch
from torch import nn

from neurongraph.errors import IngestError, UsageError, arg, step
from neurongraph.model.activations import ActivationCache
from neurongraph.model.chain import Chain
from neurongraph.model.datasets import Dataset, check_input_shape
from neurongraph.model.extract import example_batch
from neurongraph.model.hf import EXAMPLE_BATCH
from neurongraph.model.input_shape import infer_input_shape
from neurongraph.model.loading import LoadedModel
from neurongraph.model.view import ModelView
from neurongraph.store import Store
from neurongraph.store.files import ACTIVATIONS

__all__ = [
    "activation_cache",
    "check_not_text",
    "feature_inputs",
    "fit_dataset",
    "model_inputs",
    "module_inputs",
    "token_inputs",
]


def model_inputs(
    loaded: LoadedModel, input_shape: tuple[int, ...], dataset: Dataset
) -> tuple[torch.Tensor, Dataset]:
    """The example batch a stored network's model is read with and ``dataset`` in the form it
    takes: a token model's text encoded with its tokenizer at the network's positions
    (``input_shape[0]``), else the dataset checked against ``input_shape`` (the example: zeros,
    random inputs and its first examples)."""
    if loaded.tokens is not None:
        return token_inputs(loaded, dataset, input_shape[0])
    return feature_inputs(loaded.source, input_shape, dataset)


def module_inputs(
    module: nn.Module, input_shape: tuple[int, ...] | None, dataset: Dataset | None, source: str
) -> tuple[torch.Tensor, Dataset | None]:
    """The example batch a model of feature vectors is ingested with, of ``input_shape`` or the
    shape its layers imply (:func:`~neurongraph.model.input_shape.infer_input_shape`), and
    ``dataset`` (if any) checked against it (see :func:`feature_inputs`).

    Raises
    ------
    IngestError
        When no shape is given and the layers do not imply one.
    """
    shape = input_shape or infer_input_shape(module)
    if not shape:
        raise IngestError(
            "cannot tell the model's input shape (its first layer is a Conv2d and its input "
            f"size does not follow from its layers); pass {arg('input_shape')} C,H,W"
        )
    if dataset is None:
        return example_batch(shape), None
    return feature_inputs(source, shape, dataset)


def feature_inputs(
    source: str, input_shape: tuple[int, ...], dataset: Dataset
) -> tuple[torch.Tensor, Dataset]:
    """The example batch a model of feature vectors (named ``source`` in errors) is read with,
    and ``dataset`` checked against its ``input_shape`` (the example: zeros, random inputs and
    the dataset's first examples)."""
    check_not_text(dataset, source)
    dataset = check_input_shape(dataset, input_shape)
    return example_batch(input_shape, torch.from_numpy(dataset.X_train)), dataset


def token_inputs(
    loaded: LoadedModel, dataset: Dataset, positions: int | None
) -> tuple[torch.Tensor, Dataset]:
    """A token model's text ``dataset`` encoded with its tokenizer at ``positions`` (default:
    the longest text's), and the example batch it is read with: the first texts."""
    encoded = loaded.tokens.encode(dataset, positions)
    return torch.from_numpy(encoded.X_train[:EXAMPLE_BATCH]), encoded


def check_not_text(dataset: Dataset, source: str) -> None:
    """IngestError when text is given to a model of feature vectors."""
    if dataset.texts is not None:
        raise IngestError(
            f"dataset {dataset.name!r} is text and {source} takes feature vectors; give "
            "text to a model of token ids (a Hugging Face directory, or a transformer trained "
            f"with {step('train')})"
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
            f"use the kind of data the model was made for ({arg('data')})"
        )
    dataset = check_input_shape(dataset, network.input_shape)
    outputs = output_width(network)
    if outputs is not None and dataset.n_outputs > outputs:
        raise UsageError(
            f"dataset {dataset.name!r} needs {dataset.n_outputs} outputs but network {name!r} "
            f"has {outputs}; use the dataset the model was trained on ({arg('data')})"
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
            f"{step('activations')} on a dataset ({arg('data')})"
        )
    return ActivationCache.load(path)
