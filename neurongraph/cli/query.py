"""``neurongraph query``: the named Cypher queries of ``neurongraph/queries``."""

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
from neurongraph.cli.rows import csv_option, emit_rows, limit_option
from neurongraph.errors import UsageError
from neurongraph.queries import NamedQuery, get_query, list_queries, run_query

__all__ = ["query"]

#: A named query's parameter that ``--limit`` fills when ``-p`` does not give it.
LIMIT_PARAMETER = "limit"


def _signature(named: NamedQuery) -> str:
    parts = [p.name if p.required else f"[{p.name}]" for p in named.parameters]
    return " ".join(parts)


def _as_dict(named: NamedQuery) -> dict:
    return {
        "name": named.name,
        "summary": named.summary,
        "description": named.description,
        "parameters": [
            {
                "name": p.name,
                "description": p.description,
                "required": p.required,
                "default": p.default,
            }
            for p in named.parameters
        ],
        "writes": named.writes,
        "bloom": named.bloom,
        "browser": named.example,
        "file": str(named.path),
    }


@click.command()
@click.argument("name", required=False)
@params_option
@click.option("--list", "list_", is_flag=True, help="List the named queries and their parameters.")
@click.option("--show", is_flag=True, help="Print the query's .cypher file instead of running it.")
@click.option("--write", is_flag=True, help="Allow a query that writes.")
@limit_option
@csv_option
@json_option
@pass_context
def query(
    obj: Context,
    name: str | None,
    params: tuple[str, ...],
    list_: bool,
    show: bool,
    write: bool,
    limit: int | None,
    as_csv: bool,
    as_json: bool,
):
    """Run a named query (read-only unless --write); --list shows them all."""
    if list_:
        queries = list_queries()
        if as_json:
            echo_json({"queries": [_as_dict(q) for q in queries]})
        else:
            echo_table(
                ("query", "parameters", "answers"),
                [(q.name, _signature(q), q.summary) for q in queries],
            )
        return
    if name is None:
        raise UsageError("name a query to run, or list them with `neurongraph query --list`")
    named = get_query(name)
    if show:
        click.echo(named.path.read_text(encoding="utf-8"), nl=False)
        return
    given = parse_params(params)
    if limit is not None and LIMIT_PARAMETER in named.parameter_names:
        given.setdefault(LIMIT_PARAMETER, limit)
    result = run_query(obj.store, name, given, write=write)
    emit_rows(
        result.keys,
        result.rows,
        result.counters,
        as_json=as_json,
        as_csv=as_csv,
        write=write,
        limit=limit,
    )
