"""``neurongraph experiment ...``: the papers' experiments end to end."""

from __future__ import annotations

import click


@click.group()
def experiment():
    """Reproduce an experiment of the papers (train, ingest, analyse, tabulate)."""
