"""The one view of a network that everything shares: its data flow as a DAG of neuron layers.

:func:`~neurongraph.model.view.read_view` reads an eager module with ``torch.export`` into a
:class:`~neurongraph.model.view.ModelView`; chains (see :mod:`neurongraph.ingest.chain`) are the
special case that every runtime analysis runs today.
"""

from neurongraph.model.view import ModelView, ViewInput, ViewLayer, read_view

__all__ = ["ModelView", "ViewInput", "ViewLayer", "read_view"]
