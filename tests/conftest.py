"""Fixtures shared by the whole suite: one embedded store server per test session."""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.datasets import load_digits
from torch import nn
from zoo import digits_cnn

from neurongraph.cli import cli
from neurongraph.store import open_store
from neurongraph.store.autoserve import SERVE_ENV

NEO4J_URI_ENV = "NEURONGRAPH_TEST_NEO4J_URI"
_names = itertools.count()
# The suite opens its stores in-process (one server per session) and its subprocesses inherit
# this: no test leaves a store served in the background unless it asks to
# (tests/store/test_autoserve.py sets NEURONGRAPH_SERVE=1 for its own commands).
os.environ[SERVE_ENV] = "0"


def pytest_collection_modifyitems(config, items):
    if os.environ.get(NEO4J_URI_ENV):
        return
    marker = pytest.mark.skip(reason=f"needs a real Neo4j: set {NEO4J_URI_ENV}")
    for item in items:
        if "neo4j" in item.keywords:
            item.add_marker(marker)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    on a small shared CPU the small operations of tiny models are many times slower with two.
    The previous setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("store") / "ng"


@pytest.fixture(scope="session")
def store(store_dir):
    """The session's embedded store; CLI calls in this process share its server."""
    s = open_store(store_dir)
    yield s
    s.close()


@pytest.fixture
def name(request):
    """A fresh network name per test."""
    return f"t{next(_names)}-{request.node.name[:40]}".replace("[", "-").replace("]", "")


class Cli:
    """Run the real CLI in-process against the session store."""

    def __init__(self, store_dir):
        self.store_dir = store_dir
        self.runner = CliRunner()

    def __call__(self, *args, expect=0, store=None):
        result = self.runner.invoke(
            cli, ["--store", str(store or self.store_dir), *map(str, args)], catch_exceptions=False
        )
        assert result.exit_code == expect, (
            f"exit {result.exit_code} != {expect}\nstdout:\n{result.stdout}\n"
            f"stderr:\n{result.stderr}"
        )
        return result


@pytest.fixture
def run_cli(store, store_dir):
    return Cli(store_dir)


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int = 30, seed: int = 0):
    """A short, seeded full-batch training run."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(model(Xt), yt).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def digits():
    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target


@pytest.fixture(scope="session")
def mlp(digits):
    """A small MLP trained on digits."""
    X, y = digits
    model = nn.Sequential(
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 10)
    )
    return train(model, X, y)


@pytest.fixture(scope="session")
def cnn(digits):
    """A small CNN with BatchNorm, trained briefly on digits images."""
    X, y = digits
    model = digits_cnn()
    train(model, X.reshape(-1, 1, 8, 8), y, epochs=15)
    with torch.no_grad():  # non-trivial running statistics for the fold to matter
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
    return model


def snapshot(store) -> tuple:
    """Everything a refused command must leave alone."""
    counts = store.read("MATCH (n) RETURN count(n) AS nodes")[0]["nodes"]
    rels = store.read("MATCH ()-[r]->() RETURN count(r) AS rels")[0]["rels"]
    return counts, rels, [(n["name"], n["status"]) for n in store.networks()]


def clusterability_rows(run_cli, out, prefix, *args) -> tuple[dict, dict]:
    """``experiment clusterability ARGS`` on one job, its output in ``out`` and networks named
    ``prefix-...``: the JSON summary, and its table's rows by variant (for one shuffle method
    and partition method)."""
    found = run_cli(
        "experiment",
        "clusterability",
        *args,
        "--jobs",
        1,
        "--out",
        out,
        "--prefix",
        prefix,
        "--json",
    )
    result = json.loads(found.stdout)
    return result, {row["variant"]: row for row in result["table"]}


def one_line_error(result) -> str:
    """The stderr of a refused command: one ``error: ...`` line, no traceback."""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    return result.stderr


def planted_layers(module_widths, n_modules, *, cross=0.02, seed=0):
    """Layered network with block-diagonal weights across modules (weights U(0.5, 1.5), times
    ``cross`` between modules): widths, blocks and each neuron's module."""
    rng = np.random.default_rng(seed)
    modules = [np.repeat(np.arange(n_modules), w) for w in module_widths]
    blocks = []
    for source, target in zip(modules[:-1], modules[1:], strict=True):
        same = target[:, None] == source[None, :]
        blocks.append(rng.uniform(0.5, 1.5, same.shape) * np.where(same, 1.0, cross))
    return [m.size for m in modules], blocks, np.concatenate(modules)
