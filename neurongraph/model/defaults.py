"""The model package's names and defaults that the command line shows, importable without torch.

The modules that use them (:mod:`~neurongraph.model.activations`,
:mod:`~neurongraph.model.chain`, :mod:`~neurongraph.model.view`) take them from here, so each
is named once and ``--help`` costs no heavy import.
"""

from __future__ import annotations

__all__ = ["CHANNEL_REDUCTIONS", "DEFAULT_BATCH_SIZE", "DEFAULT_CORR_TOP_K", "TOKEN_REDUCTIONS"]

#: Examples per forward pass when capturing activations.
DEFAULT_BATCH_SIZE = 1024
#: CORRELATES edges kept per neuron (its strongest |r|).
DEFAULT_CORR_TOP_K = 16
#: How a conv channel's H x W activation map becomes one number per example.
CHANNEL_REDUCTIONS = ("mean", "max", "l2")
#: How a token model's unit becomes one number per example from its positions (padding left
#: out): their mean, their max, or the last one's value.
TOKEN_REDUCTIONS = ("mean", "max", "last")
