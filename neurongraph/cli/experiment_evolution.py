"""``neurongraph experiment evolution``: communities, entropy and accuracy through training."""

from __future__ import annotations

import click

from neurongraph.cli.common import (
    Context,
    check_out_path,
    echo_json,
    echo_table,
    json_option,
    pass_context,
    progress_bar,
)
from neurongraph.cli.training import data_option
from neurongraph.experiments.evolution import (
    DEFAULT_ARCH,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_NAME,
    METRICS,
    run_evolution,
)

__all__ = ["evolution"]

#: How the text output writes values and p-values.
VALUE = ".4f"
P_VALUE = ".2g"


@click.command()
@data_option()
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=DEFAULT_EPOCHS,
    show_default=True,
    help="Epochs of training; one checkpoint and one network NAME@epoch each.",
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
    help="Series name: the checkpoints become networks NAME@1 ... NAME@EPOCHS.",
)
@json_option
@pass_context
def evolution(
    obj: Context,
    data: str,
    epochs: int,
    arch: str,
    lr: float,
    seed: int,
    out_dir: str | None,
    name: str,
    as_json: bool,
):
    """Train with a checkpoint per epoch; Louvain modularity and entropy vs accuracy per epoch."""
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
                _fmt(r.test_accuracy),
                _fmt(r.modularity),
                _fmt(r.entropy),
                _fmt(r.class_entropy),
                r.communities,
            )
            for r in result.rows
        ],
    )
    click.echo("")
    click.echo("correlation with test accuracy over the epochs:")
    echo_table(
        ("metric", "pearson r", "p", "spearman rho", "p", "n"),
        [
            (
                metric,
                _fmt(c["pearson"]),
                _fmt(c["pearsonP"], P_VALUE),
                _fmt(c["spearman"]),
                _fmt(c["spearmanP"], P_VALUE),
                c["n"],
            )
            for metric, c in ((m, result.correlations[m]) for m in METRICS)
        ],
    )
    click.echo(f"table: {result.csv}\nplot: {result.plot}\ncheckpoints: {result.checkpoints}/")
    if result.dropped:
        click.echo(f"dropped from an earlier, longer run: {', '.join(result.dropped)}")


def _fmt(value: float | None, spec: str = VALUE) -> str:
    """A number for the text tables; ``n/a`` where it is undefined (a skipped layer, a
    correlation over too few epochs or of a constant metric)."""
    return "n/a" if value is None else format(value, spec)
