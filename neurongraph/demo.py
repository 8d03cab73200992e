"""The demo pipeline: train a digits MLP, ingest it with activations, analyse it, report."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch

from neurongraph.analysis.communities import DEFAULT_N_SHUFFLES as DEFAULT_MODULARITY_SHUFFLES
from neurongraph.ingest.pipeline import ingest_model
from neurongraph.model.datasets import load_dataset
from neurongraph.model.loading import load_model
from neurongraph.report.html import write_report
from neurongraph.runs.coherence import run_coherence
from neurongraph.runs.entropy import run_entropy
from neurongraph.runs.importance import run_importance
from neurongraph.runs.louvain import run_louvain
from neurongraph.runs.spectral import run_spectral
from neurongraph.store import Store
from neurongraph.training import parse_architecture
from neurongraph.training.train import train_model

__all__ = ["DEMO_ARCH", "DEMO_DATA", "DEMO_NETWORK", "EXAMPLE_QUERIES", "run_demo"]

log = logging.getLogger(__name__)

DEMO_ARCH = "64-256-256-256-256-10"
DEMO_DATA = "digits"
DEMO_NETWORK = "digits-mlp"
DEMO_SEED = 0
#: Null networks of each spectral analysis in the demo.
DEMO_SHUFFLES = 50

#: Named queries (``neurongraph/queries``) the demo suggests trying: what each shows, its name
#: and its parameters.
EXAMPLE_QUERIES = (
    ("the layers of the demo network", "layer-summary", {"network": DEMO_NETWORK}),
    (
        "the ten strongest weights into the output layer",
        "strongest-weights",
        {"network": DEMO_NETWORK, "position": 5},
    ),
    ("the most class-selective hidden neurons", "selective-neurons", {"network": DEMO_NETWORK}),
)


def run_demo(
    store: Store,
    out_dir: Path,
    *,
    step: Callable[[str], None] | None = None,
) -> dict:
    """Train, ingest (replacing an earlier demo network), record activations, run every
    analysis and write the report.

    Returns a summary of each stage. ``step`` is called with the name of each stage as it starts.
    """
    step = step or (lambda name: None)
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(DEMO_DATA, random_state=DEMO_SEED)
    step("train")
    result = train_model(parse_architecture(DEMO_ARCH), dataset, random_state=DEMO_SEED)
    model_path, _ = result.save(out_dir / f"{DEMO_NETWORK}.pt")
    step("ingest with activations")
    loaded = load_model(str(model_path))
    example = torch.zeros(2, *dataset.input_shape)
    ingest = ingest_model(
        store,
        loaded.module,
        DEMO_NETWORK,
        example,
        replace=True,
        properties=loaded.properties(),
        model_file=loaded.file,
        dataset=dataset,
    )
    activations = ingest.activations
    analyses = {}
    for graph in ("weights", "activations"):
        step(f"spectral partition of the {graph} graph with {DEMO_SHUFFLES} null networks")
        analyses[f"spectral-{graph}"] = run_spectral(
            store, DEMO_NETWORK, graph=graph, n_shuffles=DEMO_SHUFFLES, random_state=DEMO_SEED
        ).as_dict()
    step("Louvain communities")
    analyses["louvain"] = run_louvain(
        store, DEMO_NETWORK, n_shuffles=DEFAULT_MODULARITY_SHUFFLES, random_state=DEMO_SEED
    ).as_dict()
    step("entropy")
    analyses["entropy"] = run_entropy(store, DEMO_NETWORK).as_dict()
    step("importance (lesions)")
    analyses["importance"] = run_importance(store, DEMO_NETWORK, random_state=DEMO_SEED).as_dict()
    step("coherence (feature visualisation, dataset examples)")
    analyses["coherence"] = run_coherence(store, DEMO_NETWORK, random_state=DEMO_SEED).as_dict()
    step("report")
    report = write_report(store, DEMO_NETWORK, out_dir / "report.html")
    return {
        "network": DEMO_NETWORK,
        "model": str(model_path),
        "testAccuracy": result.test_accuracy,
        "ingest": {k: v for k, v in ingest.as_dict().items() if k != "activations"},
        "activations": activations.as_dict(),
        "analyses": analyses,
        "report": str(report.resolve()),
        "seconds": round(time.perf_counter() - started, 1),
        "queries": [
            {"shows": what, "query": query, "params": params}
            for what, query, params in EXAMPLE_QUERIES
        ],
    }
