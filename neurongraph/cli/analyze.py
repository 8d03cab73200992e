"""``neurongraph analyze ...``: run an analysis on a stored network and write its results back."""

from __future__ import annotations

import click

from neurongraph.analysis.defaults import (
    COHERENCE_N_RANDOM,
    COHERENCE_TOP_K,
    DEFAULT_EDGE,
    DEFAULT_METHOD,
    DEFAULT_N_CLUSTERS,
    DEFAULT_N_SHUFFLES,
    DEFAULT_PARTITION,
    DEFAULT_RESOLUTION,
    DEFAULT_STEPS,
    EDGE_KINDS,
    GRAPH_SHUFFLE_METHODS,
    LAYER_SHUFFLE_METHODS,
    LESION_N_RANDOM,
    METHODS,
    METRICS,
    MODULARITY_N_SHUFFLES,
    OUTPUT_CHANGE,
    PARAMETERISATIONS,
    PARTITION_METHODS,
    SPECTRAL_GRAPHS,
)
from neurongraph.cli.common import (
    Context,
    ShapeType,
    echo_json,
    echo_table,
    json_option,
    model_option,
    pass_context,
    progress_bar,
    uses_torch,
)
from neurongraph.flags import for_command_line
from neurongraph.formatting import number, points

seed_option = click.option(
    "--seed", type=int, default=None, help="Random seed (drawn, logged and recorded if omitted)."
)


@click.group()
def analyze():
    """Find and score groups of neurons; results go back into the store."""


@analyze.command()
@click.argument("network")
@click.option("--per-class", is_flag=True, help="Also find communities per class.")
@click.option(
    "--edge",
    type=click.Choice(EDGE_KINDS),
    default=DEFAULT_EDGE,
    show_default=True,
    help="Co-activation edge weight: Jaccard of firing, or correlation clipped at 0.",
)
@click.option("--threshold", type=float, default=None, help="Drop edges weaker than this.")
@click.option(
    "--resolution",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_RESOLUTION,
    show_default=True,
)
@click.option(
    "--shuffles",
    type=click.IntRange(min=0),
    default=MODULARITY_N_SHUFFLES,
    show_default=True,
    help="Null graphs per layer (each neuron's firing permuted across examples) to judge Q "
    "against; 0 skips the null.",
)
@seed_option
@json_option
@pass_context
@uses_torch
def louvain(
    obj: Context,
    network: str,
    per_class: bool,
    edge: str,
    threshold: float | None,
    resolution: float,
    shuffles: int,
    seed: int | None,
    as_json: bool,
):
    """Louvain communities of each hidden layer's co-activation graph (Mostafa & Mondal)."""
    from neurongraph.runs.louvain import run_louvain

    result = run_louvain(
        obj.store,
        network,
        per_class=per_class,
        edge=edge,
        threshold=threshold,
        resolution=resolution,
        n_shuffles=shuffles,
        random_state=seed,
    ).as_dict()
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"Louvain communities of {network} (seed {result['seed']}): "
        f"mean modularity {number(result['modularity'])}"
    )
    null = ("null mean", "null std", "z", "percentile") if shuffles else ()
    echo_table(
        ("layer", "modularity", *null, "communities", "sizes", "edges"),
        [
            (
                r["layer"],
                "skipped" if r["skipped"] else number(r["modularity"]),
                *(
                    number(r[key])
                    for key in ("nullMean", "nullStd", "zScore", "percentile")[: len(null)]
                ),
                r["communities"],
                r["sizes"],
                r["edges"],
            )
            for r in result["layers"]
        ],
    )
    if shuffles:
        click.echo(
            f"null: {shuffles} graphs per layer from each neuron's firing permuted across the "
            f"examples; percentile (#{{null Q >= Q}} + 1)/({shuffles} + 1), "
            f"{1 / (shuffles + 1):.4f} when Q beats every null"
        )
    # skipped layers: run_louvain has logged a warning for each (on stderr, in both modes)


@analyze.command()
@click.argument("network")
@json_option
@pass_context
@uses_torch
def entropy(obj: Context, network: str, as_json: bool):
    """Binary entropy of each hidden neuron's firing, overall and per class."""
    from neurongraph.runs.entropy import run_entropy

    result = run_entropy(obj.store, network).as_dict()
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"firing entropy of {network}: mean {result['entropy']:.4f} bits, "
        f"class mean {result['classEntropy']:.4f} bits"
    )
    echo_table(
        ("layer", "entropy", "class entropy"),
        [(r["layer"], r["entropyMean"], r["classEntropyMean"]) for r in result["layers"]],
    )


