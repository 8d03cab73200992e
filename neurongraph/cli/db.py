"""``neurongraph db start|stop|status``: serve the embedded store to other processes.

Commands leave a store served anyway (see :mod:`neurongraph.store.autoserve`); ``db start``
serves it until ``db stop`` (or ``--idle`` seconds unused).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from neurongraph.cli.common import Context, echo_json, json_option, pass_context
from neurongraph.errors import NeurongraphError, UsageError
from neurongraph.store.defaults import DEFAULT_STORE

#: Seconds to wait for the serving process to go down.
STOP_TIMEOUT = 120.0


def _directory(obj: Context) -> Path:
    from neurongraph.store import embedded

    location = obj.store_location or DEFAULT_STORE
    if "://" in location:
        raise UsageError("db commands manage the embedded store; --store must be a directory")
    directory = Path(location).expanduser().resolve()
    embedded.check_directory(directory)
    return directory


def _status(directory: Path) -> dict:
    from neurongraph.store import autoserve, embedded

    served = embedded.find_served(directory)
    idle_for = None
    if served is not None:
        last = max(autoserve.last_use(directory) or 0.0, served.started_at or 0.0)
        idle_for = round(max(time.time() - last, 0.0), 1) if last else None
    return {
        "store": str(directory),
        "serving": served is not None,
        "pid": served.pid if served else None,
        "uri": served.uri if served else None,
        "port": served.bolt_port if served else None,
        "idleLimitSeconds": served.idle_seconds if served else None,
        "secondsSinceLastUse": idle_for,
        "user": embedded.ROOT_USER if served else None,
        "passwordFile": str(directory / embedded.STATE_DIR / embedded.PASSWORD_FILE),
    }


def _report(status: dict, as_json: bool, verb: str) -> None:
    if as_json:
        echo_json(status)
    elif status["serving"]:
        limit = status["idleLimitSeconds"]
        until = f"stops after {limit:g} s unused" if limit else "serves until `db stop`"
        click.echo(
            f"{verb} {status['store']} on {status['uri']} (pid {status['pid']}; {until}, last "
            f"used {status['secondsSinceLastUse']:g} s ago; user {status['user']}, password in "
            f"{status['passwordFile']})"
        )
    else:
        click.echo(f"{status['store']} is not being served")


@click.group()
def db():
    """Serve the embedded store over Bolt on loopback so other tools can connect."""


@db.command()
@click.option(
    "--idle",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Stop by itself after this many seconds with no command connected "
    "(default: serve until `db stop`).",
)
@json_option
@pass_context
def start(obj: Context, idle: float | None, as_json: bool):
    """Start serving the embedded store in the background."""
    from neurongraph.store import autoserve, embedded

    directory = _directory(obj)
    embedded.init_directory(directory)
    autoserve.start(directory, idle)
    _report(_status(directory), as_json, "serving")


@db.command()
@json_option
@pass_context
def stop(obj: Context, as_json: bool):
    """Stop serving the embedded store."""
    from neurongraph.store import embedded, serve

    directory = _directory(obj)
    served = embedded.find_served(directory)
    if served is None:
        raise UsageError(f"{directory} is not being served; nothing to stop")
    serve.stop_request_path(directory).touch()
    deadline = time.monotonic() + STOP_TIMEOUT
    while embedded.pid_alive(served.pid):
        if time.monotonic() > deadline:
            raise NeurongraphError(f"the store server (pid {served.pid}) did not stop in time")
        time.sleep(serve.POLL_SECONDS)
    if as_json:
        echo_json({"store": str(directory), "stopped": True, "pid": served.pid})
    else:
        click.echo(f"stopped serving {directory} (pid {served.pid})")


@db.command()
@json_option
@pass_context
def status(obj: Context, as_json: bool):
    """Say whether the embedded store is being served, and where."""
    _report(_status(_directory(obj)), as_json, "serving")
