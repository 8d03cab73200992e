"""Graph pages of a network's clusters: one self-contained HTML file with an SVG drawing.

The drawing is SVG laid out here, layer by layer (one column per layer, in data-flow order), so
it needs no WebGL and no JavaScript to appear: headless Chromium with ``--disable-gpu`` shows it,
fitted to the window. A few lines of script add zoom (wheel), pan (drag) and reset (double
click). Two views, both read from the store with named queries (:mod:`neurongraph.queries`):

- the clusters of a partition (``cluster-layers``, ``cluster-layer-weights``): one circle per
  layer part of a cluster (its neurons in one layer; area ~ neurons, colour = cluster, a dark
  ring when ``analyze importance`` marked the cluster important). The WEIGHT edges between two
  parts are **aggregated** into one edge (summed |w|) and **thresholded**: only the
  :data:`EDGES_PER_PART` heaviest aggregated edges leaving each part are drawn;
- one cluster's neurons (``cluster-neurons``, ``cluster-weights``): one circle per neuron,
  coloured by layer; of the WEIGHT edges among them only the :data:`EDGES_PER_NEURON` strongest
  |w| leaving each neuron are kept, and of those at most :data:`MAX_NEURON_EDGES` (the
  strongest) drawn, dashed for negative weights.

Each page says in its heading what it draws, which edges it kept, and what colours and sizes
mean; the legend gives each colour with formatted values.
"""

from __future__ import annotations

import html
import logging
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from neurongraph.analysis.defaults import DEFAULT_PARTITION, missing_partition
from neurongraph.errors import UsageError
from neurongraph.formatting import cell, points
from neurongraph.queries import run_query
from neurongraph.store import Store
from neurongraph.store.rows import partition_uid

__all__ = [
    "CAPTION_CHAR",
    "CAPTION_SLANT",
    "DEFAULT_PARTITION",
    "EDGES_PER_NEURON",
    "EDGES_PER_PART",
    "MAX_EDGES",
    "MAX_NEURON_EDGES",
    "STAGGER_BELOW",
    "GraphView",
    "cluster_view",
    "neuron_view",
    "write_view",
]

log = logging.getLogger(__name__)

#: Numbers on the page: three significant figures.
FIGURES = ".3g"
#: Aggregated edges drawn per cluster part (the heaviest leaving it).
EDGES_PER_PART = 3
#: WEIGHT edges drawn per neuron in a one-cluster view (the strongest |w| leaving it).
EDGES_PER_NEURON = 3
#: At most this many edges in a one-cluster view: the strongest of those kept per neuron.
MAX_NEURON_EDGES = 400
#: WEIGHT edges read at most for a one-cluster view (strongest first).
MAX_EDGES = 20_000
#: Drawing units: column spacing, drawing height and margins.
COLUMN_GAP = 320.0
#: Many layers: columns move closer (down to MIN_COLUMN_GAP) to keep the drawing about this wide.
DRAWING_WIDTH = 1300.0
MIN_COLUMN_GAP = 110.0
#: Column captions closer than this alternate between two lines.
STAGGER_BELOW = 220.0
#: Width of a column caption's character (bold 16-unit text), in drawing units, about.
CAPTION_CHAR = 9.5
#: Column captions too long for their room even on two lines (long module paths, such as a
#: Hugging Face model's ``model.encoder.layer.0.attention.self.query``) slant up by this many
#: degrees, each from its column, and the drawing grows to hold them.
CAPTION_SLANT = 35.0
HEIGHT = 760.0
MARGIN = 70.0
#: An edge that passes over layer columns bows by this much per column passed (its curve's
#: control points move this far off its ends), so that it passes beside their circles, not
#: through them; never out of the drawing.
SKIP_BOW = 64.0
#: How far a cubic curve reaches, as a share of its control points' offset.
BOW_REACH = 0.75
#: Circle radius bounds, in drawing units.
PART_RADIUS = (6.0, 34.0)
NEURON_RADIUS = (2.0, 9.0)
#: Edge width bounds, in drawing units.
EDGE_WIDTH = (0.6, 14.0)
NEURON_EDGE_WIDTH = (0.3, 3.0)
#: Captions are written beside circles at least this large, or (neurons) this far apart.
CAPTION_RADIUS = 9.0
CAPTION_SPACING = 12.0
#: Categorical colours (Tableau 20 order); further labels cycle through them.
PALETTE = (
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
    "#E15759",
    "#B07AA1",
    "#76B7B2",
    "#EDC948",
    "#FF9DA7",
    "#9C755F",
    "#BAB0AC",
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#17BECF",
    "#BCBD22",
    "#7F7F7F",
)
#: Neuron-view edges: one colour; negative weights dashed.
EDGE_COLOR = "#555555"
NEGATIVE_DASH = "6 4"
IMPORTANT_RING = "#111111"


