"""One pipeline, two engines: the same world through DuckDB and Spark gives the same credit table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from tests.attribute.worlds import random_world

from seedcart.attribute import AttributionConfig, attribute_arrow
from seedcart.lake.engines import connect, register_arrow

pytestmark = [pytest.mark.spark, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:The .future.infer_string. option is deprecated")]

KEY = ["model", "partner", "event_id", "touch_event_id"]


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
