"""Rows the store writes for a network graph, and the embedded store's bulk path.

Pure functions from a :class:`~neurongraph.ingest.graph.NetworkGraph` to property maps, shared by
the Bolt path (``UNWIND $rows``) and ArcadeDB's bulk importer so both write the same graph.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from neurongraph.progress import Progress
from neurongraph.store.schema import Label, Rel

log = logging.getLogger(__name__)

__all__ = [
    "PartitionCluster",
    "bulk_write",
    "cluster_uid",
    "feed_rows",
    "layer_rows",
    "layer_uid",
    "neuron_property_rows",
    "neuron_rows",
    "neuron_uid",
    "partition_rows",
    "partition_uid",
    "weight_batches",
]


def layer_uid(network: str, layer: str) -> str:
    """``network/layer``."""
    return f"{network}/{layer}"


def neuron_uid(network: str, layer: str, index: int) -> str:
    """``network/layer/index``."""
    return f"{network}/{layer}/{index}"


def partition_uid(network: str, method: str) -> str:
    """``network/method``: one partition per method and network."""
    return f"{network}/{method}"


def cluster_uid(network: str, method: str, label: str | int) -> str:
    """``network/method/label``."""
    return f"{network}/{method}/{label}"


class PartitionCluster(NamedTuple):
    """One cluster of a partition to write: its label, its member neurons as (layer name,
    index) pairs and its further properties (None values are left out)."""

    label: str | int
    members: Sequence[tuple[str, int]]
    props: Mapping


def _present(props: Mapping) -> dict:
    return {k: v for k, v in props.items() if v is not None}


def neuron_property_rows(network: str, props: Mapping[tuple[str, int], Mapping]) -> list[dict]:
    """One ``{uid, props}`` row per neuron, keyed by (layer name, index); None values are
    left out.

    Examples
    --------
    >>> neuron_property_rows("net", {("fc1", 3): {"entropy": 0.5, "x": None}})
    [{'uid': 'net/fc1/3', 'props': {'entropy': 0.5}}]
    """
    return [
        {"uid": neuron_uid(network, layer, index), "props": _present(values)}
        for (layer, index), values in props.items()
    ]


def partition_rows(
    network: str, method: str, props: Mapping, clusters: Sequence[PartitionCluster]
) -> tuple[dict, list[dict], list[dict]]:
    """The Partition, Cluster and IN_CLUSTER rows of one partition of a network, for
    :meth:`~neurongraph.store.Store.replace_partition`; None values are left out.

    Returns
    -------
    partition : dict
        ``uid``, ``network``, ``method`` and ``props``.
    clusters : list of dict
        Per cluster: ``uid``, ``network``, ``partition`` (its uid), ``method``, ``label`` and
        the cluster's ``props``.
    members : list of dict
        Per cluster: ``{cluster: uid, neurons: [uid]}``.

    Examples
    --------
    >>> part, clusters, members = partition_rows(
    ...     "net", "louvain", {"k": 1}, [PartitionCluster("fc1:0", [("fc1", 2)], {"size": 1})]
    ... )
    >>> part
    {'uid': 'net/louvain', 'network': 'net', 'method': 'louvain', 'k': 1}
    >>> clusters[0]["uid"], clusters[0]["size"], members
    ('net/louvain/fc1:0', 1, [{'cluster': 'net/louvain/fc1:0', 'neurons': ['net/fc1/2']}])
    """
    puid = partition_uid(network, method)
    partition = _present({"uid": puid, "network": network, "method": method, **props})
    rows, members = [], []
    for cluster in clusters:
        uid = cluster_uid(network, method, cluster.label)
        rows.append(
            _present(
                {
                    "uid": uid,
                    "network": network,
                    "partition": puid,
                    "method": method,
                    "label": cluster.label,
                    **cluster.props,
                }
            )
        )
        members.append(
            {
                "cluster": uid,
                "neurons": [neuron_uid(network, layer, index) for layer, index in cluster.members],
            }
        )
    return partition, rows, members


def layer_rows(network: str, graph) -> list[dict]:
    """One property map per layer."""
    return [
        {
            "uid": layer_uid(network, layer.name),
            "network": network,
            "name": layer.name,
            "position": layer.position,
            "kind": layer.kind,
            "width": layer.width,
            "activation": layer.activation,
        }
        for layer in graph.layers
    ]


def neuron_rows(network: str, graph) -> list[tuple[str, list[dict]]]:
    """Per layer: the layer's uid and one property map per neuron."""
    out = []
    for layer, bias in zip(graph.layers, graph.biases, strict=True):
        rows = []
        for index in range(layer.width):
            row = {
                "uid": neuron_uid(network, layer.name, index),
                "network": network,
                "layer": layer.name,
                "position": layer.position,
                "index": index,
            }
            if bias is not None:
                row["bias"] = float(bias[index])
            rows.append(row)
        out.append((layer_uid(network, layer.name), rows))
    return out


