"""``neurongraph bloom``: write a Neo4j Bloom perspective for the neurongraph schema."""

from __future__ import annotations

import click

from neurongraph.cli.common import check_out_path, echo_json, json_option
from neurongraph.report.bloom import DEFAULT_OUT, DEFAULT_PERSPECTIVE_NAME, write_perspective

__all__ = ["bloom"]


@click.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=DEFAULT_OUT,
    show_default=True,
    help="Perspective file to write (import it in Bloom's perspective drawer).",
)
@click.option(
    "--name", default=DEFAULT_PERSPECTIVE_NAME, show_default=True, help="The perspective's name."
)
@json_option
def bloom(out: str, name: str, as_json: bool):
    """Write a Neo4j Bloom perspective: categories, styling rules, search phrases."""
    perspective = write_perspective(check_out_path(out), name=name)
    summary = {
        "out": out,
        "name": perspective["name"],
        "categories": [c["name"] for c in perspective["categories"]],
        "searchPhrases": [t["text"] for t in perspective["templates"]],
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"wrote {out}: perspective {name!r} with {len(summary['categories'])} categories and "
        f"{len(summary['searchPhrases'])} search phrases; import it in Bloom (docs/bloom.md)"
    )
