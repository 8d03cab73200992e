"""Progress bars: drawn at once, integer counts, an ETA from the pace of the items."""

from __future__ import annotations

import contextlib
import io
import os
import pty
import re
import threading

import torch
from torch import nn

from neurongraph.cli import cli
from neurongraph.cli.progress import ProgressBar, format_progress
from neurongraph.ingest import ingest_model

#: Seconds to wait for the terminal's reader after the command ended.
TIMEOUT = 300
#: A count as a bar shows it: ``label: done/total``.
COUNT = re.compile(r"null networks: (\S+)/(\S+) ")


class Clock:
    """Seconds that the test sets: the bar's time source."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def frames(stream: io.StringIO) -> list[str]:
    return [f for f in stream.getvalue().split("\r\x1b[K") if f]


def test_the_eta_is_the_pace_since_the_first_count_and_counts_are_integers():
    clock, stream = Clock(), io.StringIO()
    bar = ProgressBar("null networks", stream, clock=clock)
    bar.draw()  # at the start of the step, before any count
    clock.now = 15.0  # fifteen seconds of set-up (the real partition, workers starting)
    bar(0, 50)
    for done in (1, 2):
        clock.now += 0.44
        bar(done, 50)
    shown = frames(stream)
    assert shown[0] == "null networks: starting 00:00"
    assert shown[-1].startswith("null networks: 2/50 [")
    # 48 nulls left at 0.44 s each: 21 s, not the 48 * 7.9 s that counting the set-up gives
    assert abs(bar.eta(clock.now) - 48 * 0.44) < 1e-9
    assert shown[-1].endswith("00:16<00:21")
    assert not re.search(r"\d\.\d+/", stream.getvalue())


def test_format_progress_shows_whole_counts_and_no_eta_before_two_counts():
    assert format_progress("lesions", 3, 12, 61.0, None) == (
        "lesions: 3/12 [######..................]  25% 01:01<?"
    )
    assert format_progress("epochs", 2, 0, 1.0, None) == "epochs: 2 00:01<?"


def on_a_terminal(args: list[str]) -> tuple[str, str]:
    """Run the CLI in this process (on the session's store) with stderr on a pseudo-terminal,
    as a person at a terminal sees it; its stdout and what the terminal showed."""
    main, side = pty.openpty()
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    out = io.StringIO()
    with (
        open(side, "w", closefd=True) as terminal,
        contextlib.redirect_stderr(terminal),
        contextlib.redirect_stdout(out),
    ):
        cli.main(args=args, prog_name="neurongraph", standalone_mode=False)
    reader.join(timeout=TIMEOUT)
    os.close(main)
    return out.getvalue(), shown.decode(errors="replace")


def test_spectral_draws_its_null_networks_bar_on_a_terminal(store, store_dir, name):
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 6), nn.ReLU())
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    ingest_model(store, model, name, torch.zeros(2, 12))
    shuffles = 20
    args = ["--store", str(store_dir), "analyze", "spectral", name, "-k", "3", "--seed", "0"]
    stdout, shown = on_a_terminal([*args, "--shuffles", str(shuffles), "--jobs", "1"])
    assert "null networks: starting" in shown  # drawn before the first count
    counts = COUNT.findall(shown)
    assert counts, shown
    assert all(done.isdigit() and total == str(shuffles) for done, total in counts), counts
    done = [int(d) for d, _ in counts]
    # the first count comes when the nulls start, before any is done; the last when all are
    assert done[0] == 0 and done[-1] == shuffles and done == sorted(done)
    assert f"null (layer, {shuffles} shuffles)" in stdout
