"""``neurongraph experiment clusterability``: trained MLPs against their shuffles (Filan et al.)."""

from __future__ import annotations

import click

from neurongraph.analysis.nulls import LAYER_SHUFFLE_METHODS
from neurongraph.cli.common import (
    Context,
    check_out_path,
    echo_json,
    echo_table,
    json_option,
    pass_context,
    progress_bar,
)
from neurongraph.experiments.clusterability import (
    DEFAULT_ARCH,
    DEFAULT_DATA,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_N_CLUSTERS,
    DEFAULT_N_SHUFFLES,
    DEFAULT_OUT,
    DEFAULT_PREFIX,
    DEFAULT_RUNS,
    TABLE_COLUMNS,
    VARIANTS,
    run_clusterability_experiment,
)

__all__ = ["clusterability"]

_HEADINGS = {
    "variant": "variant",
    "runs": "runs",
    "accuracy": "accuracy",
    "ncut": "n-cut",
    "nullMean": "null mean",
    "nullStd": "null std",
    "zScore": "z",
    "percentile": "percentile",
    "clusterable": "clusterable",
}


def _variants(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    """``--variants plain,l1`` and repeated ``--variants`` both work."""
    return [v.strip() for item in value for v in item.split(",") if v.strip()] or list(VARIANTS)


@click.command()
@click.option(
    "--data", default=DEFAULT_DATA, show_default=True, metavar="DATASET", help="Data set."
)
@click.option(
    "--runs", type=int, default=DEFAULT_RUNS, show_default=True, help="Seeds per variant."
)
@click.option(
    "--arch",
    default=DEFAULT_ARCH,
    show_default=True,
    help="Architecture: an MLP, or a CNN or ResNet (resnet:c8x1-c16x1-10) on images.",
)
@click.option(
    "--epochs", type=int, default=DEFAULT_EPOCHS, show_default=True, help="Training epochs."
)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_LR, show_default=True
)
@click.option(
    "--shuffles",
    type=int,
    default=DEFAULT_N_SHUFFLES,
    show_default=True,
    help="Null networks per run.",
)
@click.option(
    "--shuffle-method",
    type=click.Choice(LAYER_SHUFFLE_METHODS),
    default=LAYER_SHUFFLE_METHODS[0],
    show_default=True,
    help="Null model: permute every weight, or only the non-zero ones.",
)
@click.option("-k", "k", type=int, default=DEFAULT_N_CLUSTERS, show_default=True, help="Clusters.")
@click.option(
    "--variants",
    multiple=True,
    callback=_variants,
    help=f"Comma-separated subset of {','.join(VARIANTS)} [default: all].",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the data split; run r trains and partitions with SEED + r.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=DEFAULT_OUT,
    show_default=True,
    help="Directory for the models (reused when trained alike) and the CSV tables.",
)
@click.option(
    "--prefix",
    default=DEFAULT_PREFIX,
    show_default=True,
    help="Networks are named PREFIX-VARIANT-sSEED.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes for the null networks (default: all cores).",
)
@json_option
@pass_context
def clusterability(
    obj: Context,
    data: str,
    runs: int,
    arch: str,
    epochs: int,
    lr: float,
    shuffles: int,
    shuffle_method: str,
    k: int,
    variants: list[str],
    seed: int,
    out_dir: str,
    prefix: str,
    jobs: int | None,
    as_json: bool,
):
    """Clusterability of trained networks against their shuffles (Filan et al.).

    Trains RUNS seeds of plain, dropout, L1, pruned, modular-init and spectral-regularised MLPs
    (or CNNs or ResNets on images) and random (untrained) ones, ingests each as
    PREFIX-VARIANT-sSEED, partitions its weight graph (a spectral-weights Partition in the
    store) and compares its n-cut with shuffled null networks. Prints one row per variant and
    writes OUT/clusterability.csv and OUT/clusterability-runs.csv. Defaults (7 variants x 5
    runs of the 64-256x4-10 MLP, 20 epochs, 50 shuffles) take about a minute per model on 2
    cores, about 35 minutes in all; reruns reuse the models and networks that match.
    """
    check_out_path(out_dir, directory=True)
    with progress_bar("clusterability", enabled=not as_json) as progress:
        result = run_clusterability_experiment(
            obj.store,
            data=data,
            arch=arch,
            runs=runs,
            epochs=epochs,
            lr=lr,
            n_shuffles=shuffles,
            k=k,
            shuffle_method=shuffle_method,
            seed=seed,
            variants=variants,
            out_dir=out_dir,
            prefix=prefix,
            n_jobs=jobs,
            progress=progress,
        )
    if as_json:
        echo_json(result.as_dict())
        return
    click.echo(
        f"clusterability of {result.arch} on {data}: {runs} run(s) per variant, {epochs} epochs, "
        f"k={k}, {shuffles} {shuffle_method} shuffles (seed {seed}); clusterable = percentile "
        f"{1 / (shuffles + 1):.4f} (below every null network)"
    )
    echo_table(
        [_HEADINGS[c] for c in TABLE_COLUMNS],
        [
            [
                f"{row.clusterable}/{row.runs}" if column == "clusterable" else value
                for column, value in row.as_dict().items()
            ]
            for row in result.variants
        ],
    )
    click.echo(f"table: {result.csv}\nruns: {result.runs_csv}")
