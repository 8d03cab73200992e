"""``neurongraph experiment ...``: the papers' experiments end to end."""

from __future__ import annotations

import click


@click.group()
def experiment():
    """Reproduce an experiment of the papers (train, ingest, analyse, tabulate)."""


from neurongraph.cli.experiment_evolution import evolution  # noqa: E402

experiment.add_command(evolution)

from neurongraph.cli.experiment_clusterability import clusterability  # noqa: E402

experiment.add_command(clusterability)
