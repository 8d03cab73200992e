"""Benchmark: clusterability (spectral partition + 50 shuffled nulls) against scikit-learn.

For two MLPs (``64-256x4-10`` trained on scikit-learn's digits, 1,098 neurons, and
``784-256x4-10`` trained on the same digits upsampled to 28x28 pixels, i.e. 784
features, 1,818 neurons), this times the whole computation behind ``neurongraph analyze
spectral`` — partition the weight graph, then 50 ``layer``-shuffled null networks,
k = 12 — with :func:`neurongraph.analysis.nulls.clusterability` and its default
partitioner (``--method``, default ``papers``), and the papers' reference code, i.e.
scikit-learn's ``SpectralClustering(n_clusters=12, affinity='precomputed',
eigen_solver='arpack', assign_labels='kmeans', n_init=25)`` (``n_init`` 100 above 2,000
neurons), doing the same 51 partitions on the same 51 adjacency matrices (the network
without its isolated neurons, and the shuffles of that reduced network), in the same
process. Both partitions of every matrix are scored with the same n-cut, and the
printout compares the two in distribution: the real n-cut, and the mean and
(population) std of the null n-cuts over the same nulls.

Our computation is timed twice: on all cores (the default, one worker thread per core
with one BLAS thread in all) and in this process alone
(``n_jobs=1``, one BLAS thread). scikit-learn runs with one BLAS/OpenMP thread by default
(``--sklearn-threads 1``): on a busy shared machine its OpenMP k-means slows down many
times over when it may use every core, which would flatter the ratio. Pass
``--sklearn-threads 0`` for its own default. ``--sklearn-nulls N`` lets scikit-learn
partition only N of the 50 nulls; its total is then extrapolated from its mean time per
null partition, and the printout says so.

Run: ``python benchmarks/spectral.py [--json]``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from contextlib import nullcontext

import numpy as np
from scipy.ndimage import zoom
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from neurongraph.analysis.nulls import _connected_blocks, _LayerNull, _null_seeds, clusterability
from neurongraph.analysis.spectral import (
    DEFAULT_METHOD,
    METHODS,
    PAPERS,
    default_n_init,
    layered_adjacency,
    ncut,
    papers_kmeans,
)

HIDDEN = (256, 256, 256, 256)


def digits(pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits scaled to [0, 1], upsampled to pixels x pixels."""
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    if pixels != 8:
        x = np.stack([zoom(image.reshape(8, 8), pixels / 8, order=1).ravel() for image in x])
    return x, y


def train_mlp(x: np.ndarray, y: np.ndarray, max_iter: int, seed: int):
    """An MLP with four hidden layers of 256 ReLU units; returns (widths, |W| blocks, acc)."""
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed)
    model = MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    widths = [x.shape[1], *HIDDEN, int(model.n_outputs_)]
    # coefs_[i] is (source x target); the blocks are (target x source) like torch.
    blocks = [np.abs(w).T.copy() for w in model.coefs_]
    return widths, blocks, float(model.score(x_test, y_test))


def time_ours(widths, blocks, args, n_jobs):
    """Wall seconds, CPU seconds of this process, and the result."""
    start, cpu = time.perf_counter(), time.process_time()
    result = clusterability(
        widths,
        blocks,
        args.k,
        n_shuffles=args.shuffles,
        method="layer",
        random_state=args.seed,
        n_jobs=n_jobs,
        spectral_method=args.method,
    )
    return time.perf_counter() - start, time.process_time() - cpu, result


def time_sklearn(widths, blocks, args):
    """scikit-learn on the real network and on the first --sklearn-nulls null networks.

    The null adjacency matrices are rebuilt from the same per-null seeds that
    ``clusterability`` derives, so both libraries partition identical matrices.
    """
    n_nulls = min(args.sklearn_nulls, args.shuffles)
    seeds = _null_seeds(check_random_state(args.seed), args.shuffles)[:n_nulls]
    pairs = [(i, i + 1) for i in range(len(blocks))]
    widths, blocks, _ = _connected_blocks(widths, blocks, pairs)
    build = _LayerNull(widths, blocks, nonzero=False)
    matrices = [layered_adjacency(widths, blocks)]
    matrices += [build.adjacency(np.random.default_rng(shuffle_seed)) for shuffle_seed, _ in seeds]
    limit = threadpool_limits(args.sklearn_threads) if args.sklearn_threads else nullcontext()
    seconds, cpu_seconds, ncuts = [], [], []
    with limit, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "graph is not fully connected"
        for i, matrix in enumerate(matrices):
            model = SpectralClustering(
                n_clusters=args.k,
                affinity="precomputed",
                eigen_solver="arpack",
                assign_labels="kmeans",
                n_init=default_n_init(PAPERS, matrix.shape[0]),
                random_state=args.seed + i,
            )
            start, cpu = time.perf_counter(), time.process_time()
            model.fit(matrix)
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - cpu)
            ncuts.append(ncut(matrix, model.labels_))
    return np.array(seconds), np.array(cpu_seconds), np.array(ncuts)


