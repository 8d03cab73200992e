"""Load a model from a file, a factory or a Hugging Face model directory, safely: pickles only
with the user's consent, code only where the user names it, and a recorded model only from the
store's own verified copy. Model directories are read by :mod:`neurongraph.model.hf`, imported
only when one is given (it needs the optional ``transformers``)."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import pickle
import re
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from neurongraph.errors import IngestError, arg, step
from neurongraph.model.export import SavedProgram
from neurongraph.store.files import StoreFiles, sha256_file

if TYPE_CHECKING:
    from neurongraph.model.hf import TokenInput

__all__ = [
    "EXPORTED",
    "FACTORY",
    "FEATURES",
    "SIDECAR_SUFFIX",
    "TOKENS",
    "WORDS_TOKENIZER",
    "LoadedModel",
    "ModelFile",
    "camel_keys",
    "load_model",
    "load_recorded_model",
    "sha256_file",
    "sidecar_keys",
]

log = logging.getLogger(__name__)

#: A model file's JSON sidecar (written by ``neurongraph train``) is the file name plus this.
SIDECAR_SUFFIX = ".json"
_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
#: ``modelKind`` of a model built by a factory (its file holds weights, not code).
FACTORY = "factory"
#: ``modelKind`` of a program saved with ``torch.export.save`` (a ``.pt2`` archive).
EXPORTED = "export"
#: ``LoadedModel.input_kind``: the model takes float features (or images), or token ids.
FEATURES = "features"
TOKENS = "tokens"
#: The tokenizer of a token model that takes the built-in word vocabulary (sidecar key
#: ``tokenizer``, Network property ``tokenizer``).
WORDS_TOKENIZER = "words"


@dataclass(frozen=True)
class ModelFile:
    """The bytes a network's ``sha256`` names: a model file, a factory's weights file, or a
    factory's own weights serialised (``content``)."""

    sha256: str
    suffix: str
    path: Path | None = None
    content: bytes | None = None
    #: For a model directory (``path``): the names of the files its model is made of.
    members: tuple[str, ...] = ()

    def keep(self, files: StoreFiles) -> Path:
        """Copy it into the store's models (content-addressed); returns the stored copy."""
        if self.members and self.path is not None:
            return files.add_model_directory(self.sha256, self.path, list(self.members))
        return files.add_model(self.sha256, self.suffix, path=self.path, content=self.content)


@dataclass
class LoadedModel:
    """A model ready to ingest, with where it came from; ``tokens`` says what a model that takes
    token ids takes (and makes its example input), None for a model of float features."""

    module: nn.Module
    source: str
    file: ModelFile
    kind: str
    metadata: dict = field(default_factory=dict)
    weights: str | None = None
    tokens: TokenInput | None = None

    @property
    def sha256(self) -> str:
        """The sha256 of the bytes the model was read from (its file's)."""
        return self.file.sha256

    @property
    def input_kind(self) -> str:
        """``TOKENS`` when the model takes token ids (int64), else ``FEATURES``."""
        return TOKENS if self.tokens is not None else FEATURES

    def properties(self) -> dict:
        """Network node properties recording where the model came from. ``modelFile`` and
        ``weightsFile`` say what the user named, for people to read; neurongraph itself finds
        the model by its ``sha256`` in the store."""
        props = {"modelFile": self.source, "sha256": self.sha256, "modelKind": self.kind}
        if self.weights:
            props["weightsFile"] = self.weights
        for key in ("dataset", "architecture", "epoch", "seed"):
            if self.metadata.get(key) is not None:
                props[key] = self.metadata[key]
        if self.metadata.get("testAccuracy") is not None:
            props["trainedAccuracy"] = self.metadata["testAccuracy"]
        if self.tokens is not None:
            props["inputKind"] = TOKENS
            props["vocabSize"] = self.tokens.vocab_size
            if self.tokens.words:
                props["tokenizer"] = WORDS_TOKENIZER
        return props


def camel_keys(mapping: dict) -> dict:
    """``mapping`` with its snake_case keys in camelCase.

    Examples
    --------
    >>> camel_keys({"test_accuracy": 0.9, "epoch": 3})
    {'testAccuracy': 0.9, 'epoch': 3}
    """
    out = {}
    for key, value in mapping.items():
        head, *rest = key.split("_")
        out[head + "".join(word.capitalize() for word in rest)] = value
    return out


def sidecar_keys(meta: dict) -> dict:
    """A sidecar's content with camelCase keys, its epochs' (``history``) too: sidecars written
    before they were camelCase (``test_accuracy``, ``input_shape``) read as new ones. The
    ``options`` are keyword arguments of ``train_model`` and keep their names.

    Examples
    --------
    >>> sidecar_keys({"test_accuracy": 0.9, "history": [{"test_loss": 0.1}], "options": {"l1": 0}})
    {'testAccuracy': 0.9, 'history': [{'testLoss': 0.1}], 'options': {'l1': 0}}
    """
    out = camel_keys(meta)
    if isinstance(out.get("history"), list):
        out["history"] = [
            camel_keys(record) if isinstance(record, dict) else record for record in out["history"]
        ]
    return out


