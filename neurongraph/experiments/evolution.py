"""How Louvain communities and firing entropy evolve with training (Mostafa & Mondal, 2106.04693).

:func:`run_evolution` trains one model with a checkpoint after every epoch, ingests every
checkpoint as the network ``NAME@epoch`` of a series, records its activations on the training
data set, runs :func:`~neurongraph.analysis.runner.run_louvain` (seeded) and
:func:`~neurongraph.analysis.runner.run_entropy` on it, and tabulates per epoch

- ``testAccuracy``: the checkpoint's test accuracy;
- ``modularity``: the mean over hidden layers of the Louvain modularity Q of the layer's
  co-activation graph (:func:`~neurongraph.analysis.communities.network_modularity`);
- ``entropy`` and ``classEntropy``: the mean over all hidden neurons of the binary firing
  entropy, over the data set and averaged over classes (:mod:`neurongraph.analysis.entropy`);

with the Pearson and Spearman correlation of each metric with the test accuracy over the epochs
(:func:`metric_correlations`). The table goes to ``OUT/evolution.csv`` and a plot to
``OUT/evolution.png``; the checkpoints stay in ``OUT/checkpoints/``.

Everything runs in this process: each checkpoint is loaded from its TorchScript file once and
its module serves both the ingest and the activation capture.

Series in the store
-------------------
Every network of the series carries the Network properties ``series`` (``NAME``) and ``epoch``,
so one neuron can be followed through training::

    MATCH (net:Network {series: $series})-[:HAS_LAYER]->(:Layer {name: $layer})
          -[:HAS_NEURON]->(n:Neuron {index: $index})
    RETURN net.epoch AS epoch, n.entropy AS entropy, n.louvainCommunity AS community
    ORDER BY epoch

A rerun replaces the networks of the series: ``NAME@k`` for every epoch k of the run, and drops
any ``NAME@k`` left from an earlier, longer run (with their cached activations).
"""

from __future__ import annotations

import csv
import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from neurongraph.analysis.runner import run_entropy, run_louvain
from neurongraph.errors import UsageError
from neurongraph.ingest.pipeline import ingest_model
from neurongraph.model.datasets import load_dataset
from neurongraph.model.loading import load_model
from neurongraph.store import Store, check_network_name
from neurongraph.training.architectures import IMAGE_KINDS, MLP_EXAMPLE, parse_architecture
from neurongraph.training.train import (
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    find_checkpoints,
    sidecar_path,
    train_model,
)

__all__ = [
    "ACCURACY",
    "CHECKPOINT_DIR",
    "CSV_NAME",
    "DEFAULT_ARCH",
    "DEFAULT_DATA",
    "DEFAULT_EPOCHS",
    "DEFAULT_LR",
    "DEFAULT_NAME",
    "EPOCH_KEY",
    "METRICS",
    "PLOT_NAME",
    "SERIES_KEY",
    "EpochRow",
    "EvolutionResult",
    "metric_correlations",
    "plot_evolution",
    "run_evolution",
    "series_member",
    "write_csv",
]

log = logging.getLogger(__name__)

#: The MLP of Mostafa & Mondal's digits experiment.
DEFAULT_ARCH = MLP_EXAMPLE
DEFAULT_DATA = "digits"
#: Series name, and the output directory (relative to the working directory) unless given.
DEFAULT_NAME = "evolution"
CHECKPOINT_DIR = "checkpoints"
CSV_NAME = "evolution.csv"
PLOT_NAME = "evolution.png"
#: Network properties that tie a network to its series.
SERIES_KEY = "series"
EPOCH_KEY = "epoch"
#: The column every metric is correlated with.
ACCURACY = "testAccuracy"
#: Per-epoch metrics correlated with the test accuracy.
METRICS = ("modularity", "entropy", "classEntropy")
#: Steps of the progress callback per checkpoint (ingest with activations, Louvain, entropy).
STEPS_PER_CHECKPOINT = 3
#: Fewest epochs with a value for which a correlation is reported.
MIN_CORRELATION_POINTS = 3
#: Metrics (or accuracies) that vary by no more than this over the epochs count as constant:
#: a layer with one community has Q = 0 up to rounding, which must not look like a trend.
CONSTANT_ATOL = 1e-9
_PLOT_SIZE = (7.0, 8.0)
_PLOT_DPI = 120
_SERIES_SEPARATOR = "@"