@analyze.command()
@click.argument("network")
@click.option(
    "--graph",
    type=click.Choice(SPECTRAL_GRAPHS),
    default="weights",
    show_default=True,
    help="The weight graph (|w|) or the activation graph (r²).",
)
@click.option(
    "-k", "k", type=int, default=DEFAULT_N_CLUSTERS, show_default=True, help="Number of clusters."
)
@click.option(
    "--shuffles",
    type=click.IntRange(min=0),
    default=DEFAULT_N_SHUFFLES,
    show_default=True,
    help="Null networks to compare with.",
)
@click.option("--no-null", is_flag=True, help="Skip the null models (same as --shuffles 0).")
@click.option(
    "--shuffle-method",
    type=click.Choice(LAYER_SHUFFLE_METHODS + GRAPH_SHUFFLE_METHODS),
    default=None,
    help="Null model: layer / layer_nonzero (weights; default layer), upper_triangle / "
    "upper_triangle_nonzero (activations; default upper_triangle).",
)
@click.option(
    "--method",
    "spectral_method",
    type=click.Choice(METHODS),
    default=DEFAULT_METHOD,
    show_default=True,
    help="Partitioner of the network and of its nulls: papers (scikit-learn's "
    "SpectralClustering, as Filan et al.) or ncut-refined (lower n-cuts; z-scores not "
    "comparable with the papers').",
)
@click.option(
    "--labels-from",
    metavar="PROPERTY",
    help="Score this existing neuron labelling instead of computing a partition.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Parallel workers for the null models (default: all cores).",
)
@seed_option
@json_option
@pass_context
@uses_torch
def spectral(
    obj: Context,
    network: str,
    graph: str,
    k: int,
    shuffles: int,
    no_null: bool,
    shuffle_method: str | None,
    spectral_method: str,
    labels_from: str | None,
    jobs: int | None,
    seed: int | None,
    as_json: bool,
):
    """Spectral partition, n-cut and clusterability against shuffles (Filan et al.)."""
    from neurongraph.runs.spectral import run_spectral

    with progress_bar("null networks", enabled=not as_json) as progress:
        result = run_spectral(
            obj.store,
            network,
            graph=graph,
            k=k,
            n_shuffles=0 if no_null else shuffles,
            shuffle_method=shuffle_method,
            spectral_method=spectral_method,
            labels_from=labels_from,
            random_state=seed,
            n_jobs=jobs,
            progress=progress,
        ).as_dict()
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"{result['method']} partition of {network} ({result['spectralMethod']}, "
        f"k={result['k']}, seed {result['seed']}): n-cut {result['ncut']:.4f}"
    )
    if result["nShuffles"]:
        verdict = "clusterable" if result["clusterable"] else "not clusterable"
        click.echo(
            f"null ({result['shuffleMethod']}, {result['nShuffles']} shuffles): mean "
            f"{number(result['nullMean'])}, std {number(result['nullStd'])}, "
            f"z {number(result['zScore'])}, percentile {number(result['percentile'])} -> {verdict}"
        )
    echo_table(
        ("cluster", "size", *result["layers"]),
        [
            (c, size, *sizes)
            for c, (size, sizes) in enumerate(
                zip(result["clusterSizes"], result["layerSizes"], strict=True)
            )
        ],
    )


partition_option = click.option(
    "--partition",
    type=click.Choice(list(PARTITION_METHODS)),
    default=DEFAULT_PARTITION,
    show_default=True,
    help="Which partition's clusters to score.",
)
scoring_data_option = click.option(
    "--data",
    default=None,
    metavar="DATASET",
    help="Dataset to test on (default: the one the network's activations were recorded on).",
)


