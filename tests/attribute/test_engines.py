"""One pipeline, two engines: the same world through DuckDB and Spark gives the same credit table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from tests.attribute.worlds import random_world

from seedcart.attribute import AttributionConfig, attribute_arrow
from seedcart.attribute.pipeline import stored_parts
from seedcart.lake.engines import connect, register_arrow
from seedcart.lake.schemas import conform

pytestmark = [pytest.mark.spark, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:The .future.infer_string. option is deprecated")]

KEY = ["model", "partner", "event_id", "touch_event_id"]
PAIR = ["partner", "event_id", "touch_event_id", "match"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="needs the spark extra: pip install 'seedcart[spark]'")
    from seedcart.lake.engines import spark_local_session

    session = spark_local_session(cores=2, memory="1g")
    yield session
    session.stop()


def _run(con: Any, world: tuple[pa.Table, pa.Table, pa.Table], config: AttributionConfig) -> pa.Table:
    t, e, i = (register_arrow(con, table, name) for table, name in zip(world, ("t", "e", "i"), strict=True))
    return attribute_arrow(t, e, i, config).sort_by([(k, "ascending") for k in KEY])


def test_duckdb_and_spark_give_the_same_credit_table(spark: Any) -> None:
    world = random_world(seed=3)
    config = AttributionConfig(category_lookback={"beauty": __import__("datetime").timedelta(days=3)})
    duck = _run(connect("duckdb"), world, config)
    sparked = _run(connect("spark", spark_session=spark), world, config)
    assert duck.num_rows == sparked.num_rows > 100
    assert set(duck["model"].to_pylist()) == set(sparked["model"].to_pylist())
    for name in duck.column_names:
        left, right = duck[name].to_pylist(), sparked[name].to_pylist()
        if pa.types.is_floating(duck.schema.field(name).type):
            assert left == pytest.approx(right, rel=1e-9, abs=1e-12), name
        else:
            assert left == right, name


def _stored(con: Any, world: tuple[pa.Table, pa.Table, pa.Table], config: AttributionConfig) -> pa.Table:
    t, e, i = (register_arrow(con, table, name) for table, name in zip(world, ("t", "e", "i"), strict=True))
    parts = stored_parts(t, e, i, config)
    table = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
    return conform("credit", table.to_pyarrow()).sort_by([(k, "ascending") for k in PAIR])


def test_duckdb_and_spark_store_the_same_rows(spark: Any) -> None:
    """The lake's layout (one row per credited event and touch): DuckDB computes it directly, Spark packs
    the portable form's long rows; the files would be the same."""
    world = random_world(seed=4)
    config = AttributionConfig()
    duck = _stored(connect("duckdb"), world, config)
    sparked = _stored(connect("spark", spark_session=spark), world, config)
    assert duck.num_rows == sparked.num_rows > 50
    for name in duck.column_names:
        left, right = duck[name].to_pylist(), sparked[name].to_pylist()
        if pa.types.is_floating(duck.schema.field(name).type):
            assert [v is None for v in left] == [v is None for v in right], name
            assert [v for v in left if v is not None] == \
                pytest.approx([v for v in right if v is not None], rel=1e-9, abs=1e-12), name
        else:
            assert left == right, name
