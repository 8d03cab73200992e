"""``neurongraph demo``: the whole pipeline on a digits MLP, in minutes."""

from __future__ import annotations

from pathlib import Path

import click

from neurongraph.cli.common import Context, echo_json, json_option, pass_context
from neurongraph.demo import run_demo

DEFAULT_OUT = "demo-output"


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=DEFAULT_OUT,
    show_default=True,
    help="Where the model and the report go.",
)
@json_option
@pass_context
def demo(obj: Context, out: str, as_json: bool):
    """Train a digits MLP, put it in the store and show what to ask of it."""

    def step(name: str) -> None:
        if not as_json:
            click.echo(f"-- {name}", err=True)

    summary = run_demo(obj.store, Path(out), step=step)
    if as_json:
        echo_json(summary)
        return
    ingest, acts = summary["ingest"], summary["activations"]
    click.echo(
        f"trained {summary['network']} (64-256-256-256-256-10 on digits): test accuracy "
        f"{summary['testAccuracy']:.4f}; model {summary['model']}"
    )
    click.echo(
        f"wrote {ingest['layers']} layers, {ingest['neurons']} neurons, "
        f"{ingest['edges']} WEIGHT edges in {ingest['seconds']:.1f} s"
    )
    click.echo(
        f"recorded activations on {acts['examples']} examples: "
        f"{acts['correlates']} CORRELATES edges in {acts['seconds']:.1f} s"
    )
    click.echo(f"store: {obj.store.location}   total {summary['seconds']:.0f} s\n")
    click.echo("Try these:")
    for query in summary["queries"]:
        click.echo(f'  # {query["shows"]}\n  neurongraph cypher "{query["cypher"]}"\n')
