"""Interactive graph pages of a network's clusters, drawn with ``neo4j-viz``.

Two views, both read from the store with named queries (:mod:`neurongraph.queries`):

- the clusters of a partition (``partition-clusters``, ``cluster-weight-sums``): one node per
  cluster, sized by its number of neurons and coloured by its importance p when
  ``analyze importance`` has run (by label otherwise); one edge per ordered pair of clusters
  joined by WEIGHT edges, as wide as their summed |w|;
- one cluster's neurons (``cluster-neurons``, ``cluster-weights``): one node per neuron,
  coloured by layer and laid out layer by layer; the WEIGHT edges among them, as wide as |w|.

The page is one self-contained HTML file (the ``neo4j-viz`` bundle is inlined).
"""

from __future__ import annotations

import html
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo4j_viz import ColorSpace, Layout, Node, Relationship, VisualizationGraph

from neurongraph.analysis.defaults import DEFAULT_PARTITION, PARTITION_COMMANDS
from neurongraph.errors import UsageError
from neurongraph.queries import run_query
from neurongraph.store import Store
from neurongraph.store.rows import partition_uid

__all__ = [
    "DEFAULT_PARTITION",
    "MAX_EDGES",
    "GraphView",
    "cluster_view",
    "neuron_view",
    "write_view",
]

log = logging.getLogger(__name__)

#: WEIGHT edges drawn at most in a one-cluster view (strongest first).
MAX_EDGES = 5_000
#: Node radius and edge width ranges, in pixels.
NODE_RADIUS = (12.0, 48.0)
NEURON_RADIUS = 10.0
EDGE_WIDTH = (0.5, 6.0)
NEURON_EDGE_WIDTH = (0.2, 2.5)
PAGE_HEIGHT = "96vh"
#: Importance p colour ramp: significant (low p) dark red to pale grey.
P_COLORS = ["#B2182B", "#EF8A62", "#E0E0E0"]


@dataclass(frozen=True)
class GraphView:
    """A graph ready to render, with what it shows.

    Attributes
    ----------
    graph : neo4j_viz.VisualizationGraph
        Nodes and relationships with sizes, colours and captions set.
    title : str
        Page title.
    layout : neo4j_viz.Layout
        How to lay the nodes out.
    """

    graph: VisualizationGraph
    title: str
    layout: Layout

    @property
    def nodes(self) -> int:
        """Number of nodes."""
        return len(self.graph.nodes)

    @property
    def relationships(self) -> int:
        """Number of relationships."""
        return len(self.graph.relationships)

    def to_html(self) -> str:
        """The page as one self-contained HTML document."""
        page = self.graph.render(
            layout=self.layout,
            width="100%",
            height=PAGE_HEIGHT,
            theme="light",
            max_allowed_nodes=max(self.nodes, 1),
        ).data
        return page.replace("<title>neo4j-viz</title>", f"<title>{html.escape(self.title)}</title>")


def _scale(value: float, top: float, bounds: tuple[float, float]) -> float:
    """``value`` in [0, ``top``] mapped to ``bounds`` by its square root (areas ~ value)."""
    low, high = bounds
    if top <= 0:
        return low
    return low + (high - low) * math.sqrt(max(value, 0.0) / top)


