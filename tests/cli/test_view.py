"""`neurongraph view`: the SVG page renders in headless Chromium without WebGL, without errors.

Chromium (Debian's ``chromium`` package; ``.ci/run`` installs it) is driven over the DevTools
protocol on a pipe (``--remote-debugging-pipe``): the test loads the page, collects uncaught
exceptions and console errors, and polls screenshots until the graph is drawn. A plain
``--screenshot`` run is not enough: it shoots after a fixed (virtual) time, and the graph
layout, which runs asynchronously, was often not drawn yet on a loaded two-core machine.
"""

from __future__ import annotations

import base64
import fcntl
import html
import io
import json
import math
import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from neurongraph.cli import cli
from neurongraph.formatting import cell
from neurongraph.queries import run_query
from neurongraph.report.view import (
    CAPTION_CHAR,
    CAPTION_SLANT,
    EDGES_PER_NEURON,
    EDGES_PER_PART,
    MAX_NEURON_EDGES,
    STAGGER_BELOW,
)

CHROMIUM = "chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,800",
    "--remote-debugging-pipe",
)
#: Seconds to wait for the graph to be drawn.
RENDER_TIMEOUT = 90.0
POLL = 1.0
#: A drawn graph: this many pixels in the middle of the page differ from the background.
MIN_DRAWN_PIXELS = 400
MIN_COLOURS = 20
#: Height of a column caption (its font size), in drawing units.
CAPTION_HEIGHT = 16.0
K = 4
WEIGHTS = "spectral-weights"
_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


def _invoke(store_dir, *args, expect=0):
    result = CliRunner().invoke(cli, ["--store", str(store_dir), *map(str, args)])
    assert result.exit_code == expect, f"{result.output}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def network(tmp_path_factory, mlp, store, store_dir):
    """The session's trained MLP, ingested and split into K spectral clusters."""
    path = tmp_path_factory.mktemp("view") / "mlp.pt"
    torch.jit.trace(mlp, torch.zeros(2, 64)).save(str(path))
    name = "view-mlp"
    _invoke(store_dir, "ingest", path, "--name", name)
    _invoke(store_dir, "analyze", "spectral", name, "-k", K, "--no-null", "--seed", 0)
    return name


class DevTools:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (fds 3 and 4)."""

    def __init__(self, profile: Path) -> None:
        binary = shutil.which(CHROMIUM)
        assert binary, (
            "Chromium is needed to test the view page: apt-get install -y chromium "
            "(.ci/run does it)"
        )
        # Chromium reads commands from fd 3 and writes replies to fd 4: hand the pipe ends over
        # at fds >= 10 and let a small exec trampoline move them (not preexec_fn: this process
        # runs threads).
        commands_r, self._commands = os.pipe()
        self._replies, replies_w = os.pipe()
        child_r = fcntl.fcntl(commands_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(replies_w, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (commands_r, replies_w):
            os.close(fd)
        args = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(child_r), str(child_w), binary, *args],
            pass_fds=(child_r, child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in (child_r, child_w):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + RENDER_TIMEOUT
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([self._replies], [], [], max(left, 0))
                assert ready, f"Chromium did not answer {method} in {RENDER_TIMEOUT} s"
                chunk = os.read(self._replies, 1 << 20)
                assert chunk, "Chromium closed the DevTools pipe"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
            self.events.append(reply)

    def errors(self) -> list[str]:
        """Uncaught exceptions, console.error calls and error log entries so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details["text"])
            elif method == "Runtime.consoleAPICalled" and params["type"] in {"error", "assert"}:
                found.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"][:500])
        return found

    def close(self) -> None:
        try:
            message = {"id": 0, "method": "Browser.close"}
            os.write(self._commands, json.dumps(message).encode() + b"\0")
            self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        finally:
            os.close(self._commands)
            os.close(self._replies)


