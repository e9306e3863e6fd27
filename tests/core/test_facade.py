"""The public face: ``seedcart.__all__`` is exactly what the package exports, and importing it is light."""

from __future__ import annotations
import __future__

import subprocess
import sys
import types

import seedcart


def test_every_name_in_all_exists() -> None:
    assert len(set(seedcart.__all__)) == len(seedcart.__all__)
    missing = [name for name in seedcart.__all__ if not hasattr(seedcart, name)]
    assert missing == []


def test_every_public_name_is_in_all() -> None:
    public = {name for name, value in vars(seedcart).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType | __future__._Feature)}
    assert public - set(seedcart.__all__) == set()
    assert "__version__" in seedcart.__all__


def test_importing_seedcart_loads_no_engine_database_or_web_framework() -> None:
    heavy = ["duckdb", "ibis", "pyarrow", "sqlalchemy", "fastapi", "pyspark", "pandas", "uvicorn"]
    code = f"import sys, seedcart; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_lazy_export_is_listed_and_resolves_to_its_stage() -> None:
    assert set(seedcart.__all__) - {"__version__"} == set(seedcart._EXPORTS)
    from seedcart.attribute import attribute_tables

    assert seedcart.attribute_tables is attribute_tables
