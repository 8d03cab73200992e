"""Printing query results: a table, CSV or one JSON object (``query``, ``cypher``, ``networks``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import click

from neurongraph.cli.common import echo_json, echo_table

__all__ = ["EMPTY_READ", "EMPTY_WRITE", "csv_option", "emit_rows", "limit_option", "tidy"]

#: What a query that returned nothing prints: a read, and a write that changed nothing.
EMPTY_READ = "no rows"
EMPTY_WRITE = "no changes"

csv_option = click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")

limit_option = click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Print at most N rows (the rest are counted on stderr).",
)


def tidy(value: Any) -> Any:
    """``value`` with every ``-0.0`` (in lists and maps too) made ``0.0``.

    Examples
    --------
    >>> tidy([-0.0, {"a": -0.0}, -1.5])
    [0.0, {'a': 0.0}, -1.5]
    """
    if isinstance(value, float):
        return value + 0.0
    if isinstance(value, list | tuple):
        return [tidy(v) for v in value]
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    return value


def emit_rows(
    keys: Sequence[str],
    rows: Sequence[dict],
    counters: dict[str, Any] | None = None,
    *,
    as_json: bool,
    as_csv: bool,
    write: bool = False,
    limit: int | None = None,
) -> None:
    """Print query results as JSON, CSV or a table.

    Parameters
    ----------
    keys : sequence of str
        Column names.
    rows : sequence of dict
        One map per row.
    counters : dict, optional
        The write counters; printed after a table when a query changed something.
    as_json, as_csv : bool
        Print one JSON object (``columns``, ``rows``, ``counters``) or CSV instead of a table.
    write : bool, default=False
        The query was run to write: with nothing returned and nothing changed, a table says
        ``no changes`` rather than ``no rows``.
    limit : int, optional
        Print at most this many rows; in a table, how many were left out goes to stderr.
    """
    counters = dict(counters or {})
    shown = [tidy(dict(row)) for row in rows[:limit]]
    if as_json:
        echo_json({"columns": list(keys), "rows": shown, "counters": counters})
        return
    table = [[row.get(k) for k in keys] for row in shown]
    if as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(keys)
        for row in table:
            writer.writerow([json.dumps(v) if isinstance(v, dict | list) else v for v in row])
        click.echo(buffer.getvalue(), nl=False)
        return
    changed = {k: v for k, v in counters.items() if v and k != "contains_updates"}
    if shown and keys:
        echo_table(keys, table)
    elif not changed:
        click.echo(EMPTY_WRITE if write else EMPTY_READ)
    if changed:
        click.echo(", ".join(f"{k}: {v}" for k, v in changed.items()))
    if len(rows) > len(shown):
        click.echo(f"{len(rows) - len(shown)} more rows not shown (--limit {limit})", err=True)
