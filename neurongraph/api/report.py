"""``ng.report``: the HTML report ``neurongraph report`` writes
(:func:`~neurongraph.report.html.write_report`)."""

from __future__ import annotations

import os
from pathlib import Path

from neurongraph.report.html import write_report
from neurongraph.store import Store

__all__ = ["report"]

#: Where the report goes unless told otherwise (as ``neurongraph report``).
DEFAULT_OUT = "report.html"


def report(store: Store, name: str, out: str | os.PathLike = DEFAULT_OUT) -> Path:
    """Write one self-contained HTML page of every analysis run on a network.

    Parameters
    ----------
    store : Store
    name : str
        The network.
    out : str or path, default='report.html'
        The file to write (missing parent directories are made).

    Returns
    -------
    Path
        The file written.
    """
    return write_report(store, name, Path(out))
