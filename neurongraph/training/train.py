"""Training with the clusterability options of Filan et al., checkpoints and saved models.

:func:`train_model` trains with Adam on mini-batches. The loss is the sum over the dataset's tasks
of cross-entropy on each classification task's logits, or mean squared error on each regression
output, plus

- ``l1 * sum |w|`` over all weights (biases excluded), when ``l1 > 0``;
- ``l2 * sum w^2`` over all weights (biases excluded), when ``l2 > 0``;
- ``spectral_reg * spectral_regulariser(weights, reg_k)``
  (:func:`neurongraph.training.regularisers.spectral_regulariser`), when ``spectral_reg > 0``.
  The eigensolver is the expensive part (about 0.3 s for the 1,098 neurons of a
  64-256-256-256-256-10 MLP on 2 cores), so it runs on every ``spectral_every``-th step only, with
  weight ``spectral_every * spectral_reg``: the same regularisation per epoch, as in the lazy
  regularisation of StyleGAN2 (Karras et al., 2020). ``spectral_every=1`` adds it on every step.

Options: ``dropout`` after every hidden ReLU (after every block of a ResNet); ``modular_init``
(see :mod:`neurongraph.training.modular`); ``prune`` (see :mod:`neurongraph.training.pruning`).
On a ResNet, L1, pruning and modular initialisation take every convolution (projection
shortcuts included) and the head, and the spectral regulariser acts on the weight graph the
ingest writes, residual sums included
(:func:`~neurongraph.training.regularisers.adjacency_spectral_regulariser` of
:func:`~neurongraph.training.resnet.residual_weight_adjacency`).

Seeds: one :class:`torch.Generator` made from ``random_state`` draws the weights, the batch order
and the dropout masks (top-level Dropout modules of the Sequential are applied with it instead of
torch's global generator), so the same seed gives the same weights.

Saved models: :func:`save_model` writes TorchScript (:func:`torch.jit.script`) to ``PATH`` and a
JSON sidecar to ``PATH.json``. With ``checkpoint_every=N`` the model after every N-th epoch (and
after the last) is saved as ``checkpoint_dir/epoch-NNN.pt`` with its sidecar, holding the test
accuracy at that epoch.
"""

from __future__ import annotations

import json
import logging
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import neurongraph
from neurongraph.errors import IngestError, UsageError, arg
from neurongraph.model.datasets import REGRESSION, Dataset, check_input_shape
from neurongraph.model.loading import (
    SIDECAR_SUFFIX,
    TOKENS,
    WORDS_TOKENIZER,
    camel_keys,
    sidecar_keys,
)
from neurongraph.seeds import resolve_seed
from neurongraph.training.architectures import (
    Architecture,
    build_model,
    make_generator,
    model_weights,
    parse_architecture,
)
from neurongraph.training.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_L1,
    DEFAULT_L2,
    DEFAULT_LR,
    DEFAULT_PRUNE,
    DEFAULT_REG_K,
    DEFAULT_SPECTRAL_REG,
)
from neurongraph.training.modular import apply_modular_init
from neurongraph.training.pruning import (
    apply_masks,
    magnitude_prune,
    pruning_schedule,
    weight_sparsity,
)
from neurongraph.training.regularisers import (
    adjacency_spectral_regulariser,
    l1_penalty,
    l2_penalty,
    spectral_regulariser,
)
from neurongraph.training.resnet import is_residual, residual_weight_adjacency
from neurongraph.training.transformer import (
    TinyTransformer,
    build_transformer,
    transformer_weight_adjacency,
)

__all__ = [
    "CHECKPOINT_PATTERN",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_DROPOUT",
    "DEFAULT_EPOCHS",
    "DEFAULT_L1",
    "DEFAULT_L2",
    "DEFAULT_LR",
    "DEFAULT_PRUNE",
    "DEFAULT_REG_K",
    "DEFAULT_SPECTRAL_EVERY",
    "DEFAULT_SPECTRAL_REG",
    "SIDECAR_FORMAT",
    "EpochRecord",
    "Evaluation",
    "TrainResult",
    "check_text_data",
    "evaluate_model",
    "find_checkpoints",
    "read_sidecar",
    "save_model",
    "sidecar_path",
    "train_model",
]

