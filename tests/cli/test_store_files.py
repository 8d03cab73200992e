"""A store owns its files: models by sha256, activation caches and images inside it, with paths
relative to it. Copied stores run every analysis on their own; drop and replace leave no files;
code and files are never loaded because the store names them."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from neurongraph.store.files import FILES_DIR, sha256_file

FACTORY_MODULE = "zoo_trust"


def files_of(store_dir: Path) -> list[str]:
    """Every file the store keeps, relative to its files directory."""
    root = store_dir / FILES_DIR
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def recorded_paths(run_cli, store_dir) -> list[str]:
    out = run_cli(
        "cypher",
        "MATCH (n:Network) RETURN n.activationsCache AS p UNION "
        "MATCH (c:Cluster) UNWIND coalesce(c.visPaths, []) AS p RETURN p",
        "--json",
        store=store_dir,
    )
    return [r["p"] for r in json.loads(out.stdout)["rows"] if r["p"] is not None]


@pytest.fixture
def marker_factory(tmp_path, monkeypatch):
    """A factory module that leaves a marker file whenever it is imported."""
    marker = tmp_path / "imported"
    (tmp_path / f"{FACTORY_MODULE}.py").write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        from torch import nn

        Path({str(marker)!r}).write_text("imported")

        def mlp():
            return nn.Sequential(nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 10))
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, FACTORY_MODULE, raising=False)
    return marker


def test_a_copied_store_runs_every_analysis_from_anywhere_without_the_original(
    run_cli, tmp_path, monkeypatch, mlp
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    torch.jit.save(torch.jit.script(mlp), "mlp.pt")
    original = tmp_path / "original"
    run_cli("ingest", "mlp.pt", "--name", "net", "--data", "digits", store=original)
    run_cli("analyze", "spectral", "net", "-k", "4", "--no-null", store=original)
    run_cli("analyze", "coherence", "net", "--steps", "3", "--random-sets", "2", store=original)
    assert all(not Path(p).is_absolute() for p in recorded_paths(run_cli, original))
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    shutil.rmtree(work)
    monkeypatch.chdir(tmp_path / "elsewhere")

    run_cli("activations", "net", "--data", "digits", store=copy)
    run_cli("analyze", "louvain", "net", "--shuffles", "0", store=copy)
    run_cli("analyze", "importance", "net", "--random-sets", "3", "--seed", "1", store=copy)
    run_cli("analyze", "coherence", "net", "--steps", "3", "--random-sets", "2", store=copy)
    run_cli("report", "net", "--out", "report.html", store=copy)
    assert "data:image/png;base64" in Path("report.html").read_text()
    for recorded in recorded_paths(run_cli, copy):
        assert not Path(recorded).is_absolute()
        assert (copy / FILES_DIR / recorded).exists()
    model = [f for f in files_of(copy) if f.startswith("models/")]
    assert model == [f"models/{sha256_file(copy / FILES_DIR / model[0])}.pt"]


def test_drop_and_replace_delete_the_files_the_network_owned(run_cli, tmp_path, mlp):
    store_dir = tmp_path / "s"
    torch.jit.save(torch.jit.script(mlp), tmp_path / "mlp.pt")
    mlp2 = nn.Sequential(nn.Linear(64, 20), nn.ReLU(), nn.Linear(20, 10))
    torch.jit.save(torch.jit.script(mlp2), tmp_path / "mlp2.pt")
    for name in ("a", "b"):
        run_cli("ingest", tmp_path / "mlp.pt", "--name", name, "--data", "digits", store=store_dir)
    run_cli("analyze", "spectral", "a", "-k", "4", "--no-null", store=store_dir)
    run_cli("analyze", "coherence", "a", "--steps", "2", "--random-sets", "1", store=store_dir)
    owned_by_a = set(recorded_paths(run_cli, store_dir)) - set(
        json.loads(
            run_cli(
                "cypher",
                "MATCH (n:Network {name: 'b'}) RETURN n.activationsCache AS p",
                "--json",
                store=store_dir,
            ).stdout
        )["rows"][0].values()
    )
    images = {p for p in owned_by_a if p.startswith("visualisations/a/")}
    assert images and images <= set(files_of(store_dir))
    # a new partition replaces the clusters that recorded the images: they go too
    run_cli("analyze", "spectral", "a", "-k", "3", "--no-null", store=store_dir)
    assert not images & set(files_of(store_dir))
    run_cli("analyze", "coherence", "a", "--steps", "2", "--random-sets", "1", store=store_dir)
    owned_by_a = (owned_by_a - images) | {
        p for p in recorded_paths(run_cli, store_dir) if p.startswith("visualisations/a/")
    }
    before = files_of(store_dir)
    assert owned_by_a <= set(before)

    # another dataset: the earlier cache goes
    run_cli("activations", "b", "--data", "digits", "--seed", "1", store=store_dir)
    run_cli("activations", "b", "--data", "digits", store=store_dir)
    assert files_of(store_dir) == before

    # replacing a with another model: a's caches and images go, the shared model file stays
    run_cli(
        "ingest",
        tmp_path / "mlp2.pt",
        "--name",
        "a",
        "--replace",
        "--data",
        "digits",
        store=store_dir,
    )
    after_replace = files_of(store_dir)
    assert not owned_by_a & set(after_replace)
    models = [f for f in after_replace if f.startswith("models/")]
    assert len(models) == 2  # mlp.pt (still b's) and mlp2.pt (a's)

    run_cli("drop", "a", store=store_dir)
    run_cli("drop", "b", store=store_dir)
    assert files_of(store_dir) == []


def test_code_and_files_named_only_by_the_store_are_never_used(
    run_cli, store, tmp_path, marker_factory, mlp, name
):
    torch.jit.save(torch.jit.script(mlp), tmp_path / "mlp.pt")
    run_cli("ingest", tmp_path / "mlp.pt", "--name", name, "--data", "digits")
    run_cli("analyze", "spectral", name, "-k", "3", "--no-null")
    # someone with write access points the network at code, and at a file outside the store
    store.set_network_properties(
        name, {"modelFile": f"{FACTORY_MODULE}:mlp", "activationsCache": "/etc/passwd"}
    )
    refused = run_cli("analyze", "louvain", name, expect=2)
    assert "/etc/passwd" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    run_cli("activations", name, "--data", "digits")  # records a cache of its own again
    run_cli("analyze", "importance", name, "--random-sets", "2", "--seed", "0")
    store.set_network_properties(name, {"modelKind": "factory"})
    for command in (
        ("activations", name, "--data", "digits"),
        ("analyze", "importance", name, "--random-sets", "2"),
        ("analyze", "coherence", name, "--steps", "2", "--random-sets", "1"),
    ):
        refused = run_cli(*command, expect=2)
        assert "--model package.module:factory" in refused.stderr
    assert not marker_factory.exists()
    assert FACTORY_MODULE not in sys.modules


def test_factory_networks_take_their_code_from_the_command_line_and_weights_from_the_store(
    run_cli, store, store_dir, tmp_path, marker_factory, name
):
    run_cli("ingest", f"{FACTORY_MODULE}:mlp", "--name", name, "--data", "digits")
    network = store.get_network(name)
    assert network["modelKind"] == "factory"
    kept = store_dir / FILES_DIR / "models" / f"{network['sha256']}.safetensors"
    assert kept.exists()
    run_cli("analyze", "louvain", name, "--shuffles", "0")  # needs no model
    refused = run_cli("activations", name, "--data", "digits", expect=2)
    assert "--model package.module:factory" in refused.stderr
    run_cli("activations", name, "--data", "digits", "--model", f"{FACTORY_MODULE}:mlp")
    # the stored weights are what the factory gets: a changed copy is refused
    kept.write_bytes(kept.read_bytes()[:-4] + b"\0\0\0\0")
    refused = run_cli(
        "activations", name, "--data", "digits", "--model", f"{FACTORY_MODULE}:mlp", expect=2
    )
    assert "sha256" in refused.stderr


def test_a_model_named_with_model_must_be_the_ingested_one_and_is_kept(
    run_cli, store, store_dir, tmp_path, mlp, name
):
    path = tmp_path / "mlp.pt"
    torch.jit.save(torch.jit.script(mlp), path)
    run_cli("ingest", path, "--name", name)
    sha = store.get_network(name)["sha256"]
    kept = store_dir / FILES_DIR / "models" / f"{sha}.pt"
    kept.unlink()
    refused = run_cli("activations", name, "--data", "digits", expect=2)
    assert "not in the store" in refused.stderr and "--model" in refused.stderr
    other = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(64, 10))), other)
    refused = run_cli("activations", name, "--data", "digits", "--model", other, expect=2)
    assert "sha256 differs" in refused.stderr
    run_cli("activations", name, "--data", "digits", "--model", path)
    assert kept.exists()