@dataclass(frozen=True)
class EpochRow:
    """The measurements of one checkpoint.

    Attributes
    ----------
    epoch : int
    network : str
        ``NAME@epoch``.
    test_accuracy : float
    modularity : float or None
        Mean Louvain Q over the hidden layers that were not skipped; None when all were.
    entropy, class_entropy : float
        Mean firing entropy and class entropy (bits) over all hidden neurons.
    communities : int
        Louvain communities summed over the hidden layers.
    train_loss : float
        Mean training loss of the epoch.
    layer_modularity : dict
        Layer name -> Q (None when the layer was skipped).
    layer_entropy : dict
        Layer name -> mean firing entropy of the layer.
    """

    epoch: int
    network: str
    test_accuracy: float
    modularity: float | None
    entropy: float
    class_entropy: float
    communities: int
    train_loss: float
    layer_modularity: dict[str, float | None] = field(default_factory=dict)
    layer_entropy: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """camelCase keys, as in the CSV and the ``--json`` output."""
        return {
            "epoch": self.epoch,
            "network": self.network,
            ACCURACY: self.test_accuracy,
            "modularity": self.modularity,
            "entropy": self.entropy,
            "classEntropy": self.class_entropy,
            "communities": self.communities,
            "trainLoss": self.train_loss,
            "layerModularity": dict(self.layer_modularity),
            "layerEntropy": dict(self.layer_entropy),
        }


@dataclass(frozen=True)
class EvolutionResult:
    """What :func:`run_evolution` measured and wrote.

    Attributes
    ----------
    series : str
        The series name; its networks are ``series@epoch``.
    data, arch : str
    seed : int
    rows : list of EpochRow
        One per epoch, in order.
    correlations : dict
        Metric -> its correlations with the test accuracy (:func:`metric_correlations`).
    csv, plot, checkpoints : Path
    dropped : list of str
        Networks of an earlier run of the series that this run dropped.
    seconds : float
    """

    series: str
    data: str
    arch: str
    seed: int
    rows: list[EpochRow]
    correlations: dict[str, dict]
    csv: Path
    plot: Path
    checkpoints: Path
    dropped: list[str]
    seconds: float

    def as_dict(self) -> dict:
        """JSON-friendly summary (camelCase keys)."""
        return {
            "series": self.series,
            "data": self.data,
            "arch": self.arch,
            "seed": self.seed,
            "networks": [row.network for row in self.rows],
            "epochs": [row.as_dict() for row in self.rows],
            "correlations": self.correlations,
            "csv": str(self.csv),
            "plot": str(self.plot),
            "checkpoints": str(self.checkpoints),
            "dropped": list(self.dropped),
            "seconds": self.seconds,
        }


def series_member(series: str, epoch: int) -> str:
    """The network name of ``series`` at ``epoch``: ``series@epoch``."""
    return f"{series}{_SERIES_SEPARATOR}{epoch}"


def run_evolution(
    store: Store,
    *,
    data: str = DEFAULT_DATA,
    arch: str = DEFAULT_ARCH,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    lr: float = DEFAULT_LR,
    out_dir: str | Path | None = None,
    name: str = DEFAULT_NAME,
    progress: Callable[[int, int], None] | None = None,
) -> EvolutionResult:
    """Train with a checkpoint per epoch, analyse every checkpoint, correlate with accuracy.

    Parameters
    ----------
    store : Store
    data : str, default=DEFAULT_DATA
        Data set spec (:func:`neurongraph.model.datasets.load_dataset`): trained on, and run
        through every checkpoint.
    arch : str, default=DEFAULT_ARCH
        Architecture string (:mod:`neurongraph.training.architectures`).
    epochs : int, default=DEFAULT_EPOCHS
        Epochs of training, one checkpoint (and one network) each; at least 1.
    seed : int, default=0
        Seed of the train/test split, the training and Louvain.
    lr : float, default=DEFAULT_LR
        Adam learning rate.
    out_dir : str or Path, optional
        Where the checkpoints, ``evolution.csv`` and ``evolution.png`` go; default ``./NAME``.
    name : str, default=DEFAULT_NAME
        Series name: the networks are ``NAME@1`` ... ``NAME@epochs``.
    progress : callable, optional
        ``progress(done, total)``, called after every epoch of training and every step of the
        analysis of a checkpoint.

    Returns
    -------
    EvolutionResult

    Raises
    ------
    UsageError
        ``epochs`` below 1, a bad series name, an unknown data set or an architecture that
        does not fit it (before anything is trained or written).
    """
    started = time.perf_counter()
    _check_epochs(epochs)
    _check_series_name(name, epochs)
    architecture = parse_architecture(arch)
    dataset = load_dataset(data, random_state=seed, image=architecture.kind in IMAGE_KINDS)
    out = Path(out_dir) if out_dir is not None else Path(name)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory for the experiment's output")
    checkpoint_dir = out / CHECKPOINT_DIR
    total = epochs * (1 + STEPS_PER_CHECKPOINT)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    log.info("evolution %s: training %s on %s for %d epochs", name, arch, data, epochs)
    trained = train_model(
        architecture,
        dataset,
        epochs=epochs,
        lr=lr,
        checkpoint_every=1,
        checkpoint_dir=checkpoint_dir,
        random_state=seed,
        progress=lambda record: step(),
    )
    _remove_stale_checkpoints(checkpoint_dir, epochs)
    dropped = _drop_stale_members(store, name, epochs)
    example = torch.from_numpy(dataset.X_train[:2])
    rows = []
    for epoch, (path, record) in enumerate(
        zip(trained.checkpoints, trained.history, strict=True), start=1
    ):
        network = series_member(name, epoch)
        clock = _Clock()
        loaded = load_model(str(path))
        recorded = ingest_model(
            store,
            loaded.module,
            network,
            example,
            replace=True,
            properties={**loaded.properties(), SERIES_KEY: name, EPOCH_KEY: epoch},
            model_file=loaded.file,
            dataset=dataset,
        ).activations
        clock.lap("ingest and activations")
        step()
        louvain = run_louvain(store, network, seed=seed)
        clock.lap("louvain")
        step()
        entropy = run_entropy(store, network)
        clock.lap("entropy")
        step()
        rows.append(_row(epoch, network, recorded.accuracy, record.loss, louvain, entropy))
        log.info(
            "%s: accuracy %.4f, modularity %s, entropy %.4f (seconds: %s)",
            network,
            recorded.accuracy,
            rows[-1].modularity,
            rows[-1].entropy,
            clock,
        )
    correlations = metric_correlations(rows)
    csv_path = write_csv(rows, out / CSV_NAME)
    plot_path = plot_evolution(
        rows, out / PLOT_NAME, correlations=correlations, title=f"{name}: {arch} on {data}"
    )
    return EvolutionResult(
        series=name,
        data=data,
        arch=trained.architecture or arch,
        seed=trained.seed,
        rows=rows,
        correlations=correlations,
        csv=csv_path,
        plot=plot_path,
        checkpoints=checkpoint_dir,
        dropped=dropped,
        seconds=round(time.perf_counter() - started, 3),
    )


