"""``neurongraph view``: a graph page (SVG, no WebGL) of a network's clusters or of one cluster."""

from __future__ import annotations

import click

from neurongraph.analysis.defaults import DEFAULT_PARTITION, PARTITION_METHODS
from neurongraph.cli.common import Context, check_out_path, echo_json, json_option, pass_context

__all__ = ["view"]

DEFAULT_VIEW_OUT = "view.html"


@click.command()
@click.argument("network")
@click.option(
    "--partition",
    type=click.Choice(list(PARTITION_METHODS)),
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
    """Write a graph page (SVG) of a network's clusters by layer, or of one cluster's neurons.

    The clusters view draws one circle per cluster and layer, with the WEIGHT edges between two
    such parts summed into one edge, the heaviest few per part; --cluster draws that cluster's
    neurons with the strongest few weights leaving each. The page says which edges it kept.
    """
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
                "edgesTotal": drawn.edges_total,
            }
        )
        return
    what = "cluster parts" if cluster is None else "neurons"
    click.echo(
        f"wrote {out}: {drawn.nodes} {what}, {drawn.relationships} of {drawn.edges_total} "
        f"edges drawn ({drawn.title})"
    )