def run_net(name, widths, blocks, accuracy, args):
    one_core, one_core_cpu, ours = time_ours(widths, blocks, args, 1)
    all_cores, _, ours_parallel = time_ours(widths, blocks, args, args.n_jobs)
    if not np.array_equal(ours.null_ncuts, ours_parallel.null_ncuts):
        raise SystemExit("n_jobs=1 and n_jobs=all gave different null n-cuts")
    seconds, cpu_seconds, sk_ncuts = time_sklearn(widths, blocks, args)
    n_nulls = seconds.size - 1

    def total(values):  # real partition + 50 nulls, extrapolated from the nulls run
        return float(values[0] + values[1:].mean() * args.shuffles) if n_nulls else np.nan

    sk_total, sk_cpu = total(seconds), total(cpu_seconds)
    ours_nulls = ours.null_ncuts[:n_nulls]
    return {
        "network": name,
        "widths": widths,
        "testAccuracy": accuracy,
        "k": args.k,
        "nShuffles": args.shuffles,
        "sklearnNullsRun": n_nulls,
        "sklearnExtrapolated": n_nulls < args.shuffles,
        "oursSeconds": all_cores,
        "oursOneCoreSeconds": one_core,
        "oursOneCoreCpuSeconds": one_core_cpu,
        "sklearnSeconds": sk_total,
        "sklearnCpuSeconds": sk_cpu,
        "speedup": sk_total / all_cores,
        "speedupOneCore": sk_total / one_core,
        "speedupCpu": sk_cpu / one_core_cpu,
        "ncutOurs": ours.ncut,
        "ncutSklearn": float(sk_ncuts[0]),
        "ncutDiffPercent": float(100 * (ours.ncut - sk_ncuts[0]) / sk_ncuts[0]),
        "nullNcutOurs": float(ours_nulls.mean()),
        "nullNcutSklearn": float(sk_ncuts[1:].mean()),
        "nullNcutDiffPercent": float(
            100 * (ours_nulls.mean() - sk_ncuts[1:].mean()) / sk_ncuts[1:].mean()
        ),
        "nullStdOurs": float(ours_nulls.std()),
        "nullStdSklearn": float(sk_ncuts[1:].std()),
        "nullStdRatio": float(ours_nulls.std() / sk_ncuts[1:].std()),
        "method": args.method,
        "nullMean": ours.null_mean,
        "nullStd": ours.null_std,
        "zScore": ours.z_score,
        "percentile": ours.percentile,
    }


def kmeans_row(args) -> dict:
    """Our batched k-means restarts (``papers_kmeans``) against scikit-learn's ``KMeans`` with
    the same restarts, on the same points: blobs the size of the digits MLP's embedding."""
    n_points, dim, n_init, repeats = 1098, args.k, default_n_init(PAPERS, 1098), 10
    rng = np.random.default_rng(args.seed)
    centres = rng.normal(size=(args.k, dim))
    points = centres[rng.integers(args.k, size=n_points)] + 0.6 * rng.normal(size=(n_points, dim))
    ours, theirs, inertia_ours, inertia_theirs = [], [], [], []
    limit = threadpool_limits(args.sklearn_threads) if args.sklearn_threads else nullcontext()
    with limit:
        for seed in range(repeats):
            started = time.perf_counter()
            labels = papers_kmeans(points, args.k, n_init, check_random_state(seed))[0]
            ours.append(time.perf_counter() - started)
            means = np.stack([points[labels == c].mean(axis=0) for c in np.unique(labels)])
            inertia_ours.append(
                float(((points - means[np.searchsorted(np.unique(labels), labels)]) ** 2).sum())
            )
            started = time.perf_counter()
            fitted = KMeans(args.k, n_init=n_init, random_state=seed).fit(points)
            theirs.append(time.perf_counter() - started)
            inertia_theirs.append(float(fitted.inertia_))
    return {
        "points": n_points,
        "dim": dim,
        "nInit": n_init,
        "repeats": repeats,
        "oursSeconds": float(np.median(ours)),
        "sklearnSeconds": float(np.median(theirs)),
        "speedup": float(np.median(theirs) / np.median(ours)),
        "inertiaOurs": float(np.mean(inertia_ours)),
        "inertiaSklearn": float(np.mean(inertia_theirs)),
    }


