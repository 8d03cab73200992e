"""The ``neurongraph`` command: a thin click layer over the library.

Importing it is cheap: the command modules import their implementations (torch, scipy,
scikit-learn, matplotlib, the store's JVM) inside the commands, so ``--help`` and the store
commands never load them; commands that run PyTorch set it up on entry
(:func:`~neurongraph.cli.common.uses_torch`).
"""

from __future__ import annotations

import click

from neurongraph import __version__
from neurongraph.cli import (
    analyze,
    bloom,
    db,
    demo,
    experiment,
    ingest,
    networks,
    query,
    report,
    training,
    view,
)
from neurongraph.cli.common import Context, Group, configure_logging
from neurongraph.runtime import exit_now
from neurongraph.store.defaults import STORE_ENV

__all__ = ["cli", "main"]

DEFAULT_THREADS = 1
THREADS_ENV = "NEURONGRAPH_THREADS"


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_location",
    envvar=STORE_ENV,
    metavar="DIR|URI",
    help="Embedded store directory (default ./neurongraph-store) or bolt:// / neo4j:// URI "
    f"of a Neo4j server (credentials from NEO4J_USERNAME / NEO4J_PASSWORD). Env: {STORE_ENV}.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=DEFAULT_THREADS,
    envvar=THREADS_ENV,
    show_default=True,
    help="PyTorch threads. The models here are small: one thread per process is fastest, and "
    f"parallel work runs in processes. Env: {THREADS_ENV}.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.version_option(__version__, prog_name="neurongraph")
@click.pass_context
def cli(
    ctx: click.Context,
    store_location: str | None,
    threads: int,
    debug: bool,
    verbose: int,
    quiet: bool,
):
    """Explore the neurons of PyTorch networks as a property graph."""
    configure_logging(verbose, quiet)
    ctx.obj = Context(store_location, debug, threads)
    ctx.call_on_close(ctx.obj.close)


for command in (
    demo.demo,
    *ingest.COMMANDS,
    *networks.COMMANDS,
    analyze.analyze,
    experiment.experiment,
    training.train,
    report.report,
    query.query,
    bloom.bloom,
    view.view,
    db.db,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point: runs the command, then ends the process at once
    (:func:`~neurongraph.runtime.exit_now`) with click's exit status."""
    try:
        cli(prog_name="neurongraph")
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    if code is not None and not isinstance(code, int):
        click.echo(code, err=True)
        code = 1
    exit_now(code or 0)
