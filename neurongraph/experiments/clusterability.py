"""Are trained networks more clusterable than their shuffles? (Filan et al. 2021, section 4).

:func:`run_clusterability_experiment` trains ``runs`` seeds of every variant of one architecture
(an MLP as in the paper, a CNN or ResNet on image data, or a tiny transformer on text) on one
data set:

==============  ========================================================================
variant         training
==============  ========================================================================
plain           Adam, no regulariser
dropout         dropout ``DROPOUT`` after every hidden ReLU (a transformer: on each block's
                two outputs before their residual adds)
l1              L1 penalty ``L1 * sum |w|``
l2              L2 penalty ``L2 * sum w^2``
pruned          magnitude pruning to sparsity ``PRUNE`` (Zhu & Gupta schedule), then
                fine-tuning
dropout-pruned  dropout ``DROPOUT`` and pruning to ``PRUNE``
modular         modular initialisation with ``MODULES`` modules
spectral        spectral clusterability regulariser with weight ``SPECTRAL_REG``
random          not trained: the seeded initial weights (``epochs=0``)
==============  ========================================================================

(see :mod:`neurongraph.training`), saves each model as ``OUT/PREFIX-VARIANT-sSEED.pt`` with its
JSON sidecar, ingests it as the network ``PREFIX-VARIANT-sSEED``, and runs the weight-graph
spectral analysis with shuffled null networks on it through the store
(:func:`~neurongraph.runs.spectral.run_spectral`, which writes the ``spectral-weights``
Partition, its Clusters and the neurons' ``spectralWeightsCluster``). Run ``r`` (0-based) trains
and partitions with seed ``seed + r``; every run uses the train/test split of ``seed``.

A ResNet's or a transformer's weight graph is a DAG (its residual sums are layers of their own):
its variants train and partition that graph, and its null networks shuffle each weight block
with the sums' weight-1 edges kept (:func:`~neurongraph.analysis.nulls.clusterability`).

Every run is scored against the null networks of each of ``shuffle_methods`` (``layer``: every
weight of a layer permuted; ``layer_nonzero``: only its non-zero weights).

The table has one row per variant and shuffle method: the means over the runs of the test
accuracy, the n-cut, the null networks' mean and standard deviation, the z-score and the
percentile, and how many runs are clusterable (percentile at its minimum
``1 / (n_shuffles + 1)``: every null network has a higher n-cut). Beside them stand the
reference figures of the same row of Filan et al.'s MNIST table
(:mod:`neurongraph.experiments.filan_reference`; empty where it has none) and whether our z has
their sign. Each row names its partition ``method`` (``spectral_methods``: the papers' by
default, :data:`~neurongraph.analysis.spectral.METHODS`). The table is
written to ``OUT/clusterability.csv``, the runs to ``OUT/clusterability-runs.csv``, and the
z-scores, ours against the paper's, are plotted to ``OUT/clusterability.png``.

Reuse
-----
A model file in ``OUT`` is reused instead of retrained when its sidecar records the same
architecture, data set (name and fingerprint), seed and training options; a stored network is
reused instead of re-ingested when it is complete and was ingested from a file with the same
sha256. So a second run with more shuffles, another k or more runs only trains and ingests what
is new. The spectral analysis always runs again (and replaces its earlier results).

Cost
----
On 2 shared CPU cores the default 64-256-256-256-256-10 MLP (1,098 neurons, about 215,000 WEIGHT
edges) takes about 12 s to train for 20 epochs (about 50 s with the spectral regulariser), 10-30 s
to ingest and as long to read back, and about 0.3 s per null network: about a minute per model,
so about 45 minutes for the 45 models of the default 9 variants x 5 runs (each further shuffle
method adds its null networks). A rerun that reuses the models and networks costs only the
analyses (about 20 s per model).
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurongraph.analysis.nulls import DEFAULT_N_SHUFFLES, LAYER_SHUFFLE_METHODS
from neurongraph.analysis.spectral import DEFAULT_METHOD, DEFAULT_N_CLUSTERS, METHODS
from neurongraph.errors import UsageError, arg
from neurongraph.experiments.clusterability_plot import plot_clusterability
from neurongraph.experiments.defaults import CLUSTERABILITY_ARCH as DEFAULT_ARCH
from neurongraph.experiments.defaults import CLUSTERABILITY_DATA as DEFAULT_DATA
from neurongraph.experiments.defaults import CLUSTERABILITY_OUT as DEFAULT_OUT
from neurongraph.experiments.defaults import CLUSTERABILITY_PREFIX as DEFAULT_PREFIX
from neurongraph.experiments.defaults import CLUSTERABILITY_RUNS as DEFAULT_RUNS
from neurongraph.experiments.defaults import SHUFFLE_BOTH, VARIANTS
from neurongraph.experiments.filan_reference import (
    SOURCE_TABLE,
    PaperFigures,
    paper_figures,
    sign_agrees,
)
from neurongraph.formatting import number
from neurongraph.ingest.pipeline import ingest_model
from neurongraph.model.datasets import Dataset, load_dataset
from neurongraph.model.loading import load_model
from neurongraph.progress import Progress
from neurongraph.runs.results import SpectralResult, finite
from neurongraph.runs.spectral import run_spectral
from neurongraph.store import Store, check_network_name
from neurongraph.store.schema import Status
from neurongraph.training.architectures import (
    IMAGE_KINDS,
    count_neurons,
    parse_architecture,
)
from neurongraph.training.train import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_L1,
    DEFAULT_L2,
    DEFAULT_LR,
    DEFAULT_PRUNE,
    DEFAULT_REG_K,
    DEFAULT_SPECTRAL_EVERY,
    DEFAULT_SPECTRAL_REG,
    SIDECAR_FORMAT,
    check_text_data,
    read_sidecar,
    sidecar_path,
    train_model,
)

__all__ = [
    "CSV_NAME",
    "DEFAULT_ARCH",
    "DEFAULT_DATA",
    "DEFAULT_EPOCHS",
    "DEFAULT_LR",
    "DEFAULT_N_CLUSTERS",
    "DEFAULT_N_SHUFFLES",
    "DEFAULT_OUT",
    "DEFAULT_PREFIX",
    "DEFAULT_RUNS",
    "DROPOUT",
    "L1",
    "L2",
    "MODULES",
    "PLOT_NAME",
    "PRUNE",
    "RUNS_CSV_NAME",
    "SHUFFLE_BOTH",
    "SPECTRAL_REG",
    "TABLE_COLUMNS",
    "VARIANTS",
    "VARIANT_OPTIONS",
    "ClusterabilityExperiment",
    "RunRow",
    "VariantRow",
    "network_name",
    "run_clusterability_experiment",
    "summarise_runs",
    "write_csv",
]

log = logging.getLogger(__name__)

CSV_NAME = "clusterability.csv"
RUNS_CSV_NAME = "clusterability-runs.csv"
PLOT_NAME = "clusterability.png"

#: Dropout probability of the ``dropout`` variant (Srivastava et al.'s rate for hidden units).
DROPOUT = 0.5
#: Weight of the L1 penalty of the ``l1`` variant.
L1 = 5e-5
#: Weight of the L2 penalty of the ``l2`` variant (the reference code's ``l2reg_rate``).
L2 = 5e-5
#: Target sparsity of the ``pruned`` variant (Filan et al. prune to 90%).
PRUNE = 0.9
#: Modules of the ``modular`` variant's initialisation.
MODULES = 4
#: Weight lambda of the ``spectral`` variant's regulariser (K = DEFAULT_REG_K eigenvalues).
SPECTRAL_REG = 1.0

#: Training options of each variant (of ``VARIANTS``, in its order), on top of the defaults of
#: ``train_model``; ``random`` is the initial model (no epochs).
VARIANT_OPTIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "dropout": {"dropout": DROPOUT},
    "l1": {"l1": L1},
    "l2": {"l2": L2},
    "pruned": {"prune": PRUNE},
    "dropout-pruned": {"dropout": DROPOUT, "prune": PRUNE},
    "modular": {"modular_init": MODULES},
    "spectral": {"spectral_reg": SPECTRAL_REG},
    "random": {"epochs": 0},
}

#: Columns of the per-variant table (CSV header and ``--json`` keys, in order).
TABLE_COLUMNS = (
    "variant",
    "shuffleMethod",
    "method",
    "runs",
    "accuracy",
    "ncut",
    "nullMean",
    "nullStd",
    "zScore",
    "percentile",
    "clusterable",
    "paperAccuracy",
    "paperNcut",
    "paperNullMean",
    "paperNullStd",
    "paperZScore",
    "paperPercentile",
    "signAgrees",
)
#: Columns of the per-run table.
RUN_COLUMNS = (
    "variant",
    "shuffleMethod",
    "method",
    "run",
    "seed",
    "network",
    "accuracy",
    "sparsity",
    "ncut",
    "nullMean",
    "nullStd",
    "zScore",
    "percentile",
    "minPercentile",
    "clusterable",
    "trained",
    "ingested",
    "model",
)
#: Network properties that tie a network to the experiment.
EXPERIMENT_KEY = "experiment"
EXPERIMENT = "clusterability"
VARIANT_KEY = "variant"
ACCURACY_KEY = "accuracy"
#: Progress units per model besides its null networks: training and ingest.
STEPS_PER_MODEL = 2


@dataclass(frozen=True)
class RunRow:
    """One trained (or random) network and its clusterability.

    Attributes
    ----------
    variant : str
    shuffle_method : str
        The null model of ``null_mean`` ... ``clusterable``.
    method : str
        The spectral partitioner's method.
    run : int
        0-based run number; the seed is ``seed + run``.
    seed : int
        Seed of the training and of the spectral analysis.
    network : str
    accuracy : float
        Test accuracy of the model.
    sparsity : float
        Fraction of zero weights.
    ncut : float
    null_mean, null_std, z_score, percentile, min_percentile : float or None
        Against the null networks (None when undefined, e.g. std of one null network).
    clusterable : bool
        ``percentile`` is at its minimum.
    trained, ingested : bool
        Whether this run trained the model / ingested the network (False: reused).
    model : Path
    """

    variant: str
    shuffle_method: str
    method: str
    run: int
    seed: int
    network: str
    accuracy: float
    sparsity: float
    ncut: float
    null_mean: float | None
    null_std: float | None
    z_score: float | None
    percentile: float | None
    min_percentile: float | None
    clusterable: bool
    trained: bool
    ingested: bool
    model: Path

    def as_dict(self) -> dict:
        """camelCase keys, as in the CSV and the ``--json`` output."""
        return {
            "variant": self.variant,
            "shuffleMethod": self.shuffle_method,
            "method": self.method,
            "run": self.run,
            "seed": self.seed,
            "network": self.network,
            "accuracy": self.accuracy,
            "sparsity": self.sparsity,
            "ncut": self.ncut,
            "nullMean": self.null_mean,
            "nullStd": self.null_std,
            "zScore": self.z_score,
            "percentile": self.percentile,
            "minPercentile": self.min_percentile,
            "clusterable": self.clusterable,
            "trained": self.trained,
            "ingested": self.ingested,
            "model": str(self.model),
        }


@dataclass(frozen=True)
class VariantRow:
    """One row of the table: means over the runs of a variant under one shuffle method.

    Attributes
    ----------
    variant, shuffle_method, method : str
    runs : int
    accuracy, ncut, null_mean, null_std, z_score, percentile : float or None
        Means over the runs that have a value (None when none has).
    clusterable : int
        How many runs are clusterable.
    paper : PaperFigures or None
        The reference row of Filan et al.'s MNIST table (None: it has none).
    sign_agrees : bool or None
        Whether ``z_score`` has the sign of the paper's (None: either is missing).
    """

    variant: str
    shuffle_method: str
    method: str
    runs: int
    accuracy: float | None
    ncut: float | None
    null_mean: float | None
    null_std: float | None
    z_score: float | None
    percentile: float | None
    clusterable: int
    paper: PaperFigures | None = None
    sign_agrees: bool | None = None

    def as_dict(self) -> dict:
        """The :data:`TABLE_COLUMNS` as keys."""
        paper = self.paper
        return {
            "variant": self.variant,
            "shuffleMethod": self.shuffle_method,
            "method": self.method,
            "runs": self.runs,
            "accuracy": self.accuracy,
            "ncut": self.ncut,
            "nullMean": self.null_mean,
            "nullStd": self.null_std,
            "zScore": self.z_score,
            "percentile": self.percentile,
            "clusterable": self.clusterable,
            "paperAccuracy": None if paper is None else paper.accuracy,
            "paperNcut": None if paper is None else paper.ncut,
            "paperNullMean": None if paper is None else paper.null_mean,
            "paperNullStd": None if paper is None else paper.null_std,
            "paperZScore": None if paper is None else paper.z_score,
            "paperPercentile": None if paper is None else paper.percentile,
            "signAgrees": self.sign_agrees,
        }


@dataclass(frozen=True)
class ClusterabilityExperiment:
    """What :func:`run_clusterability_experiment` measured and wrote.

    Attributes
    ----------
    data, arch : str
    epochs, runs, n_shuffles, k : int
    shuffle_methods, spectral_methods : list of str
    seed : int
    variants : list of VariantRow
        The table, one row per variant (in the order asked for), shuffle method and partition
        method.
    rows : list of RunRow
        Every run under every shuffle method and partition method.
    csv, runs_csv, plot, out_dir : Path
    seconds : float
    """

    data: str
    arch: str
    epochs: int
    runs: int
    n_shuffles: int
    k: int
    shuffle_methods: list[str]
    spectral_methods: list[str]
    seed: int
    variants: list[VariantRow]
    rows: list[RunRow]
    csv: Path
    runs_csv: Path
    plot: Path
    out_dir: Path
    seconds: float

    def as_dict(self) -> dict:
        """JSON-friendly summary (camelCase keys)."""
        return {
            "data": self.data,
            "arch": self.arch,
            "epochs": self.epochs,
            "runs": self.runs,
            "nShuffles": self.n_shuffles,
            "k": self.k,
            "shuffleMethods": list(self.shuffle_methods),
            "methods": list(self.spectral_methods),
            "seed": self.seed,
            "minPercentile": 1.0 / (self.n_shuffles + 1),
            "columns": list(TABLE_COLUMNS),
            "table": [row.as_dict() for row in self.variants],
            "networks": [row.network for row in self.rows],
            "runRows": [row.as_dict() for row in self.rows],
            "csv": str(self.csv),
            "runsCsv": str(self.runs_csv),
            "plot": str(self.plot),
            "paperSource": SOURCE_TABLE,
            "out": str(self.out_dir),
            "seconds": self.seconds,
        }


def network_name(prefix: str, variant: str, seed: int) -> str:
    """The network (and model file stem) of one run: ``PREFIX-VARIANT-sSEED``.

    Examples
    --------
    >>> network_name("clu", "plain", 0)
    'clu-plain-s0'
    """
    return f"{prefix}-{variant}-s{seed}"


def run_clusterability_experiment(
    store: Store,
    *,
    data: str = DEFAULT_DATA,
    arch: str = DEFAULT_ARCH,
    runs: int = DEFAULT_RUNS,
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    n_shuffles: int = DEFAULT_N_SHUFFLES,
    k: int = DEFAULT_N_CLUSTERS,
    shuffle_methods: Sequence[str] = LAYER_SHUFFLE_METHODS[:1],
    spectral_methods: Sequence[str] = (DEFAULT_METHOD,),
    seed: int = 0,
    variants: Sequence[str] = VARIANTS,
    out_dir: str | Path | None = None,
    prefix: str = DEFAULT_PREFIX,
    n_jobs: int | None = None,
    progress: Progress | None = None,
) -> ClusterabilityExperiment:
    """Train, ingest and score the clusterability of every variant's runs (module docstring).

    Parameters
    ----------
    store : Store
    data : str, default=DEFAULT_DATA
        Data set spec (:func:`neurongraph.model.datasets.load_dataset`).
    arch : str, default=DEFAULT_ARCH
        Architecture string: an MLP such as ``64-256-256-10``, or a CNN or ResNet
        (``resnet:c8x1-c16x1-10``) trained on the data set's images.
    runs : int, default=DEFAULT_RUNS
        Seeds per variant, at least 1.
    epochs : int, default=DEFAULT_EPOCHS
        Epochs of training of every trained variant, at least 1.
    lr : float, default=DEFAULT_LR
        Adam learning rate.
    n_shuffles : int, default=DEFAULT_N_SHUFFLES
        Null networks per run, at least 1.
    k : int, default=DEFAULT_N_CLUSTERS
        Clusters of every spectral partition, between 2 and the number of neurons.
    shuffle_methods : sequence of {"layer", "layer_nonzero", "both"}, default=("layer",)
        Null models (:func:`~neurongraph.analysis.nulls.clusterability`; "both": every one):
        every run is scored against the null networks of each, and the table has a row per
        variant and method.
    spectral_methods : sequence of {"papers", "ncut-refined"}, default=("papers",)
        Partition methods (:data:`~neurongraph.analysis.spectral.METHODS`): every run is
        partitioned and scored with each, side by side.
    seed : int, default=0
        Seed of the data split; run ``r`` trains and partitions with ``seed + r``.
    variants : sequence of str, default=VARIANTS
        Which variants to run, in this order.
    out_dir : str or Path, optional
        Where the models and the CSV files go; default ``./clusterability``.
    prefix : str, default=DEFAULT_PREFIX
        Network names are ``PREFIX-VARIANT-sSEED``.
    n_jobs : int, optional
        Processes for the null networks (None: all cores).
    progress : callable, optional
        ``progress(done, total)``: one unit per training, ingest and null network (of every
        shuffle method).

    Returns
    -------
    ClusterabilityExperiment

    Raises
    ------
    UsageError
        Any option out of range, an unknown variant or data set, an architecture that does not
        fit the data, or a bad prefix: before anything is trained or written (IngestError for a
        transformer on data that is not text).
    """
    started = time.perf_counter()
    variants, shuffle_methods, spectral_methods = _check_options(
        runs, epochs, n_shuffles, k, shuffle_methods, spectral_methods, variants, arch
    )
    architecture = parse_architecture(arch)
    for variant in variants:
        check_network_name(network_name(prefix, variant, seed + runs - 1))
    images = architecture.kind in IMAGE_KINDS
    dataset = load_dataset(data, random_state=seed, image=images)
    if images:
        architecture = architecture.with_input_shape(dataset.image_shape)
    elif architecture.kind == "transformer":
        check_text_data(dataset)
    elif dataset.input_shape != architecture.input_shape:
        raise UsageError(
            f"architecture {arch} takes {architecture.input_shape[0]} inputs but {data!r} "
            f"examples have shape {dataset.input_shape}; make the first width "
            f"{math.prod(dataset.input_shape)}"
        )
    n_neurons = count_neurons(architecture)
    if k > n_neurons:
        raise UsageError(
            f"{arg('k')} {k} is larger than the {n_neurons} neurons of {arch}; choose fewer"
        )
    out = Path(out_dir) if out_dir is not None else Path(DEFAULT_OUT)
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"{arg('out_dir')} {out} is a file; give a directory for the experiment's output"
        )
    out.mkdir(parents=True, exist_ok=True)

    scorings = [(shuffle, method) for shuffle in shuffle_methods for method in spectral_methods]
    per_model = STEPS_PER_MODEL + n_shuffles * len(scorings)
    total = len(variants) * runs * per_model
    done = 0

    def report(units: int) -> None:
        if progress is not None:
            progress(done + units, total)

    example = torch.from_numpy(dataset.X_train[:2])
    rows = []
    for variant in variants:
        for run in range(runs):
            run_seed = seed + run
            name = network_name(prefix, variant, run_seed)
            path = out / f"{name}.pt"
            options = _training_options(variant, epochs, lr)
            metadata, trained = _train_or_reuse(path, architecture.spec, dataset, run_seed, options)
            report(1)
            ingested = _ingest_or_reuse(store, path, name, example, variant, metadata)
            report(2)
            for i, (shuffle_method, spectral_method) in enumerate(scorings):
                offset = STEPS_PER_MODEL + i * n_shuffles
                result = run_spectral(
                    store,
                    name,
                    graph="weights",
                    k=k,
                    n_shuffles=n_shuffles,
                    shuffle_method=shuffle_method,
                    spectral_method=spectral_method,
                    random_state=run_seed,
                    n_jobs=n_jobs,
                    progress=lambda j, n, offset=offset: report(offset + j),
                )
                rows.append(
                    _run_row(
                        variant,
                        shuffle_method,
                        spectral_method,
                        run,
                        run_seed,
                        name,
                        path,
                        metadata,
                        result,
                        trained,
                        ingested,
                    )
                )
                log.info(
                    "%s (%s, %s): accuracy %.4f, n-cut %.4f, null mean %s, z %s, percentile %s",
                    name,
                    shuffle_method,
                    spectral_method,
                    rows[-1].accuracy,
                    rows[-1].ncut,
                    number(rows[-1].null_mean),
                    number(rows[-1].z_score),
                    number(rows[-1].percentile),
                )
            done += per_model
            report(0)
    table = summarise_runs(rows, variants, shuffle_methods, spectral_methods)
    csv_path = write_csv([row.as_dict() for row in table], TABLE_COLUMNS, out / CSV_NAME)
    runs_path = write_csv([row.as_dict() for row in rows], RUN_COLUMNS, out / RUNS_CSV_NAME)
    plot_path = plot_clusterability(
        table, out / PLOT_NAME, title=f"{architecture.spec} on {data}, {runs} run(s), k={k}"
    )
    return ClusterabilityExperiment(
        data=data,
        arch=architecture.spec,
        epochs=epochs,
        runs=runs,
        n_shuffles=n_shuffles,
        k=k,
        shuffle_methods=shuffle_methods,
        spectral_methods=spectral_methods,
        seed=seed,
        variants=table,
        rows=rows,
        csv=csv_path,
        runs_csv=runs_path,
        plot=plot_path,
        out_dir=out,
        seconds=round(time.perf_counter() - started, 3),
    )


def summarise_runs(
    rows: Sequence[RunRow],
    variants: Sequence[str],
    shuffle_methods: Sequence[str] = LAYER_SHUFFLE_METHODS[:1],
    spectral_methods: Sequence[str] = (DEFAULT_METHOD,),
) -> list[VariantRow]:
    """One :class:`VariantRow` per variant, shuffle method and partition method (in the orders
    given): means over its runs, beside the paper's row.

    Examples
    --------
    >>> from pathlib import Path
    >>> row = RunRow("plain", "layer", "papers", 0, 0, "n", 0.9, 0.0, 1.0, 2.0, 0.1, -10.0,
    ...              0.5, 0.5, True, True, True, Path("m.pt"))
    >>> summary = summarise_runs([row], ["plain"])[0].as_dict()
    >>> summary["clusterable"], summary["signAgrees"]
    (1, True)
    """
    table = []
    for variant, shuffle_method, method in (
        (variant, shuffle_method, method)
        for variant in variants
        for shuffle_method in shuffle_methods
        for method in spectral_methods
    ):
        mine = [
            row
            for row in rows
            if (row.variant, row.shuffle_method, row.method) == (variant, shuffle_method, method)
        ]
        z_score = _mean(row.z_score for row in mine)
        paper = paper_figures(variant)
        table.append(
            VariantRow(
                variant=variant,
                shuffle_method=shuffle_method,
                method=method,
                runs=len(mine),
                accuracy=_mean(row.accuracy for row in mine),
                ncut=_mean(row.ncut for row in mine),
                null_mean=_mean(row.null_mean for row in mine),
                null_std=_mean(row.null_std for row in mine),
                z_score=z_score,
                percentile=_mean(row.percentile for row in mine),
                clusterable=sum(row.clusterable for row in mine),
                paper=paper,
                sign_agrees=sign_agrees(z_score, None if paper is None else paper.z_score),
            )
        )
    return table


def write_csv(rows: Sequence[dict], columns: Sequence[str], path: str | Path) -> Path:
    """Write ``rows`` (dicts) as CSV with ``columns`` as the header; None becomes empty."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row[key] for key in columns})
    return path


