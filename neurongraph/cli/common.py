"""What every command shares: the store, output (text or ``--json``), progress bars, errors."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.exceptions import NoArgsIsHelpError

from neurongraph.cli.progress import ProgressBar
from neurongraph.errors import NeurongraphError, NeurongraphWarning, UsageError
from neurongraph.flags import for_command_line
from neurongraph.progress import Progress

if TYPE_CHECKING:
    from neurongraph.store import Store

__all__ = [
    "Context",
    "ShapeType",
    "check_out_path",
    "echo_json",
    "echo_table",
    "json_option",
    "model_option",
    "params_option",
    "trust_pickle_option",
    "parse_params",
    "pass_context",
    "progress_bar",
    "uses_torch",
]

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """Per-invocation state: global options and the store, opened on first use."""

    def __init__(self, store_location: str | None, debug: bool, threads: int) -> None:
        self.store_location = store_location
        self.debug = debug
        self.threads = threads
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            from neurongraph.store import open_store

            self._store = open_store(self.store_location)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_context = click.make_pass_decorator(Context)


def uses_torch(command: F) -> F:
    """Mark a command's callback as one that runs PyTorch: on entry it sets torch up with the
    global ``--threads`` (:func:`neurongraph.runtime.configure_torch`).

    Apply it directly to the function, under ``@click.command``; commands that only talk to
    the store do not import torch at all.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from neurongraph.runtime import configure_torch

        configure_torch(click.get_current_context().find_object(Context).threads)
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


params_option = click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Query parameter; the value is read as JSON if it parses. Repeatable.",
)

trust_pickle_option = click.option(
    "--trust-pickle",
    is_flag=True,
    help="Allow loading a pickled module or a saved torch.export program (runs code from it).",
)

_model_file = click.option(
    "--model",
    default=None,
    help="The model, when the store does not hold it: a file (checked against the ingest's "
    "sha256) or, for a network built by a factory, package.module:factory.",
)


def model_option(command):
    """--model and --trust-pickle."""
    return _model_file(trust_pickle_option(command))


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of text."
)


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def _finite(value: Any) -> Any:
    """NaN and infinities become null so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def echo_json(obj: dict) -> None:
    """Print one JSON object on stdout."""
    click.echo(json.dumps(_finite(json.loads(json.dumps(obj, default=_default))), indent=2))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=_default)
    return "" if value is None else str(value)


def echo_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as an aligned text table."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse, else kept as strings."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"parameter {pair!r} is not key=value; write it as -p key=value")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


@contextmanager
def progress_bar(
    label: str, *, enabled: bool, total: int | None = None, draw_now: bool = True
) -> Iterator[Progress]:
    """A ``progress(done, total)`` callback drawing a :class:`~neurongraph.cli.progress.ProgressBar`
    on stderr when it is a terminal (and ``enabled``: off with ``--json``).

    The bar is drawn when the block starts, unless ``draw_now`` is False (a bar for a later
    step of the same block, drawn at its first count), and erased when it ends.
    """
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    bar = ProgressBar(label, sys.stderr, total=total)
    if draw_now:
        bar.draw()
    try:
        yield bar
    finally:
        bar.close()


def check_out_path(out: str | os.PathLike, *, directory: bool = False) -> Path:
    """The file (or ``directory``) a command will write to, checked before the command computes
    anything.

    Missing parent directories are fine (the writers make them); a parent that is a file, an
    ``out`` of the other kind (a directory for a file, a file for a directory), or a place this
    process may not write is a UsageError.
    """
    path = Path(out)
    if path.exists() and path.is_dir() != directory:
        wanted = "a directory" if directory else "the file to write"
        raise UsageError(
            f"--out {out} is a {'directory' if path.is_dir() else 'file'}; give {wanted}"
        )
    ancestor = path.absolute() if directory else path.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"cannot write --out {out}: {ancestor} is a file, not a directory")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(ancestor, os.W_OK)
    if not writable:
        raise UsageError(f"cannot write --out {out}: permission denied; choose another path")
    return path


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


#: Where the warnings of a command go: the libraries' (torch, transformers) at INFO, shown with
#: ``-v``; neurongraph's own (:class:`~neurongraph.errors.NeurongraphWarning`) at WARNING.
warnings_log = logging.getLogger("neurongraph.warnings")


def log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A ``warnings.showwarning`` that logs instead of printing a source line on stderr."""
    if issubclass(category, NeurongraphWarning):
        warnings_log.warning("%s", message)
    else:
        warnings_log.info("%s: %s (%s:%s)", category.__name__, message, filename, lineno)


def error_line(err: NeurongraphError) -> str:
    """The one line a command prints for a neurongraph error: its message, parameters spelled
    as flags and steps as commands (:func:`~neurongraph.flags.for_command_line`)."""
    return f"error: {for_command_line(str(err))}"


class OneLineUsageError(click.ClickException):
    """A click usage error (unknown option, missing argument...) shown as one line, with the
    command's ``--help`` to try, instead of click's usage, hint, blank line and error."""

    exit_code = click.UsageError.exit_code

    def __init__(self, err: click.UsageError) -> None:
        hint = f" (try `{err.ctx.command_path} --help`)" if err.ctx is not None else ""
        super().__init__(f"{err.format_message()}{hint}")

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


class Group(click.Group):
    """A click group that turns neurongraph errors and click's usage errors into one line and
    an exit status, and the warnings raised while a command runs into log records (see
    :func:`log_warning`)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except NoArgsIsHelpError:  # a group called without a command: its help is the answer
            raise
        except click.UsageError as err:
            raise OneLineUsageError(err) from err

    def invoke(self, ctx: click.Context) -> Any:
        with warnings.catch_warnings():
            warnings.showwarning = log_warning
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:  # a group called without a command: its help is the answer
            raise
        except click.UsageError as err:
            raise OneLineUsageError(err) from err
        except NeurongraphError as err:
            obj = ctx.find_object(Context)
            if obj is not None and obj.debug:
                raise
            click.echo(error_line(err), err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def configure_logging(verbose: int, quiet: bool) -> None:
    """``-v`` for info, ``-vv`` for debug, ``-q`` for errors only, on stderr.

    With ``-v`` every warning is logged once per place, deprecations included (the filters are
    changed inside :class:`Group`'s ``catch_warnings``, which restores them).
    """
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    if verbose and not quiet:
        warnings.simplefilter("default")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("neurongraph").setLevel(level)