def _sidecar(path: Path) -> dict:
    side = path.with_name(path.name + SIDECAR_SUFFIX)
    if not side.exists():
        return {}
    try:
        return sidecar_keys(json.loads(side.read_text()))
    except ValueError as err:
        raise IngestError(f"{side} is not valid JSON ({err}); fix or delete it") from err


def _word_tokens(kind: object, tokenizer: object, meta: dict) -> TokenInput | None:
    """What a model of the built-in word vocabulary takes (from its sidecar, or the Network
    node it was ingested as); None for any other model."""
    if kind != TOKENS or tokenizer != WORDS_TOKENIZER:
        return None
    from neurongraph.model.hf import TokenInput
    from neurongraph.model.texts import PAD_ID

    shape = meta.get("inputShape") or [None]
    vocab = meta.get("vocabSize")
    return TokenInput(int(vocab), shape[0], None, words=True, pad_token=PAD_ID)


def _load_state_dict(path: Path) -> dict:
    if not path.exists():
        raise IngestError(
            f"weights file {path} not found; check the path given as {arg('weights')}"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise IngestError(
            f"cannot read weights file {path} ({type(err).__name__}); give a .pt state dict "
            "saved with torch.save(model.state_dict()) or a .safetensors file"
        ) from err
    if not isinstance(state, dict):
        raise IngestError(f"{path} does not hold a state dict; save model.state_dict() instead")
    return state


@contextmanager
def _cwd_importable() -> Iterator[None]:
    """The current directory first on ``sys.path`` while a factory is imported, as
    ``python -m`` puts it there: a module next to the user is found without ``PYTHONPATH``."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _from_factory(spec: str, weights: Path | None) -> LoadedModel:
    module_name, func_name = spec.split(":")
    try:
        with _cwd_importable():
            factory = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as err:
        raise IngestError(
            f"cannot import {spec} ({err}); make sure the package is importable "
            "(installed or on PYTHONPATH)"
        ) from err
    model = factory()
    if not isinstance(model, nn.Module):
        raise IngestError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    if weights is None:
        from safetensors.torch import save

        state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        content = save(state)
        file = ModelFile(hashlib.sha256(content).hexdigest(), ".safetensors", content=content)
        return LoadedModel(model, spec, file, FACTORY)
    state = _load_state_dict(weights)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise IngestError(f"weights in {weights} do not fit {spec}: {first}") from err
    file = ModelFile(sha256_file(weights), weights.suffix, path=weights)
    return LoadedModel(model, spec, file, FACTORY, weights=str(weights))


def _from_file(path: Path, trust_pickle: bool) -> LoadedModel:
    if not path.exists():
        raise IngestError(f"model file {path} not found; check the path")
    meta = _sidecar(path)
    file = ModelFile(sha256_file(path), path.suffix, path=path)
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception:
        pass
    else:
        tokens = _word_tokens(meta.get("inputKind"), meta.get("tokenizer"), meta)
        return LoadedModel(module, str(path), file, "torchscript", meta, tokens=tokens)
    # after TorchScript, which is a zip too: telling a program archive apart imports torch.export
    if _is_program_archive(path):
        return _from_program(path, meta, file, trust_pickle)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not trust_pickle:
            raise IngestError(
                f"{path} is a pickled model: loading it runs code from the file; pass "
                f"{arg('trust_pickle')} if you trust it, or save it with torch.jit.save instead"
            ) from err
        state = None
    except Exception as err:
        raise IngestError(
            f"{path} is not a TorchScript, torch.export program, state dict or pickled model file "
            f"({type(err).__name__}); check that the file is complete"
        ) from err
    if state is not None:
        if isinstance(state, nn.Module):
            return LoadedModel(state, str(path.resolve()), file, "module", meta)
        raise IngestError(
            f"{path} holds weights only; give the architecture as package.module:factory "
            f"with {arg('weights')} {path}"
        )
    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise IngestError(f"cannot unpickle {path} ({type(err).__name__}: {err})") from err
    if not isinstance(model, nn.Module):
        raise IngestError(f"{path} holds a {type(model).__name__}, not a torch.nn.Module")
    return LoadedModel(model, str(path.resolve()), file, "pickle", meta)


def _is_program_archive(path: Path) -> bool:
    """Whether a file is a ``torch.export.save`` archive (a zip whose ``archive_format``
    member says ``pt2``), whatever its name."""
    from torch.export.pt2_archive.constants import ARCHIVE_FORMAT_PATH, ARCHIVE_FORMAT_VALUE

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.rsplit("/", 1)[-1] == ARCHIVE_FORMAT_PATH:
                return archive.read(name).decode(errors="replace").strip() == ARCHIVE_FORMAT_VALUE
    return False


def _from_program(path: Path, meta: dict, file: ModelFile, trust_pickle: bool) -> LoadedModel:
    """A saved ``torch.export`` program. ``torch.export.load`` runs code from the file (it
    unpickles sample inputs, falling back to ``weights_only=False``, and pickled payloads, and
    loads compiled AOTInductor libraries), so it is loaded only with the user's consent."""
    if not trust_pickle:
        raise IngestError(
            f"{path} is a saved torch.export program: loading it runs code from the file "
            f"(torch.export.load unpickles objects in it); pass {arg('trust_pickle')} if you "
            "trust it"
        )
    try:
        with path.open("rb") as handle:
            program = torch.export.load(handle)
    except Exception as err:
        raise IngestError(
            f"cannot load the torch.export program {path} ({type(err).__name__}); save it "
            "with torch.export.save from this version of PyTorch"
        ) from err
    return LoadedModel(SavedProgram(program), str(path), file, EXPORTED, meta)


def load_model(
    source: str, *, weights: str | Path | None = None, trust_pickle: bool = False
) -> LoadedModel:
    """Load a model.

    Parameters
    ----------
    source : str
        A TorchScript file, a program saved with ``torch.export.save`` (``.pt2``, only with
        ``trust_pickle``), a pickled module (only with ``trust_pickle``),
        ``package.module:factory`` (a callable returning an ``nn.Module``), or a local Hugging
        Face model directory (``config.json`` + ``model.safetensors``, read with the optional
        ``transformers`` from disk only; see :mod:`neurongraph.model.hf`).
    weights : path, optional
        With a factory: a ``.pt`` state dict (read with ``weights_only=True``) or ``.safetensors``.
    trust_pickle : bool, default=False
        Allow unpickling a whole module, loading a ``torch.export`` program or a model
        directory's ``pytorch_model.bin``, which run code from the file.
    """
    path = Path(source)
    if path.is_dir():
        if weights is not None:
            raise IngestError(
                f"{arg('weights')} goes with a package.module:factory model, not a directory"
            )
        from neurongraph.model import hf

        if hf.is_model_directory(path):
            return hf.load_directory(path, trust_pickle=trust_pickle)
        raise IngestError(
            f"{source} is a directory, not a model file; give a TorchScript or .pt file or a "
            "Hugging Face model directory (config.json + model.safetensors); a directory of "
            f"epoch-NNN.pt checkpoints is ingested as a series ({arg('series')})"
        )
    if not path.exists() and _FACTORY.fullmatch(source):
        return _from_factory(source, Path(weights) if weights is not None else None)
    if weights is not None:
        raise IngestError(f"{arg('weights')} goes with a package.module:factory model, not a file")
    return _from_file(path, trust_pickle)


def load_recorded_model(
    network: dict,
    files: StoreFiles,
    *,
    override: str | None = None,
    trust_pickle: bool = False,
) -> LoadedModel:
    """Load the model a network was ingested from, checked against its recorded sha256.

    The model comes from the store's own copy (found by sha256), or from ``override``, which
    the user names: a file (checked, then kept in the store for next time) or, for a network
    built by a factory, ``package.module:factory`` with the weights from the store. Code is
    never imported and no file is opened because the store names it.

    Raises
    ------
    IngestError
        When the model is not in the store, ``override`` differs from what was ingested, or the
        network was built by a factory that the user did not name.
    """
    name = network["name"]
    recorded = network.get("sha256") or ""
    if override is not None and _FACTORY.fullmatch(override) and not Path(override).exists():
        weights = files.model(recorded)
        if weights is None:
            raise IngestError(
                f"the weights of network {name!r} are not in the store; re-ingest it with "
                f"{step('ingest')}: {override} with its {arg('weights')}, replacing the network "
                f"({arg('replace')})"
            )
        return _from_factory(override, weights)
    if override is not None:
        loaded = load_model(override, trust_pickle=trust_pickle)
        if recorded and loaded.sha256 != recorded:
            raise IngestError(
                f"{override} is not the model network {name!r} was ingested from (sha256 "
                f"differs); re-ingest it from {override} with {step('ingest')}, replacing the "
                f"network ({arg('replace')})"
            )
        if recorded:
            loaded.file.keep(files)
        return loaded
    if not recorded:
        raise IngestError(
            f"network {name!r} was ingested from Python, not a file; pass the model with "
            f"{arg('model')}"
        )
    if network.get("modelKind") == FACTORY:
        raise IngestError(
            f"network {name!r} was built by a factory ({network.get('modelFile')}); neurongraph "
            f"imports only code you name: pass {arg('model')} package.module:factory"
        )
    path = files.model(recorded)
    if path is None:
        raise IngestError(
            f"the model file of network {name!r} (sha256 {recorded[:12]}...) is not in the "
            f"store; pass it with {arg('model')} FILE"
        )
    if path.is_dir():
        from neurongraph.model.hf import load_directory

        return load_directory(path, trust_pickle=trust_pickle)
    loaded = _from_file(path, trust_pickle)
    if loaded.tokens is None:
        loaded.tokens = _word_tokens(network.get("inputKind"), network.get("tokenizer"), network)
    return loaded
