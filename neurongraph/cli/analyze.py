"""``neurongraph analyze ...``: run an analysis on a stored network and write its results back."""

from __future__ import annotations

import click

from neurongraph.analysis import runner
from neurongraph.analysis.communities import DEFAULT_EDGE, DEFAULT_RESOLUTION, EDGE_KINDS
from neurongraph.cli.common import Context, echo_json, echo_table, json_option, pass_context

seed_option = click.option(
    "--seed", type=int, default=None, help="Random seed (drawn, logged and recorded if omitted)."
)


@click.group()
def analyze():
    """Find and score groups of neurons; results go back into the store."""


@analyze.command()
@click.argument("network")
@click.option("--per-class", is_flag=True, help="Also find communities per class.")
@click.option(
    "--edge",
    type=click.Choice(EDGE_KINDS),
    default=DEFAULT_EDGE,
    show_default=True,
    help="Co-activation edge weight: Jaccard of firing, or correlation clipped at 0.",
)
@click.option("--threshold", type=float, default=None, help="Drop edges weaker than this.")
@click.option(
    "--resolution",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_RESOLUTION,
    show_default=True,
)
@seed_option
@json_option
@pass_context
def louvain(
    obj: Context,
    network: str,
    per_class: bool,
    edge: str,
    threshold: float | None,
    resolution: float,
    seed: int | None,
    as_json: bool,
):
    """Louvain communities of each hidden layer's co-activation graph (Mostafa & Mondal)."""
    result = runner.run_louvain(
        obj.store,
        network,
        per_class=per_class,
        edge=edge,
        threshold=threshold,
        resolution=resolution,
        seed=seed,
    )
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"Louvain communities of {network} (seed {result['seed']}): "
        f"mean modularity {_fmt(result['modularity'])}"
    )
    echo_table(
        ("layer", "modularity", "communities", "sizes", "edges"),
        [
            (r["layer"], _fmt(r["modularity"]), r["communities"], r["sizes"], r["edges"])
            for r in result["layers"]
        ],
    )
    for message in result["warnings"]:
        click.echo(f"warning: {message}", err=True)


@analyze.command()
@click.argument("network")
@json_option
@pass_context
def entropy(obj: Context, network: str, as_json: bool):
    """Binary entropy of each hidden neuron's firing, overall and per class."""
    result = runner.run_entropy(obj.store, network)
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"firing entropy of {network}: mean {result['entropy']:.4f} bits, "
        f"class mean {result['classEntropy']:.4f} bits"
    )
    echo_table(
        ("layer", "entropy", "class entropy"),
        [(r["layer"], r["entropyMean"], r["classEntropyMean"]) for r in result["layers"]],
    )


def _fmt(value: float | None) -> str:
    return "skipped" if value is None else f"{value:.4f}"
