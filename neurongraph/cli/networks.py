"""Commands that read and change the store only: networks, drop, cypher (no torch)."""

from __future__ import annotations

import click

from neurongraph.cli.common import (
    Context,
    echo_json,
    echo_table,
    json_option,
    params_option,
    parse_params,
    pass_context,
)
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
@json_option
@pass_context
def networks_command(obj: Context, as_json: bool):
    """List the networks in the store."""
    found = obj.store.networks()
    if as_json:
        echo_json({"networks": found})
        return
    if not found:
        click.echo("no networks yet; add one with `neurongraph ingest MODEL --name NAME`")
        return
    echo_table(NETWORK_COLUMNS, [[n.get(c) for c in NETWORK_COLUMNS] for n in found])


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
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
@json_option
@pass_context
def cypher(
    obj: Context, query: str, params: tuple[str, ...], write: bool, as_csv: bool, as_json: bool
):
    """Run a Cypher query (read-only unless --write)."""
    result = obj.store.run_cypher(query, parse_params(params), write=write)
    emit_rows(result.keys, result.rows, result.counters, as_json=as_json, as_csv=as_csv)


def emit_rows(keys, rows, counters, *, as_json: bool, as_csv: bool) -> None:
    """Print query results as JSON, CSV or a table."""
    if as_json:
        echo_json({"columns": keys, "rows": rows, "counters": counters})
        return
    table = [[row.get(k) for k in keys] for row in rows]
    if as_csv:
        import csv
        import io
        import json

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(keys)
        for row in table:
            writer.writerow([json.dumps(v) if isinstance(v, dict | list) else v for v in row])
        click.echo(buffer.getvalue(), nl=False)
        return
    if keys:
        echo_table(keys, table)
    changed = {k: v for k, v in counters.items() if v}
    if changed or not keys:
        click.echo(", ".join(f"{k}: {v}" for k, v in changed.items()) or "no changes")


COMMANDS = (networks_command, drop, cypher)
