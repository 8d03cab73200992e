"""What importance and coherence share: a stored partition's groups, the network (its chain, or
its view when it is not a chain) and the data."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import zip_longest

from torch import nn

from neurongraph.analysis.defaults import missing_partition
from neurongraph.errors import AnalysisError, arg
from neurongraph.ingest.graph import NetworkGraph
from neurongraph.ingest.pipeline import read_network
from neurongraph.model.chain import Chain
from neurongraph.model.datasets import Dataset, load_dataset
from neurongraph.model.loading import load_recorded_model
from neurongraph.model.recorded import feature_inputs, fit_dataset, model_inputs
from neurongraph.model.view import ModelView
from neurongraph.store import Store
from neurongraph.store.rows import cluster_uid, partition_uid

__all__ = ["ScoringInputs", "groups_by_cluster", "load_scoring_inputs"]


@dataclass
class ScoringInputs:
    """A partition's (layer, cluster) groups with the network's model (its chain, or its view
    when it is not a chain) and data. ``groups`` hold every layer after the input but the last;
    the analyses skip the ones they do not test."""

    network: dict
    layers: list[dict]
    partition: dict
    partition_uid: str
    groups: list[tuple[int, object, list[int]]]
    cluster_uids: dict
    model: Chain | ModelView
    dataset: Dataset

    def layer_name(self, position: int) -> str:
        """The name of the layer at ``position``."""
        return self.layers[position]["name"]

    def group_name(self, group) -> str:
        """``layer:cluster`` of a tested (or skipped) group."""
        return f"{self.layer_name(group.layer)}:{group.label}"

    def skipped_rows(self, skipped: list) -> list[dict]:
        """Groups an analysis did not test, and why: ``layer``, ``cluster``, ``size``,
        ``reason``."""
        return [
            {
                "layer": self.layer_name(s.layer),
                "cluster": s.label,
                "size": s.size,
                "reason": s.reason,
            }
            for s in skipped
        ]


def groups_by_cluster(groups: list) -> dict:
    """Tested groups by cluster label: each cluster's layer parts, in the order given."""
    out: dict = {}
    for g in groups:
        out.setdefault(g.label, []).append(g)
    return out


def load_scoring_inputs(
    store: Store,
    name: str,
    method: str,
    *,
    data: str | None = None,
    model: str | nn.Module | None = None,
    trust_pickle: bool = False,
) -> ScoringInputs:
    """Read a partition's groups and load the network's model and dataset.

    ``model`` is the model itself (an ``nn.Module`` of feature vectors, checked to have the
    stored network's layers) or a file or ``package.module:factory`` to load it from (see
    :func:`~neurongraph.model.loading.load_recorded_model`); None loads the store's copy.

    Raises
    ------
    AnalysisError
        Unknown partition (naming the command that makes it), no dataset known, a module
        whose layers are not the network's.
    IngestError
        Model file missing or changed since the ingest; data that does not fit the model.
    """
    network = store.require_network(name)
    uid = partition_uid(name, method)
    partition = store.partition(uid)
    if partition is None:
        raise AnalysisError(missing_partition(name, method))
    spec = data or network.get("dataset")
    if not spec:
        raise AnalysisError(f"no dataset recorded for network {name!r}; pass {arg('data')}")
    shape = tuple(network["inputShape"])
    layers = store.layers(name)
    if isinstance(model, nn.Module):
        example, dataset = feature_inputs(f"the {arg('model')} module", shape, load_dataset(spec))
        runner, graph = read_network(model, example)
        _check_same_layers(graph, layers, name)
    else:
        loaded = load_recorded_model(
            network, store.files, override=model, trust_pickle=trust_pickle
        )
        example, dataset = model_inputs(loaded, shape, load_dataset(spec))
        runner, _ = read_network(loaded.module, example)
    dataset = fit_dataset(dataset, runner, name)
    hidden = range(1, len(layers) - 1)
    parts: dict = defaultdict(list)
    uids = {}
    for row in store.clusters(uid):
        label = row["cluster"]["label"]
        uids[label] = cluster_uid(name, method, label)
        for position, index in row["members"]:
            if position is not None and int(position) in hidden:
                parts[(int(position), label)].append(int(index))
    groups = [
        (p, label, sorted(units))
        for (p, label), units in sorted(
            parts.items(), key=lambda item: (item[0][0], str(item[0][1]))
        )
    ]
    return ScoringInputs(network, layers, partition, uid, groups, uids, runner, dataset)


def _check_same_layers(graph: NetworkGraph, layers: list[dict], name: str) -> None:
    """AnalysisError unless a module passed in has the stored network's layers (names and
    widths, in order)."""
    given = [(layer.name, layer.width) for layer in graph.layers]
    stored = [(layer["name"], int(layer["width"])) for layer in layers]
    for mine, theirs in zip_longest(given, stored):
        if mine != theirs:
            raise AnalysisError(
                f"the {arg('model')} module is not the model of network {name!r}: it has layer "
                f"(name, width) {mine} where the network has {theirs}; pass the module that "
                "was ingested"
            )
