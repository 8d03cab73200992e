"""Whether the layers read from a model reproduce it: the checks that a chain
(:mod:`neurongraph.model.extract`) and a view (:mod:`neurongraph.model.view`) both pass, on the
example input and on seeded random batches (zeros alone would hide residuals and bias-free
nonlinearities), and the one-line quotes of a model's own errors."""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import nn

from neurongraph.errors import IngestError

__all__ = [
    "CHECK_EXAMPLES",
    "CHECK_SEED",
    "OUTPUT_ATOL",
    "OUTPUT_RTOL",
    "check_runs",
    "one_line",
    "reproduction_failure",
]

#: Largest difference allowed between the model's output and that of the layers read from it
#: (a chain or a view), relative to the largest absolute output of the batch (the layers run in
#: float64, the model usually in float32) ...
OUTPUT_RTOL = 1e-4
#: ... plus this absolute floor, for outputs that are all near zero.
OUTPUT_ATOL = 1e-5
#: Examples in each random batch the layers are checked on (standard normal, uniform on [0, 1)).
CHECK_EXAMPLES = 16
#: Seed of those batches: a model is always judged on the same inputs.
CHECK_SEED = 0

#: Longest error text of a failed forward pass quoted in a message.
ERROR_QUOTE_CHARS = 200


def one_line(err: BaseException) -> str:
    """``Type: message`` on one line, at most ``ERROR_QUOTE_CHARS`` long.

    A TorchScript interpreter error carries both tracebacks of the failed call; its last
    ``SomethingError: ...`` line is what went wrong.
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    if len(lines) > 1:
        for line in reversed(lines):
            if re.match(r"[A-Za-z_][\w.]*(Error|Exception): \S", line):
                text = line
                break
    if len(text) > ERROR_QUOTE_CHARS:
        text = text[: ERROR_QUOTE_CHARS - 3].rstrip() + "..."
    return text


def _check_batches(example_input: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """The inputs the layers must reproduce the model on: the caller's batch and seeded random
    batches of the same example shape (zeros alone would hide residuals and bias-free
    nonlinearities)."""
    shape = (CHECK_EXAMPLES, *example_input.shape[1:])
    generator = torch.Generator().manual_seed(CHECK_SEED)
    if not example_input.is_floating_point():
        high = int(example_input.max()) + 1 if example_input.numel() else 1
        tokens = torch.randint(0, high, shape, generator=generator, dtype=example_input.dtype)
        return [("the example input", example_input), ("random token ids", tokens)]
    dtype = example_input.dtype
    return [
        ("the example input", example_input),
        ("standard-normal inputs", torch.randn(shape, generator=generator, dtype=dtype)),
        ("uniform [0, 1) inputs", torch.rand(shape, generator=generator, dtype=dtype)),
    ]


def check_runs(model: nn.Module, example_input: torch.Tensor) -> None:
    """IngestError unless ``example_input`` is finite and the (eval-mode) model runs on it."""
    if example_input.is_floating_point() and not bool(torch.isfinite(example_input).all()):
        raise IngestError(
            "the example input holds NaN or infinite values; give finite inputs (clean the data)"
        )
    try:
        with torch.no_grad():
            model(example_input)
    except Exception as err:
        raise IngestError(
            f"the model cannot run on an input of shape {tuple(example_input.shape)} "
            f"({one_line(err)}); pass the model's input shape"
        ) from err


def _mismatch(model: nn.Module, layers: Callable, batch: torch.Tensor) -> str | None:
    """How the output of ``layers`` (a chain or a view) differs from the model's on ``batch``
    (a clause such as "they differ by up to 1.5 ..."), or None when it agrees."""
    with torch.no_grad():
        try:
            expected = model(batch)
        except Exception as err:
            return f"the model fails ({one_line(err)})"
        got = layers(batch.double() if batch.is_floating_point() else batch)
    if not isinstance(expected, torch.Tensor):
        return f"the model returns a {type(expected).__name__}, not one tensor"
    if got.shape != expected.shape:
        shapes = f"{tuple(got.shape)} and {tuple(expected.shape)}"
        return f"the layers' and the model's outputs have different shapes ({shapes})"
    expected = expected.double()
    if not bool(torch.isfinite(expected).all()):
        return "the model's output is NaN or infinite"
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    tolerance = OUTPUT_RTOL * scale + OUTPUT_ATOL
    diff = (got - expected).abs()
    if diff.numel() == 0 or bool(diff.max() <= tolerance):
        return None
    flat = int(diff.flatten(1).max(dim=0).values.argmax()) if diff.dim() > 1 else 0
    return (
        f"the layers and the model differ by up to {float(diff.max()):.3g} "
        f"(output {flat}; tolerance {tolerance:.2g})"
    )


def reproduction_failure(
    model: nn.Module, layers: Callable, example_input: torch.Tensor
) -> str | None:
    """Where the layers read from ``model`` (its chain or its view, run in float64) fail to
    reproduce its output, as a clause ("on standard-normal inputs the layers and the model
    differ by up to ..."), checked on ``example_input`` and on seeded random batches of its
    example shape; None when they reproduce it everywhere."""
    for what, batch in _check_batches(example_input):
        mismatch = _mismatch(model, layers, batch)
        if mismatch is not None:
            return f"on {what} {mismatch}"
    return None