@dataclass(frozen=True)
class Circle:
    """A node of the drawing."""

    id: str
    x: float
    y: float
    r: float
    color: str
    caption: str
    tooltip: str
    ring: bool = False


@dataclass(frozen=True)
class Line:
    """An edge of the drawing."""

    source: str
    target: str
    width: float
    color: str
    tooltip: str
    dashed: bool = False


@dataclass(frozen=True)
class GraphView:
    """A laid-out graph with what it shows, ready to write as a page.

    Attributes
    ----------
    title : str
        Page title and heading.
    subtitle : str
        What circles, colours, sizes and edges mean, and which edges were kept.
    columns : list of (float, str)
        Each layer column's x and caption.
    circles : list of Circle
        The nodes, placed.
    lines : list of Line
        The edges drawn.
    legend : list of (str, str)
        Colour and its formatted meaning.
    edges_total : int
        The edges there were before thresholding.
    """

    title: str
    subtitle: str
    columns: list[tuple[float, str]]
    circles: list[Circle]
    lines: list[Line]
    legend: list[tuple[str, str]]
    edges_total: int

    @property
    def nodes(self) -> int:
        """Number of nodes drawn."""
        return len(self.circles)

    @property
    def relationships(self) -> int:
        """Number of edges drawn."""
        return len(self.lines)

    def to_html(self) -> str:
        """The page as one self-contained HTML document."""
        return _page(self)


def _scale(value: float, top: float, bounds: tuple[float, float]) -> float:
    """``value`` in [0, ``top``] mapped to ``bounds`` by its square root (areas ~ value)."""
    low, high = bounds
    if top <= 0:
        return low
    return low + (high - low) * math.sqrt(max(value, 0.0) / top)


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _require_partition(store: Store, network: str, method: str) -> dict:
    store.require_network(network)
    found = store.partition(partition_uid(network, method))
    if found is None:
        raise UsageError(missing_partition(network, method))
    return found


def _layer_caption(layer: str) -> str:
    """``layer 0`` for a bare module index, else the layer's own name (``layer1.add``)."""
    return f"layer {layer}" if str(layer).isdigit() else str(layer)


def _column_xs(count: int) -> list[float]:
    """The x of each of ``count`` layer columns."""
    fit = (DRAWING_WIDTH - 2 * MARGIN) / max(count - 1, 1)
    gap = min(COLUMN_GAP, max(MIN_COLUMN_GAP, fit))
    return [MARGIN + gap * i for i in range(count)]


def _stack(count: int, r: float) -> list[float]:
    """``count`` y positions spread over the drawing height, ``r`` apart from the edges."""
    if count == 1:
        return [HEIGHT / 2]
    top, bottom = MARGIN + r, HEIGHT - MARGIN / 2 - r
    return [top + (bottom - top) * i / (count - 1) for i in range(count)]


def _top_per_source(edges: list[dict], k: int) -> list[dict]:
    """The ``k`` heaviest edges (by ``weight``) leaving each source."""
    by_source: dict = defaultdict(list)
    for edge in edges:
        by_source[edge["from"]].append(edge)
    kept = []
    for leaving in by_source.values():
        kept.extend(sorted(leaving, key=lambda e: -e["weight"])[:k])
    return kept


#: The coherence p-values a cluster's legend line gives, and how it names them.
COHERENCE_P = {
    "visObjectiveP": "visualisation",
    "exampleEntropyP": "examples",
    "classConsistencyP": "classes",
}


def _importance_text(row: dict) -> str:
    """What the lesion and coherence tests found for a cluster, for its legend line."""
    text = ""
    if row.get("importanceP") is not None:
        mark = ", important" if row.get("important") else ""
        text += (
            f", lesion Δaccuracy {points(row['importanceDelta'], FIGURES)} pts, "
            f"p = {cell(row['importanceP'], FIGURES)}{mark}"
        )
    scores = [(name, row.get(key)) for key, name in COHERENCE_P.items()]
    if any(value is not None for _, value in scores):
        text += ", coherence p: " + ", ".join(
            f"{name} {cell(value, FIGURES)}" for name, value in scores
        )
    return text


