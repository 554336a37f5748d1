"""Every package's `__all__` is honest: each name it lists exists, and each public name the package offers is listed.

A package's public names are what its `__init__` binds without a leading underscore, other than its own
submodules and helpers imported from outside growthloop (`typing.Any`, `TYPE_CHECKING`, `annotations`); a
package that binds any must say so in `__all__`, so that `from package import *`, the docs and the type
checker agree on what it exports. A lazily loading package (a module-level `__getattr__`) is read the same
way: each name in `__all__` must load. Modules that declare `__all__` are held to the first half (each
listed name exists).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from functools import cache

import pytest

import growthloop

# Bound by `from __future__ import annotations` and `from typing import TYPE_CHECKING`: switches, not exports.
NOT_EXPORTS = {"annotations", "TYPE_CHECKING"}


@cache
def _modules() -> tuple[str, ...]:
    names = [growthloop.__name__]
    names += [m.name for m in pkgutil.walk_packages(growthloop.__path__, f"{growthloop.__name__}.")]
    return tuple(sorted(names))


def _packages() -> list[str]:
    return [name for name in _modules() if hasattr(importlib.import_module(name), "__path__")]


def _with_all() -> list[str]:
    return [name for name in _modules() if hasattr(importlib.import_module(name), "__all__")]


def _public_bindings(package: types.ModuleType) -> set[str]:
    """What the package's namespace binds that a reader would take as its public names."""
    found = set()
    for name, value in vars(package).items():
        if name.startswith("_") or name in NOT_EXPORTS:
            continue
        if isinstance(value, types.ModuleType) and value.__name__ == f"{package.__name__}.{name}":
            continue  # a submodule, bound on the package by being imported
        if not str(getattr(value, "__module__", None) or package.__name__).startswith(f"{growthloop.__name__}."):
            continue  # a helper imported from elsewhere (typing.Any, importlib.import_module): not offered
        found.add(name)
    return found


def test_the_walk_finds_the_packages_and_the_declarations() -> None:
    """The two tests below run over something: the layout's packages, and the modules known to declare `__all__`."""
    packages = _packages()
    for expected in ("growthloop.learning", "growthloop.adapters.platforms.x", "growthloop.adapters.generators.llm"):
        assert expected in packages
    assert {"growthloop.learning", "growthloop.redact", "growthloop.audit.doctor"} <= set(_with_all())


@pytest.mark.parametrize("name", _modules())
def test_every_listed_name_exists_once(name: str) -> None:
    module = importlib.import_module(name)
    listed = getattr(module, "__all__", None)
    if listed is None:
        return
    assert isinstance(listed, list | tuple) and all(isinstance(n, str) for n in listed), f"{name}.__all__: {listed!r}"
    duplicates = sorted({n for n in listed if list(listed).count(n) > 1})
    assert duplicates == [], f"{name}.__all__ lists {duplicates} twice"
    missing = []
    for n in listed:
        try:
            getattr(module, n)  # through a lazy package's __getattr__ too: the name must load
        except AttributeError:
            missing.append(n)
    assert missing == [], f"{name}.__all__ lists names the module does not have: {missing}"


@pytest.mark.parametrize("name", _modules())
def test_every_public_name_of_a_package_is_listed(name: str) -> None:
    module = importlib.import_module(name)
    if not hasattr(module, "__path__"):
        return
    bound = _public_bindings(module)
    listed = set(getattr(module, "__all__", ()))
    if not bound and not listed:
        return  # a namespace for its submodules only (a docstring, maybe a version)
    unlisted = sorted(bound - listed - {"__version__"})
    assert unlisted == [], f"{name} binds public names its __all__ does not list: {unlisted}"
    where = getattr(module, "_WHERE", None)
    if isinstance(where, dict):  # a lazy package: what it can load is what it lists
        assert set(where) == listed, f"{name}: lazily loadable {sorted(where)} != __all__ {sorted(listed)}"


def test_a_name_missing_from_all_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a package that binds a name it does not list is reported."""
    package = importlib.import_module("growthloop.adapters.platforms.x")
    monkeypatch.setattr(package, "Extra", object(), raising=False)
    assert "Extra" in _public_bindings(package) - set(package.__all__)
    assert sys.modules[package.__name__] is package
