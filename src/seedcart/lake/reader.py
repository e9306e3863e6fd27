"""Reading lake tables as Ibis tables, on DuckDB or on Spark through the same function."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from seedcart.errors import SchemaError
from seedcart.lake.credit import unpack, unpack_sql
from seedcart.lake.engines import register_arrow
from seedcart.lake.journal import visible_files
from seedcart.lake.schemas import CREDIT, conform, schema_of
from seedcart.types import Table

R = TypeVar("R")

#: How often a read whose files were retired meanwhile lists them again.
READ_ATTEMPTS = 6


def read_listed(list_files: Callable[[], list[Path]], read: Callable[[list[Path]], R]) -> tuple[R, list[Path]]:
    """``read(files)`` of a fresh ``list_files()``, again with a new listing when a file vanished meanwhile.

    Compaction and replacement retire files under the table lock, which readers do not take: a
    reader that listed a partition just before a swap can find a listed file gone. A new listing
    then sees the swap's outputs (``journal.visible_files``). Returns the result and the files read.
    An error while every listed file still exists is raised at once.
    """
    for attempt in range(READ_ATTEMPTS):
        files = list_files()
        try:
            return read(files), files
        except Exception:
            if attempt == READ_ATTEMPTS - 1 or all(f.exists() for f in files):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def files_sql(paths: Iterable[Path]) -> str:
    """A DuckDB list literal of file paths, for ``read_parquet`` (quotes in a path are doubled)."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def table_files(root: str | Path, table: Table | str) -> list[Path]:
    """The committed Parquet files of a table, sorted: temp files excluded, and the files that a
    pending compaction or replacement journal supersedes (or has not committed) left out."""
    out: list[Path] = []
    for partition in sorted((Path(root) / table).glob("date=*")):
        if partition.is_dir():
            out.extend(visible_files(partition))
    return out


def partition_files(root: str | Path, table: Table | str, day: str) -> list[Path]:
    """The committed Parquet files of one ``YYYY-MM-DD`` partition of a table (none when it is absent)."""
    partition = Path(root) / table / f"date={day}"
    return visible_files(partition) if partition.is_dir() else []


def read_table(con: Any, root: str | Path, table: Table | str) -> ir.Table:
    """The lake table as an Ibis table on ``con`` (a DuckDB or PySpark backend), schema columns only;
    the credit table as its long rows (``seedcart.lake.credit``).

    An absent table reads as empty with the right schema, so pipelines work on a fresh lake.
    """
    schema = schema_of(table)
    files = table_files(root, table)
    if not files:  # bound to con, so it joins with the other tables of a pipeline
        expr = register_arrow(con, schema.empty_table(), f"empty_{table}")
    else:
        if con.name == "duckdb":
            # union_by_name: files written before a column was added read it as null
            expr = con.read_parquet([str(f) for f in files], hive_partitioning=False, union_by_name=True)
        else:
            expr = _spark_read(con, files)
        expr = expr.select(*[_column(expr, table, f) for f in schema])
    return unpack(expr) if table == "credit" else expr


def read_credit(root: str | Path, files: list[Path] | None = None) -> pa.Table:
    """The lake's credit table (or its ``files``) as long rows in Arrow (``seedcart.lake.schemas.CREDIT``),
    all in memory: for a large lake, read the rows you need through :func:`read_table` or
    ``seedcart.lake.credit.unpack_sql`` instead. Reading the whole table is safe while a server
    rewrites it (a file retired between listing and reading: listed and read again, ``read_listed``)."""
    if files is not None:
        return _read_credit_files(files)
    table, _ = read_listed(lambda: table_files(root, "credit"), _read_credit_files)
    return table


def _read_credit_files(files: list[Path]) -> pa.Table:
    if not files:
        return CREDIT.empty_table()
    con = duckdb.connect()
    try:
        rows = con.sql(unpack_sql(f"read_parquet({files_sql(files)}, union_by_name = true, hive_partitioning = false)"))
        return conform("credit", rows.to_arrow_table(), schema=CREDIT)
    finally:
        con.close()


def _column(expr: ir.Table, table: str, field: Any) -> ir.Value:
    """The schema column ``field`` of ``expr``: cast when the files disagree, null when they all predate it."""
    dtype = ibis.dtype(field.type)
    present = expr.schema()
    if field.name not in present:
        if not field.nullable:
            raise SchemaError(f"{table}.{field.name}: required column missing from every file",
                              table=table, field=field.name)
        return ibis.null().cast(dtype).name(field.name)
    if present[field.name] != dtype:
        return expr[field.name].cast(dtype).name(field.name)
    return expr[field.name]


def _spark_read(con: Any, files: list[Path]) -> ir.Table:
    """The exact files on Spark (not the directory: a pending journal may supersede some)."""
    return _spark_view(con, con._session.read.option("mergeSchema", "true").parquet(*[str(f) for f in files]))


def _spark_view(con: Any, frame: Any) -> ir.Table:
    """A Spark DataFrame as an Ibis table, through a uniquely named temp view."""
    name = f"_lake_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)
    return con.table(name)
