"""Statistics shared by the importance and coherence tests: random groups, percentiles, Fisher.

A cluster's score is compared with the same score of random same-size groups of its layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["fisher_combined", "percentile", "random_groups"]


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
    """Fisher's combined p-value: X = -2 Σ ln p_i against χ² with 2k degrees of freedom.

    Examples
    --------
    >>> round(fisher_combined([0.5]), 6)
    0.5
    """
    # scipy.stats takes a second to import; the null workers import this module without it
    from scipy import stats

    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return float("nan")
    return float(stats.chi2.sf(-2.0 * np.log(p).sum(), 2 * p.size))