def print_table(rows, args):
    cores = os.cpu_count()
    threads = args.sklearn_threads or "default"
    jobs = "all cores" if args.n_jobs is None else f"n_jobs={args.n_jobs}"
    print(
        f"clusterability: partition + {args.shuffles} layer-shuffled nulls, k={args.k}, "
        f"ours: --method {args.method}"
    )
    print(f"machine: {platform.machine()}, {cores} cores; sklearn threads: {threads}")
    print(
        f"seconds: wall clock; 'ours' on {jobs}, '1 core' with n_jobs=1 (wall and CPU), "
        "sklearn in this process (wall and CPU)"
    )
    print(
        f"{'network':<11}{'ours':>6}{'1 core':>8}{'cpu':>7}{'sklearn':>9}{'cpu':>8}"
        f"{'x all':>7}{'x 1core':>8}{'x cpu':>7}"
    )
    for r in rows:
        mark = "*" if r["sklearnExtrapolated"] else " "
        print(
            f"{r['network']:<11}{r['oursSeconds']:>6.1f}{r['oursOneCoreSeconds']:>8.1f}"
            f"{r['oursOneCoreCpuSeconds']:>7.1f}{r['sklearnSeconds']:>8.1f}{mark}"
            f"{r['sklearnCpuSeconds']:>8.1f}{r['speedup']:>7.1f}{r['speedupOneCore']:>8.1f}"
            f"{r['speedupCpu']:>7.1f}"
        )
    print()
    print(f"{'network':<11}{'null std ours':>14}{'sklearn':>9}{'ratio':>7}  (same nulls, ddof=0)")
    for r in rows:
        print(
            f"{r['network']:<11}{r['nullStdOurs']:>14.4f}{r['nullStdSklearn']:>9.4f}"
            f"{r['nullStdRatio']:>7.2f}"
        )
    print()
    print(
        f"{'network':<11}{'ncut ours':>10}{'sklearn':>9}{'diff %':>8}"
        f"{'null ours':>11}{'sklearn':>9}{'diff %':>8}{'null mean':>11}{'std':>7}"
        f"{'z':>7}{'pct':>7}"
    )
    for r in rows:
        print(
            f"{r['network']:<11}{r['ncutOurs']:>10.4f}{r['ncutSklearn']:>9.4f}"
            f"{r['ncutDiffPercent']:>+8.2f}{r['nullNcutOurs']:>11.4f}{r['nullNcutSklearn']:>9.4f}"
            f"{r['nullNcutDiffPercent']:>+8.2f}{r['nullMean']:>11.4f}{r['nullStd']:>7.4f}"
            f"{r['zScore']:>7.2f}{r['percentile']:>7.3f}"
        )
    for r in rows:
        if r["sklearnExtrapolated"]:
            print(
                f"* {r['network']}: scikit-learn partitioned the real network and "
                f"{r['sklearnNullsRun']} of the {r['nShuffles']} nulls; its time is "
                "extrapolated from its mean time per null, and its null n-cut is the mean "
                "over those nulls (ours over the same ones)."
            )
    for r in rows:
        print(f"{r['network']}: held-out accuracy {r['testAccuracy']:.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", type=int, default=12)
    parser.add_argument("--shuffles", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=30, help="MLP training epochs")
    parser.add_argument(
        "--sklearn-nulls", type=int, default=50, help="nulls scikit-learn partitions"
    )
    parser.add_argument(
        "--sklearn-threads", type=int, default=1, help="BLAS/OpenMP threads, 0 = default"
    )
    parser.add_argument("--n-jobs", type=int, default=None, help="our workers (all cores)")
    parser.add_argument("--nets", default="digits64,digits784")
    parser.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD, help="our partitioner")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--kmeans-only", action="store_true", help="time only the k-means restarts")
    args = parser.parse_args(argv)
    kmeans = kmeans_row(args)
    print(
        f"k-means, {kmeans['points']} points x {kmeans['dim']} dims, {kmeans['nInit']} restarts: "
        f"ours {kmeans['oursSeconds']:.3f} s, "
        f"scikit-learn's KMeans {kmeans['sklearnSeconds']:.3f} s "
        f"({kmeans['speedup']:.1f}x); mean inertia {kmeans['inertiaOurs']:.2f} vs "
        f"{kmeans['inertiaSklearn']:.2f}",
        file=sys.stderr,
    )
    if args.kmeans_only:
        return

    nets = {"digits64": 8, "digits784": 28}
    rows = []
    for name in args.nets.split(","):
        x, y = digits(nets[name])
        widths, blocks, accuracy = train_mlp(x, y, args.max_iter, args.seed)
        rows.append(run_net(name, widths, blocks, accuracy, args))
        print(f"done {name}", file=sys.stderr)
    if args.json:
        print(json.dumps({"benchmark": "spectral", "cpuCount": os.cpu_count(), "rows": rows}))
    else:
        print_table(rows, args)


if __name__ == "__main__":
    main()
