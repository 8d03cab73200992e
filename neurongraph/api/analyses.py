"""The analyses of ``import neurongraph as ng``: the functions ``neurongraph analyze ...`` runs
(:mod:`neurongraph.runs`), each writing its results into the store and returning them typed
(:mod:`~neurongraph.runs.results`).

Seeds are ``random_state`` (an int, recorded in the store; None draws one and logs it).
"""

from __future__ import annotations

from neurongraph.runs.coherence import run_coherence as coherence
from neurongraph.runs.entropy import run_entropy as entropy
from neurongraph.runs.importance import run_importance as importance
from neurongraph.runs.louvain import run_louvain as louvain
from neurongraph.runs.spectral import run_spectral as spectral

__all__ = ["coherence", "entropy", "importance", "louvain", "spectral"]
