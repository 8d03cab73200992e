"""Where a store is found, importable without the driver (``--help`` shows these)."""

from __future__ import annotations

__all__ = ["DEFAULT_STORE", "STORE_ENV"]

#: Where the embedded store lives unless ``--store`` / ``NEURONGRAPH_STORE`` say otherwise.
DEFAULT_STORE = "./neurongraph-store"
#: The environment variable that names the store.
STORE_ENV = "NEURONGRAPH_STORE"
