"""Seeds and random states: one rule for the whole package.

Every function that draws random numbers takes ``random_state`` as scikit-learn does: None,
an int seed, a :class:`numpy.random.RandomState` or a :class:`numpy.random.Generator`. A
command resolves its seed once (:func:`resolve_seed`), records it, and hands a random state
down; seeds handed to other generators (torch, child streams) are drawn from it with
:func:`draw_seed`. ``seed`` names the int a command records (``--seed``, the ``seed``
property); ``rng`` names only a :class:`numpy.random.Generator` already made, passed between
the inner steps of an algorithm.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from neurongraph.errors import UsageError

__all__ = [
    "SEED_BOUND",
    "RandomState",
    "as_random_state",
    "check_random_state",
    "draw_seed",
    "resolve_seed",
]

log = logging.getLogger(__name__)

#: Seeds drawn here lie in ``[0, SEED_BOUND)``: they fit every generator's seed type.
SEED_BOUND = 2**31 - 1

RandomState = np.random.RandomState | np.random.Generator


def check_random_state(random_state: Any) -> RandomState:
    """A random state from ``random_state``: a Generator as is, else scikit-learn's rule.

    Examples
    --------
    >>> check_random_state(0).randint(10) == np.random.RandomState(0).randint(10)
    True
    >>> rng = np.random.default_rng(0)
    >>> check_random_state(rng) is rng
    True
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return np.random.mtrand._rand if random_state is None else random_state
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise UsageError(
            f"random_state must be None, an integer seed, a RandomState or a Generator, "
            f"not {random_state!r}"
        )
    return np.random.RandomState(int(random_state))


def as_random_state(random_state: Any) -> np.random.RandomState:
    """:func:`check_random_state` for code written against ``RandomState``'s methods: a
    Generator seeds a new RandomState with one draw.

    Examples
    --------
    >>> isinstance(as_random_state(np.random.default_rng(0)), np.random.RandomState)
    True
    """
    checked = check_random_state(random_state)
    if isinstance(checked, np.random.Generator):
        return np.random.RandomState(draw_seed(checked))
    return checked


def draw_seed(random_state: RandomState) -> int:
    """One seed in ``[0, SEED_BOUND)`` drawn from ``random_state``."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, SEED_BOUND))
    return int(random_state.randint(0, SEED_BOUND))


def resolve_seed(seed: int | None) -> int:
    """The seed to use and record: ``seed`` itself, or one drawn from the operating system
    (and logged, so that the run can be repeated) when it is None.

    Examples
    --------
    >>> resolve_seed(7)
    7
    >>> 0 <= resolve_seed(None) < SEED_BOUND
    True
    """
    if seed is None:
        drawn = int(np.random.SeedSequence().entropy % SEED_BOUND)
        log.warning("no seed given; using seed %d (give it to repeat this run)", drawn)
        return drawn
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise UsageError(f"the seed must be an integer, not {seed!r}")
    return int(seed)
