"""Pipeline engines behind one function: DuckDB by default, Spark when the extra is installed."""

from __future__ import annotations

import logging
import uuid
import warnings
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from seedcart.errors import ConfigError, MissingDependency
from seedcart.types import Engine

logger = logging.getLogger(__name__)


def connect(engine: Engine = "duckdb", *, threads: int | None = None, memory_limit: str | None = None,
            spark_session: Any = None) -> Any:
    """An Ibis backend for ``engine``.

    Spark sessions must run in UTC (DESIGN §3 rule 1): one passed in that does not is refused.
    """
    if engine == "duckdb":
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        con = ibis.duckdb.connect(**config)
        con.raw_sql("SET TimeZone = 'UTC'")
        return con
    if engine == "spark":
        session = spark_session if spark_session is not None else spark_local_session()
        tz = session.conf.get("spark.sql.session.timeZone")
        if tz not in ("UTC", "Etc/UTC", "+00:00", "Z"):
            raise ConfigError(f"Spark session time zone is {tz!r}; seedcart needs "
                              "spark.sql.session.timeZone=UTC", field="spark.sql.session.timeZone")
        return ibis.pyspark.connect(session)
    raise ConfigError(f"engine must be duckdb or spark, got {engine!r}", field="engine")


def to_arrow(con: Any, expr: Any) -> Any:
    """Run ``expr`` on ``con`` and return a ``pyarrow.Table``, on either engine.

    On Spark this goes through Spark's own Arrow path (``DataFrame.toArrow``), not through pandas
    as Ibis's ``to_pyarrow`` does, which keeps UTC timestamps as they are and warns about nothing.
    """
    if con.name == "pyspark":
        return con._session.sql(con.compile(expr)).toArrow()
    return expr.to_pyarrow()


def spark_local_session(cores: int = 2, memory: str = "4g") -> Any:
    """A local Spark session configured the way seedcart needs (UTC, ANSI off for Ibis)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingDependency("pyspark", "spark") from exc
    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("seedcart")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", memory)
        .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.ansi.enabled", "false")
        .getOrCreate()
    )


def _temp_name(tag: str) -> str:
    return f"_seedcart_{tag}_{uuid.uuid4().hex[:12]}"


def _duckdb_table(con: Any, name: str) -> ir.Table:
    with warnings.catch_warnings():  # Ibis 12 reads the schema with a call DuckDB 2 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        return con.table(name)


def register_arrow(con: Any, data: pa.Table, tag: str) -> ir.Table:
    """An Arrow table as an Ibis table bound to ``con`` (a DuckDB registered table or a Spark temp view).

    Bound, not an ``ibis.memtable``: a memtable mixed with a backend's tables is refused by Ibis.
    """
    name = _temp_name(tag)
    if con.name == "duckdb":
        con.con.register(name, data)
        return _duckdb_table(con, name)
    con._session.createDataFrame(data).createOrReplaceTempView(name)  # Spark 4 takes Arrow tables as they are
    return con.table(name)


def copy_arrow(con: Any, data: pa.Table, tag: str) -> ir.Table:
    """An Arrow table copied into the engine (a DuckDB temp table, spilled under its memory limit like
    its own; a cached Spark DataFrame), so the caller may drop ``data``: :func:`register_arrow` reads
    the Arrow table where it is, for as long as the Ibis table is used."""
    if con.name != "duckdb":
        return register_arrow(con, data, tag).cache()
    name, arrow = _temp_name(tag), _temp_name(f"{tag}_arrow")
    con.con.register(arrow, data)
    try:
        con.con.execute(f'CREATE TEMP TABLE "{name}" AS SELECT * FROM "{arrow}"')
    finally:
        con.con.unregister(arrow)
    return _duckdb_table(con, name)
