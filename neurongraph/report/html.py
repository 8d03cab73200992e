"""A network's analyses as one self-contained HTML page of matplotlib plots (embedded PNG).

Every section reads what an analysis wrote into the store; a section whose analysis has not run
says which command runs it.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neurongraph.analysis.graphs import weight_graph  # noqa: E402
from neurongraph.model.view import SUM  # noqa: E402
from neurongraph.store import Store  # noqa: E402
from neurongraph.store.files import VISUALISATIONS  # noqa: E402
from neurongraph.store.rows import partition_uid  # noqa: E402

__all__ = ["build_report", "write_report"]

log = logging.getLogger(__name__)

#: Figure size (inches) and resolution of every plot.
FIGSIZE = (9.0, 3.6)
DPI = 90
#: Weight panels per row of the weights figure.
PANELS_PER_ROW = 5
#: Feature visualisations shown at most.
#: Most activating example texts shown per cluster (token models).
SHOWN_TEXTS = 3
MAX_VISUALISATIONS = 24
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 2px 10px; border-bottom: 1px solid #eee; text-align: left; }
.missing { color: #a60; } code { background: #f4f4f4; padding: 1px 4px; }
img { max-width: 100%; } .vis img { width: 96px; image-rendering: pixelated; margin: 2px; }
"""


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _img(fig: plt.Figure, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{_png(fig)}">'


def _missing(what: str, command: str) -> str:
    return f'<p class="missing">No {what} yet: run <code>{html.escape(command)}</code>.</p>'


def _table(rows: list[tuple]) -> str:
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table>{cells}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _overview(network: dict) -> str:
    keys = (
        "status",
        "dataFlow",
        "dataset",
        "accuracy",
        "nLayers",
        "nNeurons",
        "nEdges",
        "modelFile",
        "entropy",
        "classEntropy",
        "createdAt",
    )
    return _table([(k, _fmt(network.get(k))) for k in keys if network.get(k) is not None])


def _weights_section(store: Store, name: str) -> str:
    labels_rows = store.neuron_property(name, "spectralWeightsCluster")
    if not any(r["value"] is not None for r in labels_rows):
        return _missing("spectral partition of the weights", f"neurongraph analyze spectral {name}")
    weights = weight_graph(store, name)
    widths, blocks = weights.widths, weights.blocks
    layers = store.layers(name)
    labels = {(r["layer"], r["index"]): r["value"] for r in labels_rows}
    columns = min(len(blocks), PANELS_PER_ROW)
    rows_of_panels = -(-len(blocks) // columns)
    fig, axes = plt.subplots(
        rows_of_panels,
        columns,
        figsize=(FIGSIZE[0], FIGSIZE[1] * rows_of_panels),
        squeeze=False,
    )
    titles = []
    for ax, block, (p, q) in zip(axes.flat, blocks, weights.pairs, strict=False):
        rows = np.argsort([labels.get((q, i), -1) for i in range(widths[q])], kind="stable")
        cols = np.argsort([labels.get((p, i), -1) for i in range(widths[p])], kind="stable")
        ax.imshow(np.log1p(block.toarray()[np.ix_(rows, cols)]), aspect="auto", cmap="magma")
        title = _panel_title(layers[p], layers[q])
        titles.append(title)
        ax.set_title(title.replace(" -> ", "\n-> "), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(blocks) :]:
        ax.set_axis_off()
    fig.suptitle("|W| between connected layers (columns: source, rows: target), sorted by cluster")
    fig.tight_layout()
    listed = "; ".join(html.escape(title) for title in titles)
    return (
        _img(fig, "weights reordered by cluster")
        + f'<p class="panels">One panel per FEEDS relationship: {listed}.</p>'
    )


def _panel_title(source: dict, target: dict) -> str:
    """``source -> target`` by layer name, the target's kind added for a sum layer."""
    kind = f" ({SUM})" if target.get("kind") == SUM else ""
    return f"{source['name']} -> {target['name']}{kind}"


def _ncut_section(store: Store, name: str) -> str:
    parts = []
    for method in ("spectral-weights", "spectral-activations"):
        partition = store.partition(partition_uid(name, method))
        if partition is None:
            graph = method.split("-")[1]
            parts.append(
                _missing(
                    f"{method} partition", f"neurongraph analyze spectral {name} --graph {graph}"
                )
            )
            continue
        summary = _table(
            [
                (k, _fmt(partition.get(k)))
                for k in ("k", "ncut", "nullMean", "nullStd", "zScore", "percentile", "nShuffles")
            ]
        )
        nulls = partition.get("nullNcuts")
        if not nulls:
            parts.append(f"<h3>{method}</h3>{summary}<p>No null models were run.</p>")
            continue
        fig, ax = plt.subplots(figsize=FIGSIZE)
        ax.hist(nulls, bins=min(30, max(5, len(nulls) // 2)), color="#9ab", label="shuffled")
        ax.axvline(partition["ncut"], color="#c33", lw=2, label="network")
        ax.set_xlabel("n-cut (lower = more clusterable)")
        ax.set_ylabel("null networks")
        ax.legend()
        parts.append(f"<h3>{method}</h3>{summary}{_img(fig, f'{method} n-cut vs nulls')}")
    return "".join(parts)


def _cluster_matrix(clusters: list[dict], key: str) -> tuple[list, list, np.ndarray] | None:
    """(layers, cluster labels, values) of a per-layer cluster score, or None if absent."""
    layers: list = []
    labels: list = []
    values: dict = {}
    for row in clusters:
        c = row["cluster"]
        if c.get("importanceLayers") is None or c.get(key) is None:
            continue
        labels.append(c["label"])
        for layer, value in zip(c["importanceLayers"], c[key], strict=True):
            if layer not in layers:
                layers.append(layer)
            values[(layer, c["label"])] = value
    if not values:
        return None
    matrix = np.full((len(layers), len(labels)), np.nan)
    for (layer, label), value in values.items():
        matrix[layers.index(layer), labels.index(label)] = value
    return layers, labels, matrix


def _importance_section(store: Store, name: str) -> str:
    parts = []
    for method in ("spectral-weights", "spectral-activations", "louvain"):
        uid = partition_uid(name, method)
        partition = store.partition(uid)
        if partition is None:
            continue
        found = _cluster_matrix(store.clusters(uid), "importanceLayerP")
        if found is None:
            parts.append(
                _missing(
                    f"importance for {method}",
                    f"neurongraph analyze importance {name} --partition {method}",
                )
            )
            continue
        layers, labels, matrix = found
        fig, ax = plt.subplots(figsize=(FIGSIZE[0], 0.5 + 0.45 * len(layers)))
        image = ax.imshow(-np.log10(matrix), aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(labels)), [str(v) for v in labels], fontsize=7, rotation=90)
        ax.set_yticks(range(len(layers)), [str(v) for v in layers], fontsize=8)
        ax.set_xlabel("cluster")
        ax.set_ylabel("layer")
        fig.colorbar(image, ax=ax, label="-log10 p (lesion vs random groups)")
        fisher = partition.get("importanceFisherP")
        parts.append(
            f"<h3>{method}</h3><p>Fisher-combined p: {_fmt(fisher)}</p>"
            f"{_img(fig, f'importance of {method} clusters')}"
        )
    return "".join(parts) or _missing("partition to score", f"neurongraph analyze spectral {name}")


def _coherence_section(store: Store, name: str) -> str:
    parts = []
    keys = ("visObjectiveP", "visEntropyP", "exampleEntropyP")
    for method in ("spectral-weights", "spectral-activations", "louvain"):
        uid = partition_uid(name, method)
        if store.partition(uid) is None:
            continue
        clusters = [r["cluster"] for r in store.clusters(uid)]
        scored = [c for c in clusters if c.get("exampleEntropyP") is not None]
        if not scored:
            parts.append(
                _missing(
                    f"coherence for {method}",
                    f"neurongraph analyze coherence {name} --partition {method}",
                )
            )
            continue
        fig, ax = plt.subplots(figsize=FIGSIZE)
        x = np.arange(len(scored))
        # only the scores computed (a token model has no feature visualisation), centred
        shown = [key for key in keys if any(c.get(key) is not None for c in scored)]
        width = 0.8 / len(shown)
        for offset, key in enumerate(shown):
            values = [c.get(key) if c.get(key) is not None else np.nan for c in scored]
            position = x + (offset - (len(shown) - 1) / 2) * width
            ax.bar(position, values, width=width, label=key)
        ax.set_xticks(x, [str(c["label"]) for c in scored], fontsize=7, rotation=90)
        ax.set_ylabel("percentile vs random groups (low = coherent)")
        ax.legend(fontsize=8)
        vis = [
            store.files.resolve(c["visPath"], VISUALISATIONS, ".png")
            for c in scored
            if c.get("visPath")
        ][:MAX_VISUALISATIONS]
        gallery = "".join(
            f'<img alt="cluster visualisation" src="{_file_uri(path)}">'
            for path in vis
            if path.exists()
        )
        examples = [
            (c["label"], " | ".join(c["exampleTexts"][:SHOWN_TEXTS]))
            for c in scored
            if c.get("exampleTexts")
        ]
        texts = _table([("cluster", "most activating examples"), *examples]) if examples else ""
        parts.append(
            f"<h3>{method}</h3>{_img(fig, f'coherence of {method}')}"
            f'<div class="vis">{gallery}</div>{texts}'
        )
    return "".join(parts) or _missing("partition to score", f"neurongraph analyze spectral {name}")


def _file_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _layers_section(store: Store, name: str) -> str:
    layers = store.layers(name)[1:-1]
    partition = store.partition(partition_uid(name, "louvain"))
    has_entropy = any(layer.get("entropyMean") is not None for layer in layers)
    if partition is None and not has_entropy:
        return _missing("Louvain communities", f"neurongraph analyze louvain {name}") + _missing(
            "entropy", f"neurongraph analyze entropy {name}"
        )
    fig, ax = plt.subplots(figsize=FIGSIZE)
    names = [layer["name"] for layer in layers]
    if partition is not None:
        q = [v if v is not None else np.nan for v in partition.get("layerModularity", [])]
        ax.plot(partition.get("layers", []), q, "o-", label="Louvain modularity Q")
    if has_entropy:
        for key, label in (
            ("entropyMean", "mean firing entropy (bits)"),
            ("classEntropyMean", "mean class entropy (bits)"),
        ):
            ax.plot(names, [layer.get(key, np.nan) for layer in layers], "s--", label=label)
    ax.set_xlabel("hidden layer")
    ax.legend(fontsize=8)
    notes = (
        ""
        if partition is not None
        else _missing("Louvain communities", f"neurongraph analyze louvain {name}")
    )
    if not has_entropy:
        notes += _missing("entropy", f"neurongraph analyze entropy {name}")
    return _img(fig, "modularity and entropy per layer") + notes


def _evolution_section(store: Store, network: dict) -> str:
    series = network.get("series")
    if not series:
        return (
            "<p>This network is not part of a checkpoint series; "
            "<code>neurongraph experiment evolution</code> makes one.</p>"
        )
    members = sorted(
        (n for n in store.networks() if n.get("series") == series and n.get("epoch") is not None),
        key=lambda n: n["epoch"],
    )
    epochs = [n["epoch"] for n in members]
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for key, label in (
        ("accuracy", "test accuracy"),
        ("entropy", "mean entropy (bits)"),
        ("modularity", "Louvain modularity"),
    ):
        values = [_series_value(store, n, key) for n in members]
        if any(v is not None for v in values):
            ax.plot(epochs, [np.nan if v is None else v for v in values], "o-", label=label)
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    return _img(fig, f"evolution of series {series}")


def _series_value(store: Store, network: dict, key: str):
    if key != "modularity":
        return network.get(key)
    partition = store.partition(partition_uid(network["name"], "louvain"))
    return None if partition is None else partition.get("modularity")


def build_report(store: Store, name: str) -> str:
    """The HTML report of one network."""
    network = store.require_network(name)
    sections = (
        ("Network", _overview(network)),
        ("Weights by spectral cluster", _weights_section(store, name)),
        (
            "Clusterability: n-cut against shuffled networks",
            _ncut_section(store, name),
        ),
        ("Importance: lesions against random groups", _importance_section(store, name)),
        (
            "Coherence: feature visualisation and dataset examples",
            _coherence_section(store, name),
        ),
        ("Communities and entropy per layer", _layers_section(store, name)),
        ("Evolution through training", _evolution_section(store, network)),
    )
    body = "".join(f"<h2>{html.escape(title)}</h2>{content}" for title, content in sections)
    title = f"neurongraph report: {html.escape(name)}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body><h1>{title}</h1>{body}</body></html>"
    )


def write_report(store: Store, name: str, out: Path) -> Path:
    """Write :func:`build_report` to ``out``; returns the path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(store, name), encoding="utf-8")
    return out
