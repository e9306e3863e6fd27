"""The one place the pipeline touches an engine directly: temp tables (Arrow registration: lake.engines)."""

from __future__ import annotations

import uuid
import warnings

import ibis.expr.types as ir


def quote(name: str) -> str:
    """An SQL identifier, double-quoted (DuckDB and Spark SQL)."""
    return '"' + name.replace('"', '""') + '"'


def _name(tag: str) -> str:
    return f"_seedcart_{tag}_{uuid.uuid4().hex[:12]}"


def materialise(expr: ir.Table, tag: str) -> ir.Table:
    """Compute ``expr`` once for the models that read it: a temp table on DuckDB, a cached DataFrame on Spark."""
    con = expr.get_backend()
    if con.name == "duckdb":
        with warnings.catch_warnings():  # Ibis 12 reads the new table's schema with a call DuckDB 2 deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            return con.create_table(_name(tag), expr, temp=True)
    return expr.cache()



def union_all(parts: list[ir.Table]) -> ir.Table:
    """The rows of every table of ``parts`` (at least one), duplicates kept."""
    return parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
