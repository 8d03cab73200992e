"""Lesion benchmark: batched lesion evaluation against a one-lesion-at-a-time loop.

Trains the 64-256-256-256-256-10 digits MLP for 10 epochs (a few seconds), partitions its weight
graph with the project's spectral partition (k = 12, ``spectral_partition`` on
``layered_adjacency`` of ``|W|``, seed 0), and evaluates, on the 360 test images, every lesion of
an importance run: each (layer, cluster) group of the hidden layers, 20 random same-size groups
per group, and every single hidden neuron. The same lesions then run one at a time, the way a
user without neurongraph would do it: ``copy.deepcopy`` the model, zero the incoming weights and
biases of the lesioned units, run the test set, count correct answers overall and per class. Two
such loops: on the float32 ``nn.Module`` (what a user has) and on float64 copies of the extracted
chain (the chain's own arithmetic, so its accuracies must agree with the batched ones to 1e-8).

Both sides run in this process under the same settings: torch's default threads (one per core)
and, as the CLI does, :func:`neurongraph.runtime.retain_freed_memory` (``--system-malloc`` leaves
glibc's allocator as it is; ``--threads 1`` pins one thread). Each side runs once untimed first;
the batched time is the median of five runs.

Run: ``.venv/bin/python benchmarks/lesion.py [--threads T] [--system-malloc] [--naive-limit N]``.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn

from neurongraph.analysis.importance import importance
from neurongraph.analysis.lesion import lesion_accuracies
from neurongraph.analysis.spectral import layered_adjacency, spectral_partition
from neurongraph.formatting import points
from neurongraph.model.datasets import load_dataset
from neurongraph.model.extract import extract_chain
from neurongraph.runtime import retain_freed_memory
from neurongraph.training.architectures import build_model

ARCH = "64-256-256-256-256-10"
K = 12
N_RANDOM = 20
EPOCHS = 10
#: Lesions of the untimed warm-up of each naive loop.
WARM_UP = 20


def train(model: nn.Module, X: torch.Tensor, y: torch.Tensor, epochs: int) -> nn.Module:
    """Minibatch Adam (batch 64, lr 1e-3), seeded by a local generator."""
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(X), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def naive_module(model: nn.Module, lesions, X, y, n_classes: int) -> np.ndarray:
    """One deepcopy of the float32 nn.Module per lesion; returns (M, 1 + n_classes) accuracies."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    index = {id(m): i for i, m in enumerate(model)}
    out = np.empty((len(lesions), 1 + n_classes))
    for k, lesion in enumerate(lesions):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for layer, units in lesion:
                lin = m[index[id(linears[layer - 1])]]
                lin.weight[units] = 0
                lin.bias[units] = 0
            correct = (m(X).argmax(1) == y).double()
        out[k, 0] = correct.mean()
        for c in range(n_classes):
            out[k, 1 + c] = correct[y == c].mean()
    return out


def naive_chain(chain, lesions, X, y, n_classes: int) -> np.ndarray:
    """The same loop on float64 deep copies of the extracted chain."""
    out = np.empty((len(lesions), 1 + n_classes))
    for k, lesion in enumerate(lesions):
        c = copy.deepcopy(chain)
        with torch.no_grad():
            for layer, units in lesion:
                s = c.stages[layer - 1]
                s.weight = s.weight.clone()
                s.bias = s.bias.clone()
                s.weight[units] = 0
                s.bias[units] = 0
            correct = (c(X).argmax(1) == y).double()
        out[k, 0] = correct.mean()
        for cl in range(n_classes):
            out[k, 1 + cl] = correct[y == cl].mean()
    return out


