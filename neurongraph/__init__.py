"""neurongraph: a graph-database-backed neuron explorer for PyTorch networks."""

__version__ = "0.1.0"