def cluster_view(store: Store, network: str, *, partition: str = DEFAULT_PARTITION) -> GraphView:
    """The layer parts of a partition's clusters and the summed weights between them (named
    queries ``cluster-layers`` and ``cluster-layer-weights``, read).

    Parameters
    ----------
    store : Store
        The store holding the network.
    network : str
        The network's name.
    partition : str, default="spectral-weights"
        The partition's method: spectral-weights, spectral-activations or louvain.

    Returns
    -------
    GraphView
        One circle per (layer, cluster) part; the :data:`EDGES_PER_PART` heaviest aggregated
        edges leaving each part.

    Raises
    ------
    UsageError
        Unknown or partial network, or no such partition.
    """
    found = _require_partition(store, network, partition)
    params = {"network": network, "method": partition}
    parts = run_query(store, "cluster-layers", params).rows
    sums = run_query(store, "cluster-layer-weights", params).rows
    positions = sorted({(r["position"], r["layer"]) for r in parts})
    xs = _column_xs(len(positions))
    column = {layer: xs[i] for i, (_, layer) in enumerate(positions)}
    labels = sorted({str(r["label"]) for r in parts}, key=_label_key)
    colour = {label: _color(i) for i, label in enumerate(labels)}
    biggest = max((r["neurons"] for r in parts), default=0)
    per_layer: dict = defaultdict(list)
    for row in parts:
        per_layer[row["layer"]].append(row)
    circles = []
    for layer, rows in per_layer.items():
        ys = _stack(len(rows), PART_RADIUS[1])
        for row, y in zip(rows, ys, strict=True):
            label, r = str(row["label"]), _scale(row["neurons"], biggest, PART_RADIUS)
            circles.append(
                Circle(
                    id=f"{layer}|{label}",
                    x=column[layer],
                    y=y,
                    r=r,
                    color=colour[label],
                    caption=f"{label} · {row['neurons']}" if r >= CAPTION_RADIUS else "",
                    tooltip=f"cluster {label} in layer {layer}: {row['neurons']} of its "
                    f"{row['size']} neurons{_importance_text(row)}",
                    ring=bool(row.get("important")),
                )
            )
    edges = [
        {
            "from": f"{r['sourceLayer']}|{r['source']}",
            "to": f"{r['targetLayer']}|{r['target']}",
            "weight": float(r["weight"]),
            "edges": r["edges"],
        }
        for r in sums
    ]
    kept = _top_per_source(edges, EDGES_PER_PART)
    heaviest = max((e["weight"] for e in kept), default=0.0)
    lines = [
        Line(
            e["from"],
            e["to"],
            _scale(e["weight"], heaviest, EDGE_WIDTH),
            colour[e["from"].split("|", 1)[1]],
            f"{e['from'].replace('|', ' cluster ')} → {e['to'].replace('|', ' cluster ')}: "
            f"Σ|w| = {cell(e['weight'], FIGURES)} over {e['edges']} WEIGHT edges",
        )
        for e in sorted(kept, key=lambda e: e["weight"])
    ]
    sizes = {str(r["label"]): r for r in parts}
    legend = [
        (
            colour[label],
            f"cluster {label}: {sizes[label]['size']} neurons{_importance_text(sizes[label])}",
        )
        for label in labels
    ]
    if any(c.ring for c in circles):
        legend.append((IMPORTANT_RING, "dark ring: cluster marked important by its lesion test"))
    stats = ", ".join(
        f"{key} {cell(found.get(key), FIGURES)}"
        for key in ("k", "ncut")
        if found.get(key) is not None
    )
    subtitle = (
        f"Each circle is one cluster's neurons in one layer: area ∝ neurons, colour = cluster. "
        f"Edges aggregate the WEIGHT edges between two such parts into one (width ∝ summed |w|); "
        f"the {EDGES_PER_PART} heaviest leaving each part are drawn: {len(lines)} of "
        f"{len(edges)} aggregated edges."
    )
    log.info(
        "%s %s: %d parts, %d of %d edges", network, partition, len(circles), len(lines), len(edges)
    )
    return GraphView(
        title=f"{network}: {partition} partition ({stats})" if stats else f"{network}: {partition}",
        subtitle=subtitle,
        columns=[(column[layer], _layer_caption(layer)) for _, layer in positions],
        circles=circles,
        lines=lines,
        legend=legend,
        edges_total=len(edges),
    )