def digits_mlp(epochs: int) -> tuple[nn.Module, object, torch.Tensor, torch.Tensor, dict]:
    """The trained digits MLP, its chain, the test set and its k = 12 spectral partition by layer.

    Shared with benchmarks/coherence.py.
    """
    ds = load_dataset("digits", random_state=0)
    Xtr, ytr = torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train)
    X, y = torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test)
    model = build_model(ARCH, random_state=0)
    train(model, Xtr, ytr, epochs)
    chain = extract_chain(model, X)
    widths = chain.widths
    blocks = [s.weight.abs().numpy() for s in chain.stages]
    labels = spectral_partition(layered_adjacency(widths, blocks), K, random_state=0)
    offsets = np.cumsum([0, *widths])
    groups = {p: labels[offsets[p] : offsets[p + 1]] for p in range(len(widths))}
    return model, chain, X, y, groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="training epochs")
    parser.add_argument(
        "--naive-limit", type=int, default=0, help="time the naive loops on this many lesions only"
    )
    parser.add_argument("--repeats", type=int, default=5, help="batched runs (the median counts)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for both sides (default 0: torch's default, one per core)",
    )
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="leave glibc's allocator as it is (default: retain_freed_memory(), as the CLI does; "
        "it applies to both sides)",
    )
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    retained = not args.system_malloc and retain_freed_memory()
    model, chain, X, y, groups = digits_mlp(args.epochs)
    widths = chain.widths
    print(
        f"model {ARCH}: {args.epochs} epochs, torch threads {torch.get_num_threads()}, "
        f"freed memory {'retained' if retained else 'returned to the system'} (both sides)"
    )

    # each side runs once untimed first (thread pool, allocator, caches); naive on WARM_UP lesions
    importance(chain, groups, (X, y), n_random=N_RANDOM, random_state=0)
    times = []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        res = importance(chain, groups, (X, y), n_random=N_RANDOM, random_state=0)
        times.append(time.perf_counter() - t0)
    t_batched = float(np.median(times))
    lesions = []
    for g in res.groups:
        lesions.append([(g.layer, g.units)])
    for g in res.groups:
        lesions.extend([(g.layer, r)] for r in g.random_units)
    for layer in res.neurons:
        lesions.extend([(layer, [u])] for u in range(widths[layer]))
    assert len(lesions) == res.n_lesions
    print(
        f"baseline accuracy {points(res.baseline_accuracy, '.2f')}%; "
        f"{len(res.groups)} groups tested, "
        f"{len(res.skipped)} skipped; {len(lesions)} lesions "
        f"({len(res.groups) * (1 + N_RANDOM)} group + random, "
        f"{len(lesions) - len(res.groups) * (1 + N_RANDOM)} single-neuron)"
    )
    print(
        f"batched importance():   {t_batched:7.2f} s  {len(lesions) / t_batched:9.0f} lesions/s"
        f"  (median of {len(times)} runs: {', '.join(f'{t:.2f}' for t in times)} s)"
    )
    t0 = time.perf_counter()
    batched = lesion_accuracies(chain, lesions, (X, y))
    t_la = time.perf_counter() - t0
    print(f"batched lesion_accuracies(): {t_la:7.2f} s  {len(lesions) / t_la:9.0f} lesions/s")

    step = 1 if args.naive_limit <= 0 else max(1, len(lesions) // args.naive_limit)
    sel = list(range(0, len(lesions), step))
    subset = [lesions[k] for k in sel]
    scale = len(lesions) / len(subset)
    naive_module(model, subset[:WARM_UP], X, y, 10)
    naive_chain(chain, subset[:WARM_UP], X.double(), y, 10)
    t0 = time.perf_counter()
    n32 = naive_module(model, subset, X, y, 10)
    t_n32 = (time.perf_counter() - t0) * scale
    t0 = time.perf_counter()
    n64 = naive_chain(chain, subset, X.double(), y, 10)
    t_n64 = (time.perf_counter() - t0) * scale
    ref = np.column_stack([batched.accuracy, batched.class_accuracy])[sel]
    diff64 = np.nanmax(np.abs(ref - n64))
    diff32 = np.nanmax(np.abs(ref - n32))
    extra = "" if scale == 1 else f" (timed on {len(subset)} lesions, scaled)"
    print(
        f"naive float32 nn.Module loop: {t_n32:7.2f} s  {len(lesions) / t_n32:9.0f} lesions/s"
        f"{extra}"
    )
    print(
        f"naive float64 chain loop:     {t_n64:7.2f} s  {len(lesions) / t_n64:9.0f} lesions/s"
        f"{extra}"
    )
    print(
        f"speed-up of batched importance(): {t_n32 / t_batched:5.1f}x vs float32 module loop, "
        f"{t_n64 / t_batched:5.1f}x vs float64 chain loop (target >= 10x)"
    )
    print(
        f"max |accuracy difference|: {diff64:.2e} vs float64 loop (a fraction; must be < 1e-8), "
        f"{diff32:.2e} vs float32 loop"
    )
    assert diff64 < 1e-8


if __name__ == "__main__":
    main()
