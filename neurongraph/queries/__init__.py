"""Named Cypher queries: the ``.cypher`` files of this directory, as data, and their runner.

Each file is one query, runnable as-is in Neo4j Browser. Its name is the file name without
``.cypher`` (kebab-case, as on the command line). A header of ``//`` comment lines describes it:

.. code-block:: text

    // One-line summary.
    //
    // Longer description.
    //
    // @param network: the network's name
    // @param limit: how many rows (default: 20)
    // @bloom Search phrase for Neo4j Bloom with $network
    // @writes
    //
    // In Neo4j Browser: :params {network: 'digits-mlp', limit: 20}
    MATCH ...

``@param NAME: DESCRIPTION`` declares a parameter; a trailing ``(default: JSON)`` makes it
optional. ``@bloom`` gives the query a Bloom search phrase (for queries that return nodes and
relationships); ``@writes`` marks a query that changes the store. Every ``$parameter`` of the
Cypher must be declared, and every declared one used. A parameter called ``network`` must name a
complete network, and one called ``series`` a series of complete networks: as analyses do, the
query refuses an unknown or partial one rather than answer with nothing.

More directories of ``.cypher`` files can be named in ``NEURONGRAPH_QUERIES`` (separated by
``os.pathsep``); their queries join the built-in ones.

Examples
--------
>>> [q.name for q in list_queries()][:3]
['cluster-graph', 'cluster-interactions', 'cluster-layer-weights']
>>> get_query("layer-summary").parameter_names
('network',)
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurongraph.errors import UsageError

if TYPE_CHECKING:
    from neurongraph.store import CypherResult, Store

__all__ = [
    "QUERIES_DIR",
    "QUERIES_ENV",
    "NamedQuery",
    "QueryParameter",
    "get_query",
    "list_queries",
    "load_query",
    "run_query",
]

log = logging.getLogger(__name__)

#: Where the built-in ``.cypher`` files live.
QUERIES_DIR = Path(__file__).resolve().parent
#: Environment variable naming more directories of ``.cypher`` files.
QUERIES_ENV = "NEURONGRAPH_QUERIES"
SUFFIX = ".cypher"
#: A parameter of this name names a network: the query refuses an unknown or partial one.
NETWORK_PARAMETER = "network"
#: A parameter of this name names a checkpoint series: every network of it must be complete.
SERIES_PARAMETER = "series"
_COMMENT = "//"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_PARAM_TAG = re.compile(r"@param\s+([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)")
_DEFAULT = re.compile(r"\(default:\s*(.+)\)\s*$")
_BROWSER = re.compile(r"In Neo4j Browser:\s*(:params?\s.*)")
_USED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


@dataclass(frozen=True)
class QueryParameter:
    """One ``$parameter`` of a named query.

    Attributes
    ----------
    name : str
        The parameter's name, without ``$``.
    description : str
        What to give, from the ``@param`` line.
    required : bool
        False when the ``@param`` line has a ``(default: ...)``.
    default : object
        The default value (parsed as JSON), or None.
    """

    name: str
    description: str
    required: bool = True
    default: Any = None


@dataclass(frozen=True)
class NamedQuery:
    """A named query read from a ``.cypher`` file.

    Attributes
    ----------
    name : str
        Kebab-case name: the file name without ``.cypher``.
    summary : str
        The first line of the header.
    description : str
        The whole description (header text without tags), paragraphs separated by blank lines.
    parameters : tuple of QueryParameter
        Declared parameters, in header order.
    cypher : str
        The query without its header, as run by the driver and used as a Bloom search phrase.
    writes : bool
        Whether the query changes the store (``@writes``).
    bloom : str or None
        The Bloom search phrase (``@bloom``), or None.
    example : str or None
        The ``:params`` line to type in Neo4j Browser before running it, or None.
    path : pathlib.Path
        The file the query came from.
    """

    name: str
    summary: str
    description: str
    parameters: tuple[QueryParameter, ...]
    cypher: str
    writes: bool
    bloom: str | None
    example: str | None
    path: Path

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The parameters' names, in header order."""
        return tuple(p.name for p in self.parameters)

    def bind(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The full parameter map: ``params`` checked against the declared parameters, with
        defaults filled in.

        Raises
        ------
        UsageError
            If a required parameter is missing or an undeclared one is given.
        """
        given = dict(params or {})
        unknown = sorted(set(given) - set(self.parameter_names))
        if unknown:
            takes = ", ".join(self.parameter_names) or "no parameters"
            raise UsageError(
                f"query {self.name!r} has no parameter {unknown[0]!r} (it takes {takes}); "
                "see `neurongraph query --list`"
            )
        bound = {}
        for param in self.parameters:
            if param.name in given:
                bound[param.name] = given[param.name]
            elif param.required:
                raise UsageError(
                    f"query {self.name!r} needs parameter {param.name!r}, {param.description}; "
                    f"give it as -p {param.name}=VALUE"
                )
            else:
                bound[param.name] = param.default
        return bound


def _cypher_parameters(cypher: str) -> set[str]:
    """``$names`` used in ``cypher`` outside string literals and comments."""
    code = "\n".join(line.split(_COMMENT, 1)[0] for line in cypher.splitlines())
    return set(_USED.findall(_STRING_LITERAL.sub("''", code)))


def _parse_parameter(name: str, text: str, path: Path) -> QueryParameter:
    match = _DEFAULT.search(text)
    if match is None:
        return QueryParameter(name, text.strip())
    try:
        default = json.loads(match.group(1))
    except ValueError as err:
        raise ValueError(f"{path}: the default of parameter {name!r} is not JSON") from err
    return QueryParameter(name, text[: match.start()].strip(), required=False, default=default)


def load_query(path: str | os.PathLike) -> NamedQuery:
    """Read one named query from a ``.cypher`` file.

    Parameters
    ----------
    path : str or path
        The file; its name (without ``.cypher``) must be kebab-case.

    Raises
    ------
    ValueError
        If the name, header or parameters are malformed, or the Cypher uses a parameter the
        header does not declare (or the reverse).
    """
    path = Path(path)
    name = path.name.removesuffix(SUFFIX)
    if not _NAME.fullmatch(name):
        raise ValueError(f"{path}: query names are kebab-case (like layer-summary)")
    lines = path.read_text(encoding="utf-8").splitlines()
    header: list[str] = []
    while lines and lines[0].lstrip().startswith(_COMMENT):
        header.append(lines.pop(0).lstrip()[len(_COMMENT) :].strip())
    cypher = "\n".join(lines).strip().removesuffix(";").rstrip()
    if not header or not header[0]:
        raise ValueError(f"{path}: the query needs a header comment saying what it answers")
    if not cypher:
        raise ValueError(f"{path}: no Cypher after the header")
    parameters: list[QueryParameter] = []
    text: list[str] = []
    writes, bloom, example = False, None, None
    for line in header:
        if match := _PARAM_TAG.fullmatch(line):
            parameters.append(_parse_parameter(match.group(1), match.group(2), path))
        elif line.startswith("@bloom"):
            bloom = line.removeprefix("@bloom").strip()
        elif line == "@writes":
            writes = True
        elif line.startswith("@"):
            raise ValueError(f"{path}: unknown header tag {line.split()[0]!r}")
        elif match := _BROWSER.match(line):
            example = match.group(1).strip()
        else:
            text.append(line)
    description = "\n".join(text).strip()
    description = re.sub(r"\n{2,}", "\n\n", description)
    description = "\n\n".join(" ".join(p.split("\n")) for p in description.split("\n\n"))
    declared = {p.name for p in parameters}
    used = _cypher_parameters(cypher)
    if used != declared:
        missing, unused = sorted(used - declared), sorted(declared - used)
        raise ValueError(
            f"{path}: parameters used but not declared: {missing}; declared but unused: {unused}"
        )
    if bloom is not None and set(_USED.findall(bloom)) != declared:
        raise ValueError(f"{path}: the @bloom phrase must name every parameter as $name")
    return NamedQuery(
        name=name,
        summary=header[0],
        description=description,
        parameters=tuple(parameters),
        cypher=cypher,
        writes=writes,
        bloom=bloom,
        example=example,
        path=path,
    )


def _directories() -> tuple[Path, ...]:
    extra = os.environ.get(QUERIES_ENV, "")
    return (QUERIES_DIR, *(Path(d).expanduser() for d in extra.split(os.pathsep) if d))


@cache
def _load(directories: tuple[Path, ...]) -> dict[str, NamedQuery]:
    queries: dict[str, NamedQuery] = {}
    for directory in directories:
        if not directory.is_dir():
            raise UsageError(f"{QUERIES_ENV} names {directory}, which is not a directory")
        for path in sorted(directory.glob(f"*{SUFFIX}")):
            try:
                query = load_query(path)
            except ValueError as err:
                raise UsageError(f"cannot use the named query file {err}") from err
            if query.name in queries:
                raise UsageError(
                    f"two named queries are called {query.name!r}: "
                    f"{queries[query.name].path} and {path}; rename one"
                )
            queries[query.name] = query
    log.debug("loaded %d named queries from %s", len(queries), directories)
    return queries


def list_queries() -> list[NamedQuery]:
    """Every named query, by name."""
    return sorted(_load(_directories()).values(), key=lambda q: q.name)


def get_query(name: str) -> NamedQuery:
    """The named query ``name``.

    Raises
    ------
    UsageError
        If there is no such query; the message lists the known names.
    """
    queries = _load(_directories())
    if name not in queries:
        raise UsageError(
            f"no named query {name!r}; the queries are: {', '.join(sorted(queries))} "
            "(`neurongraph query --list` says what each answers)"
        )
    return queries[name]


def _require_network(store: Store, network: str) -> None:
    """Refuse a network the store does not hold, naming it and how to list the networks (a
    partial one is refused by :meth:`~neurongraph.store.Store.require_network`)."""
    if store.get_network(network) is None:
        raise UsageError(
            f"no network named {network!r} in {store.location}; "
            "list the networks with `neurongraph networks`"
        )
    store.require_network(network)


def run_query(
    store: Store, name: str, params: dict[str, Any] | None = None, *, write: bool = False
) -> CypherResult:
    """Run a named query on a store.

    Parameters
    ----------
    store : neurongraph.store.Store
        The store to query.
    name : str
        The query's name (see :func:`list_queries`).
    params : dict, optional
        Parameter values; declared defaults fill the ones left out.
    write : bool, default=False
        Allow the query to change the store. Without it a query that writes is refused before
        it runs (``@writes``), and any other runs in a transaction that is always rolled back
        (:meth:`~neurongraph.store.Store.run_cypher`).

    Returns
    -------
    neurongraph.store.CypherResult
        Column names, rows and write counters.

    Raises
    ------
    UsageError
        Unknown query, missing or unknown parameter, a write without ``write``, a ``network``
        that is unknown or partial (or a ``series`` without a network or with a partial one),
        or a query the database refuses.
    """
    query = get_query(name)
    bound = query.bind(params)
    if query.writes and not write:
        raise UsageError(f"query {name!r} writes to the store; add --write to run it")
    if NETWORK_PARAMETER in bound:
        _require_network(store, str(bound[NETWORK_PARAMETER]))
    if SERIES_PARAMETER in bound:
        store.require_series(str(bound[SERIES_PARAMETER]))
    log.info("running named query %s with %s", name, bound)
    return store.run_cypher(query.cypher, bound, write=write)
