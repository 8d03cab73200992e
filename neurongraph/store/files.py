"""The files a store owns: model files, activation caches and images.

An embedded store keeps them inside its directory (``DIR/files``); a Neo4j store in a local cache
directory keyed by the server (``$NEURONGRAPH_CACHE`` or ``~/.cache/neurongraph``, then one
sub-directory per server and database). Either way the graph records paths **relative** to that
root, so a copied store reads its own files, never the original's.

- ``models/<sha256><suffix>``: model and weights files, content-addressed. A model is looked up by
  the sha256 recorded at ingest and its content is checked against it before use.
- ``models/<sha256>/``: a model directory (a Hugging Face model's ``config.json``, weights and
  tokenizer files), copied flat; its sha256 is :func:`sha256_directory` of the files in it.
- ``activations/<key>.npy`` (+ ``.json``, ``.labels.npy``): activation matrices.
- ``visualisations/<network>/<partition>/*.png``: feature visualisations.

neurongraph never opens a file whose name comes only from the graph: a recorded path is resolved
inside its sub-directory of the root and refused if it points anywhere else.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from neurongraph.errors import StoreError, arg

__all__ = [
    "ACTIVATIONS",
    "CACHE_ENV",
    "MODELS",
    "VISUALISATIONS",
    "StoreFiles",
    "network_key",
    "sha256_directory",
    "sha256_file",
]

log = logging.getLogger(__name__)

#: Sub-directory of an embedded store that holds its files.
FILES_DIR = "files"
#: Where a Neo4j store's files live on this machine (overrides the user cache directory).
CACHE_ENV = "NEURONGRAPH_CACHE"
MODELS = "models"
ACTIVATIONS = "activations"
VISUALISATIONS = "visualisations"
#: The files of one activation cache, by suffix of its key.
ACTIVATION_SUFFIXES = (".npy", ".json", ".labels.npy")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-f]+")
_HASH_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_directory(directory: Path, names: list[str] | None = None) -> str:
    """Hex sha256 of some files of a directory (default: every regular file in it, not in
    sub-directories): over the files in sorted name order, each as its name, a NUL byte, its
    own hex sha256 and a newline. Renaming, adding or changing a file changes it.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / "a.txt").write_text("a")
    ...     len(sha256_directory(Path(d)))
    64
    """
    if names is None:
        names = [p.name for p in directory.iterdir() if p.is_file()]
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(f"{name}\0{sha256_file(directory / name)}\n".encode())
    return digest.hexdigest()


def network_key(network: dict) -> str:
    """A hex key of one ingest of a network, stable when the network is renamed: its
    ``ingestId``, or for networks ingested before there were ids, a hash of name and time."""
    ingest = network.get("ingestId") or ""
    if _HEX.fullmatch(ingest):
        return ingest
    stamp = f"{network.get('name')}|{network.get('createdAt')}"
    return hashlib.sha256(stamp.encode()).hexdigest()[:12]


def _user_cache() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neurongraph"


def _server_key(location: str, database: str | None) -> str:
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", location.split("://", 1)[-1]).strip("-")
    digest = hashlib.sha256(f"{location}|{database}".encode()).hexdigest()[:12]
    return f"{readable}-{database or 'default'}-{digest}"


class StoreFiles:
    """The directory of a store's files, and the one place that names paths inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_store(cls, location: str, database: str | None, directory: Path | None) -> StoreFiles:
        """Inside an embedded store's ``directory``; else in this machine's cache for the
        server at ``location``."""
        if directory is not None:
            return cls(directory / FILES_DIR)
        return cls(_user_cache() / _server_key(location, database))

    def directory(self, kind: str) -> Path:
        """The sub-directory for one kind of file (``MODELS``, ``ACTIVATIONS``...), created."""
        path = self.root / kind
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def relative(self, path: Path) -> str:
        """``path`` (inside the root) as the string the graph records."""
        return path.relative_to(self.root).as_posix()

    def _owned(self, recorded: str, kind: str, suffix: str) -> Path | None:
        """The file a recorded relative path names if it lies in ``kind``'s sub-directory and
        ends with ``suffix``, else None."""
        base = (self.root / kind).resolve()
        path = (self.root / recorded).resolve()
        if Path(recorded).is_absolute() or not path.is_relative_to(base) or path.suffix != suffix:
            return None
        return path

    def resolve(self, recorded: str, kind: str, suffix: str) -> Path:
        """The file a recorded relative path names; StoreError unless it lies in ``kind``'s
        sub-directory and ends with ``suffix``."""
        path = self._owned(recorded, kind, suffix)
        if path is None:
            raise StoreError(
                f"the store records {recorded!r} where a {kind} file belongs; neurongraph only "
                f"opens files inside {self.root / kind}: record the analysis again"
            )
        return path

    # -- models ------------------------------------------------------------------------------
    def add_model(
        self, sha256: str, suffix: str, *, path: Path | None = None, content: bytes | None = None
    ) -> Path:
        """Keep a model or weights file (copied from ``path``, or its ``content``) under its
        sha256, once; returns the stored copy."""
        target = self.directory(MODELS) / f"{sha256}{suffix}"
        if not target.exists():
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                if path is not None:
                    shutil.copyfile(path, tmp.name)
                else:
                    tmp.write(content or b"")
            os.replace(tmp.name, target)
            log.info("kept %s in the store as %s", path or "the model's weights", target.name)
        return target

    def add_model_directory(self, sha256: str, source: Path, names: list[str]) -> Path:
        """Keep the files ``names`` of a model directory ``source`` under its sha256 (see
        :func:`sha256_directory`), once, as ``models/<sha256>/``; returns the stored copy."""
        target = self.directory(MODELS) / sha256
        if not target.exists():
            staging = Path(tempfile.mkdtemp(dir=target.parent))
            for name in names:
                shutil.copyfile(source / name, staging / name)
            os.replace(staging, target)
            log.info("kept %s in the store as %s/", source, target.name)
        return target

    def model(self, sha256: str) -> Path | None:
        """The stored model file (or model directory) with this sha256, checked against it;
        None when it is not here."""
        if not _SHA256.fullmatch(sha256 or ""):
            return None
        directory = self.root / MODELS
        found = sorted(directory.glob(f"{sha256}*")) if directory.exists() else []
        for path in found:
            digest = sha256_directory(path) if path.is_dir() else sha256_file(path)
            if digest == sha256:
                return path
            raise StoreError(
                f"the stored model file {path} does not match its sha256 any more; delete it "
                f"and pass the model with {arg('model')}"
            )
        return None

    def remove_model(self, sha256: str) -> None:
        """Delete the stored model file (or model directory) with this sha256."""
        if _SHA256.fullmatch(sha256 or "") and (self.root / MODELS).exists():
            for path in (self.root / MODELS).glob(f"{sha256}*"):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    # -- activation caches ---------------------------------------------------------------------
    def remove_network_activations(self, network: dict) -> None:
        """Delete every activation cache of a network (see :func:`network_key`), including
        one an interrupted recording left half-written."""
        directory = self.root / ACTIVATIONS
        if directory.exists():
            for path in directory.glob(f"{network_key(network)}-*"):
                path.unlink(missing_ok=True)

    def remove_activations(self, recorded: str | None) -> None:
        """Delete the activation cache a network records (its relative ``.npy`` path)."""
        path = self._owned(recorded, ACTIVATIONS, ".npy") if recorded else None
        if path is None:
            return
        stem = path.name.removesuffix(".npy")
        for suffix in ACTIVATION_SUFFIXES:
            path.with_name(stem + suffix).unlink(missing_ok=True)

    # -- images --------------------------------------------------------------------------------
    def visualisations(self, network: str, partition: str | None = None) -> Path:
        """The directory of a network's (or one of its partitions') visualisations."""
        base = self.root / VISUALISATIONS
        path = base / network / partition if partition else base / network
        if not path.resolve().is_relative_to(base.resolve()) or path == base:
            raise StoreError(f"{network!r} cannot name a directory of visualisations")
        return path

    def remove_images(self, recorded: list[str]) -> None:
        """Delete the images a network records (relative ``.png`` paths) and the directories
        they leave empty."""
        base = (self.root / VISUALISATIONS).resolve()
        owned = {self._owned(r, VISUALISATIONS, ".png") for r in recorded} - {None}
        for path in owned:
            path.unlink(missing_ok=True)
            for parent in path.parents:
                if parent == base or not parent.is_relative_to(base) or any(parent.iterdir()):
                    break
                parent.rmdir()

    def remove_visualisations(self, network: str, partition: str | None = None) -> None:
        """Delete a network's (or one partition's) visualisations."""
        shutil.rmtree(self.visualisations(network, partition), ignore_errors=True)
