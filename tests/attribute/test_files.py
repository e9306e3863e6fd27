"""Users' own data: ``seedcart attribute`` and ``attribute_tables`` on CSV and Parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from seedcart.attribute import attribute_tables
from seedcart.cli import app
from seedcart.errors import ValidationError

TOUCHES = """user_id,ts,note_id,kind,click_id
u1,2026-03-01T00:00:00Z,A,impression,
u1,2026-03-02T00:00:00+00:00,B,like,
u1,2026-03-03T00:00:00,C,link_click,c1
u2,2026-03-01T00:00:00Z,D,read,
"""
CONVERSIONS = """event_id,user_id,ts,action,amount,click_id
e1,u1,1772582400000,order,1000,
e2,u2,2026-03-04T00:00:00Z,order,500,c1
e3,u2,2026-03-04T00:00:00Z,order,500,
"""


def _write(tmp_path: Path) -> tuple[Path, Path]:
    t, c = tmp_path / "touches.csv", tmp_path / "conversions.csv"
    t.write_text(TOUCHES)
    c.write_text(CONVERSIONS)
    return t, c


def test_the_cli_writes_one_row_per_credited_event_and_touch(tmp_path: Path) -> None:
    t, c = _write(tmp_path)
    out = tmp_path / "credit.csv"
    result = CliRunner().invoke(app, ["attribute", "--touches", str(t), "--conversions", str(c), "--model", "linear",
                                      "--model", "last_touch", "--lookback-view", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["models"] == ["last_touch", "linear"]
    rows = pacsv.read_csv(out).to_pylist()
    assert list(rows[0])[:6] == ["event_id", "note_id", "model", "credit", "amount", "lag_s"]
    linear = {(r["event_id"], r["note_id"]): r["credit"] for r in rows if r["model"] == "linear"}
    # e1 (epoch ms = 2026-03-04): views never count (lookback 0), so the like and the click split it.
    # e2 carries the click id of u1's click: all to C. e3 (u2) has only a view: nothing.
    assert linear == {("e1", "B"): 0.5, ("e1", "C"): 0.5, ("e2", "C"): 1.0}


def test_parquet_in_and_out_with_brands(tmp_path: Path) -> None:
    touches = pa.table({"user_id": ["u1", "u1"], "ts": [0, 1000], "note_id": ["A", "B"],
                        "kind": ["impression", "impression"], "click_id": [None, None], "brand": ["x", "y"]})
    conversions = pa.table({"event_id": ["e1"], "match_key": ["u1"], "ts": [5000], "action": ["order"],
                            "amount": [10], "click_id": [None], "brand": ["y"]})
    pq.write_table(touches, tmp_path / "t.parquet")
    pq.write_table(conversions, tmp_path / "c.parquet")
    result = CliRunner().invoke(app, ["attribute", "--touches", str(tmp_path / "t.parquet"), "--conversions",
                                      str(tmp_path / "c.parquet"), "--out", str(tmp_path / "o.parquet")])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert {(r["model"], r["note_id"], r["credit"], r["lag_s"]) for r in rows} == {
        (m, "B", 1.0, 4) for m in ("last_touch", "first_touch", "linear", "position_based", "time_decay",
                                   "markov", "shapley")}


def test_bad_input_names_the_field(tmp_path: Path) -> None:
    t, c = _write(tmp_path)
    (tmp_path / "bad.csv").write_text("event_id,ts,action\ne1,yesterday,order\n")
    with pytest.raises(ValidationError) as err:
        attribute_tables(pacsv.read_csv(t), pacsv.read_csv(tmp_path / "bad.csv"))
    assert err.value.field == "conversions.user_id"
    result = CliRunner().invoke(app, ["attribute", "--touches", str(t), "--conversions", str(c), "--out",
                                      str(tmp_path / "o.csv"), "--model", "nope"])
    assert result.exit_code == 1
    assert json.loads(result.output)["field"] == "model"
