"""The same lake read on Spark gives the same rows as on DuckDB (one Spark session for the module)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.lake.conftest import touch_rows

from seedcart.lake.compaction import compact
from seedcart.lake.engines import connect, spark_local_session, to_arrow
from seedcart.lake.reader import read_table
from seedcart.lake.schemas import TOUCH, schema_of
from seedcart.lake.writer import LakeWriter

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install 'seedcart[spark]'")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17 on PATH")
    session = spark_local_session(cores=1, memory="1g")
    yield session
    session.stop()


def _sorted_rows(con: Any, table: Any) -> list[tuple[Any, ...]]:
    rows = to_arrow(con, table).to_pylist()
    return sorted((tuple(r[c] for c in TOUCH.names) for r in rows), key=lambda r: r[0])


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    if len(a) != len(b):
        return False
    for left, right in zip(a, b, strict=True):
        for x, y in zip(left, right, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


def test_spark_reads_the_same_rows_as_duckdb(spark: Any, tmp_path: Path) -> None:
    lake = LakeWriter(tmp_path)
    for i in range(3):
        lake.append("touch", touch_rows(20, start=20 * i, hours=0.7))
    compact(tmp_path, "touch", min_files=2)  # merged and unmerged files alike
    lake.append("touch", touch_rows(5, start=500))
    duck, sparky = connect("duckdb"), connect("spark", spark_session=spark)
    on_duckdb = _sorted_rows(duck, read_table(duck, tmp_path, "touch"))
    on_spark = _sorted_rows(sparky, read_table(sparky, tmp_path, "touch"))
    assert len(on_duckdb) == 65
    assert _same(on_spark, on_duckdb)
    assert on_spark[0][1].tzinfo is not None  # timestamps stay UTC-aware on both


def test_an_absent_table_reads_empty_on_spark(spark: Any, tmp_path: Path) -> None:
    con = connect("spark", spark_session=spark)
    table = read_table(con, tmp_path, "backflow")
    assert to_arrow(con, table.count()).column(0).to_pylist() == [0]
    assert table.columns == tuple(f.name for f in schema_of("backflow")) or \
        list(table.columns) == [f.name for f in schema_of("backflow")]
