"""Process-wide runtime settings."""

from __future__ import annotations

import platform
import sys

import torch

from neurongraph.runtime import retain_freed_memory


def test_retain_freed_memory_takes_effect_on_glibc_and_is_idempotent():
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert retain_freed_memory() is glibc
    assert retain_freed_memory() is glibc
    # large blocks freed and taken again come back whole and usable
    for _ in range(3):
        block = torch.full((4 << 20,), 2.0)
        assert float(block.sum()) == 2.0 * (4 << 20)
        del block