def _label_key(label: str) -> tuple:
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def neuron_view(
    store: Store,
    network: str,
    cluster: str | int,
    *,
    partition: str = DEFAULT_PARTITION,
    max_edges: int = MAX_EDGES,
) -> GraphView:
    """One cluster's neurons and the strongest WEIGHT edges among them (named queries
    ``cluster-neurons`` and ``cluster-weights``, read).

    Parameters
    ----------
    store : Store
        The store holding the network.
    network : str
        The network's name.
    cluster : str or int
        The cluster's label (a number for spectral clusters, ``LAYER:COMMUNITY`` for Louvain).
    partition : str, default="spectral-weights"
        The partition's method.
    max_edges : int, default=MAX_EDGES
        Read at most this many edges, the strongest, before keeping the
        :data:`EDGES_PER_NEURON` strongest leaving each neuron.

    Raises
    ------
    UsageError
        Unknown or partial network, no such partition or no such cluster.
    """
    _require_partition(store, network, partition)
    params = {"network": network, "method": partition, "label": cluster}
    neurons = run_query(store, "cluster-neurons", params).rows
    if not neurons:
        listed = run_query(store, "partition-clusters", {"network": network, "method": partition})
        labels = [str(r["label"]) for r in listed.rows]
        raise UsageError(
            f"partition {partition!r} of {network!r} has no cluster {str(cluster)!r} with "
            f"neurons; its clusters are {', '.join(labels) or 'none'}"
        )
    weights = run_query(
        store,
        "cluster-weights",
        {
            "network": network,
            "method": partition,
            "source": cluster,
            "target": cluster,
            "limit": max_edges,
        },
    ).rows
    if len(weights) == max_edges:
        log.warning("read only the %d strongest WEIGHT edges of the cluster", max_edges)
    layers = list(dict.fromkeys(r["layer"] for r in neurons))
    colour = {layer: _color(i) for i, layer in enumerate(layers)}
    per_layer: dict = defaultdict(list)
    for row in neurons:
        per_layer[row["layer"]].append(row)
    tallest = max(len(rows) for rows in per_layer.values())
    r = min(NEURON_RADIUS[1], max(NEURON_RADIUS[0], (HEIGHT - 1.5 * MARGIN) / tallest * 0.35))
    spacing = (HEIGHT - 1.5 * MARGIN) / max(tallest - 1, 1)
    readable = r >= CAPTION_RADIUS or spacing >= CAPTION_SPACING
    xs = _column_xs(len(layers))
    circles = []
    for i, layer in enumerate(layers):
        rows = per_layer[layer]
        for row, y in zip(rows, _stack(len(rows), r), strict=True):
            scores = ", ".join(
                f"{key} {cell(row[key], FIGURES)}"
                for key in ("importance", "entropy", "preferredClass", "fracActive")
                if row.get(key) is not None
            )
            circles.append(
                Circle(
                    id=row["uid"],
                    x=xs[i],
                    y=y,
                    r=r,
                    color=colour[layer],
                    caption=str(row["index"]) if readable else "",
                    tooltip=f"{row['uid']}{': ' + scores if scores else ''}",
                )
            )
    edges = [
        {
            "from": w["source"],
            "to": w["target"],
            "weight": float(w["weight"]),
            "signed": w["signed"],
        }
        for w in weights
    ]
    kept = sorted(_top_per_source(edges, EDGES_PER_NEURON), key=lambda e: -e["weight"])
    kept = kept[:MAX_NEURON_EDGES]
    heaviest = max((e["weight"] for e in kept), default=0.0)
    lines = [
        Line(
            e["from"],
            e["to"],
            _scale(e["weight"], heaviest, NEURON_EDGE_WIDTH),
            EDGE_COLOR,
            f"{e['from']} → {e['to']}: w = {cell(e['signed'], FIGURES)}",
            dashed=(e["signed"] or 0.0) < 0,
        )
        for e in sorted(kept, key=lambda e: e["weight"])
    ]
    legend = [
        (colour[layer], f"{_layer_caption(layer)}: {len(per_layer[layer])} neurons")
        for layer in layers
    ]
    legend.append((EDGE_COLOR, "edges: solid for positive weights, dashed for negative"))
    subtitle = (
        f"Each circle is one neuron of cluster {cluster}, colour = layer. Of the WEIGHT edges "
        f"among them, the {EDGES_PER_NEURON} strongest |w| leaving each neuron are kept, and of "
        f"those the {MAX_NEURON_EDGES} strongest drawn (width ∝ |w|): {len(lines)} of "
        f"{len(edges)}."
    )
    log.info(
        "%s %s cluster %s: %d neurons, %d of %d edges",
        network,
        partition,
        cluster,
        len(circles),
        len(lines),
        len(edges),
    )
    return GraphView(
        title=f"{network}: {partition} cluster {cluster} ({len(circles)} neurons)",
        subtitle=subtitle,
        columns=[(x, _layer_caption(layer)) for x, layer in zip(xs, layers, strict=True)],
        circles=circles,
        lines=lines,
        legend=legend,
        edges_total=len(edges),
    )