class _Clock:
    """Seconds spent in each named stage, for the log."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round(now - self._last, 2)
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{stage} {seconds}" for stage, seconds in self.laps.items())


def _check_epochs(epochs: int) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise UsageError(f"--epochs must be a positive integer, not {epochs!r}")


def _check_series_name(name: str, epochs: int) -> None:
    if _SERIES_SEPARATOR in name:
        raise UsageError(
            f"the series name {name!r} contains {_SERIES_SEPARATOR!r}, which separates a series "
            f"from its epoch; choose a name without it"
        )
    check_network_name(series_member(name, epochs))


def _remove_stale_checkpoints(checkpoint_dir: Path, epochs: int) -> None:
    """Delete checkpoints of later epochs left by an earlier, longer run in the same place."""
    for epoch, path in find_checkpoints(checkpoint_dir):
        if epoch > epochs:
            log.info("removing %s, left from an earlier run", path)
            path.unlink()
            sidecar_path(path).unlink(missing_ok=True)


def _drop_stale_members(store: Store, series: str, epochs: int) -> list[str]:
    """Drop ``series@k`` networks with k > epochs (left from an earlier, longer run)."""
    member = re.compile(re.escape(series + _SERIES_SEPARATOR) + r"(\d+)")
    dropped = []
    for network in store.networks():
        match = member.fullmatch(network["name"])
        if match and int(match.group(1)) > epochs:
            store.drop_network(network["name"])
            dropped.append(network["name"])
            log.info("dropped %s, left from an earlier run of the series", network["name"])
    return dropped


def _row(
    epoch: int, network: str, accuracy: float, train_loss: float, louvain: dict, entropy: dict
) -> EpochRow:
    return EpochRow(
        epoch=epoch,
        network=network,
        test_accuracy=float(accuracy),
        modularity=louvain["modularity"],
        entropy=float(entropy["entropy"]),
        class_entropy=float(entropy["classEntropy"]),
        communities=int(sum(layer["communities"] for layer in louvain["layers"])),
        train_loss=float(train_loss),
        layer_modularity={layer["layer"]: layer["modularity"] for layer in louvain["layers"]},
        layer_entropy={layer["layer"]: layer["entropyMean"] for layer in entropy["layers"]},
    )


def metric_correlations(
    rows: Sequence[EpochRow], metrics: Sequence[str] = METRICS
) -> dict[str, dict]:
    """Pearson and Spearman correlation of each metric with the test accuracy over the epochs.

    Parameters
    ----------
    rows : sequence of EpochRow
    metrics : sequence of str, default=METRICS
        Keys of :meth:`EpochRow.as_dict`.

    Returns
    -------
    dict
        Metric -> ``{"n", "pearson", "pearsonP", "spearman", "spearmanP"}``: the number of epochs
        where the metric has a value, the coefficients and their two-sided p-values. A value is
        None when it is undefined: fewer than ``MIN_CORRELATION_POINTS`` epochs, or a metric
        (or the accuracy) that does not change by more than ``CONSTANT_ATOL``.

    Examples
    --------
    >>> rows = [EpochRow(e, f"s@{e}", a, q, h, h, 1, 0.0)
    ...         for e, (a, q, h) in enumerate([(0.5, 0.1, 0.9), (0.7, 0.2, 0.8),
    ...                                        (0.9, 0.4, 0.7)], start=1)]
    >>> c = metric_correlations(rows)
    >>> round(c["modularity"]["pearson"], 4), c["modularity"]["spearman"], c["entropy"]["spearman"]
    (0.982, 1.0, -1.0)
    """
    table = [row.as_dict() for row in rows]
    out = {}
    for metric in metrics:
        pairs = [
            (r[ACCURACY], r[metric])
            for r in table
            if r[metric] is not None and math.isfinite(r[metric])
        ]
        out[metric] = _correlation(np.array(pairs, dtype=np.float64).reshape(-1, 2))
    return out


def _correlation(pairs: np.ndarray) -> dict:
    result: dict = {"n": len(pairs), "pearson": None, "pearsonP": None}
    result |= {"spearman": None, "spearmanP": None}
    if len(pairs) < MIN_CORRELATION_POINTS or np.ptp(pairs, axis=0).min() <= CONSTANT_ATOL:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        pearson = stats.pearsonr(pairs[:, 0], pairs[:, 1])
        spearman = stats.spearmanr(pairs[:, 0], pairs[:, 1])
    for key, value in (
        ("pearson", pearson.statistic),
        ("pearsonP", pearson.pvalue),
        ("spearman", spearman.statistic),
        ("spearmanP", spearman.pvalue),
    ):
        result[key] = float(value) if math.isfinite(value) else None
    return result


def _csv_row(row: EpochRow) -> dict:
    values = {k: v for k, v in row.as_dict().items() if not isinstance(v, dict)}
    values |= {f"modularity:{layer}": q for layer, q in row.layer_modularity.items()}
    values |= {f"entropy:{layer}": h for layer, h in row.layer_entropy.items()}
    return values


def write_csv(rows: Sequence[EpochRow], path: str | Path) -> Path:
    """Write one line per epoch: the scalar columns of :meth:`EpochRow.as_dict`, then
    ``modularity:LAYER`` and ``entropy:LAYER`` per hidden layer. Empty cells are undefined
    values (a skipped layer's modularity)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = [_csv_row(row) for row in rows]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]) if table else [])
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in table)
    return path


