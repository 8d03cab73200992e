"""Entropy of neuron firing (Mostafa & Mondal, arXiv 2106.04693).

Pure functions over NumPy arrays; nothing here touches the store. Firing is binary, as decided by
:func:`neurongraph.analysis.firing.firing` (activation > 0 for ReLU-like layers, above the
neuron's median otherwise).

Rules used throughout
---------------------
* Entropies are in bits, with ``0 * log 0 = 0``: a neuron that always or never fires has entropy 0,
  one that fires on exactly half of the examples has entropy 1.
* **Class entropy** of a neuron is the *unweighted* mean, over the classes present in ``labels``,
  of the binary entropy of its firing within that class: every class counts the same, however many
  examples it has. A neuron that is on for some classes and off for others scores 0, one that fires
  at random within each class scores near 1.
* **Layer mean** is the mean over all the layer's neurons, dead ones (entropy 0) included.
  **Network mean** is the mean over all hidden neurons pooled, so a wide layer weighs more than a
  narrow one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from neurongraph.analysis.firing import (
    DEFAULT_PERCENTILE,
    check_activation_layers,
    check_class_labels,
    check_fired,
    check_percentile,
    common_examples,
    layer_firing,
)
from neurongraph.errors import AnalysisError

__all__ = [
    "EntropySummary",
    "LayerEntropy",
    "binary_entropy",
    "class_firing_entropy",
    "entropy_summary",
    "firing_entropy",
]


@dataclass(frozen=True)
class LayerEntropy:
    """Firing entropies of one hidden layer.

    Attributes
    ----------
    entropy : ndarray of shape (n_neurons,)
        Binary entropy (bits) of each neuron's firing over all examples.
    class_entropy : ndarray of shape (n_neurons,) or None
        Mean over classes of each neuron's per-class firing entropy; ``None`` without labels.
    mean : float
        Mean of ``entropy`` over the layer's neurons.
    class_mean : float or None
        Mean of ``class_entropy`` over the layer's neurons; ``None`` without labels.
    """

    entropy: np.ndarray
    class_entropy: np.ndarray | None
    mean: float
    class_mean: float | None


@dataclass(frozen=True)
class EntropySummary:
    """Firing entropies of a network's hidden layers, as returned by :func:`entropy_summary`.

    Attributes
    ----------
    layers : dict
        Layer key -> :class:`LayerEntropy`.
    mean : float
        Mean entropy over all hidden neurons pooled.
    class_mean : float or None
        Mean class entropy over all hidden neurons pooled; ``None`` without labels.
    """

    layers: dict[Hashable, LayerEntropy]
    mean: float
    class_mean: float | None


def binary_entropy(p: float | np.ndarray) -> float | np.ndarray:
    """Binary entropy in bits, ``-p log2 p - (1 - p) log2 (1 - p)``, with ``0 log 0 = 0``.

    Parameters
    ----------
    p : float or array-like of float in [0, 1]
        Probability of firing.

    Returns
    -------
    float or ndarray
        A float for a scalar ``p``, otherwise an array of ``p``'s shape.

    Examples
    --------
    >>> binary_entropy(0.5)
    1.0
    >>> binary_entropy([0.0, 0.25, 1.0]).round(4)
    array([0.    , 0.8113, 0.    ])
    """
    arr = np.asarray(p, dtype=np.float64)
    if not np.all((arr >= 0.0) & (arr <= 1.0)):  # also rejects NaN
        raise AnalysisError("binary_entropy needs probabilities between 0 and 1")
    h = _binary_entropy(arr)
    return float(h) if h.ndim == 0 else h


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(q > 0, q * np.log2(q), 0.0))
    return h + 0.0  # turns -0.0 into 0.0


def firing_entropy(fired: np.ndarray) -> np.ndarray:
    """Binary entropy (bits) of each neuron's firing over the examples.

    Parameters
    ----------
    fired : array-like of bool (or 0/1), shape (n_examples, n_neurons)
        Binary firing, e.g. from :func:`neurongraph.analysis.firing.firing`.

    Returns
    -------
    ndarray of shape (n_neurons,)

    Examples
    --------
    >>> firing_entropy([[1, 0, 1], [1, 0, 0]])
    array([0., 0., 1.])
    """
    f = check_fired(fired)
    return _binary_entropy(f.mean(axis=0))


def class_firing_entropy(fired: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per neuron, the unweighted mean over classes of its firing entropy within each class.

    Parameters
    ----------
    fired : array-like of bool (or 0/1), shape (n_examples, n_neurons)
        Binary firing.
    labels : array-like of int, shape (n_examples,)
        Class of each example. Only classes present count, each with the same weight.

    Returns
    -------
    ndarray of shape (n_neurons,)

    Examples
    --------
    Neuron 0 fires on class 0 only (0 bits in each class); neuron 1 on half of each class (1 bit).

    >>> fired = [[1, 1], [1, 0], [0, 1], [0, 0]]
    >>> class_firing_entropy(fired, [0, 0, 1, 1])
    array([0., 1.])
    """
    f = check_fired(fired)
    y = check_class_labels(labels, f.shape[0])
    return _class_entropy(f, y)


