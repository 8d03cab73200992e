"""Every exception neurongraph raises on purpose.

``NeurongraphError`` (exit status 1) is a failure the user could not have prevented;
``UsageError`` and its subclasses (exit status 2) are bad input, and their message says
what was wrong and what to do.
"""

__all__ = [
    "AnalysisError",
    "IngestError",
    "NeurongraphError",
    "NeurongraphWarning",
    "NotAChainError",
    "StoreError",
    "UsageError",
]


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
