"""The analyses of ``import neurongraph as ng``: each runs what ``neurongraph analyze ...``
runs (:mod:`~neurongraph.analysis.runner`), writes its results into the store and returns them
typed (:mod:`~neurongraph.api.results`).

Seeds are ``random_state`` (an int, recorded in the store; None draws one and logs it).
"""

from __future__ import annotations

from torch import nn

from neurongraph.analysis import runner
from neurongraph.analysis.coherence import DEFAULT_N_RANDOM as DEFAULT_COHERENCE_RANDOM
from neurongraph.analysis.coherence import DEFAULT_TOP_K
from neurongraph.analysis.communities import DEFAULT_EDGE, DEFAULT_RESOLUTION
from neurongraph.analysis.communities import DEFAULT_N_SHUFFLES as DEFAULT_MODULARITY_SHUFFLES
from neurongraph.analysis.defaults import DEFAULT_PARTITION
from neurongraph.analysis.feature_vis import DEFAULT_STEPS
from neurongraph.analysis.importance import DEFAULT_N_RANDOM
from neurongraph.analysis.nulls import DEFAULT_N_SHUFFLES
from neurongraph.analysis.spectral import DEFAULT_METHOD, DEFAULT_N_CLUSTERS
from neurongraph.api.results import (
    CoherenceResult,
    EntropyResult,
    ImportanceResult,
    LouvainResult,
    SpectralResult,
)
from neurongraph.progress import Progress
from neurongraph.store import Store

__all__ = ["coherence", "entropy", "importance", "louvain", "spectral"]


def spectral(
    store: Store,
    name: str,
    *,
    graph: str = "weights",
    k: int = DEFAULT_N_CLUSTERS,
    n_shuffles: int = DEFAULT_N_SHUFFLES,
    shuffle_method: str | None = None,
    spectral_method: str = DEFAULT_METHOD,
    labels_from: str | None = None,
    random_state: int | None = None,
    n_jobs: int | None = None,
    progress: Progress | None = None,
) -> SpectralResult:
    """Spectral partition of a network's weight or activation graph and its clusterability
    against shuffled null networks (Filan et al.), written to the store.

    Parameters
    ----------
    store : Store
        From :func:`neurongraph.open_store`.
    name : str
        The network.
    graph : {'weights', 'activations'}, default='weights'
        The weight graph, or the r² activation graph (needs recorded activations).
    k : int, default=12
        Clusters.
    n_shuffles : int, default=50
        Null networks; 0 draws none (the null statistics are then NaN).
    shuffle_method : str, optional
        ``'layer'`` or ``'layer_nonzero'`` for the weight graph (default ``'layer'``).
    spectral_method : {'papers', 'ncut-refined'}, default='papers'
        The papers' method (scikit-learn's SpectralClustering), or the refined one.
    labels_from : str, optional
        Score this integer neuron property instead of partitioning.
    random_state : int, optional
        Seed; None draws one.
    n_jobs : int, optional
        Processes for the nulls.
    progress : callable, optional
        ``progress(done, total)`` over the nulls.

    Returns
    -------
    SpectralResult
        The n-cut, its null and z-score, and the cluster sizes per layer.

    Raises
    ------
    AnalysisError
        An unknown network, graph or shuffle method, or ``k`` out of range.
    """
    return SpectralResult.from_summary(
        runner.run_spectral(
            store,
            name,
            graph=graph,
            k=k,
            n_shuffles=n_shuffles,
            shuffle_method=shuffle_method,
            spectral_method=spectral_method,
            labels_from=labels_from,
            seed=random_state,
            n_jobs=n_jobs,
            progress=progress,
        )
    )


def louvain(
    store: Store,
    name: str,
    *,
    per_class: bool = False,
    edge: str = DEFAULT_EDGE,
    threshold: float | None = None,
    resolution: float = DEFAULT_RESOLUTION,
    n_shuffles: int = DEFAULT_MODULARITY_SHUFFLES,
    random_state: int | None = None,
) -> LouvainResult:
    """Louvain communities of every hidden layer's co-activation graph and their modularity
    against permuted-firing nulls (Mostafa & Mondal), written to the store.

    Parameters
    ----------
    store : Store
    name : str
        A network with recorded activations (``ingest(..., data=...)``).
    per_class : bool, default=False
        Also find communities per class.
    edge : {'jaccard', 'correlation'}, default='jaccard'
        Co-activation edge weight.
    threshold : float, optional
        Drop edges weaker than this.
    resolution : float, default=1.0
        Louvain's resolution.
    n_shuffles : int, default=20
        Null graphs per layer; 0 skips the null.
    random_state : int, optional
        Seed; None draws one.

    Returns
    -------
    LouvainResult
        Q per layer, its null, the communities.
    """
    return LouvainResult.from_summary(
        runner.run_louvain(
            store,
            name,
            per_class=per_class,
            edge=edge,
            threshold=threshold,
            resolution=resolution,
            n_shuffles=n_shuffles,
            seed=random_state,
        )
    )