def feed_rows(network: str, graph) -> list[dict]:
    """One ``{s, t}`` pair of layer uids per FEEDS relationship (the data-flow DAG)."""
    return [
        {
            "s": layer_uid(network, graph.layers[source].name),
            "t": layer_uid(network, graph.layers[target].name),
        }
        for source, target in graph.feeds
    ]


def _edges(
    block, *, by_source: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source indices, target indices, weights and signed values of one block's edges,
    ordered by source (else by target)."""
    if by_source:
        sources, targets = np.nonzero(block.weight.T)
    else:
        targets, sources = np.nonzero(block.weight)
    return sources, targets, block.weight[targets, sources], block.signed[targets, sources]


def weight_batches(network: str, graph, batch_edges: int) -> Iterator[list[dict]]:
    """WEIGHT edges grouped by source neuron, in batches of about ``batch_edges`` edges."""
    batch: list[dict] = []
    size = 0
    for block in graph.blocks:
        src_layer = graph.layers[block.source].name
        dst_layer = graph.layers[block.target].name
        sources, targets, weights, signed = _edges(block)
        bounds = np.flatnonzero(np.diff(sources)) + 1
        for lo, hi in zip(
            np.concatenate(([0], bounds)), np.concatenate((bounds, [len(sources)])), strict=True
        ):
            if hi == lo:
                continue
            batch.append(
                {
                    "s": neuron_uid(network, src_layer, int(sources[lo])),
                    "t": [neuron_uid(network, dst_layer, int(t)) for t in targets[lo:hi]],
                    "w": weights[lo:hi].tolist(),
                    "g": signed[lo:hi].tolist(),
                }
            )
            size += hi - lo
            if size >= batch_edges:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def bulk_write(
    server,
    network: str,
    graph,
    network_props: dict,
    progress: Progress | None,
) -> None:
    """Write the network with ArcadeDB's bulk importer (embedded store owned by this process)."""
    with server.graph_batch() as batch:
        (net_rid,) = batch.create_vertices(Label.NETWORK, [network_props])
        layer_rids = batch.create_vertices(Label.LAYER, layer_rows(network, graph))
        neuron_rids = [
            batch.create_vertices(Label.NEURON, rows) for _, rows in neuron_rows(network, graph)
        ]
    log.info("wrote %d layers and %d neurons", len(layer_rids), graph.n_neurons)
    with server.graph_batch() as batch:
        batch.new_edges([net_rid] * len(layer_rids), Rel.HAS_LAYER, layer_rids)
        feeds = graph.feeds
        if feeds:
            sources = [layer_rids[s] for s, _ in feeds]
            batch.new_edges(sources, Rel.FEEDS, [layer_rids[t] for _, t in feeds])
        for layer_rid, rids in zip(layer_rids, neuron_rids, strict=True):
            batch.new_edges([layer_rid] * len(rids), Rel.HAS_NEURON, rids)
        done, total = 0, graph.n_edges
        for block in graph.blocks:
            sources, targets, weights, signed = _edges(block, by_source=False)
            server.add_edges(
                batch,
                Rel.WEIGHT,
                (neuron_rids[block.source], neuron_rids[block.target]),
                (sources, targets),
                {"weight": weights, "signed": signed},
            )
            done += len(sources)
            log.info("%d of %d WEIGHT edges written", done, total)
            if progress is not None:
                progress(done, total)
    log.info("wrote %d WEIGHT edges", total)