log = logging.getLogger(__name__)

#: Steps between evaluations of the spectral regulariser (see the module docstring).
DEFAULT_SPECTRAL_EVERY = 5
EVAL_BATCH_SIZE = 4096

CHECKPOINT_PATTERN = "epoch-{epoch:03d}.pt"
_CHECKPOINT_NAME = re.compile(r"epoch-(\d+)\.pt")
#: Identifies the sidecar layout; bump when its keys change meaning.
SIDECAR_FORMAT = "neurongraph-model/1"


@dataclass(frozen=True)
class Evaluation:
    """Test-set performance.

    ``accuracy`` is the mean over tasks of the accuracy of a classification task or the R^2 of a
    regression task; ``task_accuracy`` gives each task's value; ``loss`` is the training loss
    (without regularisers) on the test set.
    """

    accuracy: float
    task_accuracy: dict[str, float]
    loss: float


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did: mean training loss, mean regulariser values, test performance."""

    epoch: int
    loss: float
    test_loss: float
    test_accuracy: float
    task_accuracy: dict[str, float]
    sparsity: float
    spectral: float | None = None
    seconds: float = 0.0


@dataclass
class TrainResult:
    """A trained model and how it got there.

    Attributes
    ----------
    model : torch.nn.Sequential
        The trained model, in eval mode.
    architecture : str or None
        The canonical architecture string; None for a model passed in.
    dataset : str
    dataset_fingerprint : str
    input_shape : tuple of int
    seed : int
        The resolved ``random_state``.
    options : dict
        Every training option, as passed (after defaults).
    history : list of EpochRecord
    evaluation : Evaluation
        Test performance of the final model.
    checkpoints : list of Path
    """

    model: nn.Sequential
    architecture: str | None
    dataset: str
    dataset_fingerprint: str
    input_shape: tuple[int, ...]
    seed: int
    options: dict
    history: list[EpochRecord]
    evaluation: Evaluation
    checkpoints: list[Path] = field(default_factory=list)

    @property
    def test_accuracy(self) -> float:
        """Mean test accuracy over tasks (R^2 for regression tasks)."""
        return self.evaluation.accuracy

    @property
    def task_accuracy(self) -> dict[str, float]:
        """Test accuracy (or R^2) per task."""
        return self.evaluation.task_accuracy

    def metadata(self) -> dict:
        """The JSON sidecar content for the final model."""
        return _sidecar(self, epoch=len(self.history), evaluation=self.evaluation)

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Save the model and its sidecar (:func:`save_model`)."""
        return save_model(self.model, path, self.metadata())


