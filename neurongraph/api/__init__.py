"""The Python API behind ``import neurongraph as ng``: thin functions over the analyses the
command line runs (:mod:`neurongraph.runs`, :mod:`~neurongraph.ingest.pipeline`,
:mod:`~neurongraph.report.html`), returning typed results (:mod:`~neurongraph.runs.results`).

Each function takes a :class:`~neurongraph.store.Store` and a network name; importance and
coherence also take the model itself (``model=``, an ``nn.Module``) when the store does not hold
it. The modules are imported on first use, so ``import neurongraph`` stays cheap.
"""
