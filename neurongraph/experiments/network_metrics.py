"""One trained network's Louvain modularity and firing entropy, and their correlation with accuracy.

:func:`measure_network` ingests a saved model with its activations on a data set, runs
:func:`~neurongraph.runs.louvain.run_louvain` (seeded) and
:func:`~neurongraph.runs.entropy.run_entropy` on it, and returns

- ``modularity``: the mean over hidden layers of the Louvain modularity Q of the layer's
  co-activation graph (:func:`~neurongraph.analysis.communities.network_modularity`);
- ``entropy`` and ``classEntropy``: the mean over all hidden neurons of the binary firing
  entropy, over the data set and averaged over classes (:mod:`neurongraph.analysis.entropy`).

:func:`metric_correlations` correlates them with the test accuracy over any set of such
measurements: the epochs of one training run, or several models of different quality.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from neurongraph.experiments.defaults import METRICS
from neurongraph.ingest.pipeline import ingest_model
from neurongraph.model.datasets import Dataset
from neurongraph.model.loading import load_model
from neurongraph.runs.entropy import run_entropy
from neurongraph.runs.louvain import run_louvain
from neurongraph.runs.results import finite
from neurongraph.store import Store

__all__ = [
    "ACCURACY",
    "CONSTANT_ATOL",
    "METRICS",
    "MIN_CORRELATION_POINTS",
    "NetworkMetrics",
    "measure_network",
    "metric_correlations",
]

#: The column every metric is correlated with.
ACCURACY = "testAccuracy"
#: Fewest measurements with a value for which a correlation is reported.
MIN_CORRELATION_POINTS = 3
#: Metrics (or accuracies) that vary by no more than this count as constant: a layer with one
#: community has Q = 0 up to rounding, which must not look like a trend.
CONSTANT_ATOL = 1e-9


@dataclass(frozen=True)
class NetworkMetrics:
    """What :func:`measure_network` measured on one network.

    Attributes
    ----------
    test_accuracy : float
        The accuracy the ingest recorded on the data set's test split.
    modularity : float or None
        Mean Louvain Q over the hidden layers that were not skipped; None when all were.
    entropy, class_entropy : float
        Mean firing entropy and class entropy (bits) over all hidden neurons.
    communities : int
        Louvain communities summed over the hidden layers.
    layer_modularity : dict
        Layer name -> Q (None when the layer was skipped).
    layer_entropy : dict
        Layer name -> mean firing entropy of the layer.
    """

    test_accuracy: float
    modularity: float | None
    entropy: float
    class_entropy: float
    communities: int
    layer_modularity: dict[str, float | None] = field(default_factory=dict)
    layer_entropy: dict[str, float] = field(default_factory=dict)


def measure_network(
    store: Store,
    path: str | Path,
    network: str,
    *,
    dataset: Dataset,
    properties: Mapping[str, Any],
    seed: int,
) -> NetworkMetrics:
    """Ingest the model file ``path`` as ``network`` (replacing it) with its activations on
    ``dataset``, then run Louvain (seeded with ``seed``) and the entropies on it.

    Parameters
    ----------
    store : Store
    path : str or Path
        A TorchScript model file (:func:`~neurongraph.training.train.save_model`).
    network : str
    dataset : Dataset
        Run through the model for the activations and the test accuracy.
    properties : mapping
        Extra Network properties.
    seed : int

    Returns
    -------
    NetworkMetrics
    """
    loaded = load_model(str(path))
    recorded = ingest_model(
        store,
        loaded.module,
        network,
        torch.from_numpy(dataset.X_train[:2]),
        replace=True,
        properties={**loaded.properties(), **properties},
        model_file=loaded.file,
        dataset=dataset,
    ).activations
    louvain = run_louvain(store, network, n_shuffles=0, random_state=seed)
    entropy = run_entropy(store, network)
    return NetworkMetrics(
        test_accuracy=float(recorded.accuracy),
        modularity=finite(louvain.modularity),
        entropy=entropy.entropy,
        class_entropy=entropy.class_entropy,
        communities=int(louvain.communities.sum()),
        layer_modularity={
            layer: finite(q)
            for layer, q in zip(louvain.layers, louvain.layer_modularity, strict=True)
        },
        layer_entropy=dict(zip(entropy.layers, entropy.layer_entropy.tolist(), strict=True)),
    )


def metric_correlations(rows: Sequence[Any], metrics: Sequence[str] = METRICS) -> dict[str, dict]:
    """Pearson and Spearman correlation of each metric with the test accuracy over the rows.

    Parameters
    ----------
    rows : sequence of mappings, or of objects with ``as_dict()``
        Each with the key :data:`ACCURACY` and the metrics' keys.
    metrics : sequence of str, default=METRICS

    Returns
    -------
    dict
        Metric -> ``{"n", "pearson", "pearsonP", "spearman", "spearmanP"}``: the number of rows
        where the metric has a value, the coefficients and their two-sided p-values. A value is
        None when it is undefined: fewer than ``MIN_CORRELATION_POINTS`` rows, or a metric (or
        the accuracy) that does not change by more than ``CONSTANT_ATOL``.

    Examples
    --------
    >>> rows = [{"testAccuracy": a, "modularity": q, "entropy": h, "classEntropy": h}
    ...         for a, q, h in [(0.5, 0.1, 0.9), (0.7, 0.2, 0.8), (0.9, 0.4, 0.7)]]
    >>> c = metric_correlations(rows)
    >>> round(c["modularity"]["pearson"], 4), c["modularity"]["spearman"], c["entropy"]["spearman"]
    (0.982, 1.0, -1.0)
    """
    table = [row if isinstance(row, Mapping) else row.as_dict() for row in rows]
    out = {}
    for metric in metrics:
        pairs = [
            (r[ACCURACY], r[metric])
            for r in table
            if r[metric] is not None and math.isfinite(r[metric])
        ]
        out[metric] = _correlation(np.array(pairs, dtype=np.float64).reshape(-1, 2))
    return out


def _correlation(pairs: np.ndarray) -> dict:
    result: dict = {"n": len(pairs), "pearson": None, "pearsonP": None}
    result |= {"spearman": None, "spearmanP": None}
    if len(pairs) < MIN_CORRELATION_POINTS or np.ptp(pairs, axis=0).min() <= CONSTANT_ATOL:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        pearson = stats.pearsonr(pairs[:, 0], pairs[:, 1])
        spearman = stats.spearmanr(pairs[:, 0], pairs[:, 1])
    for key, value in (
        ("pearson", pearson.statistic),
        ("pearsonP", pearson.pvalue),
        ("spearman", spearman.statistic),
        ("spearmanP", spearman.pvalue),
    ):
        result[key] = float(value) if math.isfinite(value) else None
    return result
