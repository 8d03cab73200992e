"""``analyze entropy`` against the store: firing entropy per neuron, layer and network."""

from __future__ import annotations

import numpy as np

from neurongraph.analysis.entropy import entropy_summary
from neurongraph.model.recorded import activation_cache
from neurongraph.runs.common import hidden_layers, relu_like
from neurongraph.store import Store
from neurongraph.store.rows import layer_uid, neuron_uid

__all__ = ["run_entropy"]


def run_entropy(store: Store, name: str) -> dict:
    """Firing entropy per hidden neuron (``entropy``, ``classEntropy``), its means per layer
    (``entropyMean``, ``classEntropyMean`` on Layer nodes) and for the network (``entropy``,
    ``classEntropy`` on the Network node)."""
    cache = activation_cache(store, name)
    layers = hidden_layers(store, name)
    labels = cache.labels()
    summaries = {}
    for layer in layers:
        summaries.update(
            entropy_summary(
                {layer["name"]: cache.layer(int(layer["position"]))},
                labels,
                relu_like=relu_like(layer),
            ).layers
        )
    neuron_rows, layer_rows, per_layer = [], [], []
    for layer in layers:
        summary = summaries[layer["name"]]
        for index, (h, hc) in enumerate(
            zip(summary.entropy.tolist(), summary.class_entropy.tolist(), strict=True)
        ):
            neuron_rows.append(
                {
                    "uid": neuron_uid(name, layer["name"], index),
                    "props": {"entropy": h, "classEntropy": hc},
                }
            )
        means = {"entropyMean": float(summary.mean), "classEntropyMean": float(summary.class_mean)}
        layer_rows.append({"uid": layer_uid(name, layer["name"]), "props": means})
        per_layer.append({"layer": layer["name"], **means})
    pooled = np.concatenate([summaries[layer["name"]].entropy for layer in layers])
    pooled_class = np.concatenate([summaries[layer["name"]].class_entropy for layer in layers])
    network = {"entropy": float(pooled.mean()), "classEntropy": float(pooled_class.mean())}
    store.set_neuron_properties(neuron_rows)
    store.set_layer_properties(layer_rows)
    store.set_network_properties(name, network)
    return {"network": name, **network, "layers": per_layer}
