"""The report's matplotlib figures, each returned as an ``<img>`` with a PNG data URI.

Every function takes plain numbers (already read from the store) and draws one figure; matplotlib
is imported only when a figure is drawn.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "coherence_figure",
    "evolution_figure",
    "layers_figure",
    "lesion_figure",
    "ncut_figure",
    "png_uri",
    "weights_figure",
]

#: Width and height (inches) of a one-row figure, and the resolution of every plot.
FIGSIZE = (9.0, 3.6)
DPI = 90
#: Weight panels per row of the weights figure, its width and the height of a row (inches).
PANELS_PER_ROW = 5
WEIGHTS_WIDTH = 12.0
#: Rows and columns of a weight panel at most: wider layers are averaged over runs of units.
MAX_PANEL_CELLS = 96
WEIGHTS_HEIGHT = 4.2
#: Inches kept above the weight panels for the figure's title.
SUPTITLE_HEIGHT = 0.4
#: Characters of a weight panel's title per inch of panel width (8-point text), about: longer
#: titles (module paths) wrap after their dots.
TITLE_CHARS_PER_INCH = 13
#: Colour of the network's own value against its nulls / random groups.
OBSERVED = "#c33"
#: Colour of null networks and random groups.
NULL = "#9ab"
#: Colour of the cluster boundaries on the weight heatmaps.
BOUNDARY = "#3cf"
#: Spread of the random-group dots around their group's x position.
JITTER = 0.18
#: Above this many clusters on an x axis their labels stand upright.
MANY_TICKS = 16
#: Significance line drawn on the coherence chart.
COHERENT_P = 0.05


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_uri(data: bytes) -> str:
    """A ``data:`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _img(fig: Any, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    _pyplot().close(fig)
    return f'<img alt="{html.escape(alt)}" src="{png_uri(buffer.getvalue())}">'


def weights_figure(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
) -> str:
    """|W| of every FEEDS pair, rows and columns sorted by cluster, cluster boundaries drawn.

    Parameters
    ----------
    panels : sequence of (title, block, row_labels, col_labels)
        ``block`` is the dense (target, source) |w| matrix; the labels are each unit's cluster
        (-1 for a unit outside the partition).
    """
    plt = _pyplot()
    from matplotlib.colors import Normalize

    columns = min(len(panels), PANELS_PER_ROW)
    rows = -(-len(panels) // columns)
    size = (WEIGHTS_WIDTH, WEIGHTS_HEIGHT * rows)
    fig, axes = plt.subplots(rows, columns, figsize=size, squeeze=False)
    vmax = max(float(np.log1p(block).max()) for _, block, _, _ in panels) or 1.0
    norm = Normalize(0.0, vmax)
    image = None
    title_chars = int(TITLE_CHARS_PER_INCH * WEIGHTS_WIDTH / columns)
    for ax, (title, block, row_labels, col_labels) in zip(axes.flat, panels, strict=False):
        rows_order = np.argsort(row_labels, kind="stable")
        cols_order = np.argsort(col_labels, kind="stable")
        shown = _pooled(np.log1p(block[np.ix_(rows_order, cols_order)]), MAX_PANEL_CELLS)
        extent = (-0.5, block.shape[1] - 0.5, block.shape[0] - 0.5, -0.5)
        image = ax.imshow(
            shown, aspect="auto", cmap="magma", norm=norm, interpolation="nearest", extent=extent
        )
        for at in _boundaries(np.asarray(row_labels)[rows_order]):
            ax.axhline(at - 0.5, color=BOUNDARY, lw=1.2)
        for at in _boundaries(np.asarray(col_labels)[cols_order]):
            ax.axvline(at - 0.5, color=BOUNDARY, lw=1.2)
        ax.set_title(_wrapped(title, title_chars), fontsize=8)
        ax.set_xlabel("source unit", fontsize=7)
        ax.set_ylabel("target unit", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(panels) :]:
        ax.set_axis_off()
    fig.suptitle("|W| between connected layers, units sorted by cluster (blue lines: boundaries)")
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - SUPTITLE_HEIGHT / size[1]))
    fig.colorbar(image, ax=axes.ravel().tolist(), label="log(1 + |w|)", shrink=0.9)
    return _img(fig, "weights reordered by cluster, with colour bar and cluster boundaries")


def _wrapped(title: str, width: int) -> str:
    """A ``source -> target`` panel title on lines of at most about ``width`` characters: the
    target from a new line, each name broken after a dot or before a parenthesis (``(hidden
    4)``) where it runs longer.

    Examples
    --------
    >>> print(_wrapped("model.encoder.layer.0.output.dense -> model.pooler.dense", 16))
    model.encoder.
    layer.0.output.
    dense
    -> model.pooler.
    dense
    """
    lines = []
    for k, name in enumerate(title.split(" -> ")):
        line = "-> " if k else ""
        for piece in re.split(r"(?<=\.)|(?= \()", name):
            if line.strip(" ->") and len(line) + len(piece) > width:
                lines.append(line.rstrip())
                line = ""
            line += piece if line else piece.lstrip()
        lines.append(line.rstrip())
    return "\n".join(lines)


def _pooled(matrix: np.ndarray, cells: int) -> np.ndarray:
    """``matrix`` averaged over runs of consecutive rows and columns, at most ``cells`` each
    way (a panel's PNG stays small however wide the layers are)."""
    for axis in (0, 1):
        n = matrix.shape[axis]
        if n > cells:
            starts = np.linspace(0, n, cells, endpoint=False).astype(int)
            sums = np.add.reduceat(matrix, starts, axis=axis)
            counts = np.diff(np.append(starts, n)).reshape((-1, 1) if axis == 0 else (1, -1))
            matrix = sums / counts
    return matrix


def _boundaries(sorted_labels: np.ndarray) -> list[int]:
    """Positions where a sorted label sequence changes value."""
    return [int(i) for i in np.flatnonzero(np.diff(sorted_labels)) + 1]


def ncut_figure(ncut: float, nulls: Sequence[float], title: str) -> str:
    """Histogram of the null networks' n-cuts with the network's own n-cut."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ax.hist(nulls, bins=min(30, max(5, len(nulls) // 2)), color=NULL, label="shuffled networks")
    ax.axvline(ncut, color=OBSERVED, lw=2, label="this network")
    ax.set_xlabel("n-cut (lower = more clusterable)")
    ax.set_ylabel("null networks")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _img(fig, f"{title}: n-cut against shuffled networks")


def lesion_figure(
    groups: Sequence[tuple[str, float, Sequence[float], bool]], *, ylabel: str, title: str
) -> str:
    """Each group's lesion Δ (red) against the Δ of its random same-size groups (grey dots).

    Parameters
    ----------
    groups : sequence of (label, delta, random_deltas, important)
        ``random_deltas`` may be empty (stored before they were kept).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(FIGSIZE[0], 0.35 * len(groups)), FIGSIZE[1] + 0.6))
    rng = np.random.default_rng(0)
    for x, (_, _, random_deltas, _) in enumerate(groups):
        if len(random_deltas):
            jitter = rng.uniform(-JITTER, JITTER, len(random_deltas))
            ax.plot(x + jitter, random_deltas, ".", color=NULL, ms=4, alpha=0.8, zorder=1)
    for x, (_, delta, _, important) in enumerate(groups):
        ax.plot(
            x,
            delta,
            "D",
            ms=7,
            mec=OBSERVED,
            mfc=OBSERVED if important else "white",
            mew=1.5,
            zorder=2,
        )
    ax.plot([], [], ".", color=NULL, label="random same-size groups")
    ax.plot([], [], "D", mec=OBSERVED, mfc=OBSERVED, label="cluster, important")
    ax.plot([], [], "D", mec=OBSERVED, mfc="white", label="cluster, not important")
    ax.axhline(0, color="#888", lw=0.8)
    _cluster_ticks(ax, [g[0] for g in groups])
    ax.set_xlabel("cluster (layer)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return _img(fig, f"{title}: lesion delta against random groups")


def _cluster_ticks(ax: Any, labels: Sequence[str]) -> None:
    """Cluster labels under the x axis: slanted, upright only when there are many."""
    many = len(labels) > MANY_TICKS
    ax.set_xticks(
        range(len(labels)),
        labels,
        fontsize=7,
        rotation=90 if many else 30,
        ha="center" if many else "right",
    )


def coherence_figure(
    labels: Sequence[str], scores: dict[str, Sequence[float | None]], *, title: str
) -> str:
    """Grouped bars of each cluster's coherence p-values, with the p = 0.05 line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(FIGSIZE[0], 0.35 * len(labels)), FIGSIZE[1] + 0.6))
    x = np.arange(len(labels))
    width = 0.8 / len(scores)
    for offset, (name, values) in enumerate(scores.items()):
        heights = [np.nan if v is None else v for v in values]
        ax.bar(x + (offset - (len(scores) - 1) / 2) * width, heights, width=width, label=name)
    ax.axhline(COHERENT_P, color=OBSERVED, lw=1, ls="--", label=f"p = {COHERENT_P}")
    _cluster_ticks(ax, labels)
    ax.set_xlabel("cluster (layer)")
    ax.set_ylabel("p against random groups")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{title} (low p = more coherent than random groups)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return _img(fig, f"{title}: coherence p-values")


def layers_figure(
    names: Sequence[str],
    modularity: dict[str, tuple[float, float, float]],
    entropy: dict[str, dict[str, float]],
) -> str:
    """Louvain modularity per layer against its null (left) and firing entropy per layer (right).

    Parameters
    ----------
    names : sequence of str
        The hidden layers' labels, in order (the x axis of both panels).
    modularity : dict
        ``label -> (Q, null mean, null std)``; NaN for a missing null.
    entropy : dict
        ``series name -> {label: bits}``.
    """
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE)
    x = np.arange(len(names))
    if modularity:
        q, mean, std = (
            np.array([modularity.get(n, (np.nan,) * 3)[i] for n in names], dtype=float)
            for i in range(3)
        )
        left.plot(x, q, "o-", color=OBSERVED, label="Louvain Q")
        left.errorbar(
            x,
            mean,
            yerr=2 * np.nan_to_num(std),
            fmt="s",
            color=NULL,
            capsize=3,
            label="null mean ± 2 std",
        )
        left.legend(fontsize=8)
    else:
        left.text(0.5, 0.5, "no Louvain run", ha="center", transform=left.transAxes)
    left.set_ylabel("modularity Q")
    for key, values in entropy.items():
        right.plot(x, [values.get(n, np.nan) for n in names], "s--", label=key)
    if entropy:
        right.legend(fontsize=8)
    else:
        right.text(0.5, 0.5, "no entropy run", ha="center", transform=right.transAxes)
    right.set_ylabel("entropy (bits)")
    for ax in (left, right):
        ax.set_xticks(x, names, fontsize=7, rotation=30, ha="right")
        ax.set_xlabel("hidden layer")
    fig.tight_layout()
    return _img(fig, "modularity against its null and entropy per layer")


def evolution_figure(epochs: Sequence[int], series: dict[str, Sequence[float | None]]) -> str:
    """Accuracy (left) and entropy / modularity (right) of a checkpoint series by epoch."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE)
    for key, values in series.items():
        ax = left if key == "test accuracy" else right
        ax.plot(epochs, [np.nan if v is None else v for v in values], "o-", label=key)
    left.set_ylabel("test accuracy")
    right.set_ylabel("bits / modularity Q")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return _img(fig, "evolution through training")
