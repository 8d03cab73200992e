"""``neurongraph train``: the small models the experiments need, with the paper's regularisers."""

from __future__ import annotations

import click

from neurongraph.cli.common import (
    Context,
    check_out_path,
    echo_json,
    json_option,
    pass_context,
    progress_bar,
    uses_torch,
)
from neurongraph.training.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_L1,
    DEFAULT_L2,
    DEFAULT_LR,
    DEFAULT_PRUNE,
    DEFAULT_REG_K,
    DEFAULT_SPECTRAL_REG,
    IMAGE_KINDS,
    TRANSFORMER_EXAMPLE,
)

#: Where `train` writes its model unless --out says otherwise.
DEFAULT_OUT = "model.pt"


def data_option(required: bool = True):
    return click.option(
        "--data",
        "data",
        required=required,
        metavar="DATASET",
        help="digits, halves, halves-same, poly, two-tasks, npz:PATH, mnist:DIR; text for "
        "token models: text-task or text:FILE (lines of text or label<TAB>text).",
    )


@click.command()
@click.option(
    "--arch",
    required=True,
    help="64-256-256-10 (MLP), cnn:c16-p-f64-10 (CNN), resnet:c16x2-c32x2-10 (ResNet) or "
    f"{TRANSFORMER_EXAMPLE} (transformer on text: width, heads, blocks, classes).",
)
@data_option()
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=DEFAULT_OUT,
    show_default=True,
    help="TorchScript file to write (plus OUT.json).",
)
@click.option("--epochs", type=click.IntRange(min=0), default=DEFAULT_EPOCHS, show_default=True)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_LR, show_default=True
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    default=DEFAULT_DROPOUT,
    show_default=True,
)
@click.option(
    "--l1",
    type=click.FloatRange(min=0),
    default=DEFAULT_L1,
    show_default=True,
    help="Weight of the L1 penalty on all weights.",
)
@click.option(
    "--l2",
    type=click.FloatRange(min=0),
    default=DEFAULT_L2,
    show_default=True,
    help="Weight of the L2 penalty (sum of squares) on all weights.",
)
@click.option(
    "--prune",
    type=click.FloatRange(0, 1, max_open=True),
    default=DEFAULT_PRUNE,
    show_default=True,
    help="Target sparsity of magnitude pruning, then fine-tuning.",
)
@click.option(
    "--modular-init",
    type=click.IntRange(min=1),
    default=None,
    help="Initialise with M modules (same-module weights up, cross-module down).",
)
@click.option(
    "--spectral-reg",
    type=click.FloatRange(min=0),
    default=DEFAULT_SPECTRAL_REG,
    show_default=True,
    help="Weight of the spectral clusterability regulariser.",
)
@click.option(
    "--reg-k",
    type=click.IntRange(min=1),
    default=DEFAULT_REG_K,
    show_default=True,
    help="Eigenvalues 2..K+1 of the normalised Laplacian in the regulariser.",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    default=None,
    help="Also save a checkpoint every N epochs into OUT's stem + '-checkpoints/'.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@pass_context
@uses_torch
def train(
    obj: Context,
    arch: str,
    data: str,
    out: str,
    epochs: int,
    lr: float,
    batch_size: int,
    dropout: float,
    l1: float,
    l2: float,
    prune: float,
    modular_init: int | None,
    spectral_reg: float,
    reg_k: int,
    checkpoint_every: int | None,
    seed: int,
    as_json: bool,
):
    """Train a small MLP, CNN, ResNet or transformer on a built-in dataset and save it as
    TorchScript."""
    from neurongraph.model.datasets import load_dataset
    from neurongraph.training.architectures import parse_architecture
    from neurongraph.training.train import train_model

    architecture = parse_architecture(arch)  # malformed: one line, before anything else
    images = architecture.kind in IMAGE_KINDS
    out_path = check_out_path(out)  # before hours of training, not after
    dataset = load_dataset(data, random_state=seed, image=images)
    checkpoints = out_path.with_name(out_path.stem + "-checkpoints") if checkpoint_every else None
    with progress_bar("epochs", enabled=not as_json, total=epochs) as progress:
        result = train_model(
            architecture,
            dataset,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            dropout=dropout,
            l1=l1,
            l2=l2,
            prune=prune,
            modular_init=modular_init,
            spectral_reg=spectral_reg,
            reg_k=reg_k,
            checkpoint_every=checkpoint_every,
            checkpoint_dir=checkpoints,
            random_state=seed,
            progress=lambda record: progress(record.epoch, epochs),
        )
    model_path, sidecar = result.save(out_path)
    summary = {
        "model": str(model_path),
        "sidecar": str(sidecar),
        "architecture": arch,
        "dataset": data,
        "epochs": epochs,
        "testAccuracy": result.test_accuracy,
        "taskAccuracy": result.task_accuracy,
        "checkpoints": str(checkpoints) if checkpoints else None,
        "seed": result.seed,
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"trained {arch} on {data} for {epochs} epochs: test accuracy "
        f"{result.test_accuracy:.4f}; saved {model_path}"
    )
    if checkpoints:
        click.echo(f"checkpoints in {checkpoints}/")
