"""Every exception neurongraph raises on purpose.

``NeurongraphError`` (exit status 1) is a failure the user could not have prevented;
``UsageError`` and its subclasses (exit status 2) are bad input, and their message says
what was wrong and what to do.

A message names a parameter the caller can change with :func:`arg` (Python's spelling,
```name=```), and a step of the workflow to run first with :func:`step`; the command line
shows the parameter as its flag and the step as its command (:func:`render_args`).
"""

import re
from collections.abc import Callable

__all__ = [
    "AnalysisError",
    "IngestError",
    "NeurongraphError",
    "NeurongraphWarning",
    "NotAChainError",
    "StoreError",
    "UsageError",
    "arg",
    "render_args",
    "step",
]

#: How :func:`arg` writes a parameter into a message, and how :func:`render_args` finds it.
_ARG = re.compile(r"`([A-Za-z_]\w*)=`")
#: How :func:`step` writes a step into a message, and how :func:`render_args` finds it.
_STEP = re.compile(r"the `([a-z][^`]*)` step")


def arg(name: str) -> str:
    """A parameter named in a message, as the Python API spells it (```name=```).

    Examples
    --------
    >>> f"pass {arg('model')}"
    'pass `model=`'
    """
    return f"`{name}=`"


def step(name: str) -> str:
    """A step of the workflow named in a message (``the `name` step``): the command line shows
    it as its command.

    Examples
    --------
    >>> f"record them first with {step('activations')}"
    'record them first with the `activations` step'
    """
    return f"the `{name}` step"


def render_args(
    message: str,
    spell: Callable[[str], str],
    command: Callable[[str], str] | None = None,
) -> str:
    """``message`` with every parameter written by :func:`arg` spelled by ``spell`` (the command
    line passes the parameter's flag) and, when ``command`` is given, every step written by
    :func:`step` spelled by ``command`` (the command line passes the step's command).

    Examples
    --------
    >>> render_args("pass `model=`", lambda name: "--" + name)
    'pass --model'
    >>> render_args("run the `ingest` step", str, lambda name: f"`neurongraph {name}`")
    'run `neurongraph ingest`'
    """
    message = _ARG.sub(lambda match: spell(match.group(1)), message)
    if command is None:
        return message
    return _STEP.sub(lambda match: command(match.group(1)), message)


class NeurongraphError(Exception):
    """Something failed that the user could not have prevented (exit status 1)."""

    exit_code = 1


class UsageError(NeurongraphError):
    """Bad input: options, files, names, an unreachable or locked store (exit status 2)."""

    exit_code = 2


class IngestError(UsageError):
    """A model, weights file or dataset that cannot be ingested."""


class NotAChainError(IngestError):
    """A model whose data flow is not a chain of supported layers (it may still be read as a
    DAG by :func:`neurongraph.model.view.read_view`)."""


class StoreError(UsageError):
    """The graph store cannot be reached, opened or does not hold what was asked for."""


class AnalysisError(UsageError):
    """An analysis asked for something the network or its data cannot give."""


class NeurongraphWarning(UserWarning):
    """A recoverable numerical or data problem."""
