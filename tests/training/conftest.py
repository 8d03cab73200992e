"""Set-up shared by the training tests: one torch thread each, and the datasets they train on."""

from __future__ import annotations

import numpy as np
import pytest

from neurongraph.ingest.graph import view_graph
from neurongraph.model.datasets import Dataset, load_dataset
from neurongraph.model.view import read_view


@pytest.fixture(scope="module", autouse=True)
def _training_on_one_thread(one_thread):
    """Every training test runs on one torch thread (the shared ``one_thread`` fixture)."""


@pytest.fixture(scope="session")
def digits_dataset() -> Dataset:
    """scikit-learn's digits as the ``digits`` Dataset (vectors)."""
    return load_dataset("digits")


@pytest.fixture(scope="session")
def digit_images() -> Dataset:
    """The same digits as 8x8 images."""
    return load_dataset("digits", random_state=0, image=True)


@pytest.fixture(scope="session")
def ingested_adjacency():
    """``adjacency(model, example)``: the symmetric weight-graph adjacency of the graph that
    ``ingest`` writes for ``model`` (its view's blocks, layers in the ingest's order)."""

    def adjacency(model, example) -> np.ndarray:
        graph = view_graph(read_view(model, example))
        offsets = np.concatenate([[0], np.cumsum([layer.width for layer in graph.layers])])
        found = np.zeros((offsets[-1], offsets[-1]))
        for block in graph.blocks:
            rows = slice(offsets[block.target], offsets[block.target + 1])
            cols = slice(offsets[block.source], offsets[block.source + 1])
            found[rows, cols] += block.weight
        return found + found.T

    return adjacency
