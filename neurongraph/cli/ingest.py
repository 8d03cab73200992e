"""Commands that write models into the store: ingest, activations."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from neurongraph.cli.common import (
    Context,
    ShapeType,
    echo_json,
    json_option,
    model_option,
    pass_context,
    progress_bar,
    trust_pickle_option,
    uses_torch,
)
from neurongraph.cli.training import data_option
from neurongraph.errors import UsageError
from neurongraph.ingest.defaults import DEFAULT_KERNEL_NORM, KERNEL_NORMS
from neurongraph.model.defaults import (
    CHANNEL_REDUCTIONS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_CORR_TOP_K,
    TOKEN_REDUCTIONS,
)

if TYPE_CHECKING:
    import torch

    from neurongraph.model.datasets import Dataset
    from neurongraph.model.loading import LoadedModel

log = logging.getLogger(__name__)


def activation_options(command):
    """--data and the options of recording activations."""
    for option in reversed(
        [
            data_option(required=False),
            click.option(
                "--channel-reduce",
                type=click.Choice(CHANNEL_REDUCTIONS),
                default="mean",
                show_default=True,
                help="How a conv channel's H x W map becomes a number.",
            ),
            click.option(
                "--token-reduce",
                type=click.Choice(TOKEN_REDUCTIONS),
                default="mean",
                show_default=True,
                help="How a token model's unit becomes a number: over its positions (padding "
                "left out) their mean, max, or the last one's value.",
            ),
            click.option(
                "--corr-top-k",
                type=click.IntRange(min=1),
                default=DEFAULT_CORR_TOP_K,
                show_default=True,
                help="CORRELATES edges kept per hidden neuron.",
            ),
            click.option(
                "--batch-size",
                type=click.IntRange(min=1),
                default=DEFAULT_BATCH_SIZE,
                show_default=True,
                help="Examples per forward pass.",
            ),
            click.option(
                "--seed",
                type=int,
                default=0,
                show_default=True,
                help="Seed of the dataset's train/test split.",
            ),
        ]
    ):
        command = option(command)
    return command


@click.command()
@click.argument("model")
@click.option("--name", help="Network name, [A-Za-z0-9_.@-] (default: the model file's stem).")
@click.option("--weights", type=click.Path(dir_okay=False), help="State dict for a factory model.")
@trust_pickle_option
@click.option("--replace", is_flag=True, help="Replace an existing network of that name.")
@click.option(
    "--kernel-norm",
    type=click.Choice(KERNEL_NORMS),
    default=DEFAULT_KERNEL_NORM,
    show_default=True,
    help="Conv kernel slice -> edge weight: l1 sum|w|, l2 spectral norm, fro Frobenius.",
)
@click.option(
    "--input-shape",
    type=ShapeType(),
    help="One example's shape, e.g. 1,8,8 (a token model: its number of positions).",
)
@click.option(
    "--series",
    is_flag=True,
    help="MODEL is a checkpoint directory (epoch-NNN.pt): ingest NAME@epoch for each.",
)
@activation_options
@json_option
@pass_context
@uses_torch
def ingest(
    obj: Context,
    model: str,
    name: str | None,
    weights: str | None,
    trust_pickle: bool,
    replace: bool,
    kernel_norm: str,
    input_shape: tuple[int, ...] | None,
    series: bool,
    data: str | None,
    channel_reduce: str,
    token_reduce: str,
    corr_top_k: int,
    batch_size: int,
    seed: int,
    as_json: bool,
):
    """Write a model's neurons and weights (and, with --data, activations) into the store."""
    from neurongraph.ingest.pipeline import ingest_model
    from neurongraph.model.datasets import load_dataset
    from neurongraph.model.loading import load_model
    from neurongraph.store import check_network_name
    from neurongraph.training.train import find_checkpoints

    dataset = load_dataset(data, random_state=seed) if data else None
    if series:
        checkpoints = find_checkpoints(model)
        base = name if name is not None else Path(model).resolve().name
        check_network_name(f"{base}@0")
        jobs = [(str(path), f"{base}@{epoch}") for epoch, path in checkpoints]
    else:
        jobs = [(model, name if name is not None else _default_name(model))]
    results = []
    for source, network in jobs:
        log.info("loading the model %s", source)
        loaded = load_model(source, weights=weights, trust_pickle=trust_pickle)
        log.info("loaded the model %s", source)
        example, data_in = _model_inputs(loaded, input_shape, dataset)
        with (
            progress_bar(f"{network}: WEIGHT edges", enabled=not as_json) as progress,
            progress_bar(
                f"{network}: activations", enabled=not as_json, draw_now=False
            ) as recording,
        ):
            summary = ingest_model(
                obj.store,
                loaded.module,
                network,
                example,
                replace=replace,
                kernel_norm=kernel_norm,
                properties=loaded.properties(),
                model_file=loaded.file,
                dataset=data_in,
                channel_reduce=channel_reduce,
                token_reduce=token_reduce,
                corr_top_k=corr_top_k,
                batch_size=batch_size,
                progress=progress,
                activation_progress=recording,
            )
        results.append(summary.as_dict())
        if not as_json:
            click.echo(
                f"ingested {summary.network}: {summary.layers} layers, {summary.neurons} "
                f"neurons, {summary.edges} WEIGHT edges in {summary.seconds:.1f} s"
            )
            if summary.activations is not None:
                _echo_activations(summary.activations.as_dict())
    if as_json:
        echo_json({"networks": results} if series else results[0])


