"""The analyses' names and defaults that the command line shows, importable without their
libraries.

``neurongraph --help`` and every command's ``--help`` print these as choices and defaults; the
analysis modules (which import torch, scipy and scikit-learn) take them from here, so each is
named once and reading it costs no heavy import.
"""

from __future__ import annotations

from neurongraph.errors import arg, step

__all__ = [
    "ACCURACY",
    "COHERENCE_N_RANDOM",
    "COHERENCE_TOP_K",
    "DEFAULT_EDGE",
    "DEFAULT_METHOD",
    "DEFAULT_N_CLUSTERS",
    "DEFAULT_N_SHUFFLES",
    "DEFAULT_PARTITION",
    "DEFAULT_RESOLUTION",
    "DEFAULT_STEPS",
    "EDGE_KINDS",
    "GRAPH_SHUFFLE_METHODS",
    "LAYER_SHUFFLE_METHODS",
    "LESION_N_RANDOM",
    "METHODS",
    "METRICS",
    "MODULARITY_N_SHUFFLES",
    "NCUT_REFINED",
    "OUTPUT_CHANGE",
    "PAPERS",
    "PARAMETERISATIONS",
    "PARTITION_METHODS",
    "missing_partition",
    "SPECTRAL_GRAPHS",
    "SPECTRAL_METHOD",
]

# Spectral partitions (:mod:`neurongraph.analysis.spectral`).
#: Number of clusters of a spectral partition when none is asked for (Filan et al. use 12).
DEFAULT_N_CLUSTERS = 12
#: The papers' partitioner: scikit-learn's SpectralClustering, as the reference code.
PAPERS = "papers"
#: Row-normalised embedding and the k-means restart with the lowest n-cut.
NCUT_REFINED = "ncut-refined"
#: Every partitioner, by name.
METHODS = (PAPERS, NCUT_REFINED)
#: The partitioner used when none is named.
DEFAULT_METHOD = PAPERS
#: The graphs a spectral partition is made of.
SPECTRAL_GRAPHS = ("weights", "activations")
#: Partition method of each spectral graph.
SPECTRAL_METHOD = {"weights": "spectral-weights", "activations": "spectral-activations"}
#: The partition a graph view draws unless one is named: the weight graph's spectral one.
DEFAULT_PARTITION = SPECTRAL_METHOD["weights"]

# Null models (:mod:`neurongraph.analysis.nulls`).
#: Number of null networks per clusterability test (Filan et al. use 50 in places).
DEFAULT_N_SHUFFLES = 50
#: Null models of a layered network's weight graph.
LAYER_SHUFFLE_METHODS = ("layer", "layer_nonzero")
#: Null models of a general symmetric graph (the activation graph).
GRAPH_SHUFFLE_METHODS = ("upper_triangle", "upper_triangle_nonzero")

# Louvain communities (:mod:`neurongraph.analysis.communities`).
#: Edge weight of the co-activation graph: ``'jaccard'`` or ``'correlation'``.
DEFAULT_EDGE = "jaccard"
EDGE_KINDS = ("jaccard", "correlation")
#: Louvain resolution (gamma); 1 is Newman's modularity.
DEFAULT_RESOLUTION = 1.0
#: Null graphs per layer that ``analyze louvain`` compares Q with (0 disables the null).
MODULARITY_N_SHUFFLES = 20

# Lesions (:mod:`neurongraph.analysis.lesion`, :mod:`neurongraph.analysis.view_lesion`).
#: Random same-size groups per group when none is asked for: the fewest whose smallest p,
#: 1 / (n + 1), is below ``lesion.IMPORTANT_P`` (Hod et al. use 20, which cannot go below
#: 1/21 = 0.048).
LESION_N_RANDOM = 100
#: The lesion metrics: accuracy of classification tasks, or the change of the output.
ACCURACY = "accuracy"
OUTPUT_CHANGE = "output-change"
METRICS = (ACCURACY, OUTPUT_CHANGE)

# Coherence (:mod:`neurongraph.analysis.coherence`).
#: Adam steps of a feature visualisation.
DEFAULT_STEPS = 256
#: Random same-size groups per group.
COHERENCE_N_RANDOM = 9
#: Most activating dataset examples per group.
COHERENCE_TOP_K = 50
#: Parameterisations of a feature visualisation's input.
PARAMETERISATIONS = ("pixel", "fourier")

# Scoring a partition (:mod:`neurongraph.runs.scoring`).
#: The partitions a partition-scoring analysis can score.
PARTITION_METHODS = ("spectral-weights", "spectral-activations", "louvain")


def missing_partition(network: str, method: str) -> str:
    """The message for a network without the partition ``method``: it names the step (and
    parameter) that makes it (:func:`~neurongraph.errors.step`, :func:`~neurongraph.errors.arg`)."""
    if method == "louvain":
        how = step(f"analyze louvain {network}")
    elif method == "spectral-activations":
        how = f"{step(f'analyze spectral {network}')} with {arg('graph')} activations"
    else:
        how = step(f"analyze spectral {network}")
    return f"network {network!r} has no {method!r} partition; make it with {how}"
