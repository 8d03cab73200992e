"""The models themselves, shared by ingest, the analyses and training: loading a model
(:mod:`~neurongraph.model.loading`), its data (:mod:`~neurongraph.model.datasets`), its view
as a DAG of neuron layers (:mod:`~neurongraph.model.view`), the chain that runtime analyses run
(:mod:`~neurongraph.model.chain`, read by :mod:`~neurongraph.model.extract`), its activations
(:mod:`~neurongraph.model.activations`) and what a stored network recorded
(:mod:`~neurongraph.model.recorded`).

Nothing is imported here, so that light modules (datasets) do not pull in torch.
"""
