"""The plot of ``experiment clusterability``: z-scores per variant, ours beside the paper's."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from neurongraph.experiments.clusterability import VariantRow

__all__ = ["plot_clusterability"]

_PLOT_SIZE = (9.0, 4.5)
_PLOT_DPI = 120
#: Width of the group of bars of one variant (1 = touching the next group).
_GROUP_WIDTH = 0.8
PAPER_LABEL = "Filan et al. (MNIST)"


def plot_clusterability(rows: Sequence[VariantRow], path: str | Path, *, title: str = "") -> Path:
    """Bar chart of the mean z-score of every variant: one bar per shuffle method of ours and
    one for the paper's MNIST figure (left out where the paper has none, marked ``n/a``).

    Drawn with matplotlib's Agg canvas (no display, no pyplot state) and saved as PNG.

    Parameters
    ----------
    rows : sequence of VariantRow
        The table of :func:`~neurongraph.experiments.clusterability.run_clusterability_experiment`.
    path : str or Path
    title : str, optional

    Returns
    -------
    Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    variants = list(dict.fromkeys(row.variant for row in rows))
    methods = list(dict.fromkeys(row.shuffle_method for row in rows))
    series = [f"ours, {method} shuffles" for method in methods] + [PAPER_LABEL]
    width = _GROUP_WIDTH / len(series)
    fig = Figure(figsize=_PLOT_SIZE, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for s, label in enumerate(series):
        offset = (s - (len(series) - 1) / 2) * width
        heights = [
            _z(rows, variant, methods[s] if s < len(methods) else None) for variant in variants
        ]
        xs = [i + offset for i in range(len(variants))]
        paper = label == PAPER_LABEL
        ax.bar(
            xs,
            [0.0 if math.isnan(h) else h for h in heights],
            width,
            label=label,
            color="0.6" if paper else f"C{s}",
            hatch="//" if paper else None,
            edgecolor="black" if paper else None,
        )
        for x, h in zip(xs, heights, strict=True):
            if math.isnan(h):
                ax.annotate("n/a", (x, 0), ha="center", va="bottom", fontsize="x-small")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right")
    ax.set_ylabel("z-score (n-cut vs shuffles; < 0: clusterable)")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    fig.savefig(path, dpi=_PLOT_DPI)
    return path


def _z(rows: Sequence[VariantRow], variant: str, method: str | None) -> float:
    """Our mean z of (variant, method), or the paper's z when ``method`` is None; NaN if none."""
    for row in rows:
        if row.variant != variant:
            continue
        if method is None:
            return math.nan if row.paper is None else row.paper.z_score
        if row.shuffle_method == method:
            return math.nan if row.z_score is None else row.z_score
    return math.nan
