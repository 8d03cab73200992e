"""Named queries refuse a partial or unknown network (or series) instead of answering nothing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neurongraph.errors import UsageError
from neurongraph.flags import for_command_line
from neurongraph.ingest import ingest_model
from neurongraph.queries import list_queries

#: Values for the parameters other than ``network`` and ``series``.
OTHER_PARAMS = {
    "method": "spectral-weights",
    "label": 0,
    "source": 0,
    "target": 1,
    "limit": 5,
    "layer": "0",
    "index": 0,
}
NETWORK_QUERIES = sorted(q.name for q in list_queries() if "network" in q.parameter_names)


def tiny(store, name):
    model = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))
    ingest_model(store, model, name, torch.zeros(2, 5))
    return name


def args_for(query, **given):
    params = {p: given.get(p, OTHER_PARAMS.get(p)) for p in query.parameter_names}
    return [a for key, value in params.items() for a in ("-p", f"{key}={value}")]


@pytest.fixture
def partial_network(store, name):
    """A network whose ingest did not finish (status partial)."""
    tiny(store, name)
    store.set_network_properties(name, {"status": "partial"})
    return name


def test_every_network_query_refuses_a_partial_network(run_cli, store, partial_network):
    assert len(NETWORK_QUERIES) >= 10
    with pytest.raises(UsageError) as expected:
        store.require_network(partial_network)
    for query in list_queries():
        if query.name not in NETWORK_QUERIES:
            continue
        refused = run_cli("query", query.name, *args_for(query, network=partial_network), expect=2)
        assert refused.stdout == "", query.name
        assert refused.stderr == f"error: {for_command_line(str(expected.value))}\n", query.name
        assert "--replace" in refused.stderr


def test_a_network_query_refuses_an_unknown_network(run_cli, store, name):
    tiny(store, name)
    refused = run_cli("query", "partitions", "-p", f"network={name}-missing", expect=2)
    assert refused.stderr.startswith(f"error: no network named '{name}-missing'")
    assert "list the networks with `neurongraph networks`" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert run_cli("query", "partitions", "-p", f"network={name}").exit_code == 0


def test_a_series_query_refuses_an_unknown_series_or_a_partial_member(run_cli, store, name):
    evolution = ("query", "neuron-evolution", "-p", "layer=0", "-p", "index=0")
    refused = run_cli(*evolution, "-p", f"series={name}", expect=2)
    assert refused.stderr.startswith(f"error: no network of a series '{name}'")
    tiny(store, f"{name}@1")
    tiny(store, f"{name}@2")
    assert len(run_cli(*evolution, "-p", f"series={name}").stdout.splitlines()) == 4
    store.set_network_properties(f"{name}@2", {"status": "partial"})
    refused = run_cli(*evolution, "-p", f"series={name}", expect=2)
    assert refused.stderr.startswith(f"error: network '{name}@2' is partial")
    assert len(refused.stderr.splitlines()) == 1
