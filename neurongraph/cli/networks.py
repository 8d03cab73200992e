"""Commands about networks: ingest, networks, drop, cypher."""

from __future__ import annotations

import click
import torch

from neurongraph.cli.common import (
    Context,
    echo_json,
    echo_table,
    json_option,
    parse_params,
    pass_context,
    progress_bar,
)
from neurongraph.errors import IngestError, UsageError
from neurongraph.ingest import ingest_model
from neurongraph.ingest.graph import DEFAULT_KERNEL_NORM, KERNEL_NORMS
from neurongraph.ingest.loading import infer_input_shape, load_model

NETWORK_COLUMNS = ("name", "status", "nLayers", "nNeurons", "nEdges", "createdAt", "source")


class ShapeType(click.ParamType):
    """An input shape such as ``64`` or ``1,8,8``."""

    name = "shape"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            shape = tuple(int(v) for v in str(value).replace("x", ",").split(","))
        except ValueError:
            self.fail(f"{value!r} is not a shape like 64 or 1,8,8", param, ctx)
        if not shape or min(shape) < 1:
            self.fail(f"{value!r} is not a shape of positive sizes", param, ctx)
        return shape


@click.command()
@click.argument("model")
@click.option("--name", help="Network name, [A-Za-z0-9_.@-] (default: the model file's stem).")
@click.option("--weights", type=click.Path(dir_okay=False), help="State dict for a factory model.")
@click.option(
    "--trust-pickle", is_flag=True, help="Allow loading a pickled module (runs its code)."
)
@click.option("--replace", is_flag=True, help="Replace an existing network of that name.")
@click.option(
    "--kernel-norm",
    type=click.Choice(KERNEL_NORMS),
    default=DEFAULT_KERNEL_NORM,
    show_default=True,
    help="Conv kernel slice -> edge weight: l1 sum|w|, l2 spectral norm, fro Frobenius.",
)
@click.option("--input-shape", type=ShapeType(), help="One example's shape, e.g. 1,8,8.")
@json_option
@pass_context
def ingest(
    obj: Context,
    model: str,
    name: str | None,
    weights: str | None,
    trust_pickle: bool,
    replace: bool,
    kernel_norm: str,
    input_shape: tuple[int, ...] | None,
    as_json: bool,
):
    """Write a model's neurons and weights into the store."""
    loaded = load_model(model, weights=weights, trust_pickle=trust_pickle)
    shape = (
        input_shape
        or tuple(loaded.metadata.get("input_shape") or ())
        or infer_input_shape(loaded.module)
    )
    if not shape:
        raise IngestError(
            "cannot tell the model's input shape (its first layer is a Conv2d); "
            "pass --input-shape C,H,W"
        )
    name = name if name is not None else _default_name(model)
    props = {"source": loaded.source, "sha256": loaded.sha256, "modelKind": loaded.kind}
    for key in ("dataset", "accuracy", "epoch", "arch"):
        if loaded.metadata.get(key) is not None:
            props[key] = loaded.metadata[key]
    with progress_bar("WEIGHT edges", enabled=not as_json) as progress:
        summary = ingest_model(
            obj.store,
            loaded.module,
            name,
            torch.zeros((2, *shape)),
            replace=replace,
            kernel_norm=kernel_norm,
            properties=props,
            progress=progress,
        )
    result = summary.as_dict()
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"ingested {summary.network}: {summary.layers} layers, {summary.neurons} neurons, "
        f"{summary.edges} WEIGHT edges in {summary.seconds:.1f} s"
    )


def _default_name(model: str) -> str:
    from pathlib import Path

    path = Path(model)
    return path.stem if path.suffix else model.replace(":", ".").replace("+", ".")


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
    if as_json:
        echo_json({"network": name, "nodesDeleted": deleted})
    else:
        click.echo(f"dropped {name}: {deleted} nodes deleted")


@click.command()
@click.argument("query")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Query parameter; the value is read as JSON if it parses. Repeatable.",
)
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


COMMANDS = (ingest, networks_command, drop, cypher)
