"""Modularity and entropy against accuracy across models of different quality.

Along one training run any quantity that changes monotonically correlates with the accuracy.
So ``experiment evolution`` also trains a set of models that differ in quality (narrower
layers, noisy training labels, fewer epochs), measures each final model as it measures a
checkpoint (:func:`~neurongraph.experiments.network_metrics.measure_network`) and correlates
modularity and entropy with test accuracy across the models.

Model specs
-----------
A spec changes the base model (the series' ``--arch`` trained for ``--epochs``):
``key=value`` pairs joined by ``/``, with the keys

=======  ====================================================================================
key      meaning
=======  ====================================================================================
arch     another architecture string
width    scale every hidden width of an MLP by this factor (at least one unit per layer)
noise    replace this fraction of the training labels by another class, drawn at random
epochs   train for this many epochs
=======  ====================================================================================

e.g. ``width=0.25/noise=0.3``. The test labels stay clean. The base model itself is the series'
last checkpoint (``NAME@EPOCHS``), listed as ``base``; spec ``i`` (1-based) is trained with the
series' seed, saved as ``OUT/models/NAME-modelI.pt`` and ingested as the network ``NAME-modelI``
with the Network properties ``modelSet`` (``NAME``) and ``modelSpec``. A rerun with a smaller
set drops the networks ``NAME-modelI`` beyond it; a rerun with no set (``none``) leaves them.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurongraph.errors import UsageError
from neurongraph.experiments.defaults import DEFAULT_MODEL_SPECS, NO_MODELS, NOISE_AND_EPOCH_SPECS
from neurongraph.experiments.network_metrics import (
    ACCURACY,
    NetworkMetrics,
    measure_network,
    metric_correlations,
)
from neurongraph.model.datasets import CLASSIFICATION, Dataset
from neurongraph.store import Store
from neurongraph.training.architectures import parse_architecture
from neurongraph.training.train import train_model

__all__ = [
    "BASE_MODEL",
    "DEFAULT_MODEL_SPECS",
    "NOISE_AND_EPOCH_SPECS",
    "MODELS_CSV_NAME",
    "MODELS_PLOT_NAME",
    "MODEL_DIR",
    "MODEL_SET_KEY",
    "MODEL_SPEC_KEY",
    "NO_MODELS",
    "ModelRow",
    "ModelSpec",
    "drop_stale_models",
    "model_network",
    "parse_model_specs",
    "plot_models",
    "run_model_set",
    "scale_widths",
    "with_label_noise",
    "write_models_csv",
]

log = logging.getLogger(__name__)

#: How the base model (the series' last checkpoint) is listed.
BASE_MODEL = "base"
MODEL_DIR = "models"
MODELS_CSV_NAME = "evolution-models.csv"
MODELS_PLOT_NAME = "evolution-models.png"
#: Network properties that tie a network to its model set.
MODEL_SET_KEY = "modelSet"
MODEL_SPEC_KEY = "modelSpec"
_SPEC_SEPARATOR = "/"
_MODEL_INFIX = "-model"
_PLOT_SIZE = (11.0, 4.0)
_PLOT_DPI = 120


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec (module docstring); None and 1.0/0.0 leave the base as it is."""

    text: str
    arch: str | None = None
    width: float = 1.0
    noise: float = 0.0
    epochs: int | None = None


@dataclass(frozen=True)
class ModelRow:
    """One model of the set and its measurements.

    Attributes
    ----------
    model : str
        Its spec, or ``base``.
    network, arch : str
    epochs : int
    noise : float
        Fraction of training labels replaced.
    metrics : NetworkMetrics
    """

    model: str
    network: str
    arch: str
    epochs: int
    noise: float
    metrics: NetworkMetrics

    def as_dict(self) -> dict:
        """camelCase keys, as in the CSV and the ``--json`` output."""
        return {
            "model": self.model,
            "network": self.network,
            "arch": self.arch,
            "epochs": self.epochs,
            "labelNoise": self.noise,
            ACCURACY: self.metrics.test_accuracy,
            "modularity": self.metrics.modularity,
            "entropy": self.metrics.entropy,
            "classEntropy": self.metrics.class_entropy,
            "communities": self.metrics.communities,
        }


