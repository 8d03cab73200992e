"""Local Hugging Face model directories, read with ``transformers`` from disk only.

A model directory holds ``config.json`` and its weights: ``model.safetensors`` (or a sharded
``model.safetensors.index.json`` with the shards it names), or ``pytorch_model.bin``, a pickle,
read only with ``trust_pickle``. Tokenizer files beside them are optional. The model is built
with ``AutoModel`` (``AutoModelForSequenceClassification`` when ``config.architectures`` names a
``*ForSequenceClassification``) with ``local_files_only=True`` and the hub switched off
(``HF_HUB_OFFLINE=1``): nothing is ever downloaded, and no code from the directory is run
(``trust_remote_code=False``). ``transformers`` is an optional extra, imported only here and
only when a directory is given.

The model takes token ids ``(batch, positions)`` and returns one tensor (:class:`TokenModel`);
its example input (:meth:`TokenInput.example`) is a few built-in sentences through the
directory's own tokenizer, padded to a fixed length, or seeded random ids without one.

**How the store keeps one.** The files of the directory that the model is made of (config,
weights, tokenizer files) are copied flat into ``files/models/<sha256>/``; the sha256 is
:func:`~neurongraph.store.files.sha256_directory` over those files (each file's own sha256 with
its name, in sorted name order), so the stored copy is checked the same way before it is read
back.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import nn

from neurongraph.errors import IngestError, arg
from neurongraph.model.datasets import Dataset
from neurongraph.model.loading import LoadedModel, ModelFile
from neurongraph.model.texts import PAD_ID, TEXT_PREFIX, TEXT_TASK, encode_words
from neurongraph.store.files import sha256_directory

__all__ = [
    "EXAMPLE_BATCH",
    "EXAMPLE_POSITIONS",
    "HF_DIRECTORY",
    "INSTALL_HINT",
    "TokenInput",
    "TokenModel",
    "is_model_directory",
    "load_directory",
    "model_files",
    "pad_token_of",
]

log = logging.getLogger(__name__)

#: ``modelKind`` of a model read from a Hugging Face model directory.
HF_DIRECTORY = "hf-directory"
#: How to install what reading a model directory needs.
INSTALL_HINT = "pip install 'neurongraph[transformers]'"
CONFIG = "config.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLED_WEIGHTS = "pytorch_model.bin"
#: Tokenizer files kept with the model when the directory has them.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)
#: The files whose presence marks a directory as a model directory.
MARKERS = (CONFIG, SAFETENSORS, SAFETENSORS_INDEX, PICKLED_WEIGHTS)
#: Positions and batch size of a token model's example input.
EXAMPLE_POSITIONS = 16
EXAMPLE_BATCH = 4
#: Seed of the random token ids used when the directory has no tokenizer.
EXAMPLE_SEED = 0
#: The example input's sentences, one per example of the batch.
EXAMPLE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A neuron graph shows which units of a network work together.",
    "Residual streams carry every layer's output to the next.",
    "Small models are easy to read.",
)
#: A class named in ``config.architectures`` with this suffix is built, and its logits read.
CLASSIFIER_SUFFIX = "ForSequenceClassification"
#: Which output of the model a :class:`TokenModel` returns.
HIDDEN_STATES = "last_hidden_state"
LOGITS = "logits"
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
#: Missing weights named in a refusal.
_NAMED_MISSING = 3


class TokenModel(nn.Module):
    """A ``transformers`` model as a module of one tensor in, one out: token ids
    ``(batch, positions)`` to ``last_hidden_state`` (a bare encoder or decoder) or ``logits``
    (a sequence classifier). With a ``pad_token`` its attention leaves out the positions that
    hold it (the attention mask its tokenizer would give)."""

    def __init__(self, model: nn.Module, output: str, pad_token: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.output = output
        self.pad_token = pad_token

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.pad_token is None:
            outputs = self.model(input_ids=input_ids, return_dict=True)
        else:
            mask = (input_ids != self.pad_token).to(torch.int64)
            outputs = self.model(input_ids=input_ids, attention_mask=mask, return_dict=True)
        return getattr(outputs, self.output)


@dataclass(frozen=True)
class TokenInput:
    """What a token model takes: ids in ``[0, vocab_size)``, at most ``max_positions`` of
    them, and the directory whose tokenizer makes its example input and encodes text (None:
    it has none); ``words``: it takes the built-in word vocabulary
    (:data:`~neurongraph.model.texts.WORDS`) instead, as a model ``neurongraph train`` made
    does; ``pad_token``: the id its padding positions hold."""

    vocab_size: int
    max_positions: int | None
    tokenizer: Path | None
    words: bool = False
    pad_token: int | None = None

    def encode(self, dataset: Dataset, positions: int | None = None) -> Dataset:
        """``dataset``'s texts as this model's token ids, padded (with ``pad_token``) or cut
        to ``positions`` (default: the longest text's, at most ``max_positions``).

        Raises
        ------
        IngestError
            Data that is not text, a model without a tokenizer, or more positions than the
            model takes.
        """
        if dataset.texts is None:
            raise IngestError(
                f"the model takes token ids and dataset {dataset.name!r} holds feature vectors; "
                f"give text as {arg('data')}: {TEXT_TASK} or {TEXT_PREFIX}FILE"
            )
        if None not in (self.max_positions, positions) and positions > self.max_positions:
            raise IngestError(
                f"{positions} positions: the model takes at most {self.max_positions}; give fewer"
            )
        if self.tokenizer is not None:
            encoded = [
                _encode(self.tokenizer, list(texts), positions or self.max_positions)
                for texts in dataset.texts
            ]
            length = positions or max(int(ids.shape[1]) for ids, _ in encoded)
            pad = encoded[0][1]
            train, test = (_padded(ids, length, pad) for ids, _ in encoded)
        elif self.words:
            length = positions or int(encode_words(np.concatenate(dataset.texts)).shape[1])
            if self.max_positions is not None:
                length = min(length, self.max_positions)
            train, test = (encode_words(list(texts), length) for texts in dataset.texts)
            pad = PAD_ID
        else:
            raise IngestError(
                "the model has no tokenizer to encode text with; save its directory with its "
                "tokenizer (tokenizer.save_pretrained(DIR))"
            )
        for ids in (train, test):
            if len(ids) and (int(ids.max()) >= self.vocab_size or int(ids.min()) < 0):
                raise IngestError(
                    f"the tokenizer gives token ids outside the model's vocabulary [0, "
                    f"{self.vocab_size}); save the model with its own tokenizer"
                )
        return replace(dataset, X_train=train, X_test=test, input_shape=(length,), pad_token=pad)

    def example(self, input_shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """The example input: ``EXAMPLE_BATCH`` sequences of ``input_shape[0]`` (default
        ``EXAMPLE_POSITIONS``, at most ``max_positions``) token ids, int64.

        Raises
        ------
        IngestError
            When ``input_shape`` is not one number of positions the model can take.
        """
        if input_shape is not None and len(input_shape) != 1:
            raise IngestError(
                f"the model takes token ids: {arg('input_shape')} is its number of positions (one "
                f"number, e.g. {EXAMPLE_POSITIONS}), not {','.join(map(str, input_shape))}"
            )
        positions = input_shape[0] if input_shape else EXAMPLE_POSITIONS
        if input_shape is None and self.max_positions is not None:
            positions = min(positions, self.max_positions)
        if self.max_positions is not None and positions > self.max_positions:
            raise IngestError(
                f"{arg('input_shape')} {positions}: the model takes at most {self.max_positions} "
                "positions; give fewer"
            )
        if self.tokenizer is None:
            generator = torch.Generator().manual_seed(EXAMPLE_SEED)
            shape = (EXAMPLE_BATCH, positions)
            return torch.randint(0, self.vocab_size, shape, generator=generator)
        ids, pad = _encode(self.tokenizer, list(EXAMPLE_SENTENCES[:EXAMPLE_BATCH]), positions)
        ids = torch.from_numpy(_padded(ids, positions, pad))
        if int(ids.max()) >= self.vocab_size or int(ids.min()) < 0:
            raise IngestError(
                f"the tokenizer in {self.tokenizer} gives token ids outside the model's "
                f"vocabulary [0, {self.vocab_size}); save the model with its own tokenizer"
            )
        return ids


def is_model_directory(path: Path) -> bool:
    """Whether ``path`` is a directory with a model's config or weights in it."""
    return path.is_dir() and any((path / name).is_file() for name in MARKERS)


def model_files(directory: Path, *, trust_pickle: bool = False) -> list[str]:
    """The names of the files a model directory's model is made of: its config, weights and
    tokenizer files, checked to be there.

    Raises
    ------
    IngestError
        Without ``config.json`` or weights, or with only pickled weights and no
        ``trust_pickle``.
    """
    if not (directory / CONFIG).is_file():
        raise IngestError(
            f"{directory} has no {CONFIG}; save the model with save_pretrained(DIR), which "
            f"writes {CONFIG} beside {SAFETENSORS}"
        )
    names = [CONFIG]
    if (directory / SAFETENSORS).is_file():
        names.append(SAFETENSORS)
    elif (directory / SAFETENSORS_INDEX).is_file():
        names += [SAFETENSORS_INDEX, *_shards(directory)]
    elif (directory / PICKLED_WEIGHTS).is_file():
        if not trust_pickle:
            raise IngestError(
                f"{directory} holds its weights as {PICKLED_WEIGHTS}, a pickle: loading it runs "
                f"code from the file; pass {arg('trust_pickle')} if you trust it, or save the "
                "model with save_pretrained(DIR, safe_serialization=True)"
            )
        names.append(PICKLED_WEIGHTS)
    else:
        raise IngestError(
            f"{directory} has {CONFIG} but no weights ({SAFETENSORS}); save the model with "
            "save_pretrained(DIR)"
        )
    names += [name for name in TOKENIZER_FILES if (directory / name).is_file()]
    return names


def _shards(directory: Path) -> list[str]:
    index = directory / SAFETENSORS_INDEX
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise IngestError(f"{index} is not a safetensors index ({err}); save it again") from err
    for shard in shards:
        if not isinstance(shard, str) or Path(shard).name != shard:
            raise IngestError(f"{index} names {shard!r}, not a file beside it; save it again")
        if not (directory / shard).is_file():
            raise IngestError(f"{index} names {shard}, which is not in {directory}")
    return shards


def _transformers(directory: Path) -> ModuleType:
    try:
        import transformers
    except ImportError as err:
        raise IngestError(
            f"{directory} is a Hugging Face model directory; reading it needs transformers: "
            f"{INSTALL_HINT}"
        ) from err
    return transformers


@contextmanager
def _offline(directory: Path) -> Iterator[ModuleType]:
    """``transformers``, imported and used with the hub switched off and its logging and
    progress bars quiet (the CLI reports what matters)."""
    saved = {key: os.environ.get(key) for key in _OFFLINE_ENV}
    os.environ.update(_OFFLINE_ENV)
    try:
        transformers = _transformers(directory)
        hf_logging = transformers.utils.logging
        verbosity = hf_logging.get_verbosity()
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            yield transformers
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _config(transformers: ModuleType, directory: Path):
    path = directory / CONFIG
    try:
        raw = json.loads(path.read_text())
    except ValueError as err:
        raise IngestError(f"{path} is not valid JSON ({err}); save the model again") from err
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    if not isinstance(model_type, str) or not model_type:
        raise IngestError(f"{path} names no model_type; save the model with save_pretrained(DIR)")
    if model_type not in transformers.CONFIG_MAPPING:
        raise IngestError(
            f"{path} names model type {model_type!r}, which transformers "
            f"{transformers.__version__} does not know; upgrade transformers or give a model "
            "of a type it knows"
        )
    try:
        config = transformers.AutoConfig.from_pretrained(
            str(directory), local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise IngestError(f"transformers cannot read {path}: {_first_line(err)}") from err
    if not isinstance(getattr(config, "vocab_size", None), int):
        raise IngestError(
            f"{directory} holds a {model_type} model, which does not take token ids; neurongraph "
            "reads text models from model directories (token ids in, hidden states out)"
        )
    return config


def load_directory(directory: Path, *, trust_pickle: bool = False) -> LoadedModel:
    """Load a Hugging Face model directory from disk, in eval mode, float32.

    Parameters
    ----------
    directory : Path
        Holds ``config.json`` and ``model.safetensors`` (see the module's docstring).
    trust_pickle : bool, default=False
        Allow weights in ``pytorch_model.bin`` (a pickle).

    Returns
    -------
    LoadedModel
        A :class:`TokenModel`, ``kind`` ``HF_DIRECTORY``, ``tokens`` saying what it takes, and
        the directory's files to keep in the store.

    Raises
    ------
    IngestError
        Without ``config.json`` or weights, without ``transformers`` (the message says how to
        install it), for a model type ``transformers`` does not know, or weights that do not
        fit the config.
    """
    names = model_files(directory, trust_pickle=trust_pickle)
    sha = sha256_directory(directory, names)
    with _offline(directory) as transformers:
        config = _config(transformers, directory)
        architectures = getattr(config, "architectures", None) or []
        classifier = any(name.endswith(CLASSIFIER_SUFFIX) for name in architectures)
        auto = transformers.AutoModel
        if classifier:
            auto = transformers.AutoModelForSequenceClassification
        try:
            model, info = auto.from_pretrained(
                str(directory),
                config=config,
                local_files_only=True,
                trust_remote_code=False,
                use_safetensors=PICKLED_WEIGHTS not in names,
                output_loading_info=True,
            )
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
            raise IngestError(
                f"transformers cannot build a {config.model_type} model from {directory}: "
                f"{_first_line(err)}"
            ) from err
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        raise IngestError(
            f"the weights in {directory} lack {len(missing)} tensors of {type(model).__name__} "
            f"(e.g. {', '.join(missing[:_NAMED_MISSING])}), which would be random; save the "
            "model itself with save_pretrained(DIR)"
        )
    model.config.use_cache = False
    tokenizer = directory if any(n in TOKENIZER_FILES for n in names) else None
    pad = pad_token_of(directory) if tokenizer is not None else None
    output = LOGITS if classifier else HIDDEN_STATES
    module = TokenModel(model.float(), output, pad).eval()
    tokens = TokenInput(int(config.vocab_size), _max_positions(config), tokenizer, pad_token=pad)
    log.info("read %s (%s) from %s", type(model).__name__, config.model_type, directory)
    return LoadedModel(
        module,
        str(directory.resolve()),
        ModelFile(sha, "", path=directory, members=tuple(names)),
        HF_DIRECTORY,
        {"architecture": type(model).__name__},
        tokens=tokens,
    )


def _max_positions(config) -> int | None:
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _padded(ids: np.ndarray, length: int, pad: int) -> np.ndarray:
    """Token ids ``(n, positions)`` padded at the end with ``pad``, or cut, to ``length``."""
    out = np.full((len(ids), length), pad, dtype=np.int64)
    kept = min(length, ids.shape[1])
    out[:, :kept] = ids[:, :kept]
    return out


def _encode(directory: Path, texts: list[str], limit: int | None) -> tuple[np.ndarray, int]:
    """Texts through a directory's tokenizer: ids padded to the longest (cut at ``limit``
    positions), and the padding id."""
    tokenizer = _tokenizer(directory)
    encoded = tokenizer(
        texts,
        padding="longest",
        truncation=limit is not None,
        max_length=limit,
        return_tensors="np",
    )
    return encoded["input_ids"].astype(np.int64), int(tokenizer.pad_token_id)


def pad_token_of(directory: Path) -> int:
    """The id a directory's tokenizer pads with (its padding, end or unknown token).

    Raises
    ------
    IngestError
        When the tokenizer cannot be read or has none of these tokens.
    """
    return int(_tokenizer(directory).pad_token_id)


def _tokenizer(directory: Path):
    with _offline(directory) as transformers:
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(directory), local_files_only=True, trust_remote_code=False
            )
        except (OSError, ValueError, KeyError, TypeError, ImportError) as err:
            raise IngestError(
                f"transformers cannot read the tokenizer in {directory}: {_first_line(err)}; "
                "save a tokenizer it reads, or remove the tokenizer files"
            ) from err
    if tokenizer.pad_token is None:
        fill = tokenizer.eos_token or tokenizer.unk_token
        if fill is None:
            raise IngestError(
                f"the tokenizer in {directory} has no padding, end or unknown token to pad the "
                "example sentences with; give it a pad_token"
            )
        tokenizer.pad_token = fill
    return tokenizer
