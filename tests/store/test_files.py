"""Where a store's files live, and that a recorded path never leads outside them."""

from __future__ import annotations

import hashlib

import pytest

from neurongraph.errors import StoreError
from neurongraph.store.files import (
    ACTIVATIONS,
    CACHE_ENV,
    FILES_DIR,
    MODELS,
    VISUALISATIONS,
    StoreFiles,
    network_key,
)


def test_an_embedded_store_keeps_its_files_inside_its_directory(tmp_path):
    assert StoreFiles.for_store(str(tmp_path), "db", tmp_path).root == tmp_path / FILES_DIR


def test_a_neo4j_store_keeps_its_files_in_a_local_cache_keyed_by_server(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    one = StoreFiles.for_store("bolt://db.example:7687", "neo4j", None).root
    assert one.parent == tmp_path and one.name.startswith("db.example-7687-neo4j-")
    assert StoreFiles.for_store("bolt://db.example:7687", "neo4j", None).root == one
    others = {
        StoreFiles.for_store("bolt://db.example:7688", "neo4j", None).root,
        StoreFiles.for_store("bolt://db.example:7687", "other", None).root,
        StoreFiles.for_store("neo4j://db.example:7687", "neo4j", None).root,
    }
    assert one not in others and len(others) == 3


@pytest.mark.parametrize(
    "recorded",
    [
        "/etc/passwd",
        "../../etc/passwd.png",
        "visualisations/../models/x.png",
        "activations/x.npy",  # another kind's directory
        "visualisations/net/p/x.npy",  # another suffix
    ],
)
def test_a_recorded_path_outside_its_directory_is_refused(tmp_path, recorded):
    files = StoreFiles(tmp_path / FILES_DIR)
    with pytest.raises(StoreError, match="only opens files inside"):
        files.resolve(recorded, VISUALISATIONS, ".png")
    files.remove_images([recorded])  # and never deleted
    files.remove_activations(recorded)


def test_models_are_kept_by_sha256_and_checked(tmp_path):
    files = StoreFiles(tmp_path / FILES_DIR)
    content = b"weights"
    sha = hashlib.sha256(content).hexdigest()
    assert files.model(sha) is None
    kept = files.add_model(sha, ".safetensors", content=content)
    assert kept == tmp_path / FILES_DIR / MODELS / f"{sha}.safetensors"
    assert files.model(sha) == kept
    assert files.model("../" + sha) is None
    kept.write_bytes(b"changed")
    with pytest.raises(StoreError, match="does not match its sha256"):
        files.model(sha)
    files.remove_model(sha)
    assert not kept.exists()


def test_every_activation_cache_of_a_network_goes_with_it(tmp_path):
    files = StoreFiles(tmp_path / FILES_DIR)
    network = {"name": "net", "ingestId": "abc123", "createdAt": "t"}
    other = {"name": "net", "ingestId": "abc124", "createdAt": "t"}
    directory = files.directory(ACTIVATIONS)
    mine = [
        directory / f"{network_key(network)}-{k}" for k in ("1.npy", "1.json", "2.npy.partial.npy")
    ]
    theirs = directory / f"{network_key(other)}-1.npy"
    for path in (*mine, theirs):
        path.write_bytes(b"")
    files.remove_network_activations(network)
    assert [p.exists() for p in mine] == [False] * 3 and theirs.exists()
    assert network_key({"name": "old", "createdAt": "t"}) == network_key(
        {"name": "old", "createdAt": "t", "ingestId": None}
    )
