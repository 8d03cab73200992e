"""``--out`` of `report`, `view`, `bloom`, `train`, `demo` and the experiments: a place that
cannot be written is a one-line error (exit 2) found before anything is computed; missing parent
directories are made."""

from __future__ import annotations

import pytest
import torch


def refused(result) -> str:
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    return result.stderr


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a-file.txt"
    path.write_text("not a directory\n")
    return path


@pytest.fixture
def network(run_cli, tmp_path, mlp, name):
    path = tmp_path / "mlp.pt"
    torch.jit.save(torch.jit.script(mlp), str(path))
    run_cli("ingest", path, "--name", name)
    run_cli("analyze", "spectral", name, "-k", 3, "--no-null", "--seed", 0)
    return name


@pytest.mark.parametrize("command", ["report", "view"])
@pytest.mark.parametrize("depth", [1, 2])
def test_out_under_a_file(run_cli, network, a_file, command, depth):
    out = a_file / "sub" / "page.html" if depth == 2 else a_file / "page.html"
    message = refused(run_cli(command, network, "--out", out, expect=2))
    assert str(out) in message and f"{a_file} is a file" in message
    assert a_file.read_text() == "not a directory\n"


@pytest.mark.parametrize("command", ["report", "view"])
def test_out_is_checked_before_the_network_is_read(run_cli, a_file, command):
    """The output path is checked first: nothing is computed for a page that cannot be written."""
    message = refused(run_cli(command, "no-such-network", "--out", a_file / "p.html", expect=2))
    assert "a-file.txt is a file" in message and "no network" not in message


def test_bloom_out(run_cli, a_file, tmp_path):
    message = refused(run_cli("bloom", "--out", a_file / "p.json", expect=2))
    assert "a-file.txt is a file" in message
    made = tmp_path / "new" / "dir" / "p.json"
    run_cli("bloom", "--out", made)
    assert made.is_file()


def test_train_out_is_checked_before_training(run_cli, a_file):
    """A path under a file failed only when the trained model was saved, after the training."""
    args = ["train", "--arch", "64-8-10", "--data", "digits", "--epochs", 200, "--seed", 0]
    message = refused(run_cli(*args, "--out", a_file / "m.pt", expect=2))
    assert "a-file.txt is a file" in message


@pytest.mark.parametrize(
    "command",
    [
        ("demo",),
        ("experiment", "clusterability", "--runs", 1, "--epochs", 1),
        ("experiment", "evolution", "--data", "digits", "--epochs", 1),
    ],
)
def test_an_out_directory_under_a_file_is_refused_before_any_work(run_cli, a_file, command):
    message = refused(run_cli(*command, "--out", a_file / "sub", expect=2))
    assert "a-file.txt is a file" in message
