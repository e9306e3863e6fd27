"""Log records into Arrow tables of a lake schema without a Python object per value.

The flush worker used to decode every log entry with orjson and build Arrow arrays from the dicts
(``pa.Table.from_pylist``): about 7 us of CPU per touch, most of the worker's time under load
(py-spy, ``benchmarks/intake.py``). Here the records' JSON arrays, as the log holds them
(:func:`seedcart.collect.log.iter_raw_entries`), are joined into one array and

1. *checked* by msgspec against a struct made from the lake schema: every value must have the
   column's JSON type (a string for a string column, an integer within int64 for an integer or
   timestamp column, true/false for a boolean, a number for a double), as ``from_pylist`` demands;
   keys the schema lacks are ignored, as ``from_pylist`` ignores them;
2. *converted* by DuckDB's JSON reader (C++), with the schema's columns given, from an anonymous
   in-memory file (``memfd``; a temporary file where there is none).

DuckDB alone would not do: it converts leniently (``"12"`` or ``1.5`` into an integer column), where
the lake refuses such a record into quarantine; step 1 is what makes the two ways agree. Whenever
either step or the schema's own checks (:func:`seedcart.lake.schemas.conform`) refuse, :func:`read`
answers None and the caller takes the record-by-record way (``seedcart.lake.ingest.to_arrow``), which
finds and quarantines the records that do not fit. ``tests/lake/test_jsonrows.py`` proves both ways
give equal tables.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import pyarrow as pa

from seedcart.errors import SchemaError
from seedcart.lake.schemas import conform, schema_of

_I64 = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]


def _check_type(dtype: pa.DataType) -> Any:
    """The Python type msgspec checks a column's JSON values against (None: a type this way does not take)."""
    if pa.types.is_int64(dtype) or pa.types.is_timestamp(dtype):
        return _I64
    if pa.types.is_string(dtype):
        return str
    if pa.types.is_boolean(dtype):
        return bool
    if pa.types.is_float64(dtype):
        return float
    return None


def _sql_type(dtype: pa.DataType) -> str:
    """The DuckDB type the JSON reader converts a column to (timestamps arrive as integer microseconds)."""
    if pa.types.is_int64(dtype) or pa.types.is_timestamp(dtype):
        return "BIGINT"
    if pa.types.is_string(dtype):
        return "VARCHAR"
    if pa.types.is_boolean(dtype):
        return "BOOLEAN"
    return "DOUBLE"


class _Plan:
    """How one table's records are checked and converted."""

    def __init__(self, table: str) -> None:
        self.schema = schema_of(table)
        types = {f.name: _check_type(f.type) for f in self.schema}
        self.usable = all(t is not None for t in types.values())
        row = msgspec.defstruct(f"_{table}_row", [(name, t | None, None) for name, t in types.items()],
                                gc=False, forbid_unknown_fields=False)
        self.check = msgspec.json.Decoder(list[row])  # type: ignore[valid-type]
        columns = ", ".join(f"{_quote_str(f.name)}: '{_sql_type(f.type)}'" for f in self.schema)
        self.columns = "{" + columns + "}"


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def join_arrays(arrays: list[bytes]) -> bytes:
    """One JSON array of the records of several (each a JSON array, as the log holds them), copied once."""
    parts: list[bytes | memoryview] = []
    for raw in arrays:
        array = raw if raw.startswith(b"[") and raw.endswith(b"]") else raw.strip()
        if len(array) <= 2 or (array[1] in b" \t\r\n" and not array[1:-1].strip()):
            continue  # an empty array (the log writes them compact: only the rare spaced one is copied)
        parts.append(memoryview(array)[1:-1])
    return b"[" + b",".join(parts) + b"]"


class RecordsReader:
    """Converts runs of log records into Arrow tables (one DuckDB connection, made when first needed)."""

    def __init__(self) -> None:
        self._plans: dict[str, _Plan] = {}
        self._con: Any = None
        self._lock = threading.Lock()

    def read(self, table: str, arrays: list[bytes]) -> pa.Table | None:
        """The records of ``arrays`` as an Arrow table of ``table``'s lake schema (conformed), or None
        when some record does not fit it (the caller then takes the record-by-record way)."""
        plan = self._plans.get(table)
        if plan is None:
            plan = self._plans[table] = _Plan(table)
        if not plan.usable:
            return None
        data = join_arrays(arrays)
        try:
            count = len(plan.check.decode(data))
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            return None
        if count == 0:
            return conform(table, plan.schema.empty_table())
        with self._lock, _memory_file(data) as path:
            con = self._connection()
            try:
                got = con.sql(f"SELECT * FROM read_json({_quote_str(path)}, format='array', "
                              f"columns={plan.columns})").to_arrow_table()
            except Exception:  # duckdb raises several kinds; the record-by-record way decides
                return None
        if got.num_rows != count:
            return None
        try:  # integer microseconds cast to the timestamp columns, required columns checked
            return conform(table, got)
        except (SchemaError, pa.ArrowInvalid, pa.ArrowTypeError):
            return None

    def _connection(self) -> Any:
        if self._con is None:
            import duckdb

            # one thread: the flush worker shares the machine with the server taking requests
            self._con = duckdb.connect(config={"threads": 1, "memory_limit": "1GB"})
        return self._con

    def close(self) -> None:
        """Close the DuckDB connection (a later read opens another)."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A path DuckDB can open that holds ``data``: an anonymous in-memory file where Linux has them,
    else a temporary file, removed afterwards."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and os.path.isdir("/proc/self/fd"):
        fd = memfd_create("seedcart-records", getattr(os, "MFD_CLOEXEC", 0))
        try:
            _write_all(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="seedcart-records-", suffix=".json")
    try:
        _write_all(fd, data)
        os.close(fd)
        fd = -1
        yield path
    finally:
        if fd >= 0:
            os.close(fd)
        os.unlink(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
