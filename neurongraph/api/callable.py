"""Packages that are also functions of the Python API.

``neurongraph.ingest`` and ``neurongraph.report`` are packages, and Python makes every imported
subpackage an attribute of its parent, so ``ng.ingest`` and ``ng.report`` are those packages
whatever ``neurongraph`` defines. Calling them calls the API function
(:func:`neurongraph.api.ingest.ingest`, :func:`neurongraph.api.report.report`), imported on
first call.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import Any

__all__ = ["callable_package"]


def callable_package(name: str, target: str) -> None:
    """Make the package ``name`` (already in ``sys.modules``) callable as ``target``.

    Parameters
    ----------
    name : str
        The package, usually the caller's ``__name__``.
    target : str
        ``'module:function'``, imported when the package is first called.
    """
    module_name, function = target.split(":")

    class CallablePackage(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(import_module(module_name), function)(*args, **kwargs)

    CallablePackage.__call__.__doc__ = f"Call :func:`{module_name}.{function}`."
    sys.modules[name].__class__ = CallablePackage
