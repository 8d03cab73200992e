"""Every example in the README runs as written: the Python section is executed, the shell
examples are parsed by the real command group (every command, option and required option
checked) and the cheap ones run against the store the Python section made."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from neurongraph.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
PROG = "neurongraph"
COMPLETE_VAR = "_NEURONGRAPH_COMPLETE"
#: README shell commands cheap enough to run here (the rest are parsed only: they train, serve
#: or need Docker).
RUN = {("networks",), ("cypher",)}
#: Shell lines that are not neurongraph commands and what checks them (nothing: set-up lines).
SET_UP = ("source .venv/bin/activate", "NEO4J_PASSWORD=", "export ")

pytestmark = pytest.mark.usefixtures("one_thread")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def shell_lines() -> list[str]:
    lines = []
    for block in blocks("sh"):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                lines.append(command)
    return lines


def parse(args: list[str]) -> tuple[tuple[str, ...], click.Context]:
    """Parse ``neurongraph ARGS`` as the command group does (not resilient: unknown commands
    and options, missing required ones and bad values raise), without running anything."""
    ctx = cli.make_context(PROG, list(args))
    path: list[str] = []
    command: click.Command = cli
    while isinstance(command, click.Group):
        rest = [*ctx._protected_args, *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    return tuple(path), ctx


@pytest.fixture(scope="module")
def readme_dir(tmp_path_factory):
    """A directory to run the examples in, as the current directory."""
    directory = tmp_path_factory.mktemp("readme")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        yield directory


def test_the_python_section_runs_as_written(readme_dir, capsys):
    (code,) = blocks("python")
    exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    printed = capsys.readouterr().out
    assert "n-cut" in printed and "test accuracy" in printed
    report = readme_dir / "report.html"
    assert report.stat().st_size > 10_000 and "my-mlp" in report.read_text()


def test_every_shell_example_parses_and_the_cheap_ones_run(readme_dir):
    runner = CliRunner()
    ran = set()
    lines = shell_lines()
    assert len(lines) >= 10
    for line in lines:
        words = shlex.split(line)
        if words[0] == "make":
            assert re.search(rf"^{re.escape(words[1])}:", MAKEFILE, re.M), line
        elif COMPLETE_VAR in line:
            shell = re.search(rf"{COMPLETE_VAR}=(\w+)", line).group(1)
            result = runner.invoke(cli, [], prog_name=PROG, env={COMPLETE_VAR: shell})
            assert result.exit_code == 0 and PROG in result.stdout and "complete" in result.stdout
            ran.add(shell)
        elif words[0] == PROG:
            path, _ = parse(words[1:])
            if path in RUN:
                result = runner.invoke(cli, words[1:], prog_name=PROG, catch_exceptions=False)
                assert result.exit_code == 0, result.output
                if path == ("networks",):  # the store the Python section made, by default
                    assert "my-mlp" in result.stdout
                ran.add(path)
        else:
            assert line.startswith(SET_UP), f"README shell line not checked: {line}"
    assert ran >= RUN | {"bash_source", "zsh_source", "fish_source"}


def options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_every_command_and_option_in_the_readme_text_exists():
    """The commands in the README's text and tables (with placeholders such as N and P for
    values, so their values are not parsed): each command exists, each option on it, and
    each option it requires is there."""
    spans = re.findall(rf"`({PROG} [^`]*)`", README)
    assert len(spans) >= 15
    for span in spans:
        # `a\|b` in a table (a|b once the shell reads it) lists alternatives: the first will do
        words = [word.split("|")[0] for word in shlex.split(span)][1:]
        command: click.Command = cli
        while isinstance(command, click.Group) and words and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        assert not isinstance(command, click.Group), f"README: {span} names no command"
        known = options(command) | options(cli) | {"-h", "--help"}
        given = {word.split("=")[0] for word in words if word.startswith("-")}
        assert given <= known, f"README: {span}: no option {given - known}"
        for param in command.params:
            if isinstance(param, click.Option) and param.required:
                assert given & set(param.opts), f"README: {span} lacks {param.opts[0]}"


def test_a_missing_required_option_fails_the_parse():
    with pytest.raises(click.MissingParameter, match="data"):
        parse(["experiment", "evolution"])
    with pytest.raises(click.UsageError, match="No such option"):
        parse(["networks", "--no-such-option"])
