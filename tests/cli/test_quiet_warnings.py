"""Warnings raised inside a command (torch's) stay off stderr in a normal run and
are logged, so that ``-v`` shows them."""

from __future__ import annotations

import logging
import sys
import warnings
from contextlib import contextmanager

import pytest
import torch

K = 14  # many clusters: the view draws them all without a warning


@contextmanager
def warnings_printed_on_stderr():
    """Warnings as a terminal run with ``PYTHONWARNINGS=default`` shows them: printed on the
    stderr of the moment (the CLI runner's). Under pytest they are otherwise recorded by pytest
    and could never reach the command's stderr."""

    def show(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


def no_warning_lines(stderr: str) -> bool:
    return not any("Warning" in line for line in stderr.splitlines())


@pytest.fixture
def script_file(tmp_path, mlp):
    path = tmp_path / "mlp.pt"
    torch.jit.save(torch.jit.script(mlp), str(path))
    return path


def test_ingest_of_a_torchscript_model_prints_no_warnings(run_cli, script_file, name, caplog):
    with warnings_printed_on_stderr():
        result = run_cli("ingest", script_file, "--name", name)
    assert no_warning_lines(result.stderr), result.stderr
    with warnings_printed_on_stderr(), caplog.at_level(logging.INFO, logger="neurongraph"):
        result = run_cli("-v", "ingest", script_file, "--name", f"{name}-v")
    assert no_warning_lines(result.stderr), result.stderr
    logged = [r.getMessage() for r in caplog.records if r.name == "neurongraph.warnings"]
    assert any("torch.jit.load" in m and r"deprecated" in m for m in logged), logged


def test_view_prints_no_warnings(run_cli, script_file, name, tmp_path, caplog):
    run_cli("ingest", script_file, "--name", name)
    run_cli("analyze", "spectral", name, "-k", K, "--no-null", "--seed", 0)
    out = tmp_path / "view.html"
    with warnings_printed_on_stderr():
        result = run_cli("view", name, "--out", out)
    assert out.is_file()
    assert no_warning_lines(result.stderr), result.stderr
    with warnings_printed_on_stderr(), caplog.at_level(logging.INFO, logger="neurongraph"):
        result = run_cli("-v", "view", name, "--out", out)
    assert no_warning_lines(result.stderr), result.stderr
    assert "wrote" in result.stdout and out.stat().st_size > 0
