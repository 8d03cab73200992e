"""How Louvain communities and firing entropy evolve with training (Mostafa & Mondal, 2106.04693).

:func:`run_evolution` trains one model with a checkpoint before training (epoch 0: the
untrained network) and after every epoch, ingests every checkpoint as the network ``NAME@epoch``
of a series, records its activations on the training data set, runs
:func:`~neurongraph.runs.louvain.run_louvain` (seeded) and
:func:`~neurongraph.runs.entropy.run_entropy` on it
(:func:`~neurongraph.experiments.network_metrics.measure_network`), and tabulates per epoch

- ``testAccuracy``: the checkpoint's test accuracy;
- ``modularity``: the mean over hidden layers of the Louvain modularity Q of the layer's
  co-activation graph (:func:`~neurongraph.analysis.communities.network_modularity`);
- ``entropy`` and ``classEntropy``: the mean over all hidden neurons of the binary firing
  entropy, over the data set and averaged over classes (:mod:`neurongraph.analysis.entropy`);

with the Pearson and Spearman correlation of each metric with the test accuracy over the epochs
(:func:`~neurongraph.experiments.network_metrics.metric_correlations`). The table goes to
``OUT/evolution.csv`` and a plot to ``OUT/evolution.png``; the checkpoints stay in
``OUT/checkpoints/``.

Along one run any quantity that changes monotonically correlates with the accuracy, so the
experiment also measures a set of models of different quality (narrower, trained on noisy labels,
trained for fewer epochs; :mod:`neurongraph.experiments.evolution_models`) and correlates the same
metrics with test accuracy across the models: ``OUT/evolution-models.csv`` and
``OUT/evolution-models.png``.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from neurongraph.errors import UsageError, arg
from neurongraph.experiments.defaults import EVOLUTION_ARCH as DEFAULT_ARCH
from neurongraph.experiments.defaults import EVOLUTION_DATA as DEFAULT_DATA
from neurongraph.experiments.defaults import EVOLUTION_NAME as DEFAULT_NAME
from neurongraph.experiments.evolution_models import (
    BASE_MODEL,
    DEFAULT_MODEL_SPECS,
    MODEL_DIR,
    MODELS_CSV_NAME,
    MODELS_PLOT_NAME,
    ModelRow,
    drop_stale_models,
    model_network,
    parse_model_specs,
    plot_models,
    run_model_set,
    write_models_csv,
)
from neurongraph.experiments.network_metrics import (
    ACCURACY,
    METRICS,
    NetworkMetrics,
    measure_network,
    metric_correlations,
)
from neurongraph.model.datasets import load_dataset
from neurongraph.progress import Progress
from neurongraph.store import Store, check_network_name
from neurongraph.training.architectures import IMAGE_KINDS, parse_architecture
from neurongraph.training.train import (
    CHECKPOINT_PATTERN,
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
    "DEFAULT_MODEL_SPECS",
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

CHECKPOINT_DIR = "checkpoints"
CSV_NAME = "evolution.csv"
PLOT_NAME = "evolution.png"
#: Network properties that tie a network to its series.
SERIES_KEY = "series"
EPOCH_KEY = "epoch"
#: Steps of the progress callback per checkpoint (ingest with activations, Louvain, entropy).
STEPS_PER_CHECKPOINT = 3
_PLOT_SIZE = (7.0, 8.0)
_PLOT_DPI = 120
_SERIES_SEPARATOR = "@"


@dataclass(frozen=True)
class EpochRow:
    """The measurements of one checkpoint.

    Attributes
    ----------
    epoch : int
        0 for the untrained network.
    network : str
        ``NAME@epoch``.
    test_accuracy : float
    modularity : float or None
        Mean Louvain Q over the hidden layers that were not skipped; None when all were.
    entropy, class_entropy : float
        Mean firing entropy and class entropy (bits) over all hidden neurons.
    communities : int
        Louvain communities summed over the hidden layers.
    train_loss : float or None
        Mean training loss of the epoch (None for epoch 0).
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
    train_loss: float | None
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
        One per epoch, in order, from epoch 0.
    correlations : dict
        Metric -> its correlations with the test accuracy over the epochs
        (:func:`~neurongraph.experiments.network_metrics.metric_correlations`).
    models : list of ModelRow
        The model set, ``base`` first (empty when no model specs were given).
    model_correlations : dict
        Metric -> its correlations with the test accuracy across the models.
    csv, plot, checkpoints : Path
    models_csv, models_plot : Path or None
        None without a model set.
    dropped : list of str
        Networks of an earlier run of the series or of its model set that this run dropped.
    seconds : float
    """

    series: str
    data: str
    arch: str
    seed: int
    rows: list[EpochRow]
    correlations: dict[str, dict]
    models: list[ModelRow]
    model_correlations: dict[str, dict]
    csv: Path
    plot: Path
    checkpoints: Path
    models_csv: Path | None
    models_plot: Path | None
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
            "models": [row.as_dict() for row in self.models],
            "modelCorrelations": self.model_correlations,
            "csv": str(self.csv),
            "plot": str(self.plot),
            "checkpoints": str(self.checkpoints),
            "modelsCsv": None if self.models_csv is None else str(self.models_csv),
            "modelsPlot": None if self.models_plot is None else str(self.models_plot),
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
    models: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> EvolutionResult:
    """Train with a checkpoint per epoch (and epoch 0), analyse every checkpoint and a set of
    models of different quality, correlate with accuracy along the run and across the models.

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
        Where the checkpoints, the models, the CSV files and the plots go; default ``./NAME``.
    name : str, default=DEFAULT_NAME
        Series name: the networks are ``NAME@0`` ... ``NAME@epochs``.
    models : sequence of str, optional
        Model specs (:mod:`neurongraph.experiments.evolution_models`) of the models compared
        beside the base model; ``["none"]`` or empty: no model set; None:
        ``DEFAULT_MODEL_SPECS`` (without its ``width=`` for a CNN or ResNet).
    progress : callable, optional
        ``progress(done, total)``, called after every epoch of training, every step of the
        analysis of a checkpoint and every model of the set.

    Returns
    -------
    EvolutionResult

    Raises
    ------
    UsageError
        ``epochs`` below 1, a bad series name, an unknown data set, an architecture that does
        not fit it or a malformed model spec (before anything is trained or written).
    """
    started = time.perf_counter()
    _check_epochs(epochs)
    _check_series_name(name, epochs)
    architecture = parse_architecture(arch)
    specs = parse_model_specs(models, arch)
    check_network_name(model_network(name, len(specs)))
    dataset = load_dataset(data, random_state=seed, image=architecture.kind in IMAGE_KINDS)
    out = Path(out_dir) if out_dir is not None else Path(name)
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"{arg('out_dir')} {out} is a file; give a directory for the experiment's output"
        )
    checkpoint_dir = out / CHECKPOINT_DIR
    total = epochs + (epochs + 1) * STEPS_PER_CHECKPOINT + len(specs)
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
    # epoch 0: the same seed builds the same initial weights the training started from
    initial_path = checkpoint_dir / CHECKPOINT_PATTERN.format(epoch=0)
    train_model(architecture, dataset, epochs=0, lr=lr, random_state=seed).save(initial_path)
    _remove_stale_checkpoints(checkpoint_dir, epochs)
    dropped = _drop_stale_members(store, name, epochs)
    if specs:
        dropped += drop_stale_models(store, name, len(specs))
    losses = [None, *(record.loss for record in trained.history)]
    rows = []
    for epoch, (path, loss) in enumerate(
        zip([initial_path, *trained.checkpoints], losses, strict=True)
    ):
        network = series_member(name, epoch)
        started_at = time.perf_counter()
        metrics = measure_network(
            store,
            path,
            network,
            dataset=dataset,
            properties={SERIES_KEY: name, EPOCH_KEY: epoch},
            seed=seed,
        )
        for _ in range(STEPS_PER_CHECKPOINT):
            step()
        rows.append(_row(epoch, network, loss, metrics))
        log.info(
            "%s: accuracy %.4f, modularity %s, entropy %.4f (%.2f s)",
            network,
            metrics.test_accuracy,
            metrics.modularity,
            metrics.entropy,
            time.perf_counter() - started_at,
        )
    correlations = metric_correlations(rows)
    csv_path = write_csv(rows, out / CSV_NAME)
    title = f"{name}: {arch} on {data}"
    plot_path = plot_evolution(rows, out / PLOT_NAME, correlations=correlations, title=title)
    model_rows: list[ModelRow] = []
    model_correlations: dict[str, dict] = {}
    models_csv = models_plot = None
    if specs:
        # the base model is the series' last checkpoint, measured above
        base = ModelRow(BASE_MODEL, rows[-1].network, architecture.spec, epochs, 0.0, metrics)
        model_rows = run_model_set(
            store,
            specs,
            series=name,
            arch=architecture.spec,
            epochs=epochs,
            lr=lr,
            dataset=dataset,
            seed=seed,
            out_dir=out / MODEL_DIR,
            base=base,
            step=step,
        )
        model_correlations = metric_correlations(model_rows)
        models_csv = write_models_csv(model_rows, out / MODELS_CSV_NAME)
        models_plot = plot_models(
            model_rows,
            out / MODELS_PLOT_NAME,
            correlations=model_correlations,
            title=f"{title}: {len(model_rows)} models",
        )
    return EvolutionResult(
        series=name,
        data=data,
        arch=trained.architecture or arch,
        seed=trained.seed,
        rows=rows,
        correlations=correlations,
        models=model_rows,
        model_correlations=model_correlations,
        csv=csv_path,
        plot=plot_path,
        checkpoints=checkpoint_dir,
        models_csv=models_csv,
        models_plot=models_plot,
        dropped=dropped,
        seconds=round(time.perf_counter() - started, 3),
    )


def _check_epochs(epochs: int) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise UsageError(f"{arg('epochs')} must be a positive integer, not {epochs!r}")


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


def _row(epoch: int, network: str, train_loss: float | None, metrics: NetworkMetrics) -> EpochRow:
    return EpochRow(
        epoch=epoch,
        network=network,
        test_accuracy=metrics.test_accuracy,
        modularity=metrics.modularity,
        entropy=metrics.entropy,
        class_entropy=metrics.class_entropy,
        communities=metrics.communities,
        train_loss=None if train_loss is None else float(train_loss),
        layer_modularity=dict(metrics.layer_modularity),
        layer_entropy=dict(metrics.layer_entropy),
    )


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
