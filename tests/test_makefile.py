"""`make test` sets itself up: Chromium for the view tests, with apt only where it is missing."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APT_INSTALL = "apt-get install -y chromium"


def planned(target: str, chromium: Path) -> str:
    """What ``make -n TARGET`` would run (nothing is run) with Chromium at ``chromium``."""
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"CHROMIUM={chromium}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_test_installs_chromium_only_where_it_is_missing(tmp_path):
    missing = tmp_path / "nowhere" / "chromium"
    assert APT_INSTALL in planned("test", missing)
    present = tmp_path / "chromium"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    assert "apt-get" not in planned("test", present)
    assert "pytest" in planned("test", present)
