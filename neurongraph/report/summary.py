"""The report's plain-language summary: what is and is not significant, from stored results.

Pure functions over the properties the analyses wrote (Partition and Cluster dictionaries); each
returns lines of text, a significant finding flagged so the page can mark it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neurongraph.errors import arg
from neurongraph.formatting import MISSING, number, points

__all__ = [
    "COHERENCE_SCORES",
    "COHERENT_P",
    "Finding",
    "clusterability_findings",
    "coherence_findings",
    "importance_findings",
    "layer_labels",
    "modularity_findings",
    "p_text",
]

#: Coherence p-values a cluster carries, with what each one says in words.
COHERENCE_SCORES = {
    "visObjectiveP": "feature-visualisation objective",
    "visEntropyP": "output entropy on its visualisation",
    "exampleEntropyP": "class entropy of its top examples",
}
#: A coherence score at or below this p is reported as coherent.
COHERENT_P = 0.05
#: Significant groups listed by name before the rest are counted.
LISTED = 8
#: Random groups that make the importance threshold p < 0.01 reachable.
IMPORTANCE_RANDOM_SETS = 100


@dataclass(frozen=True)
class Finding:
    """One line of the summary; ``significant`` marks a result that beats its null."""

    text: str
    significant: bool


def layer_labels(layers: Sequence[dict]) -> dict[str, str]:
    """Each layer's name as the graph names it, with its place in the network.

    ``input``, then ``NAME (hidden i)`` for every layer between, ``NAME (output)`` for the last.
    """
    labels = {}
    for position, layer in enumerate(layers):
        name = str(layer["name"])
        if position == 0:
            labels[name] = name
        elif position == len(layers) - 1:
            labels[name] = f"{name} (output)"
        else:
            labels[name] = f"{name} (hidden {position})"
    return labels


def p_text(p: float | None, n: int | None) -> str:
    """``p`` with its fraction of ``n + 1`` (``0.0196 (1/51)``) when ``n`` is known."""
    if p is None:
        return MISSING
    if not n:
        return f"{p:.3g}"
    return f"{p:.3g} ({round(p * (n + 1))}/{n + 1})"


def _rank(p: float, n: int) -> int:
    return round(p * (n + 1))


def clusterability_findings(partition: dict, what: str) -> list[Finding]:
    """The n-cut of one spectral partition against its shuffled networks."""
    n, ncut = partition.get("nShuffles") or 0, partition["ncut"]
    if not n or partition.get("percentile") is None:
        return [Finding(f"{what}: n-cut {ncut:.3f}, no shuffled networks run", False)]
    rank = _rank(partition["percentile"], n)
    z = partition.get("zScore")
    z_part = f", z = {z:+.2f}" if z is not None else ""
    if rank == 1:
        text = f"{what}: n-cut {ncut:.3f} below every one of {n} shuffles (percentile 1/{n + 1})"
        return [Finding(text + z_part, True)]
    text = (
        f"{what}: n-cut {ncut:.3f} not below the shuffles; {rank - 1} of {n} are at or below "
        f"it (percentile {rank}/{n + 1}){z_part}, not clusterable"
    )
    return [Finding(text, False)]


def modularity_findings(partition: dict, labels: dict[str, str]) -> list[Finding]:
    """Each layer's Louvain modularity against its null of permuted firing."""
    n = partition.get("nShuffles") or 0
    findings = []
    for i, layer in enumerate(partition.get("layers") or []):
        q = (partition.get("layerModularity") or [None] * (i + 1))[i]
        if q is None:
            continue
        where = f"Louvain modularity of layer {labels.get(layer, layer)}: Q = {number(q, '.3f')}"
        percentiles = partition.get("layerPercentile") or []
        if not n or i >= len(percentiles) or percentiles[i] is None:
            findings.append(Finding(f"{where}, no null run", False))
            continue
        rank = _rank(percentiles[i], n)
        if rank == 1:
            findings.append(
                Finding(f"{where}, above every one of {n} nulls (percentile 1/{n + 1})", True)
            )
        else:
            findings.append(
                Finding(f"{where}, not above its nulls (percentile {rank}/{n + 1})", False)
            )
    return findings


def importance_findings(
    partition: dict, clusters: Sequence[dict], labels: dict[str, str], unit: str
) -> list[Finding]:
    """Important (layer, cluster) groups of one partition, or the largest drop when none is."""
    from neurongraph.analysis.importance import IMPORTANT_DELTA, IMPORTANT_P

    method, n = partition["method"], partition.get("importanceRandomSets") or 0
    groups = [
        (c["label"], layer, delta, p, important)
        for c in clusters
        for layer, delta, p, important in zip(
            c.get("importanceLayers") or [],
            c.get("importanceLayerDelta") or [],
            c.get("importanceLayerP") or [],
            c.get("importanceLayerImportant") or [],
            strict=True,
        )
    ]
    if not groups:
        return []

    def line(label, layer, delta, p):
        return (
            f"{method} cluster {label} of layer {labels.get(layer, layer)}: lesion Δ "
            f"{points(delta, '+.1f')} {unit}, p = {p_text(p, n)}"
        )

    important = sorted((g for g in groups if g[4]), key=lambda g: (g[3], g[2]))
    findings = [Finding(line(*g[:4]), True) for g in important[:LISTED]]
    if len(important) > LISTED:
        findings.append(Finding(f"… and {len(important) - LISTED} more important groups", True))
    if not important:
        label, layer, delta, p, _ = min(groups, key=lambda g: g[2])
        findings.append(
            Finding(
                f"no {method} cluster is important (p < {IMPORTANT_P:g} and Δ ≤ "
                f"{points(IMPORTANT_DELTA, '+g')} {unit}); largest drop: "
                + line(label, layer, delta, p),
                False,
            )
        )
    if n and 1 / (n + 1) >= IMPORTANT_P:
        findings.append(
            Finding(
                f"with {n} random groups the smallest possible p is 1/{n + 1}: rerun with "
                f"{arg('n_random')} {IMPORTANCE_RANDOM_SETS} to reach p < {IMPORTANT_P:g}",
                False,
            )
        )
    return findings


def coherence_findings(
    partition: dict, clusters: Sequence[dict], labels: dict[str, str]
) -> list[Finding]:
    """Clusters of one partition with a coherence score at p ≤ :data:`COHERENT_P`."""
    method, n = partition["method"], partition.get("coherenceRandomSets") or 0
    scored = [c for c in clusters if c.get("exampleEntropyP") is not None]
    if not scored:
        return []
    findings = []
    for c in scored:
        hits = [
            f"{words} p = {p_text(c[key], n)}"
            for key, words in COHERENCE_SCORES.items()
            if c.get(key) is not None and c[key] <= COHERENT_P
        ]
        if hits:
            layer = c.get("coherenceLayer")
            findings.append(
                Finding(
                    f"{method} cluster {c['label']} of layer {labels.get(layer, layer)}: "
                    + "; ".join(hits),
                    True,
                )
            )
    if len(findings) > LISTED:
        rest = len(findings) - LISTED
        findings = [*findings[:LISTED], Finding(f"… and {rest} more coherent clusters", True)]
    if not findings:
        floor = f" (smallest possible p with {n} random groups: 1/{n + 1})" if n else ""
        findings.append(
            Finding(
                f"no {method} cluster is more coherent than random groups at "
                f"p ≤ {COHERENT_P}{floor}",
                False,
            )
        )
    return findings
