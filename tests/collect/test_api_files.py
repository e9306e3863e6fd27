"""Bulk backflow files (CSV and Parquet, over HTTP and from the CLI) with reconciliation records."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.collect.conftest import IntakeServer, intake_settings, lake_rows, mint_keys, signed, wait_flushed
from typer.testing import CliRunner

from seedcart.cli import app

HEADER = ["event_id", "action", "ts", "click_id", "identifiers.phone", "order_id", "amount", "currency", "item_id"]


def csv_bytes(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


ROWS = [
    ["f1", "order", "2026-05-01T12:00:00Z", "c1", "", "o1", "1999", "CNY", "i1"],
    ["f2", "cart", "1777636800", "", "13700000000", "", "", "", "i2"],
    ["f3", "order", "2026-05-01T12:00:00Z", "c3", "", "o3", "12.50", "CNY", "i1"],  # bad amount
    ["f1", "order", "2026-05-01T12:00:00Z", "c1", "", "o1", "1999", "CNY", "i1"],  # repeated row
]


def upload(srv: IntakeServer, body: bytes, **params: Any) -> Any:
    with srv.client() as c:
        return c.post("/v1/backflow/jd/files", content=body, params=params,
                      headers=signed(srv.keys, "jd", body) | {"Content-Type": "text/csv"})


def test_csv_upload_reconciles_and_quarantines(intake_server: IntakeServer) -> None:
    r = upload(intake_server, csv_bytes(ROWS), declared_total=4, filename="jd-2026-05-01.csv")
    assert r.status_code == 200
    record = r.json()
    assert {k: record[k] for k in ("received", "accepted", "rejected", "duplicate", "declared_total")} == \
        {"received": 4, "accepted": 2, "rejected": 1, "duplicate": 1, "declared_total": 4}
    assert record["matches_declared"] is True and record["errors"] == [
        {"row": 2, "field": "amount", "reason": "amount must be an integer, got '12.50'"}]
    with intake_server.client() as c:
        wait_flushed(c)
        again = c.get(f"/v1/backflow/jd/loads/{record['load_id']}",
                      headers={"Authorization": f"Bearer {intake_server.keys.jd}"})
        assert again.json()["accepted"] == 2
        assert c.get(f"/v1/backflow/tmall/loads/{record['load_id']}",
                     headers={"Authorization": f"Bearer {intake_server.keys.tmall}"}).status_code == 404
    rows = {r["event_id"]: r for r in lake_rows(intake_server.settings, "backflow")}
    assert set(rows) == {"f1", "f2"} and rows["f1"]["load_id"] == record["load_id"]
    assert rows["f2"]["match_key"] and rows["f1"]["source"] == "file"
    quarantined = lake_rows(intake_server.settings, "quarantine")
    assert [(q["row"], q["load_id"]) for q in quarantined] == [(2, record["load_id"])]
    assert not list((intake_server.settings.data_dir / "uploads").iterdir())  # the spooled upload is gone


def test_parquet_upload(intake_server: IntakeServer) -> None:
    table = pa.table({"event_id": ["p1", "p2"], "action": ["visit", "order"], "ts": [1777636800, 1777636801],
                      "click_id": ["c1", "c2"], "order_id": [None, "o2"], "amount": [None, 500],
                      "currency": [None, "CNY"]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    r = upload(intake_server, sink.getvalue())
    assert r.status_code == 200 and (r.json()["accepted"], r.json()["format"]) == (2, "parquet")


def test_a_badly_signed_file_is_refused_and_not_kept(intake_server: IntakeServer) -> None:
    body = csv_bytes(ROWS)
    with intake_server.client() as c:
        headers = signed(intake_server.keys, "jd", body + b"tampered")
        assert c.post("/v1/backflow/jd/files", content=body, headers=headers).status_code == 401
        assert c.get("/v1/intake/health").json()["log"]["fsynced"] == 0
    assert not list((intake_server.settings.data_dir / "uploads").iterdir())


def test_cli_load_backflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = intake_settings(tmp_path)
    mint_keys(settings)
    path = tmp_path / "jd.csv"
    path.write_bytes(csv_bytes(ROWS))
    monkeypatch.setenv("SEEDCART__DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["load", "backflow", str(path), "--partner", "jd", "--declared-total", "5"])
    assert result.exit_code == 0, result.output
    import json

    record = json.loads(result.output)
    assert (record["accepted"], record["rejected"], record["duplicate"]) == (2, 1, 1)
    assert record["matches_declared"] is False  # the partner said 5 rows; the file held 4
    assert sorted(r["event_id"] for r in lake_rows(settings, "backflow")) == ["f1", "f2"]
    again = CliRunner().invoke(app, ["load", "backflow", str(path), "--partner", "jd"])
    assert json.loads(again.output)["duplicate"] == 3  # loading the same file twice stores nothing twice
    bad = CliRunner().invoke(app, ["load", "backflow", str(path), "--partner", "amazon"])
    assert bad.exit_code == 1 and "amazon" in bad.output
