"""Click's own usage errors are one line with the command's --help to try (exit status 2),
shell completion works, and a factory module in the current directory is found."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
from click.testing import CliRunner
from conftest import snapshot

from neurongraph.cli import cli


@pytest.mark.parametrize(
    ("args", "message", "command"),
    [
        (["--bogus"], "No such option '--bogus'", "neurongraph"),
        (["nosuch"], "No such command 'nosuch'", "neurongraph"),
        (
            ["experiment", "evolution"],
            "Missing option '--data'",
            "neurongraph experiment evolution",
        ),
        (["analyze", "spectral"], "Missing argument 'NETWORK'", "neurongraph analyze spectral"),
        (
            ["analyze", "spectral", "x", "-k", "two"],
            "'two' is not a valid integer",
            "neurongraph analyze spectral",
        ),
    ],
)
def test_usage_errors_are_one_line(store, store_dir, args, message, command):
    before = snapshot(store)
    result = CliRunner().invoke(cli, ["--store", str(store_dir), *args], prog_name="neurongraph")
    stderr = result.stderr
    assert result.exit_code == 2, result.output
    assert stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1
    assert message in stderr and "Usage:" not in stderr
    assert stderr.rstrip().endswith(f"(try `{command} --help`)")
    assert snapshot(store) == before


def test_a_group_without_a_command_shows_its_help(run_cli):
    result = run_cli("analyze", expect=2)
    assert "Usage:" in result.output and "spectral" in result.output


def test_shell_completion_completes_commands():
    result = CliRunner().invoke(
        cli,
        [],
        prog_name="neurongraph",
        env={
            "_NEURONGRAPH_COMPLETE": "bash_complete",
            "COMP_WORDS": "neurongraph ana",
            "COMP_CWORD": "1",
        },
    )
    assert result.exit_code == 0 and "analyze" in result.stdout


def test_ingest_a_factory_from_the_current_directory(
    run_cli, store, name, mlp, tmp_path, monkeypatch
):
    module = f"factory_{name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent("""
        from torch import nn

        def mlp():
            return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(),
                                 nn.Linear(16, 10))
        """)
    )
    torch.save(mlp.state_dict(), tmp_path / "w.pt")
    monkeypatch.chdir(tmp_path)
    path_before = list(sys.path)
    assert str(tmp_path) not in sys.path
    run_cli("ingest", f"{module}:mlp", "--weights", "w.pt", "--name", name)
    assert store.get_network(name)["modelFile"] == f"{module}:mlp"
    assert sys.path == path_before  # the directory was on the path for the import only
    run_cli("drop", name)
