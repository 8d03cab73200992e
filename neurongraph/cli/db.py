"""``neurongraph db start|stop|status``: serve the embedded store to other processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click

from neurongraph.cli.common import Context, echo_json, json_option, pass_context
from neurongraph.errors import NeurongraphError, StoreError, UsageError
from neurongraph.store import embedded, serve
from neurongraph.store.store import DEFAULT_STORE

#: Seconds to wait for the serving process to come up or go down.
SERVE_TIMEOUT = 120.0
LOG_FILE = "serve.log"


def _directory(obj: Context) -> Path:
    location = obj.store_location or DEFAULT_STORE
    if "://" in location:
        raise UsageError("db commands manage the embedded store; --store must be a directory")
    directory = Path(location).expanduser().resolve()
    embedded.check_directory(directory)
    return directory


def _status(directory: Path) -> dict:
    served = embedded.find_served(directory)
    return {
        "store": str(directory),
        "serving": served is not None,
        "pid": served.pid if served else None,
        "uri": served.uri if served else None,
        "user": embedded.ROOT_USER if served else None,
        "passwordFile": str(directory / embedded.STATE_DIR / embedded.PASSWORD_FILE),
    }


def _report(status: dict, as_json: bool, verb: str) -> None:
    if as_json:
        echo_json(status)
    elif status["serving"]:
        click.echo(
            f"{verb} {status['store']} on {status['uri']} (pid {status['pid']}; user "
            f"{status['user']}, password in {status['passwordFile']})"
        )
    else:
        click.echo(f"{status['store']} is not being served")


@click.group()
def db():
    """Serve the embedded store over Bolt on loopback so other tools can connect."""


@db.command()
@json_option
@pass_context
def start(obj: Context, as_json: bool):
    """Start serving the embedded store in the background."""
    directory = _directory(obj)
    if embedded.find_served(directory) is None:
        embedded.init_directory(directory)
        with open(directory / embedded.STATE_DIR / LOG_FILE, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "neurongraph.store.serve", str(directory)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVE_TIMEOUT
        while embedded.find_served(directory) is None:
            if process.poll() is not None:
                raise StoreError(
                    f"the store server exited at start-up (status {process.returncode}); "
                    f"see {directory / embedded.STATE_DIR / LOG_FILE} (is the store open "
                    "in another process?)"
                )
            if time.monotonic() > deadline:
                process.terminate()
                raise NeurongraphError("the store server did not start in time")
            time.sleep(serve.POLL_SECONDS)
    _report(_status(directory), as_json, "serving")


@db.command()
@json_option
@pass_context
def stop(obj: Context, as_json: bool):
    """Stop serving the embedded store."""
    directory = _directory(obj)
    served = embedded.find_served(directory)
    if served is None:
        raise UsageError(f"{directory} is not being served; nothing to stop")
    serve.stop_request_path(directory).touch()
    deadline = time.monotonic() + SERVE_TIMEOUT
    while _alive(served.pid):
        if time.monotonic() > deadline:
            raise NeurongraphError(f"the store server (pid {served.pid}) did not stop in time")
        time.sleep(serve.POLL_SECONDS)
    if as_json:
        echo_json({"store": str(directory), "stopped": True, "pid": served.pid})
    else:
        click.echo(f"stopped serving {directory} (pid {served.pid})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return finished == 0


@db.command()
@json_option
@pass_context
def status(obj: Context, as_json: bool):
    """Say whether the embedded store is being served, and where."""
    _report(_status(_directory(obj)), as_json, "serving")