def plot_evolution(
    rows: Sequence[EpochRow],
    path: str | Path,
    *,
    correlations: dict[str, dict] | None = None,
    title: str = "",
) -> Path:
    """Plot test accuracy, modularity (mean and per layer) and entropies against the epoch.

    Drawn with matplotlib's Agg canvas (no display, no pyplot state) and saved as PNG.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    correlations = correlations if correlations is not None else metric_correlations(rows)
    epochs = [row.epoch for row in rows]
    fig = Figure(figsize=_PLOT_SIZE, layout="constrained")
    FigureCanvasAgg(fig)
    acc_ax, q_ax, h_ax = fig.subplots(3, 1, sharex=True)
    acc_ax.plot(epochs, [row.test_accuracy for row in rows], "o-", color="black")
    acc_ax.set_ylabel("test accuracy")
    layers = list(rows[0].layer_modularity) if rows else []
    for layer in layers:
        q = [_nan(row.layer_modularity[layer]) for row in rows]
        q_ax.plot(epochs, q, "-", alpha=0.4, linewidth=1, label=f"layer {layer}")
    q_ax.plot(epochs, [_nan(row.modularity) for row in rows], "o-", color="C3", label="mean")
    q_ax.set_ylabel("Louvain modularity Q")
    q_ax.set_title(_correlation_label("modularity", correlations), fontsize="small")
    q_ax.legend(fontsize="x-small", ncol=3)
    h_ax.plot(epochs, [row.entropy for row in rows], "o-", label="entropy")
    h_ax.plot(epochs, [row.class_entropy for row in rows], "s-", label="class entropy")
    h_ax.set_ylabel("mean firing entropy (bits)")
    h_ax.set_xlabel("epoch")
    h_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    h_ax.set_title(
        _correlation_label("entropy", correlations)
        + "\n"
        + _correlation_label("classEntropy", correlations),
        fontsize="small",
    )
    h_ax.legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=_PLOT_DPI)
    return path


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _correlation_label(metric: str, correlations: dict[str, dict]) -> str:
    c = correlations.get(metric, {})

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.2f}"

    return (
        f"{metric} vs accuracy: Pearson r {fmt(c.get('pearson'))}, "
        f"Spearman rho {fmt(c.get('spearman'))} (n={c.get('n', 0)})"
    )
