"""The command line's one progress bar: integer counts, an honest ETA, drawn on a terminal.

A bar is drawn as soon as its step starts (before its first count arrives) and redrawn when the
work reports ``progress(done, total)``. Its ETA is the time per item measured since the work's
first report, times the items left: the set-up before the first report (reading the store,
partitioning the real network, starting workers) is not taken for the pace of the items, so the
estimate settles on the true remaining time as items complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar", "format_progress"]

#: Characters of the bar itself.
BAR_WIDTH = 24
#: Fewest seconds between two redraws (the first and the last count are always drawn).
REDRAW_SECONDS = 0.1
#: Carriage return and "erase to the end of the line": each frame replaces the last.
_FRAME = "\r\x1b[K"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_progress(
    label: str, done: int | None, total: int | None, elapsed: float, eta: float | None
) -> str:
    """One frame of a bar: ``label: 12/50 [#####...] 24% 00:05<00:16``.

    Parameters
    ----------
    label : str
        What is being counted.
    done, total : int or None
        Items done and in all; ``done=None`` before the first count, ``total=None`` when the
        total is not known yet. Shown as integers.
    elapsed : float
        Seconds since the step started.
    eta : float or None
        Seconds left, or None while there is no estimate yet (shown as ``?``).

    Returns
    -------
    str
        The frame, without line control characters.

    Examples
    --------
    >>> format_progress("null networks", 12, 50, 5.0, 16.2)
    'null networks: 12/50 [#####...................]  24% 00:05<00:16'
    >>> format_progress("lesions", None, None, 0.3, None)
    'lesions: starting 00:00'
    """
    if done is None:
        return f"{label}: starting {_clock(elapsed)}"
    left = "?" if eta is None else _clock(eta)
    if not total:
        return f"{label}: {int(done)} {_clock(elapsed)}<{left}"
    fraction = min(max(done / total, 0.0), 1.0)
    filled = int(fraction * BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"{label}: {int(done)}/{int(total)} [{bar}] {fraction:4.0%} {_clock(elapsed)}<{left}"


class ProgressBar:
    """A bar on ``stream``, updated by calling it as ``progress(done, total)``.

    Parameters
    ----------
    label : str
        What is being counted.
    stream : text stream
        Where frames are written (a terminal).
    total : int, optional
        The number of items, when known before the first count.
    clock : callable, default=time.monotonic
        Seconds, for the elapsed time and the ETA.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO,
        *,
        total: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream
        self.total = total
        self.done: int | None = None
        self._clock = clock
        self._started = clock()
        self._first: tuple[float, int] | None = None
        self._drawn = float("-inf")

    def eta(self, now: float) -> float | None:
        """Seconds left at ``now``: the pace since the first count times the items left."""
        if self._first is None or self.done is None or not self.total:
            return None
        first_time, first_done = self._first
        if self.done <= first_done or now <= first_time:
            return None
        pace = (now - first_time) / (self.done - first_done)
        return pace * max(self.total - self.done, 0)

    def draw(self) -> None:
        """Write the current frame over the last one."""
        now = self._clock()
        frame = format_progress(
            self.label, self.done, self.total, now - self._started, self.eta(now)
        )
        self.stream.write(_FRAME + frame)
        self.stream.flush()
        self._drawn = now

    def __call__(self, done: int, total: int) -> None:
        """Record that ``done`` of ``total`` items are done, and redraw (at most every
        ``REDRAW_SECONDS``, except for the first and the last count)."""
        now = self._clock()
        first = self._first is None
        if first:
            self._first = (now, int(done))
        self.done, self.total = int(done), int(total)
        if first or self.done >= self.total or now - self._drawn >= REDRAW_SECONDS:
            self.draw()

    def close(self) -> None:
        """Erase the bar (results follow on stdout)."""
        self.stream.write(_FRAME)
        self.stream.flush()
