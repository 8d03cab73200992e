"""Rendering results: the HTML report, graph views and the Bloom perspective.

Calling the package, ``ng.report(store, name, out)``, writes a network's HTML report
(:func:`neurongraph.api.report.report`).
"""

from neurongraph.api.callable import callable_package

callable_package(__name__, "neurongraph.api.report:report")
