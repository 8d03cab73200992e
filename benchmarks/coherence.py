"""Coherence benchmark: feature visualisation batched over groups against one group at a time.

Two networks. ``mlp``: the digits MLP and k = 12 spectral partition of benchmarks/lesion.py, run
as a chain. ``resnet``: a residual CNN with BatchNorm (``resnet:c16x1-c32x1-10``, built by
:func:`neurongraph.training.resnet.build_resnet`: a stem, two basic blocks, the second strided
with a shortcut convolution) trained on 8 x 8 digits images and read through
``torch.export`` as a ModelView, whose inputs are optimised through the replayed graph as far as
each group's layer; its groups deal each hidden layer's units (sum layers included) into
:data:`RESNET_CLUSTERS` clusters at random (speed does not depend on how they were found).
Every (layer, cluster) group plus its 9 random same-size groups (the defaults of ``coherence``)
is visualised at the default 256 Adam steps (pixel parameterisation): once batched over all groups
of a layer (what ``coherence`` does), then one group at a time for a sample of the groups (the
full loop would take minutes). Prints seconds per group both ways and their ratio, plus the time of
a whole ``coherence`` call.

Run: ``.venv/bin/python benchmarks/coherence.py [--case mlp|resnet|all] [--threads T]
[--one-at-a-time N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lesion import ARCH, EPOCHS, digits_mlp, train  # noqa: E402

from neurongraph.analysis.coherence import DEFAULT_N_RANDOM, coherence  # noqa: E402
from neurongraph.analysis.feature_vis import DEFAULT_STEPS, feature_visualisation  # noqa: E402
from neurongraph.analysis.lesion_groups import partition_groups  # noqa: E402
from neurongraph.analysis.stats import random_groups  # noqa: E402
from neurongraph.model.datasets import load_dataset  # noqa: E402
from neurongraph.model.view import read_view  # noqa: E402
from neurongraph.training.resnet import build_resnet  # noqa: E402

#: Clusters each hidden layer of the ResNet is dealt into.
RESNET_CLUSTERS = 4
#: The ResNet's stages, (width, blocks) each: resnet:c16x1-c32x1-10.
RESNET_STAGES = ((16, 1), (32, 1))


def digits_resnet(epochs: int) -> tuple[object, torch.Tensor, torch.Tensor, dict]:
    """The ResNet trained on digits images, its view, the test set and random groups."""
    ds = load_dataset("digits", random_state=0).as_images()
    X, y = torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test)
    model = build_resnet(1, RESNET_STAGES, 10, generator=torch.Generator().manual_seed(0))
    model = train(model, torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train), epochs)
    view = read_view(model.eval(), X[:64])
    rng = np.random.default_rng(0)
    widths = view.widths
    groups = {p: rng.integers(0, RESNET_CLUSTERS, widths[p]) for p in range(1, len(widths) - 1)}
    return view, X, y, groups


def compare(network, groups, X, y, *, steps: int, one_at_a_time: int, what: str) -> None:
    """Time the visualisations of ``groups`` batched and one at a time, then ``coherence``."""
    tested, skipped = partition_groups(network, groups, min_size=1)
    rng = np.random.default_rng(0)
    vis_groups = []
    for g in tested:
        vis_groups.append((g.layer, g.units))
        vis_groups += [
            (g.layer, r)
            for r in random_groups(network.widths[g.layer], g.size, DEFAULT_N_RANDOM, rng)
        ]
    n = len(vis_groups)
    print(
        f"{what}: {len(tested)} groups ({len(skipped)} skipped) x {1 + DEFAULT_N_RANDOM} "
        f"= {n} visualisations, {steps} steps, torch threads {torch.get_num_threads()}"
    )
    t0 = time.perf_counter()
    feature_visualisation(network, vis_groups, steps=steps, random_state=0)
    t_batched = time.perf_counter() - t0
    sample = [vis_groups[k] for k in np.linspace(0, n - 1, min(one_at_a_time, n)).astype(int)]
    t0 = time.perf_counter()
    alone = feature_visualisation(network, sample, steps=steps, random_state=0, batch_size=1)
    t_single = (time.perf_counter() - t0) / len(sample)
    together = feature_visualisation(network, sample, steps=steps, random_state=0)
    per_group = t_batched / n
    print(f"batched over all groups: {t_batched:8.2f} s  {per_group * 1e3:8.2f} ms per group")
    print(
        f"one group at a time:     {t_single * n:8.2f} s  {t_single * 1e3:8.2f} ms per group "
        f"(measured on {len(sample)} groups, scaled to {n})"
    )
    print(f"speed-up: {t_single / per_group:.1f}x")
    gap = np.abs(alone.objective - together.objective).max()
    print(f"same groups and seed, batched vs one at a time: max |objective difference| {gap:.2e}")
    t0 = time.perf_counter()
    res = coherence(network, groups, (X, y), steps=steps, random_state=0)
    t_all = time.perf_counter() - t0
    print(
        f"whole coherence() call: {t_all:.2f} s; Fisher p: "
        + ", ".join(f"{k} {v:.3g}" for k, v in res.fisher_p.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("mlp", "resnet", "all"), default="all")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument(
        "--one-at-a-time", type=int, default=12, help="groups visualised one by one"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1; 0 keeps torch's default)"
    )
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    options = dict(steps=args.steps, one_at_a_time=args.one_at_a_time)
    if args.case in ("mlp", "all"):
        _, chain, X, y, groups = digits_mlp(args.epochs)
        compare(chain, groups, X, y, what=f"MLP {ARCH} (chain)", **options)
    if args.case in ("resnet", "all"):
        view, X, y, groups = digits_resnet(args.epochs)
        compare(view, groups, X, y, what="ResNet c16-c16-c32 (view, float64)", **options)


if __name__ == "__main__":
    main()