def parse_model_specs(specs: Sequence[str] | None, arch: str) -> list[ModelSpec]:
    """Parse specs (module docstring) of models beside the base ``arch``; ``none`` alone gives
    no models, None the defaults (:data:`DEFAULT_MODEL_SPECS` for an MLP, else
    :data:`NOISE_AND_EPOCH_SPECS`).

    Raises
    ------
    UsageError
        A malformed spec, an unknown key, a value out of range, or ``width=`` on a model that
        is not an MLP.

    Examples
    --------
    >>> parse_model_specs(["width=0.5/noise=0.2"], "64-32-10")[0]
    ModelSpec(text='width=0.5/noise=0.2', arch=None, width=0.5, noise=0.2, epochs=None)
    >>> parse_model_specs(["none"], "64-32-10"), len(parse_model_specs(None, "cnn:c4-p-10"))
    ([], 3)
    """
    if specs is None:
        mlp = parse_architecture(arch).kind == "mlp"
        specs = DEFAULT_MODEL_SPECS if mlp else NOISE_AND_EPOCH_SPECS
    if list(specs) == [NO_MODELS]:
        return []
    parsed = [_parse_spec(text) for text in specs]
    for spec in parsed:
        scale_widths(spec.arch or arch, spec.width)
    return parsed


def _parse_spec(text: str) -> ModelSpec:
    values: dict = {}
    for part in text.split(_SPEC_SEPARATOR):
        key, sep, raw = part.partition("=")
        if not sep or key not in ("arch", "width", "noise", "epochs") or key in values:
            raise UsageError(
                f"model spec {text!r}: {part!r} is not one of arch=, width=, noise=, epochs= "
                f"(each once, joined by {_SPEC_SEPARATOR!r}); e.g. width=0.25{_SPEC_SEPARATOR}"
                f"noise=0.3, or {NO_MODELS} for no models"
            )
        values[key] = raw
    try:
        spec = ModelSpec(
            text=text,
            arch=values.get("arch"),
            width=float(values.get("width", 1.0)),
            noise=float(values.get("noise", 0.0)),
            epochs=int(values["epochs"]) if "epochs" in values else None,
        )
    except ValueError:
        raise UsageError(
            f"model spec {text!r}: width and noise take numbers, epochs an integer"
        ) from None
    if spec.arch is not None:
        parse_architecture(spec.arch)
    if not (spec.width > 0 and 0 <= spec.noise < 1 and (spec.epochs is None or spec.epochs >= 1)):
        raise UsageError(
            f"model spec {text!r}: width must be positive, noise in [0, 1) and epochs at least 1"
        )
    return spec


def scale_widths(arch: str, factor: float) -> str:
    """An MLP architecture with every hidden width times ``factor`` (at least 1).

    Examples
    --------
    >>> scale_widths("64-256-32-10", 0.25)
    '64-64-8-10'
    """
    if factor == 1.0:
        return arch
    if parse_architecture(arch).kind != "mlp":
        raise UsageError(
            f"width= scales the layers of an MLP, and {arch} is not one; give arch= instead"
        )
    widths = [int(w) for w in arch.split("-")]
    hidden = [max(1, round(w * factor)) for w in widths[1:-1]]
    return "-".join(map(str, [widths[0], *hidden, widths[-1]]))


def with_label_noise(dataset: Dataset, fraction: float, random_state: int) -> Dataset:
    """``dataset`` with ``fraction`` of its training labels each replaced by a different class
    drawn uniformly (seeded); the test labels stay clean.

    Raises
    ------
    UsageError
        A data set that is not one classification task.
    """
    if fraction == 0:
        return dataset
    if dataset.y_train.ndim != 1 or [t.kind for t in dataset.tasks] != [CLASSIFICATION]:
        raise UsageError(
            f"noise= replaces class labels, and {dataset.name!r} is not one classification task"
        )
    rng = np.random.default_rng(random_state)
    n_classes = dataset.tasks[0].n_classes
    y = dataset.y_train.copy()
    flipped = rng.choice(len(y), size=round(fraction * len(y)), replace=False)
    y[flipped] = (y[flipped] + rng.integers(1, n_classes, size=len(flipped))) % n_classes
    return dataclasses.replace(dataset, y_train=y, name=f"{dataset.name}+noise{fraction:g}")


