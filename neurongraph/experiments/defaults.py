"""The experiments' names and defaults that the command line shows, importable without torch.

:mod:`~neurongraph.experiments.clusterability`, :mod:`~neurongraph.experiments.evolution` and
the modules they use take them from here, so each is named once and ``--help`` costs no heavy
import.
"""

from __future__ import annotations

from neurongraph.training.defaults import MLP_EXAMPLE

__all__ = [
    "CLUSTERABILITY_ARCH",
    "CLUSTERABILITY_DATA",
    "CLUSTERABILITY_OUT",
    "CLUSTERABILITY_PREFIX",
    "CLUSTERABILITY_RUNS",
    "DEFAULT_MODEL_SPECS",
    "EVOLUTION_ARCH",
    "EVOLUTION_DATA",
    "EVOLUTION_NAME",
    "METRICS",
    "NOISE_AND_EPOCH_SPECS",
    "NO_MODELS",
    "SHUFFLE_BOTH",
    "VARIANTS",
]

# ``experiment clusterability`` (:mod:`neurongraph.experiments.clusterability`).
#: The MLP of Filan et al. (four hidden layers of 256), on 8x8 digits instead of MNIST.
CLUSTERABILITY_ARCH = MLP_EXAMPLE
CLUSTERABILITY_DATA = "digits"
#: Seeds per variant (the issue's ``--runs 5``).
CLUSTERABILITY_RUNS = 5
#: Output directory (relative to the working directory) unless one is given.
CLUSTERABILITY_OUT = "clusterability"
#: Network names are ``PREFIX-VARIANT-sSEED``.
CLUSTERABILITY_PREFIX = "clu"
#: What ``--shuffle-method`` takes for every method of ``LAYER_SHUFFLE_METHODS``.
SHUFFLE_BOTH = "both"
#: The trained variants, in the order of the table (their options:
#: ``clusterability.VARIANT_OPTIONS``); ``random`` is the initial model.
VARIANTS = (
    "plain",
    "dropout",
    "l1",
    "l2",
    "pruned",
    "dropout-pruned",
    "modular",
    "spectral",
    "random",
)

# ``experiment evolution`` (:mod:`neurongraph.experiments.evolution`).
#: The MLP of Mostafa & Mondal's digits experiment.
EVOLUTION_ARCH = MLP_EXAMPLE
EVOLUTION_DATA = "digits"
#: Series name, and the output directory (relative to the working directory) unless given.
EVOLUTION_NAME = "evolution"
#: Metrics of each checkpoint's network, correlated with the test accuracy.
METRICS = ("modularity", "entropy", "classEntropy")
#: Models beside the base: two levels of label noise and an under-trained one...
NOISE_AND_EPOCH_SPECS = ("noise=0.3", "noise=0.6", "epochs=1")
#: ... and, for an MLP, a narrow one too.
DEFAULT_MODEL_SPECS = ("width=0.25", *NOISE_AND_EPOCH_SPECS)
#: The spec that turns the model set off.
NO_MODELS = "none"
