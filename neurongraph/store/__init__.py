"""The one door to the graph database (the official ``neo4j`` driver over Bolt).

The names below are imported on first use, so that importing a light part of the package
(:mod:`~neurongraph.store.defaults`, :mod:`~neurongraph.store.schema`) does not load the driver.
"""

from typing import Any

from neurongraph.store.defaults import DEFAULT_STORE, STORE_ENV

__all__ = [
    "DEFAULT_STORE",
    "STORE_ENV",
    "CypherResult",
    "Store",
    "check_network_name",
    "open_store",
]

_LAZY = ("CypherResult", "Store", "check_network_name", "open_store")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from neurongraph.store import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
