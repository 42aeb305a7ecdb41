"""Stage subpackages that can be called like their stage function (``compactrs.train(...)``).

The public API names one function per stage (train, prune, search, export), and each shares its name with
the subpackage that implements it. Python binds an imported subpackage as an attribute of its parent, so
after ``import compactrs.train.loop`` the name ``compactrs.train`` is the subpackage whatever the package
``__init__`` exported. Making the subpackage itself callable keeps both spellings working:
``compactrs.train(...)`` and ``import compactrs.train.loop as loop``.
"""
from __future__ import annotations

import sys
import types
from typing import Callable


def make_module_callable(module_name: str, fn: Callable) -> None:
    """Let ``sys.modules[module_name](...)`` call ``fn``."""
    module = sys.modules[module_name]

    class _StageModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return fn(*args, **kwargs)

    _StageModule.__call__.__doc__ = fn.__doc__
    module.__class__ = _StageModule
