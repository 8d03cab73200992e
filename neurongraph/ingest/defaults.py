"""Ingest's names and defaults that the command line shows, importable without torch."""

from __future__ import annotations

__all__ = ["DEFAULT_KERNEL_NORM", "KERNEL_NORMS"]

#: How a kernel slice (conv) or a channel's flattened weights (conv -> linear) become one weight:
#: ``l1`` = sum of |w|, ``fro`` = Frobenius norm, ``l2`` = largest singular value of the slice
#: (for a flattened channel, a vector, ``l2`` and ``fro`` agree).
KERNEL_NORMS = ("l1", "l2", "fro")
DEFAULT_KERNEL_NORM = "l1"
