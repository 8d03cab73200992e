"""Set-up shared by the training tests: one torch thread each, and the datasets they train on."""

from __future__ import annotations

import pytest

from neurongraph.model.datasets import Dataset, load_dataset


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