def _model_inputs(
    loaded: LoadedModel, input_shape: tuple[int, ...] | None, dataset: Dataset | None
) -> tuple[torch.Tensor, Dataset | None]:
    """The example input of a model to ingest, and the dataset in the form it takes: for a
    token model, token ids (``--input-shape`` is its number of positions) and the text
    encoded with its tokenizer; else a batch of the shape given, recorded or inferred."""
    from neurongraph.model.recorded import module_inputs, token_inputs

    if loaded.tokens is not None:
        if dataset is None:
            return loaded.tokens.example(input_shape), None
        if input_shape is not None and len(input_shape) != 1:
            loaded.tokens.example(input_shape)  # raises: the number of positions is one number
        return token_inputs(loaded, dataset, input_shape[0] if input_shape else None)
    shape = input_shape or tuple(loaded.metadata.get("inputShape") or ())
    return module_inputs(loaded.module, shape, dataset, loaded.source)


def _echo_activations(summary: dict) -> None:
    accuracy = summary["accuracy"]
    scored = f", test accuracy {accuracy:.4f}" if accuracy is not None else ""
    click.echo(
        f"activations of {summary['network']} on {summary['dataset']}: {summary['examples']} "
        f"examples, {summary['correlates']} CORRELATES edges{scored}"
        f"{' (cached)' if summary['cached'] else ''}"
    )


@click.command()
@click.argument("name")
@model_option
@activation_options
@json_option
@pass_context
@uses_torch
def activations(
    obj: Context,
    name: str,
    model: str | None,
    trust_pickle: bool,
    data: str | None,
    channel_reduce: str,
    token_reduce: str,
    corr_top_k: int,
    batch_size: int,
    seed: int,
    as_json: bool,
):
    """Record an ingested network's activations on a dataset (properties, CORRELATES, cache)."""
    from neurongraph.ingest.pipeline import read_network, record_activations
    from neurongraph.model.datasets import load_dataset
    from neurongraph.model.loading import load_recorded_model
    from neurongraph.model.recorded import model_inputs

    if not data:
        raise UsageError("--data is required: the dataset to run through the network")
    network = obj.store.require_network(name)
    loaded = load_recorded_model(
        network, obj.store.files, override=model, trust_pickle=trust_pickle
    )
    dataset = load_dataset(data, random_state=seed)
    example, dataset = model_inputs(loaded, tuple(network["inputShape"]), dataset)
    runner, _ = read_network(loaded.module, example)
    with progress_bar(f"{name}: activations", enabled=not as_json) as progress:
        summary = record_activations(
            obj.store,
            name,
            runner,
            loaded.module,
            dataset,
            channel_reduce=channel_reduce,
            token_reduce=token_reduce,
            corr_top_k=corr_top_k,
            batch_size=batch_size,
            progress=progress,
        ).as_dict()
    if as_json:
        echo_json(summary)
    else:
        _echo_activations(summary)


def _default_name(model: str) -> str:
    path = Path(model)
    return path.stem if path.suffix else model.replace(":", ".").replace("+", ".")


COMMANDS = (ingest, activations)