def train_model(
    arch_or_model: str | Architecture | nn.Sequential,
    dataset: Dataset,
    *,
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dropout: float = DEFAULT_DROPOUT,
    l1: float = DEFAULT_L1,
    l2: float = DEFAULT_L2,
    prune: float = DEFAULT_PRUNE,
    modular_init: int | None = None,
    spectral_reg: float = DEFAULT_SPECTRAL_REG,
    reg_k: int = DEFAULT_REG_K,
    spectral_every: int = DEFAULT_SPECTRAL_EVERY,
    checkpoint_every: int | None = None,
    checkpoint_dir: str | Path | None = None,
    random_state: int | None = None,
    progress: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train a model on a dataset with the clusterability options (see the module docstring).

    Parameters
    ----------
    arch_or_model : str, Architecture or torch.nn.Sequential
        An architecture string (``'64-256-10'``, ``'cnn:c16-p-f64-10'``), or a model to train as
        it is (then ``dropout`` must be 0: use the model's own Dropout modules).
    dataset : Dataset
        Put in the layout the model takes (:func:`neurongraph.model.datasets.check_input_shape`).
    epochs : int, default=DEFAULT_EPOCHS
        Passes over the training set; 0 only evaluates the initial model.
    lr : float, default=DEFAULT_LR
        Adam learning rate.
    batch_size : int, default=DEFAULT_BATCH_SIZE
    dropout : float, default=DEFAULT_DROPOUT
        Dropout probability after every hidden ReLU of a built architecture.
    l1 : float, default=DEFAULT_L1
        Weight of the L1 penalty ``sum |w|``.
    l2 : float, default=DEFAULT_L2
        Weight of the L2 penalty ``sum w^2``.
    prune : float, default=DEFAULT_PRUNE
        Target sparsity in [0, 1) of magnitude pruning; 0 disables it.
    modular_init : int, optional
        Number of modules M of the modular initialisation; None or 1 disables it.
    spectral_reg : float, default=DEFAULT_SPECTRAL_REG
        Weight lambda of the spectral regulariser; 0 disables it.
    reg_k : int, default=DEFAULT_REG_K
        Eigenvalues K in the spectral regulariser.
    spectral_every : int, default=DEFAULT_SPECTRAL_EVERY
        Steps between evaluations of the spectral regulariser.
    checkpoint_every : int, optional
        Save the model every this many epochs (and after the last) into ``checkpoint_dir``.
    checkpoint_dir : str or Path, optional
    random_state : int, optional
        Seed of weights, batch order and dropout; drawn and logged when None.
    progress : callable, optional
        Called with each epoch's :class:`EpochRecord`.

    Returns
    -------
    TrainResult

    Raises
    ------
    IngestError
        Malformed architecture, or data that does not fit the model's input or output.
    UsageError
        An option out of range.

    Examples
    --------
    >>> from neurongraph.model.datasets import load_dataset
    >>> result = train_model("64-32-10", load_dataset("digits"), epochs=2, random_state=0)
    >>> result.test_accuracy > 0.5
    True
    """
    options = {
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "dropout": dropout,
        "l1": l1,
        "l2": l2,
        "prune": prune,
        "modular_init": modular_init,
        "spectral_reg": spectral_reg,
        "reg_k": reg_k,
        "spectral_every": spectral_every,
        "checkpoint_every": checkpoint_every,
    }
    _check_options(options, checkpoint_dir, given_model=isinstance(arch_or_model, nn.Module))
    seed = resolve_seed(random_state)
    generator = make_generator(seed)
    model, architecture, dataset = _prepare(arch_or_model, dataset, dropout, generator)
    weights = model_weights(model)
    spectral = _spectral_term(model, weights, reg_k, dataset.input_shape)
    batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if batch_norm and batch_size == 1 and epochs > 0:
        raise UsageError(
            "batch_size 1 cannot train BatchNorm layers (statistics of one example); use 2 or more"
        )
    if modular_init is not None and modular_init > 1:
        apply_modular_init(model, modular_init)
    result = TrainResult(
        model=model,
        architecture=architecture,
        dataset=dataset.name,
        dataset_fingerprint=dataset.fingerprint,
        input_shape=dataset.input_shape,
        seed=seed,
        options=options,
        history=[],
        evaluation=evaluate_model(model, dataset),
    )
    log.info(
        "training %s on %s for %d epochs (seed %d)",
        architecture or "a given model",
        dataset.name,
        epochs,
        seed,
    )
    x_train = torch.from_numpy(dataset.X_train)
    y_train = torch.from_numpy(_target_matrix(dataset.y_train))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    masks = [torch.ones_like(w, dtype=torch.bool) for w in weights] if prune > 0 else None
    schedule = pruning_schedule(prune, epochs) if prune > 0 else {}
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    step = 0
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        loss_sum, spectral_values = 0.0, []
        order = torch.randperm(len(x_train), generator=generator)
        for batch in _batches(order, batch_size, batch_norm):
            output = _forward_train(model, x_train[batch], generator)
            loss = _task_loss(output, y_train[batch], dataset)
            total = loss
            if l1 > 0:
                total = total + l1 * l1_penalty(weights)
            if l2 > 0:
                total = total + l2 * l2_penalty(weights)
            if spectral_reg > 0 and step % spectral_every == 0:
                value = spectral()
                spectral_values.append(value.item())
                total = total + spectral_every * spectral_reg * value
            optimiser.zero_grad()
            total.backward()
            optimiser.step()
            if masks is not None:
                apply_masks(weights, masks)
            loss_sum += loss.item() * len(batch)
            step += 1
        if epoch in schedule:
            magnitude_prune(weights, masks, schedule[epoch])
        evaluation = evaluate_model(model, dataset)
        record = EpochRecord(
            epoch=epoch,
            loss=loss_sum / len(x_train),
            test_loss=evaluation.loss,
            test_accuracy=evaluation.accuracy,
            task_accuracy=evaluation.task_accuracy,
            sparsity=weight_sparsity(weights),
            spectral=float(np.mean(spectral_values)) if spectral_values else None,
            seconds=time.perf_counter() - started,
        )
        result.history.append(record)
        result.evaluation = evaluation
        log.debug("epoch %d: %s", epoch, record)
        if checkpoint_every and (epoch % checkpoint_every == 0 or epoch == epochs):
            path = checkpoint_dir / CHECKPOINT_PATTERN.format(epoch=epoch)
            save_model(model, path, _sidecar(result, epoch=epoch, evaluation=evaluation))
            result.checkpoints.append(path)
        if progress is not None:
            progress(record)
    model.eval()
    log.info("test accuracy %.4f after %d epochs", result.test_accuracy, epochs)
    return result


@torch.no_grad()
def evaluate_model(model: nn.Module, dataset: Dataset) -> Evaluation:
    """Test accuracy per task (R^2 for regression tasks) and the test loss of ``model``.

    The model is evaluated in eval mode and left in the mode it was in.
    """
    was_training = model.training
    model.eval()
    try:
        x = torch.from_numpy(dataset.X_test)
        output = torch.cat([model(batch) for batch in x.split(EVAL_BATCH_SIZE)])
    finally:
        model.train(was_training)
    targets = torch.from_numpy(_target_matrix(dataset.y_test))
    scores = {}
    for task in dataset.tasks:
        out, target = output[:, task.output_slice], targets[:, task.label_column]
        if task.kind == REGRESSION:
            residual = ((out.squeeze(1).double() - target) ** 2).sum()
            spread = ((target - target.mean()) ** 2).sum()
            scores[task.name] = float(1.0 - residual / spread) if spread > 0 else float("nan")
        else:
            scores[task.name] = float((out.argmax(dim=1) == target.long()).double().mean())
    return Evaluation(
        accuracy=float(np.mean(list(scores.values()))),
        task_accuracy=scores,
        loss=float(_task_loss(output, targets, dataset)),
    )


def save_model(model: nn.Module, path: str | Path, metadata: dict) -> tuple[Path, Path]:
    """Write ``model`` as TorchScript to ``path`` and ``metadata`` as JSON to ``path.json``.

    Parameters
    ----------
    model : torch.nn.Module
        Scripted in eval mode (its mode is restored afterwards).
    path : str or Path
        Parent directories are created.
    metadata : dict
        JSON-serialisable; :meth:`TrainResult.metadata` gives the standard content.

    Returns
    -------
    model_path, sidecar_path : Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated upstream but it is the format neurongraph ingests
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch.jit")
            scripted = torch.jit.script(model)
    finally:
        model.train(was_training)
    scripted.save(str(path))
    sidecar = sidecar_path(path)
    sidecar.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return path, sidecar


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar of a model file: ``path`` with ``.json`` appended."""
    return Path(f"{path}{SIDECAR_SUFFIX}")


def read_sidecar(path: str | Path) -> dict:
    """Read the JSON sidecar of the model file ``path``.

    Raises
    ------
    IngestError
        When it is missing or not a JSON object.
    """
    sidecar = sidecar_path(path)
    try:
        content = json.loads(sidecar.read_text())
    except FileNotFoundError as err:
        raise IngestError(f"no sidecar {sidecar} next to {path}; save with save_model") from err
    except (OSError, ValueError) as err:
        raise IngestError(f"cannot read sidecar {sidecar}: {err}") from err
    if not isinstance(content, dict):
        raise IngestError(f"sidecar {sidecar} does not hold a JSON object; it is not neurongraph's")
    return sidecar_keys(content)


def find_checkpoints(checkpoint_dir: str | Path) -> list[tuple[int, Path]]:
    """The ``epoch-NNN.pt`` files of a checkpoint directory as ``(epoch, path)``, by epoch.

    Raises
    ------
    IngestError
        When the directory does not exist or holds no checkpoint.
    """
    directory = Path(checkpoint_dir)
    if not directory.is_dir():
        raise IngestError(f"checkpoint directory not found: {directory}; check the path")
    found = sorted(
        (int(match.group(1)), path)
        for path in directory.iterdir()
        if (match := _CHECKPOINT_NAME.fullmatch(path.name)) and path.is_file()
    )
    if not found:
        raise IngestError(
            f"checkpoint directory {directory} holds no epoch-NNN.pt files; train with "
            f"{arg('checkpoint_every')} to make them"
        )
    return found


def _check_options(options: dict, checkpoint_dir: str | Path | None, *, given_model: bool) -> None:
    def positive_int(name: str) -> None:
        value = options[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be a positive integer, not {value!r}")

    if (
        isinstance(options["epochs"], bool)
        or not isinstance(options["epochs"], int)
        or (options["epochs"] < 0)
    ):
        raise UsageError(f"epochs must be a non-negative integer, not {options['epochs']!r}")
    for name in ("batch_size", "reg_k", "spectral_every"):
        positive_int(name)
    for name in ("modular_init", "checkpoint_every"):
        if options[name] is not None:
            positive_int(name)
    if not options["lr"] > 0:
        raise UsageError(f"lr must be positive, not {options['lr']}")
    for name in ("l1", "l2", "spectral_reg"):
        if not options[name] >= 0:
            raise UsageError(f"{name} must be zero or positive, not {options[name]}")
    if not 0.0 <= options["dropout"] < 1.0:
        raise UsageError(f"dropout must be in [0, 1), not {options['dropout']}")
    if given_model and options["dropout"] > 0:
        raise UsageError("dropout applies to built architectures; give the model Dropout layers")
    if not 0.0 <= options["prune"] < 1.0:
        raise UsageError(f"prune (target sparsity) must be in [0, 1), not {options['prune']}")
    if options["prune"] > 0 and options["epochs"] < 1:
        raise UsageError("pruning needs at least one epoch of training")
    if options["checkpoint_every"] is not None and checkpoint_dir is None:
        raise UsageError("checkpoint_every needs a checkpoint directory to write to")


def _prepare(
    arch_or_model: str | Architecture | nn.Sequential,
    dataset: Dataset,
    dropout: float,
    generator: torch.Generator,
) -> tuple[nn.Sequential, str | None, Dataset]:
    """Build or check the model and put the data in its layout, before any training."""
    if isinstance(arch_or_model, nn.Module):
        model = arch_or_model
        if not isinstance(model, nn.Sequential):
            raise UsageError(
                f"train_model takes an nn.Sequential or an architecture string, not a "
                f"{type(model).__name__}"
            )
        try:
            with torch.no_grad():
                output = model.eval()(torch.from_numpy(dataset.X_train[:2]))
        except RuntimeError as err:
            raise IngestError(
                f"the model does not take {dataset.name!r} examples of shape "
                f"{dataset.input_shape}: {str(err).splitlines()[0]}"
            ) from err
        _check_outputs(output.shape[1], dataset, "the model")
        return model, None, dataset
    arch = parse_architecture(arch_or_model) if isinstance(arch_or_model, str) else arch_or_model
    if arch.kind == "transformer":
        return _prepare_transformer(arch, dataset, dropout, generator)
    if arch.input_shape is None:
        if dataset.image_shape is None:
            dataset.as_images()  # raises: the data has no image layout for this CNN
        arch = arch.with_input_shape(dataset.image_shape)
    dataset = check_input_shape(dataset, arch.input_shape)
    _check_outputs(arch.n_outputs, dataset, f"architecture {arch.spec!r}")
    return build_model(arch, dropout=dropout, random_state=generator), arch.spec, dataset


def _batches(order: torch.Tensor, batch_size: int, batch_norm: bool) -> list[torch.Tensor]:
    """Mini-batches of ``order``; with BatchNorm, a last batch of one example joins the one
    before it (BatchNorm cannot normalise a single example's 1x1 maps in training)."""
    batches = list(order.split(batch_size))
    if batch_norm and len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def _spectral_term(
    model: nn.Module, weights: list[torch.Tensor], k: int, input_shape: tuple[int, ...]
) -> Callable[[], torch.Tensor]:
    """The spectral regulariser of the model's weight graph: a chain's through its bipartite
    structure, a ResNet's or a transformer's from its whole adjacency."""
    if is_residual(model):
        adjacency = partial(residual_weight_adjacency, model, input_shape[0])
    elif isinstance(model, TinyTransformer):
        adjacency = partial(transformer_weight_adjacency, model)
    else:
        return lambda: spectral_regulariser(weights, k)
    return lambda: adjacency_spectral_regulariser(adjacency(), k).to(weights[0].dtype)


def _prepare_transformer(
    arch: Architecture, dataset: Dataset, dropout: float, generator: torch.Generator
) -> tuple[TinyTransformer, str, Dataset]:
    """A tiny transformer for a text dataset of word ids (its positions fix the model's)."""
    check_text_data(dataset)
    _check_outputs(arch.n_outputs, dataset, f"architecture {arch.spec!r}")
    model = build_transformer(arch, dataset.input_shape[0], generator, dropout)
    return model, arch.spec, dataset


def check_text_data(dataset: Dataset) -> None:
    """IngestError unless ``dataset`` is text, as a transformer architecture takes."""
    if dataset.texts is None:
        raise IngestError(
            f"a transformer takes text, and dataset {dataset.name!r} holds feature vectors; "
            "train it on text-task or text:FILE"
        )


def _check_outputs(n_outputs: int, dataset: Dataset, what: str) -> None:
    if n_outputs != dataset.n_outputs:
        raise IngestError(
            f"{what} has {n_outputs} outputs but dataset {dataset.name!r} needs "
            f"{dataset.n_outputs}; make the last width {dataset.n_outputs}"
        )


def _target_matrix(y: np.ndarray) -> np.ndarray:
    """Labels or regression targets as a float64 ``(n, columns)`` matrix."""
    return np.asarray(y, dtype=np.float64).reshape(len(y), -1)


def _task_loss(output: torch.Tensor, targets: torch.Tensor, dataset: Dataset) -> torch.Tensor:
    loss = output.new_zeros(())
    for task in dataset.tasks:
        out, target = output[:, task.output_slice], targets[:, task.label_column]
        if task.kind == REGRESSION:
            loss = loss + F.mse_loss(out.squeeze(1), target.to(out.dtype))
        else:
            loss = loss + F.cross_entropy(out, target.long())
    return loss


def _forward_train(
    model: nn.Sequential, x: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Forward pass with the top-level Dropout modules' masks drawn from ``generator`` (a
    model that is not a Sequential runs as it is)."""
    if not isinstance(model, nn.Sequential):
        return model(x)
    for module in model:
        if isinstance(module, nn.Dropout) and module.p > 0:
            keep = 1.0 - module.p
            x = x * torch.bernoulli(torch.full_like(x, keep), generator=generator) / keep
        else:
            x = module(x)
    return x


def _sidecar(result: TrainResult, *, epoch: int, evaluation: Evaluation) -> dict:
    tokens = {}
    if isinstance(result.model, TinyTransformer):
        tokens = {
            "inputKind": TOKENS,
            "tokenizer": WORDS_TOKENIZER,
            "vocabSize": result.model.vocab_size,
        }
    return {
        **tokens,
        "format": SIDECAR_FORMAT,
        "neurongraphVersion": neurongraph.__version__,
        "architecture": result.architecture,
        "dataset": result.dataset,
        "datasetFingerprint": result.dataset_fingerprint,
        "inputShape": list(result.input_shape),
        "seed": result.seed,
        "options": dict(result.options),
        "epoch": epoch,
        "testAccuracy": evaluation.accuracy,
        "taskAccuracy": dict(evaluation.task_accuracy),
        "testLoss": evaluation.loss,
        "sparsity": weight_sparsity(model_weights(result.model)),
        "history": [camel_keys(asdict(record)) for record in result.history[:epoch]],
    }
