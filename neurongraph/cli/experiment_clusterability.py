"""``neurongraph experiment clusterability``: trained MLPs against their shuffles (Filan et al.)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from neurongraph.analysis.defaults import (
    DEFAULT_METHOD,
    DEFAULT_N_CLUSTERS,
    DEFAULT_N_SHUFFLES,
    LAYER_SHUFFLE_METHODS,
    METHODS,
)
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
from neurongraph.experiments.defaults import CLUSTERABILITY_ARCH as DEFAULT_ARCH
from neurongraph.experiments.defaults import CLUSTERABILITY_DATA as DEFAULT_DATA
from neurongraph.experiments.defaults import CLUSTERABILITY_OUT as DEFAULT_OUT
from neurongraph.experiments.defaults import CLUSTERABILITY_PREFIX as DEFAULT_PREFIX
from neurongraph.experiments.defaults import CLUSTERABILITY_RUNS as DEFAULT_RUNS
from neurongraph.experiments.defaults import SHUFFLE_BOTH, VARIANTS
from neurongraph.formatting import MISSING, number
from neurongraph.training.defaults import DEFAULT_EPOCHS, DEFAULT_LR

if TYPE_CHECKING:
    from neurongraph.experiments.clusterability import ClusterabilityExperiment, VariantRow

__all__ = ["clusterability"]

#: Columns of the text table: ours, then the paper's figures of the same row.
_HEADINGS = (
    "variant",
    "shuffles",
    "method",
    "runs",
    "accuracy",
    "n-cut",
    "null mean",
    "null std",
    "z",
    "percentile",
    "clusterable",
    "paper n-cut",
    "paper null",
    "paper z",
    "paper pct",
    "same sign",
)
#: How the text table writes z-scores.
Z_VALUE = "+.2f"


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
    help=(
        "Architecture: an MLP, a CNN or ResNet (resnet:c8x1-c16x1-10) on images, or a "
        "transformer (transformer:d16-h2-b1-4) on text."
    ),
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
    "shuffle_methods",
    type=click.Choice((*LAYER_SHUFFLE_METHODS, SHUFFLE_BOTH)),
    multiple=True,
    default=LAYER_SHUFFLE_METHODS[:1],
    show_default=True,
    help="Null model: permute every weight, or only the non-zero ones; give it twice (or "
    f"{SHUFFLE_BOTH}) for a row per variant and method.",
)
@click.option(
    "--method",
    "spectral_methods",
    type=click.Choice(METHODS),
    multiple=True,
    default=(DEFAULT_METHOD,),
    show_default=True,
    help="Partition method (papers: scikit-learn's SpectralClustering, as the paper; "
    "ncut-refined: lower n-cuts, z-scores not comparable); give both for rows side by side.",
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
@uses_torch
def clusterability(
    obj: Context,
    data: str,
    runs: int,
    arch: str,
    epochs: int,
    lr: float,
    shuffles: int,
    shuffle_methods: tuple[str, ...],
    spectral_methods: tuple[str, ...],
    k: int,
    variants: list[str],
    seed: int,
    out_dir: str,
    prefix: str,
    jobs: int | None,
    as_json: bool,
):
    """Clusterability of trained networks against their shuffles (Filan et al.).

    Trains RUNS seeds of every row of Filan et al.'s MLP table: plain, dropout, L1, L2, pruned,
    dropout + pruned, modular-init and spectral-regularised MLPs (or CNNs or ResNets on images,
    or tiny transformers on text) and random (untrained) ones, ingests each as
    PREFIX-VARIANT-sSEED, partitions its weight graph (a spectral-weights Partition in the
    store) and compares its n-cut with shuffled null networks. Prints one row per variant,
    shuffle method and partition method (--method) beside the paper's MNIST figures of that row
    (n/a where it has none) and whether the sign of z agrees, and writes OUT/clusterability.csv,
    OUT/clusterability-runs.csv and the z-scores plotted against the paper's,
    OUT/clusterability.png. Defaults (9 variants x 5 runs of the 64-256x4-10 MLP, 20 epochs, 50
    shuffles) take about a minute per model on 2 cores, about 45 minutes in all; reruns reuse
    the models and networks that match.
    """
    from neurongraph.experiments.clusterability import run_clusterability_experiment

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
            shuffle_methods=shuffle_methods,
            spectral_methods=spectral_methods,
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
    _echo_text(result)


def _echo_text(result: ClusterabilityExperiment) -> None:
    """The table as text: our means per variant and shuffle method, then the paper's row."""
    click.echo(
        f"clusterability of {result.arch} on {result.data}: {result.runs} run(s) per variant, "
        f"{result.epochs} epochs, k={result.k}, {result.n_shuffles} shuffles per method "
        f"(seed {result.seed}); clusterable = percentile "
        f"{1 / (result.n_shuffles + 1):.4f} (below every null network)"
    )
    echo_table(_HEADINGS, [_text_row(row) for row in result.variants])
    from neurongraph.experiments.filan_reference import SOURCE_TABLE

    click.echo(f"paper: means over the runs of {SOURCE_TABLE}")
    click.echo(f"table: {result.csv}\nruns: {result.runs_csv}\nplot: {result.plot}")


def _text_row(row: VariantRow) -> list[str]:
    paper = row.paper
    same_sign = {True: "yes", False: "no", None: MISSING}[row.sign_agrees]
    return [
        row.variant,
        row.shuffle_method,
        row.method,
        str(row.runs),
        number(row.accuracy),
        number(row.ncut),
        number(row.null_mean),
        number(row.null_std),
        number(row.z_score, Z_VALUE),
        number(row.percentile),
        f"{row.clusterable}/{row.runs}",
        MISSING if paper is None else number(paper.ncut),
        MISSING if paper is None else f"{number(paper.null_mean)}±{number(paper.null_std)}",
        MISSING if paper is None else number(paper.z_score, Z_VALUE),
        MISSING if paper is None else number(paper.percentile),
        same_sign,
    ]
