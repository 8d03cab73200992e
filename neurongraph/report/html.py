"""A network's analyses as one self-contained HTML page (template ``templates/report.html``).

Every section reads what an analysis wrote into the store; a section whose analysis has not run
says the exact command that runs it. The page opens with a plain-language summary of what is and
is not significant, then a per-cluster table, then the figures (``report.figures``).
"""

from __future__ import annotations

import html
import logging
import shlex
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from string import Template

import numpy as np

from neurongraph.analysis.defaults import PARTITION_METHODS, SPECTRAL_METHOD
from neurongraph.flags import for_command_line
from neurongraph.formatting import MISSING, cell, points, to_points
from neurongraph.report import figures
from neurongraph.report.summary import (
    COHERENCE_SCORES,
    Finding,
    clusterability_findings,
    coherence_findings,
    importance_findings,
    layer_labels,
    modularity_findings,
    p_text,
)
from neurongraph.store import Store
from neurongraph.store.files import VISUALISATIONS
from neurongraph.store.rows import partition_uid

__all__ = ["build_report", "write_report"]

log = logging.getLogger(__name__)

#: Clusters shown in the feature-visualisation gallery, per partition, at most.
MAX_VISUALISATIONS = 24
#: Most activating example texts shown per cluster (token models).
SHOWN_TEXTS = 3
#: Classes named in the per-cluster table's class columns.
TOP_CLASSES = 3
#: Short column headers of the coherence p-values in the per-cluster table.
COHERENCE_HEADERS = ("vis objective p", "vis entropy p", "examples entropy p")
#: Network properties listed in the overview, in order.
OVERVIEW_KEYS = (
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
#: The template of the page, beside this module.
TEMPLATE = "report.html"


@dataclass
class _Report:
    """What the sections share: the network, its layer labels, its partitions and clusters."""

    store: Store
    name: str
    network: dict
    layers: list[dict]
    labels: dict[str, str]
    partitions: dict[str, dict] = field(default_factory=dict)
    clusters: dict[str, list[dict]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)

    def analyze(self, analysis: str, *options: str) -> str:
        """The exact command that runs ``analysis`` on this network (name quoted for a shell)."""
        return " ".join(["neurongraph", "analyze", analysis, shlex.quote(self.name), *options])

    def lacks(self, what: str, command: str) -> str:
        """A notice that ``what`` has not run, remembered for the summary."""
        self.missing.append((what, command))
        return f'<p class="missing">No {what} yet: run <code>{html.escape(command)}</code>.</p>'

    def label(self, layer: str | None) -> str:
        return self.labels.get(layer, str(layer))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _overview(report: _Report) -> str:
    network = report.network
    rows = [(k, cell(network.get(k))) for k in OVERVIEW_KEYS if network.get(k) is not None]
    layers = [
        (report.label(layer["name"]), layer.get("kind", ""), cell(layer.get("width")))
        for layer in report.layers
    ]
    return _table(("property", "value"), rows) + _table(("layer", "kind", "width"), layers)


def _unit(partition: dict) -> str:
    return "points" if partition.get("importanceMetric", "accuracy") == "accuracy" else "% output"


def _classes(counts: Counter) -> str:
    return ", ".join(f"{c} ({n})" for c, n in counts.most_common(TOP_CLASSES))


def _hurt_classes(deltas: Sequence[float]) -> str:
    order = np.argsort(deltas, kind="stable")[:TOP_CLASSES]
    return ", ".join(f"{int(i)} ({points(deltas[i], '+.0f')})" for i in order if deltas[i] < 0)


def _spread(values: Sequence[float]) -> str:
    if not len(values):
        return MISSING
    a = np.asarray(values, dtype=float)
    return (
        f"{points(a.mean(), '+.1f')} ± {points(a.std(), '.1f')} "
        f"[{points(a.min(), '+.1f')}, {points(a.max(), '+.1f')}]"
    )


def _cluster_rows(report: _Report, method: str) -> list[dict]:
    """One row per tested (cluster, layer) group: its lesion and coherence results."""
    partition = report.partitions[method]
    n = partition.get("importanceRandomSets") or 0
    n_coherence = partition.get("coherenceRandomSets") or 0
    order = partition.get("layers") or []
    rows = []
    for c in report.clusters[method]:
        tested = c.get("importanceLayers") or []
        layers = tested or ([c["coherenceLayer"]] if c.get("coherenceLayer") else [])
        randoms = c.get("importanceLayerRandomDeltas") or []
        for i, layer in enumerate(layers):
            sizes = c.get("layerSizes") or []
            size = sizes[order.index(layer)] if layer in order and sizes else c.get("size")
            row = {"cluster": c["label"], "layer": layer, "size": size}
            if tested:
                delta, p = c["importanceLayerDelta"][i], c["importanceLayerP"][i]
                row.update(
                    delta=delta,
                    p=p_text(p, n),
                    important=c["importanceLayerImportant"][i],
                    random=randoms[i * n : (i + 1) * n] if len(randoms) == n * len(tested) else [],
                    hurt=_hurt_classes(c.get("importanceClassDeltas") or [])
                    if (delta, p) == (c.get("importanceDelta"), c.get("importanceP"))
                    else "",
                )
            if layer == c.get("coherenceLayer"):
                row.update({key: p_text(c.get(key), n_coherence) for key in COHERENCE_SCORES})
                row["classes"] = _classes(Counter(c.get("exampleClasses") or []))
            rows.append(row)
    return sorted(
        rows, key=lambda r: (order.index(r["layer"]) if r["layer"] in order else 0, r["cluster"])
    )


def _cell(value: object, *, numeric: bool = False) -> str:
    """One table cell; numbers align right."""
    css = ' class="num"' if numeric else ""
    return f"<td{css}>{html.escape(str(value))}</td>"


def _cluster_table(report: _Report, method: str, rows: list[dict]) -> str:
    unit = _unit(report.partitions[method])
    header = (
        "cluster",
        "layer",
        "neurons",
        f"lesion Δ ({unit})",
        "random groups' Δ: mean ± sd [min, max]",
        "p",
        *COHERENCE_HEADERS,
        "classes of top examples (count)",
        "classes the lesion hurts most (Δ)",
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for r in rows:
        delta = r.get("delta")
        attrs = (
            f' data-cluster="{r["cluster"]}" data-layer="{html.escape(str(r["layer"]))}"'
            + ("" if delta is None else f' data-delta="{delta!r}"')
            + (' class="important"' if r.get("important") else "")
        )
        tds = (
            _cell(r["cluster"], numeric=True)
            + f'<td class="name">{_breakable(report.label(r["layer"]))}</td>'
            + _cell(r["size"], numeric=True)
            + _cell(points(delta), numeric=True)
            + _cell(_spread(r.get("random", [])), numeric=True)
            + "".join(_cell(r.get(key, MISSING), numeric=True) for key in ("p", *COHERENCE_SCORES))
            + _cell(r.get("classes", ""))
            + _cell(r.get("hurt", ""))
        )
        body.append(f"<tr{attrs}>{tds}</tr>")
    return (
        f'<div class="wide"><table class="clusters" data-partition="{method}"><tr>{head}</tr>'
        f"{''.join(body)}</table></div>"
    )


def _breakable(name: str) -> str:
    """``name`` escaped, with a line-break opportunity after each dot: a long module path
    (``model.encoder.layer.0.attention.output.dense``) may wrap at its dots, a short one keeps
    its line."""
    return ".<wbr>".join(html.escape(part) for part in name.split("."))


def _clusters_section(report: _Report) -> str:
    parts = []
    for method in report.partitions:
        if method not in report.clusters:
            continue
        rows = _cluster_rows(report, method)
        if not rows:
            continue
        partition = report.partitions[method]
        notes = []
        n = partition.get("importanceRandomSets")
        if n:
            notes.append(
                f"lesions against {n} random same-size groups of the same layer (baseline "
                f"{cell(partition.get('importanceBaseline'))}); highlighted rows are important"
            )
        if partition.get("coherenceRandomSets"):
            notes.append(
                f"coherence against {partition['coherenceRandomSets']} random groups, for each "
                "cluster's most coherent layer part"
            )
        parts.append(
            f"<h3>{method}</h3>{_cluster_table(report, method, rows)}"
            f'<p class="note">{html.escape("; ".join(notes))}.</p>'
        )
    return "".join(parts) or (
        '<p class="note">No cluster has been lesioned or scored for coherence yet '
        "(the commands are in the sections below).</p>"
    )


def _importance_section(report: _Report) -> str:
    parts = []
    for method, partition in report.partitions.items():
        clusters = report.clusters.get(method, [])
        if not any(c.get("importanceLayers") for c in clusters):
            parts.append(
                report.lacks(
                    f"importance for {method}",
                    report.analyze("importance", "--partition", method),
                )
            )
            continue
        report.findings += importance_findings(partition, clusters, report.labels, _unit(partition))
        rows = [r for r in _cluster_rows(report, method) if r.get("delta") is not None]
        groups = [
            (
                f"{r['cluster']} · {report.label(r['layer'])}",
                to_points(r["delta"]),
                [to_points(v) for v in r["random"]],
                r["important"],
            )
            for r in rows
        ]
        no_randoms = (
            ""
            if all(r["random"] for r in rows)
            else '<p class="note">The random groups\' deltas of this run were not stored: rerun '
            f"<code>{html.escape(report.analyze('importance', '--partition', method))}"
            "</code> to see them.</p>"
        )
        fisher = p_text(partition.get("importanceFisherP"), None)
        parts.append(
            f"<h3>{method}</h3><p>Fisher-combined p over all groups: {fisher}</p>"
            + figures.lesion_figure(
                groups,
                ylabel=f"Δ accuracy ({_unit(partition)})",
                title=f"{method}: lesion of each cluster against random same-size groups",
            )
            + no_randoms
        )
    return "".join(parts) or report.lacks("partition to score", report.analyze("spectral"))


def _coherence_section(report: _Report) -> str:
    parts = []
    for method, partition in report.partitions.items():
        clusters = report.clusters.get(method, [])
        scored = [c for c in clusters if c.get("exampleEntropyP") is not None]
        if not scored:
            parts.append(
                report.lacks(
                    f"coherence for {method}",
                    report.analyze("coherence", "--partition", method),
                )
            )
            continue
        report.findings += coherence_findings(partition, clusters, report.labels)
        shown = {
            words: [c.get(key) for c in scored]
            for key, words in COHERENCE_SCORES.items()
            if any(c.get(key) is not None for c in scored)
        }
        chart = figures.coherence_figure(
            [f"{c['label']} · {report.label(c.get('coherenceLayer'))}" for c in scored],
            shown,
            title=f"{method}: coherence",
        )
        n = partition.get("coherenceRandomSets")
        gallery = "".join(_gallery_item(report, c, n) for c in scored[:MAX_VISUALISATIONS])
        parts.append(f'<h3>{method}</h3>{chart}<div class="gallery">{gallery}</div>')
    return "".join(parts) or report.lacks("partition to score", report.analyze("spectral"))


def _stored_png(report: _Report, recorded: str | None, alt: str) -> str:
    if not recorded:
        return ""
    path = report.store.files.resolve(recorded, VISUALISATIONS, ".png")
    if not path.exists():
        return ""
    return f'<img alt="{html.escape(alt)}" src="{figures.png_uri(Path(path).read_bytes())}">'


def _gallery_item(report: _Report, c: dict, n: int | None) -> str:
    layer = report.label(c.get("coherenceLayer"))
    vis = _stored_png(report, c.get("visPath"), f"feature visualisation of cluster {c['label']}")
    examples = _stored_png(
        report, c.get("examplesPath"), f"most activating examples of cluster {c['label']}"
    )
    texts = " | ".join(c.get("exampleTexts", [])[:SHOWN_TEXTS])
    if not (vis or examples or texts):
        return ""
    caption = [f"<b>cluster {c['label']}</b>, layer {html.escape(layer)}"]
    if vis:
        caption.append(
            f"left: feature visualisation (objective p {p_text(c.get('visObjectiveP'), n)}, "
            f"output entropy p {p_text(c.get('visEntropyP'), n)})"
        )
    if examples or texts:
        classes = _classes(Counter(c.get("exampleClasses") or []))
        caption.append(
            ("right: " if vis else "")
            + "most activating dataset examples (class entropy p "
            + p_text(c.get("exampleEntropyP"), n)
            + (f"; classes of the top {len(c['exampleClasses'])}: {classes}" if classes else "")
            + ")"
        )
    body = f"<code>{html.escape(texts)}</code>" if texts else ""
    return (
        f'<figure><div class="pair">{vis}{examples}</div>{body}'
        f"<figcaption>{' · '.join(caption)}</figcaption></figure>"
    )


def _weights_section(report: _Report) -> str:
    if "spectral-weights" not in report.partitions:
        return report.lacks("spectral partition of the weights", report.analyze("spectral"))
    from neurongraph.model.view import SUM
    from neurongraph.runs.graphs import weight_graph  # scipy and torch: only when drawn

    rows = report.store.neuron_property(report.name, "spectralWeightsCluster")
    labels = {(r["layer"], r["index"]): r["value"] for r in rows if r["value"] is not None}
    weights = weight_graph(report.store, report.name)
    panels, names = [], []
    for block, (p, q) in zip(weights.blocks, weights.pairs, strict=True):
        source, target = report.layers[p]["name"], report.layers[q]["name"]
        kind = f" ({SUM})" if report.layers[q].get("kind") == SUM else ""
        names.append(f"{source} -> {target}{kind}")
        panels.append(
            (
                f"{report.label(source)} -> {report.label(target)}{kind}",
                block.toarray(),
                np.array([labels.get((q, i), -1) for i in range(weights.widths[q])]),
                np.array([labels.get((p, i), -1) for i in range(weights.widths[p])]),
            )
        )
    listed = "; ".join(html.escape(title) for title in names)
    return (
        figures.weights_figure(panels)
        + '<p class="note">Columns: source units, rows: target units.</p>'
        + f'<p class="panels">One panel per FEEDS relationship: {listed}.</p>'
    )


def _ncut_section(report: _Report) -> str:
    parts = []
    for graph, method in SPECTRAL_METHOD.items():
        partition = report.partitions.get(method)
        if partition is None:
            parts.append(
                report.lacks(
                    f"{method} partition",
                    report.analyze("spectral", "--graph", graph),
                )
            )
            continue
        found = clusterability_findings(partition, f"spectral clusterability of the {graph}")
        report.findings += found
        summary = _table(
            ("k", "n-cut", "null mean", "null std", "z", "percentile", "shuffles"),
            [
                [cell(partition.get(k)) for k in ("k", "ncut", "nullMean", "nullStd", "zScore")]
                + [
                    p_text(partition.get("percentile"), partition.get("nShuffles")),
                    cell(partition.get("nShuffles")),
                ]
            ],
        )
        nulls = partition.get("nullNcuts")
        figure = (
            figures.ncut_figure(partition["ncut"], nulls, method)
            if nulls
            else "<p>No null models were run.</p>"
        )
        parts.append(f"<h3>{method}</h3><p>{html.escape(found[0].text)}.</p>{summary}{figure}")
    return "".join(parts)


def _layers_section(report: _Report) -> str:
    hidden = report.layers[1:-1]
    names = [report.label(layer["name"]) for layer in hidden]
    partition = report.partitions.get("louvain")
    notes = ""
    modularity = {}
    if partition is None:
        notes += report.lacks("Louvain communities", report.analyze("louvain"))
    else:
        report.findings += modularity_findings(partition, report.labels)
        for i, layer in enumerate(partition.get("layers") or []):
            values = [
                (partition.get(key) or [None] * (i + 1))[i]
                for key in ("layerModularity", "layerNullMean", "layerNullStd")
            ]
            modularity[report.label(layer)] = tuple(np.nan if v is None else v for v in values)
    entropy = {}
    for key, words in (
        ("entropyMean", "mean firing entropy"),
        ("classEntropyMean", "mean class entropy"),
    ):
        values = {
            report.label(layer["name"]): layer[key]
            for layer in hidden
            if layer.get(key) is not None
        }
        if values:
            entropy[words] = values
    if not entropy:
        notes += report.lacks("entropy", report.analyze("entropy"))
    if not (modularity or entropy):
        return notes
    return figures.layers_figure(names, modularity, entropy) + notes


def _evolution_section(report: _Report) -> str:
    series = report.network.get("series")
    if not series:
        return (
            "<p>This network is not part of a checkpoint series; "
            "<code>neurongraph experiment evolution</code> makes one.</p>"
        )
    members = sorted(
        (
            n
            for n in report.store.networks()
            if n.get("series") == series and n.get("epoch") is not None
        ),
        key=lambda n: n["epoch"],
    )
    values = {}
    for key, words in (
        ("accuracy", "test accuracy"),
        ("entropy", "mean entropy (bits)"),
        ("modularity", "Louvain modularity Q"),
    ):
        found = [_series_value(report.store, n, key) for n in members]
        if any(v is not None for v in found):
            values[words] = found
    return figures.evolution_figure([int(n["epoch"]) for n in members], values)


def _series_value(store: Store, network: dict, key: str):
    if key != "modularity":
        return network.get(key)
    partition = store.partition(partition_uid(network["name"], "louvain"))
    return None if partition is None else partition.get("modularity")


def _summary(report: _Report) -> str:
    items = [
        f'<li class="{"significant" if f.significant else "plain"}">'
        f"{html.escape(for_command_line(f.text))}</li>"
        for f in report.findings
    ]
    items += [
        f'<li class="missing">not run: {html.escape(what)} — '
        f"<code>{html.escape(command)}</code></li>"
        for what, command in dict.fromkeys(report.missing)
    ]
    return f"<ul>{''.join(items)}</ul>" if items else "<p>No analyses have run yet.</p>"


def _load(store: Store, name: str) -> _Report:
    network = store.require_network(name)
    layers = store.layers(name)
    report = _Report(store, name, network, layers, layer_labels(layers))
    for method in PARTITION_METHODS:
        uid = partition_uid(name, method)
        partition = store.partition(uid)
        if partition is not None:
            report.partitions[method] = partition
            report.clusters[method] = sorted(
                (r["cluster"] for r in store.clusters(uid)), key=lambda c: c["label"]
            )
    return report


def build_report(store: Store, name: str) -> str:
    """The HTML report of one network.

    Parameters
    ----------
    store : Store
    name : str
        A network in ``store``.

    Returns
    -------
    str
        One self-contained page: the figures are embedded PNGs, there are no scripts and no
        outside links.
    """
    report = _load(store, name)
    sections = (
        ("Clusterability: n-cut against shuffled networks", _ncut_section(report)),
        ("Per-cluster results", _clusters_section(report)),
        ("Importance: lesions against random groups", _importance_section(report)),
        (
            "Coherence: feature visualisations and dataset examples",
            _coherence_section(report),
        ),
        ("Weights by spectral cluster", _weights_section(report)),
        ("Communities and entropy per layer", _layers_section(report)),
        ("Evolution through training", _evolution_section(report)),
        ("Network", _overview(report)),
    )
    network = report.network
    subtitle = ", ".join(
        f"{k} {cell(network.get(k))}" for k in ("dataset", "accuracy") if network.get(k)
    )
    template = Template(files("neurongraph.report").joinpath("templates", TEMPLATE).read_text())
    return template.substitute(
        title=html.escape(f"neurongraph report: {name}"),
        subtitle=html.escape(subtitle),
        summary=_summary(report),
        sections="".join(f"<h2>{html.escape(t)}</h2>{content}" for t, content in sections),
    )


def write_report(store: Store, name: str, out: Path) -> Path:
    """Write :func:`build_report` to ``out``.

    Parameters
    ----------
    store : Store
    name : str
    out : Path
        The page to write; its directory is made if needed.

    Returns
    -------
    Path
        ``out``.
    """
    page = build_report(store, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
