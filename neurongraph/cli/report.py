"""``neurongraph report``: one self-contained HTML page of a network's analyses."""

from __future__ import annotations

import click

from neurongraph.cli.common import (
    Context,
    check_out_path,
    echo_json,
    json_option,
    pass_context,
    uses_torch,
)

DEFAULT_OUT = "report.html"


@click.command()
@click.argument("network")
@click.option("--out", type=click.Path(dir_okay=False), default=DEFAULT_OUT, show_default=True)
@json_option
@pass_context
@uses_torch
def report(obj: Context, network: str, out: str, as_json: bool):
    """Write an HTML report with plots of every analysis run on a network."""
    from neurongraph.report.html import write_report  # matplotlib: only when a report is made

    path = check_out_path(out)  # before the store is opened or anything computed
    path = write_report(obj.store, network, path)
    if as_json:
        echo_json({"network": network, "report": str(path.resolve())})
    else:
        click.echo(f"report of {network}: {path.resolve()}")
