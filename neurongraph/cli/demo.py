"""``neurongraph demo``: the whole pipeline on a digits MLP, in minutes."""

from __future__ import annotations

import click

from neurongraph.analysis.defaults import SPECTRAL_METHOD
from neurongraph.cli.common import (
    Context,
    check_out_path,
    echo_json,
    echo_table,
    json_option,
    pass_context,
    uses_torch,
)

DEFAULT_OUT = "demo-output"


def _summary_table(analyses: dict) -> None:
    rows = []
    for method in SPECTRAL_METHOD.values():
        a = analyses[method]
        verdict = "clusterable" if a["clusterable"] else "not clusterable"
        rows.append(
            (
                method,
                f"n-cut {a['ncut']:.3f} vs null {a['nullMean']:.3f} "
                f"(z {a['zScore']:.1f}, percentile {a['percentile']:.3f}): {verdict}",
            )
        )
    louvain = analyses["louvain"]
    rows.append(
        (
            "louvain",
            "modularity per layer " + ", ".join(_layer_modularity(r) for r in louvain["layers"]),
        )
    )
    rows.append(
        (
            "entropy",
            f"mean {analyses['entropy']['entropy']:.3f} bits, class mean "
            f"{analyses['entropy']['classEntropy']:.3f} bits",
        )
    )
    imp = analyses["importance"]
    important = sum(g["important"] for g in imp["groups"])
    rows.append(
        (
            "importance",
            f"{important} of {len(imp['groups'])} (layer, cluster) groups "
            f"important; Fisher p {imp['fisherP']:.3g}",
        )
    )
    coh = analyses["coherence"]
    coherent = sum((g["exampleEntropyP"] or 1) <= 0.1 for g in coh["groups"])
    rows.append(
        (
            "coherence",
            f"{coherent} of {len(coh['groups'])} groups with example-entropy percentile <= 0.1",
        )
    )
    click.echo("")
    echo_table(("analysis", "result"), rows)


def _layer_modularity(row: dict) -> str:
    """A layer's Q, with its z-score and percentile against permuted firing when it has them."""
    if row["modularity"] is None:
        return "skipped"
    if row["percentile"] is None:
        return f"{row['modularity']:.3f}"
    z = "n/a" if row["zScore"] is None else f"{row['zScore']:.1f}"
    return f"{row['modularity']:.3f} (z {z}, percentile {row['percentile']:.3f})"


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=DEFAULT_OUT,
    show_default=True,
    help="Where the model and the report go.",
)
@json_option
@pass_context
@uses_torch
def demo(obj: Context, out: str, as_json: bool):
    """Train a digits MLP, ingest it, run every analysis, write the report."""
    from neurongraph.demo import run_demo

    def step(name: str) -> None:
        if not as_json:
            click.echo(f"-- {name}", err=True)

    summary = run_demo(obj.store, check_out_path(out, directory=True), step=step)
    if as_json:
        echo_json(summary)
        return
    ingest, acts = summary["ingest"], summary["activations"]
    click.echo(
        f"trained {summary['network']} (64-256-256-256-256-10 on digits): test accuracy "
        f"{summary['testAccuracy']:.4f}; model {summary['model']}"
    )
    click.echo(
        f"wrote {ingest['layers']} layers, {ingest['neurons']} neurons, "
        f"{ingest['edges']} WEIGHT edges in {ingest['seconds']:.1f} s"
    )
    click.echo(
        f"recorded activations on {acts['examples']} examples: "
        f"{acts['correlates']} CORRELATES edges in {acts['seconds']:.1f} s"
    )
    _summary_table(summary["analyses"])
    click.echo(f"\nreport: {summary['report']}")
    click.echo(f"store: {obj.store.location}   total {summary['seconds']:.0f} s\n")
    click.echo("Try these:")
    for query in summary["queries"]:
        params = " ".join(f"-p {key}={value}" for key, value in query["params"].items())
        click.echo(f"  # {query['shows']}\n  neurongraph query {query['query']} {params}\n")
