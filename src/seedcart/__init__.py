"""seedcart: the open seeding-to-purchase loop.

The facade stays light: importing ``seedcart`` loads no engine, database or web framework; each
name below is imported from its stage on first use.

>>> from seedcart import attribute_tables                     # doctest: +SKIP
>>> credit = attribute_tables(touches, conversions, models=("last_touch", "linear"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from seedcart import native as _native

__version__ = "0.1.0"

_native.install()  # the click hot path compiled, when its build matches the sources (seedcart.native)

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "Settings": "seedcart.config",
    "load_settings": "seedcart.config",
    "SeedcartError": "seedcart.errors",
    "ValidationError": "seedcart.errors",
    "AttributionConfig": "seedcart.attribute",
    "attribute_tables": "seedcart.attribute",
    "attribute_files": "seedcart.attribute",
    "rebuild_credit": "seedcart.attribute",
    "WorldConfig": "seedcart.sim",
    "simulate": "seedcart.sim",
    "open_catalog": "seedcart.catalog.db",
    "create_app": "seedcart.serve.app",
    "build_site": "seedcart.dashboard.site",
}

__all__ = [
    "AttributionConfig",
    "SeedcartError",
    "Settings",
    "ValidationError",
    "WorldConfig",
    "__version__",
    "attribute_files",
    "attribute_tables",
    "build_site",
    "create_app",
    "load_settings",
    "open_catalog",
    "rebuild_credit",
    "simulate",
]

if _typing.TYPE_CHECKING:
    from seedcart.attribute import AttributionConfig, attribute_files, attribute_tables, rebuild_credit
    from seedcart.catalog.db import open_catalog
    from seedcart.config import Settings, load_settings
    from seedcart.dashboard.site import build_site
    from seedcart.errors import SeedcartError, ValidationError
    from seedcart.serve.app import create_app
    from seedcart.sim import WorldConfig, simulate


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'seedcart' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
