"""The credit table's stored layout: long rows in, one row per (event, touch) on disk, the same long rows out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seedcart.lake import reader
from seedcart.lake.credit import pack_arrow, unpack, unpack_sql
from seedcart.lake.engines import connect
from seedcart.lake.reader import read_credit, read_table, table_files
from seedcart.lake.schemas import CREDIT, CREDIT_STORED, conform
from seedcart.lake.writer import LakeWriter

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
KEY = ["model", "partner", "event_id", "touch_event_id"]


def _row(event: str, touch: str, model: str, credit: float, *, action: str = "order", amount: int | None = 1000,
         credited: float | None = None, day: int = 0) -> dict[str, Any]:
    ts = T0 + timedelta(days=day)
    return {"partner": "tmall", "event_id": event, "action": action, "ts": ts, "brand_id": 1, "product_id": 2,
            "order_id": f"o-{event}", "touch_event_id": touch, "touch_ts": ts - timedelta(hours=1),
            "touch_kind": "read", "note_id": f"n-{touch}", "campaign_id": None, "placement": "feed",
            "user_id": "u1", "match": "identity", "model": model, "credit": credit, "weight": 2.0, "amount": amount,
            "credited_amount": credited if credited is not None or amount is None else credit * amount,
            "lag_s": 3600}


def _long_rows() -> pa.Table:
    rows = [
        # two touches, every model crediting both, with values that are not round
        *(_row("e1", t, m, c) for m in ("linear", "time_decay", "markov", "shapley", "position_based")
          for t, c in (("t1", 0.1 + 0.2), ("t2", 1 - (0.1 + 0.2)))),
        _row("e1", "t2", "last_touch", 1.0), _row("e1", "t1", "first_touch", 1.0),
        # a path model giving a touch no credit: a row of 0.0, kept
        _row("e2", "t3", "markov", 0.0), _row("e2", "t3", "linear", 1.0),
        # no amount: credit without a credited amount
        _row("e3", "t4", "linear", 1.0, amount=None),
        # a refund: its credited amount is not credit x amount
        _row("r1", "t1", "linear", -0.15, action="refund", amount=500, credited=-150.0, day=1),
    ]
    return conform("credit", pa.Table.from_pylist(rows), schema=CREDIT)


def _sorted(table: pa.Table) -> list[dict[str, Any]]:
    return table.sort_by([(k, "ascending") for k in KEY]).to_pylist()


def test_stored_rows_hold_each_pair_once_and_give_back_the_exact_long_rows() -> None:
    long = _long_rows()
    stored = pack_arrow(long)
    assert stored.schema == CREDIT_STORED
    assert stored.num_rows == 5  # (e1, t1), (e1, t2), (e2, t3), (e3, t4), (r1, t1): one row per pair
    e1t1 = next(r for r in stored.to_pylist() if (r["event_id"], r["touch_event_id"]) == ("e1", "t1"))
    assert e1t1["credit_linear"] == 0.1 + 0.2 and e1t1["credit_last_touch"] is None
    con = duckdb.connect()
    con.register("stored", stored)
    by_sql = conform("credit", con.sql(unpack_sql("stored")).to_arrow_table(), schema=CREDIT)
    by_ibis = conform("credit", unpack(ibis.memtable(stored)).to_pyarrow(), schema=CREDIT)
    assert _sorted(by_sql) == _sorted(long)  # exact: values are carried, not recomputed
    assert _sorted(by_ibis) == _sorted(long)


def test_a_pair_credited_by_no_model_is_not_a_row() -> None:
    stored = pack_arrow(_long_rows())
    empty = {**stored.slice(0, 1).to_pylist()[0], **{f.name: None for f in CREDIT_STORED
                                                     if f.name.startswith("credit")}}
    con = duckdb.connect()
    con.register("stored", pa.Table.from_pylist([empty], schema=CREDIT_STORED))
    assert con.sql(unpack_sql("stored")).fetchall() == []


def test_the_lake_stores_pairs_and_every_reader_sees_long_rows(tmp_path: Path) -> None:
    long = _long_rows()
    LakeWriter(str(tmp_path)).append("credit", pack_arrow(long))
    files = table_files(tmp_path, "credit")
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == 5
    assert len(files) == 2  # partitioned by the event's day
    assert _sorted(read_credit(tmp_path)) == _sorted(long)
    con = connect("duckdb")
    assert _sorted(conform("credit", read_table(con, tmp_path, "credit").to_pyarrow(), schema=CREDIT)) == \
        _sorted(long)
    assert read_credit(tmp_path / "absent").num_rows == 0


def test_reading_the_credit_table_while_a_file_is_retired_lists_it_again(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    long = _long_rows()
    LakeWriter(str(tmp_path)).append("credit", pack_arrow(long))
    listings: list[int] = []

    def listing(root: str | Path, table: str) -> list[Path]:
        # the first listing names a file a rewrite retired before it could be read
        listings.append(1)
        files = table_files(root, table)
        return [*files, files[0].with_name("part-retired.parquet")] if len(listings) == 1 else files

    monkeypatch.setattr(reader, "table_files", listing)
    assert _sorted(read_credit(tmp_path)) == _sorted(long)
    assert len(listings) == 2
