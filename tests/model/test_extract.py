"""extract_chain called from Python: what the CLI cannot reach."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neurongraph.errors import IngestError
from neurongraph.model.extract import extract_chain


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_example_input_is_refused_as_such(bad):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    example = torch.zeros(2, 4)
    example[1, 2] = bad
    with pytest.raises(IngestError, match="example input holds NaN or infinite values"):
        extract_chain(model, example)
