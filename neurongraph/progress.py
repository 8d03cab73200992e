"""The one type of a progress callback that long-running library work takes.

Work that takes a ``progress`` argument calls it as ``progress(done, total)`` with integer counts
of finished and total items; the command line draws it as a bar, a notebook may ignore it. This
module imports nothing heavy, so the store, the API and the CLI can name the type cheaply.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress"]

#: ``progress(done, total)``: called with the items finished so far and the items in all.
Progress = Callable[[int, int], None]
