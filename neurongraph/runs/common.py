"""What the runs share: the hidden layers of a stored network, timestamps, and the numerical
warnings of an analysis logged and kept as notes."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from neurongraph.errors import NeurongraphWarning
from neurongraph.store import Store

__all__ = ["RELU", "hidden_layers", "logged_warnings", "now", "relu_like"]

log = logging.getLogger(__name__)

#: The ``activation`` of a Layer whose units fire when positive.
RELU = "relu"


def now() -> str:
    """The current UTC time, ISO 8601 to the second (``createdAt``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def hidden_layers(store: Store, name: str) -> list[dict]:
    """Layer property maps of the network's hidden layers (not input, not output)."""
    return store.layers(name)[1:-1]


def relu_like(layer: dict) -> bool | None:
    """True for a ReLU layer; None lets the firing rule decide from the activations."""
    return True if layer.get("activation") == RELU else None


@contextmanager
def logged_warnings(context: str | None = None) -> Iterator[list[str]]:
    """Catch the :class:`~neurongraph.errors.NeurongraphWarning` raised inside: on leaving,
    log each one (``context: message`` with a context) and append its message to the list
    this yields, for the result's notes; any other warning is issued again as it was.

    Examples
    --------
    >>> with logged_warnings() as notes:
    ...     warnings.warn("layer fc1 skipped", NeurongraphWarning)
    >>> notes
    ['layer fc1 skipped']
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NeurongraphWarning)
        yield notes
    for w in caught:
        if issubclass(w.category, NeurongraphWarning):
            notes.append(str(w.message))
            log.warning("%s", f"{context}: {w.message}" if context else w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
