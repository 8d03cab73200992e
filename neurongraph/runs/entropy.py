"""``analyze entropy`` against the store: firing entropy per neuron, layer and network."""

from __future__ import annotations

import numpy as np

from neurongraph.analysis.entropy import entropy_summary
from neurongraph.model.recorded import activation_cache
from neurongraph.runs.common import hidden_layers, relu_like
from neurongraph.runs.results import EntropyResult
from neurongraph.store import Store
from neurongraph.store.rows import layer_uid, neuron_property_rows

__all__ = ["run_entropy"]


def run_entropy(store: Store, name: str) -> EntropyResult:
    """Firing entropy per hidden neuron (``entropy``, ``classEntropy``), its means per layer
    (``entropyMean``, ``classEntropyMean`` on Layer nodes) and for the network (``entropy``,
    ``classEntropy`` on the Network node).

    Parameters
    ----------
    store : Store
    name : str
        A network with recorded activations.

    Returns
    -------
    EntropyResult
    """
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
    per_layer = [summaries[layer["name"]] for layer in layers]
    result = EntropyResult(
        network=name,
        entropy=float(np.concatenate([s.entropy for s in per_layer]).mean()),
        class_entropy=float(np.concatenate([s.class_entropy for s in per_layer]).mean()),
        layers=tuple(layer["name"] for layer in layers),
        layer_entropy=np.asarray([s.mean for s in per_layer], dtype=float),
        layer_class_entropy=np.asarray([s.class_mean for s in per_layer], dtype=float),
    )
    neurons = {
        (layer["name"], index): {"entropy": h, "classEntropy": hc}
        for layer, s in zip(layers, per_layer, strict=True)
        for index, (h, hc) in enumerate(
            zip(s.entropy.tolist(), s.class_entropy.tolist(), strict=True)
        )
    }
    store.set_neuron_properties(neuron_property_rows(name, neurons))
    store.set_layer_properties(
        [
            {"uid": layer_uid(name, row["layer"]), "props": _without(row, "layer")}
            for row in result.layer_rows()
        ]
    )
    store.set_network_properties(
        name, {"entropy": result.entropy, "classEntropy": result.class_entropy}
    )
    return result


def _without(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}
