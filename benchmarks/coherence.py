"""Coherence benchmark: feature visualisation batched over groups against one group at a time.

The digits MLP and k = 12 spectral partition of benchmarks/lesion.py; every (layer, cluster) group
of the hidden layers plus its 9 random same-size groups (the defaults of ``coherence``) is
visualised at the default 256 Adam steps (pixel parameterisation): once batched over all groups of
a layer (what ``coherence`` does), then one group at a time for a sample of the groups (the full
loop would take minutes). Prints seconds per group both ways and their ratio, plus the time of a
whole ``coherence`` call.

Run: ``.venv/bin/python benchmarks/coherence.py [--threads T] [--one-at-a-time N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lesion import ARCH, EPOCHS, digits_mlp  # noqa: E402

from neurongraph.analysis.coherence import (  # noqa: E402
    DEFAULT_N_RANDOM,
    DEFAULT_STEPS,
    coherence,
    feature_visualisation,
)
from neurongraph.analysis.lesion import partition_groups  # noqa: E402
from neurongraph.analysis.stats import random_groups  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    _, chain, X, y, groups = digits_mlp(args.epochs)
    tested, skipped = partition_groups(chain, groups, min_size=1)
    rng = np.random.default_rng(0)
    vis_groups = []
    for g in tested:
        vis_groups.append((g.layer, g.units))
        vis_groups += [
            (g.layer, r)
            for r in random_groups(chain.widths[g.layer], g.size, DEFAULT_N_RANDOM, rng)
        ]
    n = len(vis_groups)
    print(
        f"model {ARCH}: {len(tested)} groups ({len(skipped)} skipped) x {1 + DEFAULT_N_RANDOM} "
        f"= {n} visualisations, {args.steps} steps, torch threads {torch.get_num_threads()}"
    )
    t0 = time.perf_counter()
    feature_visualisation(chain, vis_groups, steps=args.steps, random_state=0)
    t_batched = time.perf_counter() - t0
    sample = [vis_groups[k] for k in np.linspace(0, n - 1, min(args.one_at_a_time, n)).astype(int)]
    t0 = time.perf_counter()
    alone = feature_visualisation(chain, sample, steps=args.steps, random_state=0, batch_size=1)
    t_single = (time.perf_counter() - t0) / len(sample)
    together = feature_visualisation(chain, sample, steps=args.steps, random_state=0)
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
    res = coherence(chain, groups, (X, y), steps=args.steps, random_state=0)
    t_all = time.perf_counter() - t0
    print(
        f"whole coherence() call: {t_all:.2f} s; Fisher p: "
        + ", ".join(f"{k} {v:.3g}" for k, v in res.fisher_p.items())
    )


if __name__ == "__main__":
    main()