@analyze.command()
@click.argument("network")
@partition_option
@scoring_data_option
@model_option
@click.option(
    "--random-sets",
    type=click.IntRange(min=1),
    default=LESION_N_RANDOM,
    show_default=True,
    help="Random same-size groups per cluster; below the default no group can be important "
    "(p is at least 1/(n+1)).",
)
@click.option("--double", is_flag=True, help="Also lesion every pair of groups (INTERACTS).")
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    default=None,
    help="What a lesion costs: test accuracy, or the mean relative L2 change of the output "
    "(networks read as a DAG). Default: accuracy where the dataset has class labels, else "
    "output-change.",
)
@seed_option
@json_option
@pass_context
@uses_torch
def importance(
    obj: Context,
    network: str,
    partition: str,
    data: str | None,
    model: str | None,
    trust_pickle: bool,
    random_sets: int,
    double: bool,
    metric: str | None,
    seed: int | None,
    as_json: bool,
):
    """Lesion each cluster and compare with random groups (Hod et al.'s importance)."""
    from neurongraph.runs.importance import run_importance

    with progress_bar("lesions", enabled=not as_json) as progress:
        result = run_importance(
            obj.store,
            network,
            partition=partition,
            data=data,
            model=model,
            trust_pickle=trust_pickle,
            n_random=random_sets,
            double=double,
            metric=metric,
            random_state=seed,
            progress=progress,
        ).as_dict()
    result["notes"] = [for_command_line(note) for note in result["notes"]]
    if as_json:
        echo_json(result)
        return
    changed = result["metric"] == OUTPUT_CHANGE
    baseline = "" if changed else f"baseline accuracy {points(result['baselineAccuracy'], '.4f')}, "
    click.echo(
        f"importance of {partition} clusters of {network} on {result['dataset']} "
        f"({result['metric']}, {baseline}{random_sets} random sets, "
        f"seed {result['seed']}): Fisher p {number(result['fisherP'])}"
    )
    echo_table(
        (
            "layer",
            "cluster",
            "size",
            "delta (-% output change)" if changed else "delta (points)",
            "p",
            "important",
        ),
        [
            (
                g["layer"],
                g["cluster"],
                g["size"],
                points(g["delta"], ".6g"),
                g["p"],
                "yes" if g["important"] else "",
            )
            for g in result["groups"]
        ],
    )
    for s in result["skipped"]:
        click.echo(f"skipped {s['layer']}:{s['cluster']} (size {s['size']}): {s['reason']}")
    for pair in result["pairs"]:
        click.echo(
            f"pair {pair['first']} + {pair['second']}: delta {points(pair['delta'], '.3g')}, "
            f"interaction {points(pair['interaction'], '.3g')}, p {pair['p']:.3g}"
        )
    for note in result["notes"]:
        click.echo(f"note: {note}")


@analyze.command()
@click.argument("network")
@partition_option
@scoring_data_option
@model_option
@click.option(
    "--random-sets",
    type=click.IntRange(min=1),
    default=COHERENCE_N_RANDOM,
    show_default=True,
    help="Random same-size groups per cluster.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=DEFAULT_STEPS,
    show_default=True,
    help="Adam steps of feature visualisation.",
)
@click.option(
    "--parameterisation",
    type=click.Choice(PARAMETERISATIONS),
    default="pixel",
    show_default=True,
    help="Optimise pixels, or a decorrelated Fourier basis.",
)
@click.option(
    "--jitter",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random translation (pixels) at each step.",
)
@click.option(
    "--image-shape",
    type=ShapeType(),
    default=None,
    help="C,H,W of the input, when neither the data nor the model says.",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=COHERENCE_TOP_K,
    show_default=True,
    help="Dataset examples per group.",
)
@seed_option
@json_option
@pass_context
@uses_torch
def coherence(
    obj: Context,
    network: str,
    partition: str,
    data: str | None,
    model: str | None,
    trust_pickle: bool,
    random_sets: int,
    steps: int,
    parameterisation: str,
    jitter: int,
    image_shape: tuple[int, ...] | None,
    top_k: int,
    seed: int | None,
    as_json: bool,
):
    """Feature visualisation, dataset examples and selectivity of each cluster (Hod et al.)."""
    from neurongraph.runs.coherence import run_coherence

    with progress_bar("coherence", enabled=not as_json) as progress:
        result = run_coherence(
            obj.store,
            network,
            partition=partition,
            data=data,
            model=model,
            trust_pickle=trust_pickle,
            n_random=random_sets,
            steps=steps,
            parameterisation=parameterisation,
            jitter=jitter,
            image_shape=image_shape,
            top_k=top_k,
            random_state=seed,
            progress=progress,
        ).as_dict()
    result["notes"] = [for_command_line(note) for note in result["notes"]]
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"coherence of {partition} clusters of {network} ({random_sets} random sets, "
        f"{steps} steps, seed {result['seed']}); visualisations in "
        f"{result['visualisations']}"
    )
    echo_table(
        (
            "layer",
            "cluster",
            "size",
            "visObjectiveP",
            "visEntropyP",
            "exampleEntropy",
            "exampleEntropyP",
            "classConsistency",
        ),
        [
            (
                g["layer"],
                g["cluster"],
                g["size"],
                g["visObjectiveP"],
                g["visEntropyP"],
                g["exampleEntropy"],
                g["exampleEntropyP"],
                g["classConsistency"],
            )
            for g in result["groups"]
        ],
    )
    click.echo(
        "Fisher-combined p: " + ", ".join(f"{k} {number(v)}" for k, v in result["fisherP"].items())
    )
    for note in result["notes"]:
        click.echo(f"note: {note}")