def _class_entropy(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    onehot = np.zeros((counts.size, y.size))
    onehot[inverse, np.arange(y.size)] = 1.0
    p = (onehot @ f.astype(np.float64)) / counts[:, np.newaxis]  # (n_classes, n_neurons)
    return _binary_entropy(np.clip(p, 0.0, 1.0)).mean(axis=0)


def entropy_summary(
    activations: Mapping[Hashable, np.ndarray] | Sequence[np.ndarray],
    labels: np.ndarray | None = None,
    *,
    relu_like: bool | None = None,
    percentile: float = DEFAULT_PERCENTILE,
) -> EntropySummary:
    """Firing entropy per neuron, per layer and for the network.

    Parameters
    ----------
    activations : mapping or sequence of array-like, each of shape (n_examples, n_neurons_l)
        One matrix per hidden layer over the same examples (``{layer_name: matrix}`` or a list,
        keyed then by position). Numeric matrices go through
        :func:`~neurongraph.analysis.firing.firing`; boolean ones are taken as firing.
    labels : array-like of int, shape (n_examples,), optional
        Class of each example; gives the class entropies.
    relu_like, percentile
        See :func:`~neurongraph.analysis.firing.firing`.

    Returns
    -------
    EntropySummary
        Per-layer per-neuron entropies and layer means; network means over all hidden neurons
        pooled.

    Examples
    --------
    >>> acts = {"fc1": [[1.0, 0.0], [2.0, 0.0]], "fc2": [[0.5, 0.0], [0.0, 0.0]]}
    >>> s = entropy_summary(acts, labels=[0, 1])
    >>> s.layers["fc1"].mean, s.layers["fc2"].mean, s.mean
    (0.0, 0.5, 0.25)
    >>> s.class_mean
    0.0
    """
    layers = check_activation_layers(activations)
    n_examples = common_examples(layers)
    y = None if labels is None else check_class_labels(labels, n_examples)
    percentile = check_percentile(percentile)

    out: dict[Hashable, LayerEntropy] = {}
    for key, a in layers.items():
        f = layer_firing(a, relu_like, percentile)
        h = _binary_entropy(f.mean(axis=0))
        hc = None if y is None else _class_entropy(f, y)
        out[key] = LayerEntropy(
            entropy=h,
            class_entropy=hc,
            mean=float(h.mean()),
            class_mean=None if hc is None else float(hc.mean()),
        )
    mean = float(np.concatenate([le.entropy for le in out.values()]).mean())
    class_mean = (
        None
        if y is None
        else float(np.concatenate([le.class_entropy for le in out.values()]).mean())
    )
    return EntropySummary(layers=out, mean=mean, class_mean=class_mean)