def drawn_pixels(image: np.ndarray) -> int:
    """Pixels of the middle of the page (away from the toolbar and legend) that differ from the
    background colour."""
    h, w, _ = image.shape
    middle = image[h // 8 : h - h // 5, w // 5 : w - w // 8].reshape(-1, 3).astype(int)
    colours, counts = np.unique(middle, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    return int((np.abs(middle - background).max(axis=1) > 40).sum())


def render(
    page: Path, profile: Path, *, timeout: float = RENDER_TIMEOUT
) -> tuple[np.ndarray, list[str]]:
    """Load ``page`` in headless Chromium; return the screenshot once the graph is drawn (or at
    the timeout) and the page's errors. The PNG is kept beside the page."""
    browser = DevTools(profile)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime.enable", "Page.enable", "Log.enable"):
            browser.call(domain, session=session)
        browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        deadline = time.monotonic() + timeout
        while True:
            time.sleep(POLL)
            shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
            png = base64.b64decode(shot["data"])
            image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            if drawn_pixels(image) >= MIN_DRAWN_PIXELS or time.monotonic() > deadline:
                break
        page.with_suffix(".png").write_bytes(png)
        return image, browser.errors()
    finally:
        browser.close()


def assert_renders(page: Path, profile: Path) -> None:
    image, errors = render(page, profile)
    assert errors == [], errors
    assert drawn_pixels(image) >= MIN_DRAWN_PIXELS, f"nothing drawn: {page.with_suffix('.png')}"
    assert len(np.unique(image.reshape(-1, 3), axis=0)) >= MIN_COLOURS


def test_chromium_catches_page_errors(tmp_path):
    """The harness itself: a page that throws is caught, a blank page is blank."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('boom'); missing();</script></body></html>")
    image, errors = render(page, tmp_path / "profile", timeout=3 * POLL)
    assert len(errors) == 2, errors
    assert "boom" in errors[0] and "missing" in errors[1]
    assert drawn_pixels(image) == 0


#: The flags a headless user gives Chromium: no GPU, so no WebGL.
USER_FLAGS = ("--headless", "--disable-gpu", "--no-sandbox", "--window-size=1000,800")
#: A node's fill colour is saturated: its channels differ by at least this much.
SATURATED = 60
MIN_NODE_PIXELS = 300
MAX_PAGE_BYTES = 200_000
#: What the page's SVG says each node and edge is.
NODE_ID = r'<g class="node" data-id="([^"]+)"'
COLUMN = r'<text class="column( slanted)?" x="([-\d.]+)" y="([-\d.]+)"[^>]*>([^<]*)</text>'
VIEWBOX = r'viewBox="([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+)"'


def assert_captions_fit(text: str) -> bool:
    """The column captions of a view page lie inside its drawing and none overlaps the next
    (level ones within their room, two columns when they alternate between two lines; slanted
    ones on parallel lines more than a text height apart). Whether they are slanted."""
    left, top, width, _ = map(float, re.search(VIEWBOX, text).groups())
    columns = [
        (bool(s), float(x), float(y), html.unescape(c)) for s, x, y, c in re.findall(COLUMN, text)
    ]
    assert len({s for s, *_ in columns}) == 1, "every caption slanted, or none"
    slanted = columns[0][0]
    gap = columns[1][1] - columns[0][1] if len(columns) > 1 else math.inf
    angle = math.radians(CAPTION_SLANT)
    for _, x, y, caption in columns:
        length = CAPTION_CHAR * len(caption)
        if slanted:
            assert y - length * math.sin(angle) >= top, caption
            assert x + length * math.cos(angle) <= left + width, caption
        else:
            assert length <= gap * (2 if gap < STAGGER_BELOW else 1), caption
    if slanted:
        assert gap * math.sin(angle) > CAPTION_HEIGHT
    return slanted


SVG_EDGE = r'<path class="edge" data-source="([^"]+)" data-target="([^"]+)"'


def user_screenshot(page: Path) -> np.ndarray:
    """``chromium --headless --disable-gpu --no-sandbox --screenshot`` of ``page``."""
    shot = page.with_suffix(".png")
    subprocess.run(
        [
            shutil.which(CHROMIUM),
            *USER_FLAGS,
            f"--user-data-dir={page.parent / 'shot-profile'}",
            f"--screenshot={shot}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=RENDER_TIMEOUT,
    )
    return np.asarray(Image.open(shot).convert("RGB"))


def coloured_pixels(image: np.ndarray) -> int:
    """Pixels of the drawing (below the heading) in a saturated colour: node fills."""
    body = image[image.shape[0] // 5 :].astype(int)
    return int(((body.max(axis=2) - body.min(axis=2)) >= SATURATED).sum())


def test_cluster_view_renders(network, store, store_dir, tmp_path):
    out = tmp_path / "view.html"
    summary = json.loads(_invoke(store_dir, "view", network, "--out", out, "--json").stdout)
    parts = run_query(store, "cluster-layers", {"network": network, "method": WEIGHTS}).rows
    sums = run_query(store, "cluster-layer-weights", {"network": network, "method": WEIGHTS})
    assert summary["nodes"] == len(parts) >= K
    per_part = Counter(f"{r['sourceLayer']}|{r['source']}" for r in sums.rows)
    assert summary["relationships"] == sum(min(n, EDGES_PER_PART) for n in per_part.values())
    text = out.read_text()
    assert len(text.encode()) < MAX_PAGE_BYTES
    assert "<script src=" not in text, "the page is self-contained"
    heading = re.search(r"<h1>(.*?)</h1>", text).group(1)
    assert heading.startswith(f"{network}: {WEIGHTS} partition (k {K}")
    assert f"the {EDGES_PER_PART} heaviest leaving each part are drawn" in text
    legend = re.findall(r"<li><i[^>]*></i>(.*?)</li>", text)
    clusters = run_query(store, "partition-clusters", {"network": network, "method": WEIGHTS})
    assert legend == [f"cluster {r['label']}: {r['size']} neurons" for r in clusters.rows]
    assert sorted(re.findall(NODE_ID, text)) == sorted(f"{r['layer']}|{r['label']}" for r in parts)
    assert len(re.findall(SVG_EDGE, text)) == summary["relationships"]
    assert not assert_captions_fit(text), "short layer names stay level"
    image = user_screenshot(out)
    assert drawn_pixels(image) >= MIN_DRAWN_PIXELS, f"nothing drawn: {out.with_suffix('.png')}"
    assert coloured_pixels(image) >= MIN_NODE_PIXELS, "no coloured nodes on the screenshot"
    assert_renders(out, tmp_path / "profile")


def test_legend_values_are_formatted():
    assert cell(0.047619047619047616, ".3g") == "0.0476"
    assert cell(-0.0, ".3g") == "0" and cell(0.9523809523809523, ".3g") == "0.952"


def test_one_cluster_view_renders(network, store, store_dir, tmp_path):
    clusters = run_query(store, "partition-clusters", {"network": network, "method": WEIGHTS})
    label = max(clusters.rows, key=lambda r: r["size"])["label"]
    out = tmp_path / "cluster.html"
    summary = json.loads(
        _invoke(store_dir, "view", network, "--cluster", label, "--out", out, "--json").stdout
    )
    members = run_query(
        store, "cluster-neurons", {"network": network, "method": WEIGHTS, "label": label}
    ).rows
    inside = run_query(
        store,
        "cluster-weights",
        {"network": network, "method": WEIGHTS, "source": label, "target": label, "limit": 10**6},
    ).rows
    assert summary["nodes"] == len(members) > 0
    per_neuron = Counter(r["source"] for r in inside)
    kept = sum(min(n, EDGES_PER_NEURON) for n in per_neuron.values())
    assert summary["relationships"] == min(kept, MAX_NEURON_EDGES)
    assert summary["relationships"] < len(inside), "edges are thresholded"
    text = out.read_text()
    assert f"{network}: {WEIGHTS} cluster {label} ({len(members)} neurons)" in text
    kept = [
        edge
        for source in per_neuron
        for edge in sorted(
            (e for e in inside if e["source"] == source), key=lambda e: -e["weight"]
        )[:EDGES_PER_NEURON]
    ]
    assert text.count("stroke-dasharray") == sum(e["signed"] < 0 for e in kept) > 0
    image = user_screenshot(out)
    assert coloured_pixels(image) >= MIN_NODE_PIXELS, "no coloured nodes on the screenshot"
    assert_renders(out, tmp_path / "profile")


def test_view_refuses_bad_input(network, store_dir, tmp_path):
    out = tmp_path / "never.html"
    result = _invoke(store_dir, "view", "no-such-network", "--out", out, expect=2)
    assert "no network named 'no-such-network'" in result.stderr
    result = _invoke(store_dir, "view", network, "--partition", "louvain", "--out", out, expect=2)
    assert "neurongraph analyze louvain" in result.stderr
    result = _invoke(store_dir, "view", network, "--cluster", 99, "--out", out, expect=2)
    assert "no cluster '99'" in result.stderr and "0, 1, 2, 3" in result.stderr
    assert not out.exists()
