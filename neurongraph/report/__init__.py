"""Rendering results: the HTML report, graph views and the Bloom perspective."""
