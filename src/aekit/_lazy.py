"""Lazy package attributes (PEP 562): ``aekit.train`` imports torch only when it is first used.

``aekit --help`` builds its parser from modules that import nothing heavy; if ``import aekit`` (which every
``aekit.x`` submodule import runs first) imported torch, Lightning and scikit-learn, the help alone would take
seconds. A package lists its public names and the module each comes from; :func:`lazy` gives the package
a ``__getattr__`` and ``__dir__`` that import them on first use.

Some public names are also the names of submodules (``aekit.train`` the function, ``aekit/train/`` the
package; ``aekit.data.lines``). Importing such a submodule makes Python bind it on the parent
(``setattr(aekit, "train", <module>)``), which would hide the function; the package's module type refuses
that one binding, so the public name always means what ``exports`` says (``sys.modules`` still has the module,
which is where ``from aekit.train.loop import fit`` looks).
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any


class _LazyPackage(types.ModuleType):
    _exports: dict[str, str]

    def __setattr__(self, name: str, value: Any) -> None:
        if (isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}"
                and name in self._exports and not self._exports[name].endswith(":")):
            return  # the import system binding a submodule over a public name of the same spelling
        super().__setattr__(name, value)


def lazy(package: str, exports: dict[str, str]) -> None:
    """Make ``package`` (call from its ``__init__``) load ``exports`` on first use: each maps a public name to
    ``"module"`` (the module's attribute of that name), ``"module:attr"``, or ``"module:"`` (the module)."""
    module = sys.modules[package]

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where, _, attr = exports[name].partition(":")
        loaded = importlib.import_module(where)
        value = loaded if exports[name].endswith(":") else getattr(loaded, attr or name)
        vars(module)[name] = value  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(exports))

    vars(module).update(__getattr__=__getattr__, __dir__=__dir__, _exports=exports)
    module.__class__ = _LazyPackage
