"""Statistics shared by the analyses: random groups, percentiles, Fisher, class selectivity.

A cluster's score is compared with the same score of random same-size groups of its layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from neurongraph.errors import AnalysisError

__all__ = ["fisher_combined", "percentile", "random_groups", "selectivity"]


def random_groups(width: int, size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random groups of ``size`` distinct units among ``width``, shape ``(n, size)``.

    Examples
    --------
    >>> g = random_groups(10, 3, 4, np.random.default_rng(0))
    >>> g.shape, all(len(set(row)) == 3 for row in g)
    ((4, 3), True)
    """
    if not 0 < size <= width:
        raise ValueError(f"group size {size} must be between 1 and the layer width {width}")
    return np.argsort(rng.random((n, width)), axis=1)[:, :size]


def percentile(observed: float, null: Sequence[float], *, tail: str = "lower") -> float:
    """One-sided percentile of ``observed`` among ``null`` values, (#{null as extreme} + 1)/(n + 1).

    The one convention of every test in neurongraph: ``tail='lower'`` counts null values at or
    below ``observed`` (small observed values are extreme, as for an n-cut, an accuracy drop or
    an entropy); ``tail='upper'`` counts null values at or above it. A tie counts as extreme, so
    that the value is a valid p-value for discrete scores (lesion deltas in whole examples, a
    modularity of exactly 0), where not counting ties would make a group that changes nothing
    look significant. For continuous scores (an n-cut) ties do not occur and this equals the
    papers' reference code, which counts ``null < observed``. The smallest possible value is
    1/(n + 1).

    Examples
    --------
    >>> percentile(-10.0, [-1.0, -2.0, -3.0])
    0.25
    >>> percentile(-2.0, [-1.0, -2.0, -3.0])
    0.75
    >>> percentile(5.0, [1.0, 6.0, 7.0], tail="upper")
    0.75
    """
    null = np.asarray(null, dtype=float)
    if tail == "lower":
        beyond = np.count_nonzero(null <= observed)
    elif tail == "upper":
        beyond = np.count_nonzero(null >= observed)
    else:
        raise ValueError(f"tail must be 'lower' or 'upper', not {tail!r}")
    return float((beyond + 1) / (null.size + 1))


def fisher_combined(pvalues: Sequence[float]) -> float:
    """Fisher's combined p-value (scipy's ``combine_pvalues``): X = -2 Σ ln p_i against χ² with
    2k degrees of freedom; NaN for no p-values.

    Examples
    --------
    >>> round(fisher_combined([0.5]), 6)
    0.5

    Two p-values of 1/e give X = 4 on 4 degrees of freedom, whose tail is 3 e^-2:

    >>> bool(np.isclose(fisher_combined([np.exp(-1), np.exp(-1)]), 3 * np.exp(-2), rtol=1e-12))
    True
    """
    # scipy.stats takes a second to import; the null workers import this module without it
    from scipy import stats

    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return float("nan")
    return float(stats.combine_pvalues(p, method="fisher").pvalue)


def selectivity(activations: Any, onehot: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|Pearson r| of every neuron with every class indicator, its maximum and argmax.

    Parameters
    ----------
    activations : array-like of shape (n_examples, n_neurons)
    onehot : array-like of shape (n_examples, n_classes)
        Class indicators (0/1), e.g. ``np.eye(10)[y]``.

    Returns
    -------
    correlation : ndarray of shape (n_neurons, n_classes)
        ``|r|``; 0 where a neuron or a class indicator is constant.
    selectivity : ndarray of shape (n_neurons,)
    preferred : ndarray of int64 of shape (n_neurons,)
        Argmax column, -1 for a constant neuron.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1])
    >>> a = np.array([[1.0, 5.0], [1.0, 5.0], [0.0, 5.0], [0.0, 5.0]])
    >>> corr, sel, pref = selectivity(a, np.eye(2)[y])
    >>> sel.tolist(), pref.tolist()
    ([1.0, 0.0], [0, -1])
    """
    a = np.asarray(activations, dtype=np.float64)
    h = np.asarray(onehot, dtype=np.float64)
    if a.ndim != 2 or h.ndim != 2 or a.shape[0] != h.shape[0] or a.shape[0] < 2:
        raise AnalysisError(
            f"activations {a.shape} and class indicators {h.shape} must be 2-D with the same "
            f"number (at least 2) of examples"
        )
    ac = a - a.mean(0)
    hc = h - h.mean(0)
    sa = np.sqrt((ac**2).sum(0))
    sh = np.sqrt((hc**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs((ac.T @ hc) / np.outer(sa, sh))
    scale = np.abs(a).max(0, initial=0.0)
    constant = sa <= 1e-12 * np.maximum(scale, 1.0) * np.sqrt(a.shape[0])
    corr[~np.isfinite(corr)] = 0.0
    corr[constant] = 0.0
    sel = corr.max(1) if corr.shape[1] else np.zeros(a.shape[1])
    pref = np.where(constant, -1, corr.argmax(1) if corr.shape[1] else -1).astype(np.int64)
    return np.minimum(corr, 1.0), np.minimum(sel, 1.0), pref