def entropy(store: Store, name: str) -> EntropyResult:
    """Binary firing entropy per hidden neuron, per layer and for the network, written to
    the store.

    Parameters
    ----------
    store : Store
    name : str
        A network with recorded activations.

    Returns
    -------
    EntropyResult
    """
    return EntropyResult.from_summary(runner.run_entropy(store, name))


def importance(
    store: Store,
    name: str,
    *,
    model: nn.Module | str | None = None,
    data: str | None = None,
    partition: str = DEFAULT_PARTITION,
    n_random: int = DEFAULT_N_RANDOM,
    double: bool = False,
    metric: str | None = None,
    random_state: int | None = None,
    trust_pickle: bool = False,
    progress: Progress | None = None,
) -> ImportanceResult:
    """Lesion each (layer, cluster) group of a partition and compare with random same-size
    groups of its layer (Hod et al.), written to the store.

    Parameters
    ----------
    store : Store
    name : str
        A network with the partition ``partition``.
    model : nn.Module or str, optional
        The model: the ``nn.Module`` itself (needed for a network ingested from Python; it must
        have the network's layers), or a model file or ``package.module:factory``. None uses
        the store's copy of the file the network was ingested from.
    data : str, optional
        Dataset spec (``'digits'``, ``'npz:PATH'`` ...); default the one recorded at ingest.
    partition : str, default='spectral-weights'
        Partition method: ``'spectral-weights'``, ``'spectral-activations'``, ``'louvain'``.
    n_random : int, default=100
        Random groups per group; a group is important only when ``1/(n_random + 1)`` can be
        below 0.01.
    double : bool, default=False
        Also lesion pairs of groups.
    metric : {'accuracy', 'output-change'}, optional
        Default: accuracy where the dataset has class labels.
    random_state : int, optional
        Seed; None draws one.
    trust_pickle : bool, default=False
        Allow loading a pickled ``model`` file.
    progress : callable, optional
        ``progress(done, total)`` over the lesions.

    Returns
    -------
    ImportanceResult
        Per group: delta, p, important; the Fisher-combined p.

    Raises
    ------
    AnalysisError
        No such partition (naming the call that makes it), no dataset, a module that is not
        the network's.
    IngestError
        No model to run: pass ``model=``.
    """
    return ImportanceResult.from_summary(
        runner.run_importance(
            store,
            name,
            partition=partition,
            data=data,
            model=model,
            trust_pickle=trust_pickle,
            n_random=n_random,
            double=double,
            metric=metric,
            seed=random_state,
            progress=progress,
        )
    )


def coherence(
    store: Store,
    name: str,
    *,
    model: nn.Module | str | None = None,
    data: str | None = None,
    partition: str = DEFAULT_PARTITION,
    n_random: int = DEFAULT_COHERENCE_RANDOM,
    steps: int = DEFAULT_STEPS,
    parameterisation: str = "pixel",
    jitter: int = 0,
    image_shape: tuple[int, ...] | None = None,
    top_k: int = DEFAULT_TOP_K,
    random_state: int | None = None,
    trust_pickle: bool = False,
    progress: Progress | None = None,
) -> CoherenceResult:
    """Coherence of each (layer, cluster) group of a partition against random same-size
    groups (Hod et al.): feature visualisation, dataset examples and class selectivity,
    written to the store (visualisations as PNGs in its files).

    Parameters
    ----------
    store : Store
    name : str
        A network with the partition ``partition``.
    model : nn.Module or str, optional
        As for :func:`importance`.
    data : str, optional
        Dataset spec; default the one recorded at ingest.
    partition : str, default='spectral-weights'
    n_random : int, default=9
        Random groups per group.
    steps : int, default=256
        Optimisation steps of each feature visualisation.
    parameterisation : {'pixel', 'fourier'}, default='pixel'
    jitter : int, default=0
        Random shifts (pixels) of the visualised input per step.
    image_shape : tuple of int, optional
        ``(C, H, W)`` of the input when the dataset does not say.
    top_k : int, default=50
        Dataset examples per group.
    random_state : int, optional
        Seed; None draws one.
    trust_pickle : bool, default=False
    progress : callable, optional

    Returns
    -------
    CoherenceResult
        Per group: scores and their percentiles; Fisher-combined p per score.
    """
    return CoherenceResult.from_summary(
        runner.run_coherence(
            store,
            name,
            partition=partition,
            data=data,
            model=model,
            trust_pickle=trust_pickle,
            n_random=n_random,
            steps=steps,
            parameterisation=parameterisation,
            jitter=jitter,
            image_shape=image_shape,
            top_k=top_k,
            seed=random_state,
            progress=progress,
        )
    )
