"""``neurongraph view``: an interactive graph page of a network's clusters or of one cluster."""

from __future__ import annotations

import click

from neurongraph.analysis.defaults import DEFAULT_PARTITION, PARTITION_COMMANDS
from neurongraph.cli.common import Context, check_out_path, echo_json, json_option, pass_context

__all__ = ["view"]

DEFAULT_VIEW_OUT = "view.html"


@click.command()
@click.argument("network")
@click.option(
    "--partition",
    type=click.Choice(list(PARTITION_COMMANDS)),
    default=DEFAULT_PARTITION,
    show_default=True,
    help="Which partition's clusters to draw.",
)
@click.option(
    "--cluster",
    metavar="LABEL",
    help="Draw this cluster's neurons and the weights among them instead of all clusters.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=DEFAULT_VIEW_OUT,
    show_default=True,
    help="HTML page to write.",
)
@json_option
@pass_context
def view(obj: Context, network: str, partition: str, cluster: str | None, out: str, as_json: bool):
    """Write an interactive graph page (neo4j-viz) of a network's clusters or one cluster."""
    from neurongraph.report.view import write_view

    check_out_path(out)
    drawn = write_view(obj.store, network, out, partition=partition, cluster=cluster)
    if as_json:
        echo_json(
            {
                "network": network,
                "partition": partition,
                "cluster": cluster,
                "out": out,
                "nodes": drawn.nodes,
                "relationships": drawn.relationships,
            }
        )
        return
    what = "clusters" if cluster is None else "neurons"
    click.echo(f"wrote {out}: {drawn.nodes} {what}, {drawn.relationships} edges ({drawn.title})")
