"""Analyses against the store: each reads what it needs, calls the pure algorithms of
:mod:`neurongraph.analysis`, has the store write the results and returns them typed."""