def _present(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def _require_partition(store: Store, network: str, method: str) -> None:
    store.require_network(network)
    if store.partition(partition_uid(network, method)) is None:
        how = PARTITION_COMMANDS.get(method, "neurongraph analyze spectral {net}")
        raise UsageError(
            f"network {network!r} has no {method!r} partition; make it with "
            f"`{how.format(net=network)}`"
        )


def cluster_view(store: Store, network: str, *, partition: str = DEFAULT_PARTITION) -> GraphView:
    """The clusters of a partition as a graph (named queries ``partition-clusters`` and
    ``cluster-weight-sums``, read).

    Parameters
    ----------
    store : Store
        The store holding the network.
    network : str
        The network's name.
    partition : str, default="spectral-weights"
        The partition's method: spectral-weights, spectral-activations or louvain.

    Raises
    ------
    UsageError
        Unknown or partial network, or no such partition.
    """
    _require_partition(store, network, partition)
    params = {"network": network, "method": partition}
    clusters = run_query(store, "partition-clusters", params).rows
    sums = run_query(store, "cluster-weight-sums", params).rows
    internal = {str(r["source"]): r for r in sums if r["source"] == r["target"]}
    biggest = max((r["size"] or 0 for r in clusters), default=0)
    nodes = []
    for row in clusters:
        label = str(row["label"])
        inside = internal.get(label, {})
        props = {
            **_present(row),
            "internalWeight": inside.get("weight", 0.0),
            "internalEdges": inside.get("edges", 0),
        }
        nodes.append(
            Node(
                id=label,
                caption=f"{label} ({row['size']})",
                size=_scale(row["size"] or 0, biggest, NODE_RADIUS),
                properties=props,
            )
        )
    between = [r for r in sums if r["source"] != r["target"]]
    heaviest = max((r["weight"] for r in between), default=0.0)
    relationships = [
        Relationship(
            id=f"{r['source']}->{r['target']}",
            source=str(r["source"]),
            target=str(r["target"]),
            caption=f"{r['weight']:.3g}",
            width=_scale(r["weight"], heaviest, EDGE_WIDTH),
            properties={"weight": r["weight"], "edges": r["edges"]},
        )
        for r in between
    ]
    graph = VisualizationGraph(nodes=nodes, relationships=relationships)
    if clusters and all(r.get("importanceP") is not None for r in clusters):
        graph.color_nodes(
            property="importanceP", colors=P_COLORS, color_space=ColorSpace.CONTINUOUS
        )
    else:
        graph.color_nodes(field="id", color_space=ColorSpace.DISCRETE)
    log.info("%s %s: %d clusters, %d edges", network, partition, len(nodes), len(relationships))
    title = f"{network}: {partition} clusters"
    return GraphView(graph, title, Layout.FORCE_DIRECTED)


def neuron_view(
    store: Store,
    network: str,
    cluster: str | int,
    *,
    partition: str = DEFAULT_PARTITION,
    max_edges: int = MAX_EDGES,
) -> GraphView:
    """One cluster's neurons and the WEIGHT edges among them (named queries
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
        Draw at most this many edges, the strongest.

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
        log.warning("drawing only the %d strongest WEIGHT edges of the cluster", max_edges)
    nodes = [
        Node(
            id=row["uid"],
            caption=f"{row['layer']}/{row['index']}",
            size=NEURON_RADIUS,
            properties=_present(row),
        )
        for row in neurons
    ]
    heaviest = max((r["weight"] for r in weights), default=0.0)
    relationships = [
        Relationship(
            id=f"{r['source']}->{r['target']}",
            source=r["source"],
            target=r["target"],
            width=_scale(r["weight"], heaviest, NEURON_EDGE_WIDTH),
            properties={"weight": r["weight"], "signed": r["signed"]},
        )
        for r in weights
    ]
    graph = VisualizationGraph(nodes=nodes, relationships=relationships)
    graph.color_nodes(property="layer", color_space=ColorSpace.DISCRETE)
    log.info(
        "%s %s cluster %s: %d neurons, %d edges",
        network,
        partition,
        cluster,
        len(nodes),
        len(relationships),
    )
    title = f"{network}: {partition} cluster {cluster}"
    return GraphView(graph, title, Layout.HIERARCHICAL)


def write_view(
    store: Store,
    network: str,
    out: str | os.PathLike,
    *,
    partition: str = DEFAULT_PARTITION,
    cluster: str | int | None = None,
) -> GraphView:
    """Write the clusters view (or, with ``cluster``, that cluster's neuron view) of a network
    to the HTML page ``out`` and return the view."""
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