def _svg(view: GraphView) -> str:
    at = {c.id: c for c in view.circles}
    xs = [x for x, _ in view.columns]
    gap = xs[1] - xs[0] if len(xs) > 1 else 0.0
    stagger = len(xs) > 1 and gap < STAGGER_BELOW
    longest = CAPTION_CHAR * max((len(caption) for _, caption in view.columns), default=0)
    slant = len(xs) > 1 and longest > (2 * gap if stagger else gap)
    top = 0.0
    width = max(xs, default=0.0) + MARGIN
    if slant:
        angle = math.radians(CAPTION_SLANT)
        top = min(0.0, MARGIN / 2 - longest * math.sin(angle) - MARGIN / 4)
        width = max(width, max(xs) + longest * math.cos(angle) + MARGIN / 4)
    out = [
        f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 {top:.0f} {width:.0f} {HEIGHT - top:.0f}" '
        'preserveAspectRatio="xMidYMid meet">',
        '<g id="scene">',
    ]
    for i, (x, caption) in enumerate(view.columns):
        text = html.escape(caption)
        if slant:
            y = MARGIN / 2
            out.append(
                f'<text class="column slanted" x="{x:.1f}" y="{y:.1f}" '
                f'transform="rotate({-CAPTION_SLANT:g} {x:.1f} {y:.1f})">{text}</text>'
            )
            continue
        y = MARGIN / 2 - (MARGIN / 4 if stagger and i % 2 else 0.0)
        out.append(f'<text class="column" x="{x:.1f}" y="{y:.1f}">{text}</text>')
    for line in view.lines:
        dash = f' stroke-dasharray="{NEGATIVE_DASH}"' if line.dashed else ""
        out.append(
            f'<path class="edge" data-source="{html.escape(line.source)}" '
            f'data-target="{html.escape(line.target)}" '
            f'd="{_edge_path(at[line.source], at[line.target], gap)}" stroke="{line.color}" '
            f'stroke-width="{line.width:.2f}"{dash}><title>{html.escape(line.tooltip)}</title></path>'
        )
    for c in view.circles:
        ring = f' stroke="{IMPORTANT_RING}" stroke-width="4"' if c.ring else ""
        out.append(
            f'<g class="node" data-id="{html.escape(c.id)}">'
            f'<circle cx="{c.x:.1f}" cy="{c.y:.1f}" r="{c.r:.1f}" '
            f'fill="{c.color}"{ring}><title>{html.escape(c.tooltip)}</title></circle>'
        )
        if c.caption:
            out.append(
                f'<text class="caption" x="{c.x + c.r + 4:.1f}" y="{c.y + 4:.1f}">'
                f"{html.escape(c.caption)}</text>"
            )
        out.append("</g>")
    out += ["</g>", "</svg>"]
    return "\n".join(out)