def model_network(series: str, index: int) -> str:
    """The network of the ``index``-th (1-based) model of a series' set: ``SERIES-modelINDEX``."""
    return f"{series}{_MODEL_INFIX}{index}"


def run_model_set(
    store: Store,
    specs: Sequence[ModelSpec],
    *,
    series: str,
    arch: str,
    epochs: int,
    lr: float,
    dataset: Dataset,
    seed: int,
    out_dir: Path,
    base: ModelRow,
    step: Callable[[], None] | None = None,
) -> list[ModelRow]:
    """Train, save and measure every spec's model; the rows, ``base`` first.

    ``step`` is called after each model.
    """
    rows = [base]
    for index, spec in enumerate(specs, start=1):
        model_arch = scale_widths(spec.arch or arch, spec.width)
        model_epochs = spec.epochs or epochs
        network = model_network(series, index)
        path = out_dir / f"{network}.pt"
        trained = train_model(
            model_arch,
            with_label_noise(dataset, spec.noise, seed),
            epochs=model_epochs,
            lr=lr,
            random_state=seed,
        )
        trained.save(path)
        metrics = measure_network(
            store,
            path,
            network,
            dataset=dataset,
            properties={MODEL_SET_KEY: series, MODEL_SPEC_KEY: spec.text},
            seed=seed,
        )
        rows.append(ModelRow(spec.text, network, model_arch, model_epochs, spec.noise, metrics))
        log.info("%s (%s): accuracy %.4f", network, spec.text, metrics.test_accuracy)
        if step is not None:
            step()
    return rows


def drop_stale_models(store: Store, series: str, n_models: int) -> list[str]:
    """Drop ``SERIES-modelI`` networks with I > n_models (left from an earlier, larger set)."""
    member = re.compile(re.escape(series + _MODEL_INFIX) + r"(\d+)")
    dropped = []
    for network in store.networks():
        match = member.fullmatch(network["name"])
        if match and int(match.group(1)) > n_models:
            store.drop_network(network["name"])
            dropped.append(network["name"])
    return dropped


def write_models_csv(rows: Sequence[ModelRow], path: str | Path) -> Path:
    """One line per model: the keys of :meth:`ModelRow.as_dict`; empty cells are undefined."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = [row.as_dict() for row in rows]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in table)
    return path


def plot_models(
    rows: Sequence[ModelRow],
    path: str | Path,
    *,
    correlations: dict[str, dict] | None = None,
    title: str = "",
) -> Path:
    """Scatter modularity, entropy and class entropy against test accuracy, one point per model
    (labelled with its spec), each panel titled with its Spearman correlation. Agg canvas, PNG.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    correlations = correlations if correlations is not None else metric_correlations(rows)
    table = [row.as_dict() for row in rows]
    fig = Figure(figsize=_PLOT_SIZE, layout="constrained")
    FigureCanvasAgg(fig)
    labels = {"modularity": "Louvain modularity Q", "entropy": "firing entropy (bits)"}
    labels["classEntropy"] = "class entropy (bits)"
    for ax, (metric, label) in zip(fig.subplots(1, 3), labels.items(), strict=True):
        xs = [r[ACCURACY] for r in table]
        ys = [math.nan if r[metric] is None else r[metric] for r in table]
        ax.scatter(xs, ys, color="C3")
        for x, y, r in zip(xs, ys, table, strict=True):
            ax.annotate(
                r["model"], (x, y), fontsize="x-small", xytext=(3, 3), textcoords="offset points"
            )
        c = correlations.get(metric, {})
        rho = "n/a" if c.get("spearman") is None else f"{c['spearman']:+.2f}"
        p = "n/a" if c.get("spearmanP") is None else f"{c['spearmanP']:.2g}"
        ax.set_title(f"Spearman rho {rho} (p {p}, n={c.get('n', 0)})", fontsize="small")
        ax.set_xlabel("test accuracy")
        ax.set_ylabel(label)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=_PLOT_DPI)
    return path
