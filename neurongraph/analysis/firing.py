"""When a neuron fires: the binary firing shared by Louvain communities and firing entropy.

A neuron fires on an example when its activation is > 0 in a ReLU-like layer, and when
  it is strictly above that neuron's own ``percentile``-th percentile over the examples otherwise
  (``DEFAULT_PERCENTILE`` = 50, so such a neuron fires on about half of the examples, and a constant
  neuron never fires). A layer is ReLU-like, when not told, if it has **no negative value and at
  least one exact zero**: ReLU, ReLU6 and max-pooled ReLU outputs are; tanh, GELU, leaky ReLU,
  ELU (negatives) and sigmoid/softplus (no exact zeros) are not. Boolean input is taken as firing
  already.

The checks of activation matrices, firing matrices, per-example class labels and percentiles
live here too, for :mod:`~neurongraph.analysis.communities` and
:mod:`~neurongraph.analysis.entropy` alike.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from neurongraph.errors import AnalysisError

__all__ = [
    "DEFAULT_PERCENTILE",
    "check_activation_layers",
    "check_class_labels",
    "check_fired",
    "check_percentile",
    "common_examples",
    "firing",
    "is_relu_like",
    "layer_firing",
]

#: Per-neuron percentile above which a neuron of a non-ReLU-like layer fires.
DEFAULT_PERCENTILE = 50.0


def is_relu_like(activations: np.ndarray) -> bool:
    """Whether a layer's activations look like a ReLU's output.

    The rule: no negative value and at least one exact zero.

    Parameters
    ----------
    activations : array-like of shape (n_examples, n_neurons)
        Post-nonlinearity activations of one layer.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_relu_like([[0.0, 1.5], [2.0, 0.0]])
    True
    >>> is_relu_like([[-0.3, 0.9], [0.2, 0.1]])
    False
    """
    a = check_activations(activations)
    return _is_relu_like(a)


def _is_relu_like(a: np.ndarray) -> bool:
    return bool(not (a < 0).any() and (a == 0).any())


def firing(
    activations: np.ndarray,
    *,
    relu_like: bool | None = None,
    percentile: float = DEFAULT_PERCENTILE,
) -> np.ndarray:
    """Binary firing of each neuron on each example.

    Parameters
    ----------
    activations : array-like of shape (n_examples, n_neurons)
        Post-nonlinearity activations of one layer. A boolean array is returned unchanged (copied):
        it is taken as firing already.
    relu_like : bool or None, default=None
        ``True``: a neuron fires when its activation is > 0. ``False``: when its activation is
        strictly above its own ``percentile``-th percentile over the examples (so a constant neuron
        never fires). ``None``: decide with :func:`is_relu_like` (no negative value and at least
        one exact zero).
    percentile : float, default=DEFAULT_PERCENTILE
        Per-neuron percentile in [0, 100) used for layers that are not ReLU-like.

    Returns
    -------
    fired : ndarray of shape (n_examples, n_neurons), dtype bool

    Examples
    --------
    >>> firing([[0.0, 2.0], [1.0, 0.0], [3.0, 0.0]]).astype(int)
    array([[0, 1],
           [1, 0],
           [1, 0]])
    >>> firing([[-1.0, 0.5], [0.0, 0.7], [2.0, 0.9]]).astype(int)  # not ReLU-like: above median
    array([[0, 0],
           [0, 0],
           [1, 1]])
    """
    if isinstance(activations, np.ndarray) and activations.dtype == bool:
        if activations.ndim != 2 or 0 in activations.shape:
            raise AnalysisError(
                f"firing needs a 2-D (n_examples, n_neurons) array with at least one example and "
                f"one neuron, got shape {activations.shape}; pass one layer's activation matrix"
            )
        return activations.copy()
    a = check_activations(activations)
    percentile = check_percentile(percentile)
    if relu_like is None:
        relu_like = _is_relu_like(a)
    return _firing(a, relu_like=bool(relu_like), percentile=percentile)


def _firing(a: np.ndarray, *, relu_like: bool, percentile: float) -> np.ndarray:
    if relu_like:
        return a > 0
    cut = np.percentile(a, percentile, axis=0)
    return a > cut[np.newaxis, :]


def layer_firing(a: np.ndarray, relu_like: bool | None, percentile: float) -> np.ndarray:
    if a.dtype == bool:
        return a
    return _firing(
        a, relu_like=_is_relu_like(a) if relu_like is None else relu_like, percentile=percentile
    )


def check_activations(activations: object) -> np.ndarray:
    try:
        a = np.asarray(activations)
    except (TypeError, ValueError) as err:
        raise AnalysisError(
            f"activations must be a numeric (n_examples, n_neurons) array: {err}"
        ) from err
    if a.dtype == bool:
        a = a.astype(np.float32)
    if a.ndim != 2 or 0 in a.shape:
        raise AnalysisError(
            f"activations must be a 2-D (n_examples, n_neurons) array with at least one example "
            f"and one neuron, got shape {a.shape}; pass one layer's activation matrix"
        )
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise AnalysisError(f"activations must be real numbers, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise AnalysisError(
            "activations contain NaN or infinite values; re-capture them from a model whose "
            "outputs are finite"
        )
    return a


def check_fired(fired: object) -> np.ndarray:
    f = np.asarray(fired)
    if f.ndim != 2 or 0 in f.shape:
        raise AnalysisError(
            f"firing must be a 2-D (n_examples, n_neurons) array with at least one example and "
            f"one neuron, got shape {f.shape}; build it with firing(activations)"
        )
    if f.dtype != bool:
        if not np.issubdtype(f.dtype, np.number) or not np.isin(f, (0, 1)).all():
            raise AnalysisError(
                "firing must hold only booleans or 0/1; build it with firing(activations)"
            )
        f = f.astype(bool)
    return f


def check_percentile(percentile: float) -> float:
    p = float(percentile)
    if not 0.0 <= p < 100.0:
        raise AnalysisError(f"percentile must be in [0, 100), got {percentile}")
    return p


def check_activation_layers(activations: object) -> dict[Hashable, np.ndarray]:
    if isinstance(activations, np.ndarray) or not isinstance(activations, Mapping | Sequence):
        raise AnalysisError(
            "activations must be a mapping {layer: (n_examples, n_neurons) array} or a list of "
            "such arrays; wrap a single layer's matrix in a list"
        )
    items = activations.items() if isinstance(activations, Mapping) else enumerate(activations)
    layers: dict[Hashable, np.ndarray] = {}
    for key, a in items:
        arr = np.asarray(a)
        if arr.dtype == bool:
            if arr.ndim != 2 or 0 in arr.shape:
                raise AnalysisError(
                    f"layer {key}: firing must be a 2-D (n_examples, n_neurons) array, "
                    f"got shape {arr.shape}"
                )
            layers[key] = arr
        else:
            try:
                layers[key] = check_activations(arr)
            except AnalysisError as err:
                raise AnalysisError(f"layer {key}: {err}") from None
    if not layers:
        raise AnalysisError("no layers given; pass at least one hidden layer's activations")
    return layers


def common_examples(layers: Mapping[Hashable, np.ndarray]) -> int:
    counts = {key: a.shape[0] for key, a in layers.items()}
    if len(set(counts.values())) != 1:
        raise AnalysisError(
            f"every layer must cover the same examples, got example counts {counts}; "
            f"re-capture the activations in one pass"
        )
    return next(iter(counts.values()))


def check_class_labels(labels: object, n_examples: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n_examples,):
        raise AnalysisError(
            f"labels must have one class per example ({n_examples}), got shape {y.shape}"
        )
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise AnalysisError(f"labels must be integer class labels, got dtype {y.dtype}")
    return y