def _check_options(
    runs: Any,
    epochs: Any,
    n_shuffles: Any,
    k: Any,
    shuffle_methods: Sequence[str],
    spectral_methods: Sequence[str],
    variants: Sequence[str],
    arch: str,
) -> tuple[list[str], list[str], list[str]]:
    for option, value, least in (
        ("runs", runs, 1),
        ("epochs", epochs, 1),
        ("n_shuffles", n_shuffles, 1),
        ("k", k, 2),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UsageError(f"{arg(option)} must be an integer of at least {least}, not {value!r}")
    if isinstance(shuffle_methods, str):
        shuffle_methods = [shuffle_methods]
    methods = list(
        dict.fromkeys(
            method
            for given in shuffle_methods
            for method in (LAYER_SHUFFLE_METHODS if given == SHUFFLE_BOTH else (given,))
        )
    )
    wrong = [m for m in methods if m not in LAYER_SHUFFLE_METHODS]
    if wrong or not methods:
        raise UsageError(
            f"{arg('shuffle_methods')} must be one of {', '.join(LAYER_SHUFFLE_METHODS)} or "
            f"{SHUFFLE_BOTH}, not {', '.join(map(repr, wrong)) or '(none given)'}"
        )
    partitioners = list(dict.fromkeys(spectral_methods))
    wrong = [m for m in partitioners if m not in METHODS]
    if wrong or not partitioners:
        raise UsageError(
            f"{arg('spectral_methods')} must be one of {', '.join(METHODS)}, not "
            f"{', '.join(map(repr, wrong)) or '(none given)'}"
        )
    if not isinstance(arch, str):
        raise UsageError(f"{arg('arch')} must be an architecture string, not {arch!r}")
    chosen = list(dict.fromkeys(variants))
    unknown = [v for v in chosen if v not in VARIANT_OPTIONS]
    if unknown or not chosen:
        raise UsageError(
            f"unknown variant(s) {', '.join(map(repr, unknown)) or '(none given)'}; choose from "
            f"{', '.join(VARIANTS)}"
        )
    return chosen, methods, partitioners


def _training_options(variant: str, epochs: int, lr: float) -> dict[str, Any]:
    """Every keyword of ``train_model`` that the sidecar records, for one variant."""
    options = {
        "epochs": epochs,
        "lr": lr,
        "batch_size": DEFAULT_BATCH_SIZE,
        "dropout": DEFAULT_DROPOUT,
        "l1": DEFAULT_L1,
        "l2": DEFAULT_L2,
        "prune": DEFAULT_PRUNE,
        "modular_init": None,
        "spectral_reg": DEFAULT_SPECTRAL_REG,
        "reg_k": DEFAULT_REG_K,
        "spectral_every": DEFAULT_SPECTRAL_EVERY,
    }
    options.update(VARIANT_OPTIONS[variant])
    return options


def _reusable(path: Path, arch: str, dataset: Dataset, seed: int, options: dict) -> dict | None:
    """The sidecar of a model file trained exactly as asked, else None."""
    if not path.is_file() or not sidecar_path(path).is_file():
        return None
    try:
        metadata = read_sidecar(path)
    except UsageError:
        return None
    recorded = metadata.get("options") or {}
    same = (
        metadata.get("format") == SIDECAR_FORMAT
        and metadata.get("architecture") == arch
        and metadata.get("dataset") == dataset.name
        and metadata.get("datasetFingerprint") == dataset.fingerprint
        and metadata.get("seed") == seed
        and all(recorded.get(key) == value for key, value in options.items())
    )
    return metadata if same else None


def _train_or_reuse(
    path: Path, arch: str, dataset: Dataset, seed: int, options: dict
) -> tuple[dict, bool]:
    """The model's sidecar content, and whether it was trained now (False: reused)."""
    metadata = _reusable(path, arch, dataset, seed, options)
    if metadata is not None:
        log.info("reusing %s (trained with the same options)", path)
        return metadata, False
    log.info("training %s (seed %d, %s)", path.name, seed, options)
    result = train_model(arch, dataset, random_state=seed, **options)
    result.save(path)
    return result.metadata(), True


def _ingest_or_reuse(
    store: Store, path: Path, name: str, example: torch.Tensor, variant: str, metadata: dict
) -> bool:
    """Ingest the model file as ``name`` unless the store holds it already; True if ingested."""
    loaded = load_model(str(path))
    existing = store.get_network(name)
    if (
        existing is not None
        and existing.get("status") == Status.COMPLETE
        and existing.get("sha256") == loaded.sha256
    ):
        log.info("reusing network %s (ingested from the same file)", name)
        return False
    ingest_model(
        store,
        loaded.module,
        name,
        example,
        replace=True,
        properties={
            **loaded.properties(),
            EXPERIMENT_KEY: EXPERIMENT,
            VARIANT_KEY: variant,
            ACCURACY_KEY: float(metadata["testAccuracy"]),
        },
        model_file=loaded.file,
    )
    return True


def _run_row(
    variant: str,
    shuffle_method: str,
    method: str,
    run: int,
    seed: int,
    name: str,
    path: Path,
    metadata: dict,
    result: SpectralResult,
    trained: bool,
    ingested: bool,
) -> RunRow:
    return RunRow(
        variant=variant,
        shuffle_method=shuffle_method,
        method=method,
        run=run,
        seed=seed,
        network=name,
        accuracy=float(metadata["testAccuracy"]),
        sparsity=float(metadata.get("sparsity", 0.0)),
        ncut=result.ncut,
        null_mean=finite(result.null_mean),
        null_std=finite(result.null_std),
        z_score=finite(result.z_score),
        percentile=finite(result.percentile),
        min_percentile=finite(result.min_percentile),
        clusterable=result.clusterable,
        trained=trained,
        ingested=ingested,
        model=path,
    )


def _mean(values: Any) -> float | None:
    """Mean of the values that are not None (None when there are none)."""
    present = [float(v) for v in values if v is not None]
    return float(np.mean(present)) if present else None
