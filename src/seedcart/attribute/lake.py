"""The credit table of the lake, rebuilt from the lake's touch, backflow and identity tables.

On DuckDB the credit rows never come into Python: the engine writes them with ``COPY ... TO``
as Parquet partitioned by UTC date into a hidden staging directory of the table, and each
partition then switches to its new file under the lake's replacement journals (the same
protocol as ``LakeWriter.replace_table``: readers never see both old and new rows). Other
engines go through Arrow and ``LakeWriter.replace_table``.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from seedcart.attribute.config import AttributionConfig, config_from_settings
from seedcart.attribute.fast import planned_as_written
from seedcart.attribute.pathstore import PathStore
from seedcart.attribute.pipeline import attribute_arrow, stored_parts
from seedcart.config import Settings
from seedcart.lake import journal
from seedcart.lake.credit import pack_arrow
from seedcart.lake.engines import connect
from seedcart.lake.reader import read_table
from seedcart.lake.schemas import CREDIT_COMPRESSION, CREDIT_STORED
from seedcart.lake.writer import LakeWriter, ensure_dir, fsync_dir, partition_dir
from seedcart.types import Engine, Model

logger = logging.getLogger(__name__)

#: DuckDB settings of a rebuild: both cores, no ordering promise (lets operators stream), a memory
#: cap with spilling to a temp directory under the data dir. The path solve's arrays are outside the
#: cap: at 100M touches a 4 GB cap peaked at 7.35 GB for the whole process (``benchmarks.attribution``).
DUCKDB_THREADS = 2
DUCKDB_MEMORY_LIMIT = "4GB"


def _tune_duckdb(con: Any, settings: Settings) -> None:
    spill = Path(settings.resolved_lake_root).parent / "tmp" / "duckdb-spill"
    spill.mkdir(parents=True, exist_ok=True)
    for statement in (f"SET threads = {DUCKDB_THREADS}", f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'",
                      "SET preserve_insertion_order = false", f"SET temp_directory = '{spill}'"):
        con.raw_sql(statement)


def open_inputs(settings: Settings, catalog: Any, engine: Engine | None, models: tuple[Model, ...] | None,
                con: Any) -> tuple[Any, ir.Table, ir.Table, ir.Table, AttributionConfig]:
    """The engine connection (tuned for DuckDB), the lake's touch, backflow and identity tables, the config."""
    config = config_from_settings(settings, catalog, models=models)
    con = con if con is not None else connect(engine or settings.engine)
    if con.name == "duckdb":
        _tune_duckdb(con, settings)
    root = settings.resolved_lake_root
    touches, events, identity = (read_table(con, root, name) for name in ("touch", "backflow", "identity"))
    return con, touches, events, identity, config


def compute_credit(settings: Settings, catalog: Any = None, *, engine: Engine | None = None,
                   models: tuple[Model, ...] | None = None, con: Any = None) -> pa.Table:
    """The credit table computed from the lake under ``settings`` (nothing written)."""
    con, touches, events, identity, config = open_inputs(settings, catalog, engine, models, con)
    return attribute_arrow(touches, events, identity, config)


#: DuckDB type of each Arrow type of the credit schema (explicit casts: a float literal such as
#: a single-touch model's 1.0 would otherwise be written as DECIMAL).
DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE",
                pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ"}


def credit_sql(expr: ir.Table) -> str:
    """DuckDB SQL of stored credit rows (:func:`~seedcart.attribute.pipeline.stored_parts`) in the
    stored schema's columns and types, plus ``date``."""
    inner = str(ibis.to_sql(expr.select(*[f.name for f in CREDIT_STORED]), dialect="duckdb"))
    columns = ", ".join(f'CAST("{f.name}" AS {DUCKDB_TYPES[f.type]}) AS "{f.name}"' for f in CREDIT_STORED)
    return f"SELECT {columns}, strftime(\"ts\", '%Y-%m-%d') AS \"date\" FROM ({inner}) AS _credit"


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_credit(con: Any, parts: list[ir.Table], root: str | Path) -> int:
    """Write the stored credit parts with one DuckDB ``COPY`` each and swap them in as the lake's credit
    table; returns the stored rows written (one per credited event and touch)."""
    directory = Path(root) / "credit"
    ensure_dir(directory)
    staging = directory / f".rebuild-{uuid.uuid4().hex}"
    rows = 0
    try:
        staging.mkdir()
        with planned_as_written(parts):
            for number, part in enumerate(parts):
                result = con.con.execute(
                    f"COPY ({credit_sql(part)}) TO '{staging / str(number)}' "
                    f"(FORMAT parquet, COMPRESSION {CREDIT_COMPRESSION}, PARTITION_BY (date))").fetchall()
                rows += int(result[0][0]) if result and result[0] else 0
        staged: dict[str, list[Path]] = {}
        for part_dir in sorted(staging.glob("*/date=*")):
            files = sorted(part_dir.glob("*.parquet"))
            for f in files:
                fsync_file(f)
            staged.setdefault(part_dir.name, []).extend(files)
        _swap(Path(root), directory, staged)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows


def stage_replacement(partition: Path, inputs: list[str], files: list[Path]) -> journal.Txn:
    """Journal the swap of a partition's ``inputs`` (names) for the fsynced ``files`` and move them in
    (the commit point); the caller holds the table lock and calls ``journal.finish`` on the result."""
    ensure_dir(partition)
    outputs = [f"part-{uuid.uuid4().hex}.parquet" for _ in files]
    txn = journal.begin(partition, kind="replace", inputs=inputs, outputs=outputs)
    for source, target in zip(files, outputs, strict=True):
        os.replace(source, partition / target)
    fsync_dir(partition)
    return txn


def _swap(root: Path, directory: Path, staged: dict[str, list[Path]]) -> None:
    """Each partition from its old files to the staged ones, under replacement journals."""
    with journal.table_lock(root, "credit"):
        partitions = sorted(p for p in directory.glob("date=*") if p.is_dir())
        for partition in partitions:
            journal.recover(partition)
        old = {p.name: [f.name for f in journal.visible_files(p)] for p in partitions}
        txns = [stage_replacement(partition_dir(root, "credit", name.removeprefix("date=")), old.pop(name, []), files)
                for name, files in staged.items()]
        for name, files_old in old.items():  # partitions the new credit no longer has
            if files_old:
                txns.append(journal.begin(directory / name, kind="replace", inputs=files_old, outputs=[]))
        for txn in txns:
            journal.finish(txn)


def rebuild_credit(settings: Settings, catalog: Any = None, *, engine: Engine | None = None,
                   models: tuple[Model, ...] | None = None, paths: PathStore | None = None) -> int:
    """Recompute the whole credit table from the lake and replace it; returns its stored row count
    (credited event and touch pairs).

    ``paths``: where to save the path models' solve for incremental passes (DuckDB only).
    """
    con, touches, events, identity, config = open_inputs(settings, catalog, engine, models, None)
    if con.name == "duckdb":
        parts = stored_parts(touches, events, identity, config, paths=paths)
        rows = copy_credit(con, parts, settings.resolved_lake_root)
    else:
        table = pack_arrow(attribute_arrow(touches, events, identity, config))
        LakeWriter(settings.resolved_lake_root).replace_table("credit", table)
        rows = table.num_rows
    logger.info("rebuilt credit: %d stored rows (one per credited event and touch)", rows)
    return int(rows)
