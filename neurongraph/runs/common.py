"""What the runs share: the hidden layers of a stored network, timestamps, finite floats."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from neurongraph.store import Store

__all__ = ["finite", "hidden_layers", "now", "relu_like"]

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


def finite(value: float) -> float | None:
    """``value`` as a float, or None when it is NaN or infinite."""
    return float(value) if np.isfinite(value) else None
