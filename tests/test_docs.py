"""Every command and every named query is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click

from neurongraph.cli import cli
from neurongraph.queries import list_queries

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from leaf_commands(command, path)
        else:
            yield path, command


def test_every_command_has_help_and_is_in_the_readme():
    found = list(leaf_commands(cli))
    assert len(found) > 15
    for path, command in found:
        assert command.help and command.get_short_help_str(), f"{' '.join(path)} has no help"
        *group, leaf = path
        pattern = r"neurongraph " + r" ".join(map(re.escape, group))
        pattern += (r"[^\n]*\b" if group else r"") + re.escape(leaf) + r"\b"
        assert re.search(pattern, README), f"README does not mention neurongraph {' '.join(path)}"


def test_every_named_query_is_documented():
    queries = list_queries()
    assert len(queries) >= 10
    for query in queries:
        assert query.summary, f"{query.name} has no summary line"
        declared = {p.name for p in query.parameters}
        used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", query.cypher))
        assert used <= declared, f"{query.name} uses undeclared parameters {used - declared}"
