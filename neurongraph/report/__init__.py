"""Rendering results: the HTML report, graph views and the Bloom perspective.

The package is also ``ng.report``: calling it writes a network's HTML report
(:func:`neurongraph.api.report.report`). It is a module that can be called because importing
any of its modules makes it the ``report`` attribute of :mod:`neurongraph`.
"""

from __future__ import annotations

import os
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from neurongraph.store import Store


class _ReportPackage(types.ModuleType):
    """This package, callable as :func:`neurongraph.api.report.report`."""

    def __call__(self, store: Store, name: str, out: str | os.PathLike | None = None) -> Path:
        """Write the HTML report of network ``name``; see :func:`neurongraph.api.report.report`."""
        from neurongraph.api.report import DEFAULT_OUT, report

        return report(store, name, DEFAULT_OUT if out is None else out)


sys.modules[__name__].__class__ = _ReportPackage
