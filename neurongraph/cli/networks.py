"""Commands that read and change the store only: networks, drop, cypher (no torch)."""

from __future__ import annotations

import click

from neurongraph.cli.common import (
    Context,
    echo_json,
    json_option,
    params_option,
    parse_params,
    pass_context,
)
from neurongraph.cli.rows import csv_option, emit_rows, limit_option, tidy
from neurongraph.errors import UsageError

NETWORK_COLUMNS = (
    "name",
    "status",
    "dataFlow",
    "nLayers",
    "nNeurons",
    "nEdges",
    "createdAt",
    "source",
)


@click.command("networks")
@csv_option
@json_option
@pass_context
def networks_command(obj: Context, as_csv: bool, as_json: bool):
    """List the networks in the store."""
    found = obj.store.networks()
    if as_json:
        echo_json({"networks": tidy(found)})
        return
    if not found and not as_csv:
        click.echo("no networks yet; add one with `neurongraph ingest MODEL --name NAME`")
        return
    emit_rows(
        NETWORK_COLUMNS,
        [{c: n.get(c) for c in NETWORK_COLUMNS} for n in found],
        as_json=False,
        as_csv=as_csv,
    )


@click.command()
@click.argument("name")
@json_option
@pass_context
def drop(obj: Context, name: str, as_json: bool):
    """Delete a network and all its analyses from the store."""
    if obj.store.get_network(name) is None:
        raise UsageError(f"no network named {name!r}; see `neurongraph networks`")
    deleted = obj.store.drop_network(name)
    obj.store.drop_staged(name)  # and what interrupted ingests of that name left
    if as_json:
        echo_json({"network": name, "nodesDeleted": deleted})
    else:
        click.echo(f"dropped {name}: {deleted} nodes deleted")


@click.command()
@click.argument("query")
@params_option
@click.option("--write", is_flag=True, help="Allow a query that writes.")
@limit_option
@csv_option
@json_option
@pass_context
def cypher(
    obj: Context,
    query: str,
    params: tuple[str, ...],
    write: bool,
    limit: int | None,
    as_csv: bool,
    as_json: bool,
):
    """Run a Cypher query (read-only unless --write)."""
    result = obj.store.run_cypher(query, parse_params(params), write=write)
    emit_rows(
        result.keys,
        result.rows,
        result.counters,
        as_json=as_json,
        as_csv=as_csv,
        write=write,
        limit=limit,
    )


COMMANDS = (networks_command, drop, cypher)