def _edge_path(a: Circle, b: Circle, gap: float) -> str:
    """An edge's SVG path from ``a`` to ``b``: a curve leaving and reaching them level; one that
    passes over layer columns (``gap`` apart) bows :data:`SKIP_BOW` per column passed, towards
    the side of the drawing with more room."""
    passed = max(0, round(abs(b.x - a.x) / gap) - 1) if gap else 0
    bow = 0.0
    if passed:
        if a.y + b.y > HEIGHT:  # lower half: bow up
            bow = -min(SKIP_BOW * passed, (min(a.y, b.y) - MARGIN / 2) / BOW_REACH)
        else:
            bow = min(SKIP_BOW * passed, (HEIGHT - max(a.y, b.y) - MARGIN / 4) / BOW_REACH)
    bend = (b.x - a.x) / 2
    return (
        f"M{a.x:.1f},{a.y:.1f} C{a.x + bend:.1f},{a.y + bow:.1f} "
        f"{b.x - bend:.1f},{b.y + bow:.1f} {b.x:.1f},{b.y:.1f}"
    )


_STYLE = """
html, body { margin: 0; height: 100%; font: 14px system-ui, sans-serif; color: #222; }
body { display: flex; flex-direction: column; background: #fff; }
header { padding: 8px 16px 4px; border-bottom: 1px solid #ddd; }
h1 { font-size: 18px; margin: 0 0 4px; }
header p { margin: 0 0 6px; color: #444; }
#legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 0; padding: 0; list-style: none; }
#legend li { display: flex; align-items: center; gap: 6px; }
#legend i { width: 12px; height: 12px; border-radius: 50%; display: inline-block; }
main { flex: 1; min-height: 0; }
#graph { width: 100%; height: 100%; display: block; cursor: grab; }
.edge { fill: none; stroke-opacity: 0.45; }
.edge:hover { stroke-opacity: 0.9; }
.column { font-weight: 600; text-anchor: middle; font-size: 16px; fill: #333; }
.column.slanted { text-anchor: start; }
.caption { font-size: 11px; fill: #333; }
"""

_SCRIPT = """
(function () {
  var svg = document.getElementById('graph'), box = svg.viewBox.baseVal;
  var home = [box.x, box.y, box.width, box.height], drag = null;
  function set(v) { box.x = v[0]; box.y = v[1]; box.width = v[2]; box.height = v[3]; }
  svg.addEventListener('wheel', function (e) {
    e.preventDefault();
    var f = e.deltaY > 0 ? 1.15 : 1 / 1.15, r = svg.getBoundingClientRect();
    var px = box.x + (e.clientX - r.left) / r.width * box.width;
    var py = box.y + (e.clientY - r.top) / r.height * box.height;
    set([px - (px - box.x) * f, py - (py - box.y) * f, box.width * f, box.height * f]);
  }, {passive: false});
  svg.addEventListener('mousedown', function (e) { drag = [e.clientX, e.clientY]; });
  window.addEventListener('mouseup', function () { drag = null; });
  window.addEventListener('mousemove', function (e) {
    if (!drag) return;
    var r = svg.getBoundingClientRect(), s = Math.max(box.width / r.width, box.height / r.height);
    box.x -= (e.clientX - drag[0]) * s; box.y -= (e.clientY - drag[1]) * s;
    drag = [e.clientX, e.clientY];
  });
  svg.addEventListener('dblclick', function () { set(home); });
})();
"""


def _page(view: GraphView) -> str:
    legend = "".join(
        f'<li><i style="background:{color}"></i>{html.escape(text)}</li>'
        for color, text in view.legend
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(view.title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{html.escape(view.title)}</h1><p>{html.escape(view.subtitle)} "
        "Hover for values; wheel zooms, drag pans, double click fits.</p>"
        f'<ul id="legend">{legend}</ul></header>'
        f"<main>{_svg(view)}</main><script>{_SCRIPT}</script></body></html>\n"
    )


def write_view(
    store: Store,
    network: str,
    out: str | os.PathLike,
    *,
    partition: str = DEFAULT_PARTITION,
    cluster: str | int | None = None,
) -> GraphView:
    """Write the clusters view (or, with ``cluster``, that cluster's neuron view) of a network
    to the HTML page ``out`` and return the view.

    Parameters
    ----------
    store : Store
        The store holding the network.
    network : str
        The network's name.
    out : str or path
        The page to write.
    partition : str, default="spectral-weights"
        The partition's method.
    cluster : str or int, optional
        Draw this cluster's neurons instead of the partition's clusters.

    Returns
    -------
    GraphView
        What was drawn.
    """
    view = (
        cluster_view(store, network, partition=partition)
        if cluster is None
        else neuron_view(store, network, cluster, partition=partition)
    )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(view.to_html(), encoding="utf-8")
    log.info("wrote %s", path)
    return view
