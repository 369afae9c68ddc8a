"""A package that used to be one module keeps behaving like it when a name is set on it.

``forward_names(__name__, modules)`` at the end of a package's ``__init__``: setting one of
the package's names afterwards (a test's ``monkeypatch.setattr(services, "_findings", ...)``,
``mock.patch.object``, tuning a cap) sets it in every listed module that holds the same object
under that name (where it is defined, and where it was imported to be used), as it did when
the package was one module
(https://docs.python.org/3/reference/datamodel.html#customizing-module-attribute-access).

Pure Python (no Django): ``integrations.openapi`` uses it too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import ModuleType

_MISSING = object()
_USERS = "__forward_to__"


class ForwardingPackage(ModuleType):
    """The module type of such a package: setting a name sets it in the modules using it."""

    def __setattr__(self, name: str, value: object) -> None:
        for module in self.__dict__.get(_USERS, {}).get(name, ()):
            setattr(module, name, value)
        super().__setattr__(name, value)


def forward_names(package_name: str, modules: Iterable[ModuleType]) -> None:
    """Make ``package_name`` (an imported package) forward the setting of each of its names
    to the ``modules`` that hold the same object under that name."""
    package = sys.modules[package_name]
    modules = tuple(modules)
    users: dict[str, tuple[ModuleType, ...]] = {}
    for name, value in list(vars(package).items()):
        if name.startswith("__") or isinstance(value, ModuleType):
            continue
        holders = tuple(m for m in modules if vars(m).get(name, _MISSING) is value)
        if holders:
            users[name] = holders
    vars(package)[_USERS] = users
    package.__class__ = ForwardingPackage
