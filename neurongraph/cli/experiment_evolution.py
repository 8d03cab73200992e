"""``neurongraph experiment evolution``: communities, entropy and accuracy through training."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from neurongraph.cli.common import (
    Context,
    check_out_path,
    echo_json,
    echo_table,
    json_option,
    pass_context,
    progress_bar,
    uses_torch,
)
from neurongraph.cli.training import data_option
from neurongraph.experiments.defaults import DEFAULT_MODEL_SPECS, METRICS, NO_MODELS
from neurongraph.experiments.defaults import EVOLUTION_ARCH as DEFAULT_ARCH
from neurongraph.experiments.defaults import EVOLUTION_NAME as DEFAULT_NAME
from neurongraph.formatting import number
from neurongraph.training.defaults import DEFAULT_EPOCHS, DEFAULT_LR

if TYPE_CHECKING:
    from neurongraph.experiments.evolution import EvolutionResult

__all__ = ["evolution"]

#: How the text output writes values and p-values.
P_VALUE = ".2g"


@click.command()
@data_option()
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=DEFAULT_EPOCHS,
    show_default=True,
    help="Epochs of training; one checkpoint and one network NAME@epoch each, and NAME@0.",
)
@click.option("--arch", default=DEFAULT_ARCH, show_default=True, help="Architecture string.")
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_LR, show_default=True
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the data split, the training and Louvain.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory for checkpoints, evolution.csv and evolution.png [default: ./NAME].",
)
@click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    help="Series name: the checkpoints become networks NAME@0 ... NAME@EPOCHS.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="SPEC",
    help="A model compared with the base across models: key=value pairs joined by '/' "
    "(arch=, width= factor of the hidden widths, noise= fraction of flipped training labels, "
    f"epochs=); repeat for several, or {NO_MODELS} for none "
    f"[default: {' '.join(DEFAULT_MODEL_SPECS)}; without width= for a CNN or ResNet].",
)
@json_option
@pass_context
@uses_torch
def evolution(
    obj: Context,
    data: str,
    epochs: int,
    arch: str,
    lr: float,
    seed: int,
    out_dir: str | None,
    name: str,
    models: tuple[str, ...],
    as_json: bool,
):
    """Louvain modularity and entropy vs accuracy through training and across models.

    Trains with a checkpoint before training (epoch 0) and after every epoch and measures each
    one; then trains a set of models of different quality (--model: narrower, noisy labels,
    fewer epochs) and relates their final modularity and entropy to test accuracy across the
    models (Spearman and Pearson), since along one run anything monotone correlates with it.
    Writes OUT/evolution.csv, OUT/evolution.png, OUT/evolution-models.csv and
    OUT/evolution-models.png.
    """
    from neurongraph.experiments.evolution import run_evolution

    check_out_path(out_dir or name, directory=True)
    with progress_bar("evolution", enabled=not as_json) as progress:
        result = run_evolution(
            obj.store,
            data=data,
            arch=arch,
            epochs=epochs,
            seed=seed,
            lr=lr,
            out_dir=out_dir,
            name=name,
            models=models or None,
            progress=progress,
        )
    if as_json:
        echo_json(result.as_dict())
        return
    click.echo(
        f"evolution of {arch} on {data} over {epochs} epochs (seed {result.seed}): "
        f"networks {result.rows[0].network} ... {result.rows[-1].network}"
    )
    echo_table(
        ("epoch", "accuracy", "modularity", "entropy", "class entropy", "communities"),
        [
            (
                r.epoch,
                number(r.test_accuracy),
                number(r.modularity),
                number(r.entropy),
                number(r.class_entropy),
                r.communities,
            )
            for r in result.rows
        ],
    )
    click.echo("")
    click.echo("correlation with test accuracy over the epochs:")
    _echo_correlations(result.correlations)
    click.echo(f"table: {result.csv}\nplot: {result.plot}\ncheckpoints: {result.checkpoints}/")
    if result.models:
        _echo_models(result)
    if result.dropped:
        click.echo(f"dropped from an earlier, longer run: {', '.join(result.dropped)}")


def _echo_models(result: EvolutionResult) -> None:
    click.echo("")
    click.echo(f"{len(result.models)} models of different quality (their final networks):")
    echo_table(
        (
            "model",
            "network",
            "arch",
            "epochs",
            "accuracy",
            "modularity",
            "entropy",
            "class entropy",
        ),
        [
            (
                r.model,
                r.network,
                r.arch,
                r.epochs,
                number(r.metrics.test_accuracy),
                number(r.metrics.modularity),
                number(r.metrics.entropy),
                number(r.metrics.class_entropy),
            )
            for r in result.models
        ],
    )
    click.echo("")
    click.echo("correlation with test accuracy across the models:")
    _echo_correlations(result.model_correlations)
    click.echo(f"table: {result.models_csv}\nplot: {result.models_plot}")


def _echo_correlations(correlations: dict[str, dict]) -> None:
    echo_table(
        ("metric", "pearson r", "p", "spearman rho", "p", "n"),
        [
            (
                metric,
                number(c["pearson"]),
                number(c["pearsonP"], P_VALUE),
                number(c["spearman"]),
                number(c["spearmanP"], P_VALUE),
                c["n"],
            )
            for metric, c in ((m, correlations[m]) for m in METRICS)
        ],
    )
