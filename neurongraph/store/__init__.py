"""The one door to the graph database (the official ``neo4j`` driver over Bolt)."""

from neurongraph.store.store import (
    DEFAULT_STORE,
    STORE_ENV,
    CypherResult,
    Store,
    check_network_name,
    open_store,
)

__all__ = [
    "DEFAULT_STORE",
    "STORE_ENV",
    "CypherResult",
    "Store",
    "check_network_name",
    "open_store",
]
