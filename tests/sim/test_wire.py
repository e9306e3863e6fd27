"""Wire exports: Segment batches and partner backflow files, malformed rows counted."""

from __future__ import annotations

import csv
import io

import orjson
import pyarrow.compute as pc
from tests.sim.worlds import SECRET, SmallWorld

from seedcart.matchkey import match_key
from seedcart.sim.wire import backflow_rows, by_partner, segment_batches, segment_messages, to_csv, to_json, to_ndjson


def test_segment_batches_carry_track_events(clean_world: SmallWorld) -> None:
    touch = clean_world.tables["touch"].slice(0, 3000)
    export = segment_messages(touch)
    assert export.malformed == 0
    sent = touch.filter(pc.and_(pc.not_equal(touch.column("kind"), "deep_read"), pc.invert(touch.column("is_bot"))))
    assert len(export.rows) == sent.num_rows
    batches = list(segment_batches(export, batch_size=100))
    assert sum(len(b["batch"]) for b in batches) == len(export.rows)
    first = batches[0]["batch"][0]
    assert first["type"] == "track" and first["event"].startswith("note_")
    assert first["messageId"] == sent.column("event_id")[0].as_py()
    assert first["timestamp"].endswith("Z") and "note_id" in first["properties"]
    reads = [m for m in export.rows if m["event"] == "note_read"]
    assert reads and all(("dwell_ms" in m["properties"]) != ("watch_ratio" in m["properties"]) for m in reads)


def test_malformed_rows_are_counted_and_located(clean_world: SmallWorld) -> None:
    export = segment_messages(clean_world.tables["touch"].slice(0, 2000), malformed=0.05, seed=1)
    assert 0 < export.malformed == len(export.bad_rows)
    good = [m for i, m in enumerate(export.rows) if i not in set(export.bad_rows)]
    assert all("messageId" in m and m["event"] != "note_teleport" for m in good)
    back = backflow_rows(clean_world.tables["backflow"], malformed=0.05, seed=1)
    assert 0 < back.malformed == len(back.bad_rows)
    assert any(back.rows[i].get("action") == "teleport" for i in back.bad_rows)


def test_backflow_rows_render_as_json_ndjson_and_csv(clean_world: SmallWorld) -> None:
    partners = by_partner(clean_world.tables["backflow"])
    assert set(partners) == {"tmall", "taobao", "jd", "pdd", "vip", "wechat_mp"}
    jd = partners["jd"]
    export = backflow_rows(jd, world=clean_world.world, raw_identifiers=0.5, seed=2)
    rows = export.rows
    assert len(rows) == jd.num_rows and export.malformed == 0
    assert orjson.loads(to_json(rows)) == rows
    assert [orjson.loads(line) for line in to_ndjson(rows).splitlines()] == rows
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows).decode())))
    assert [r["event_id"] for r in parsed] == [r["event_id"] for r in rows]
    # Raw identifiers hash to the match key the lake row carries.
    keys = dict(zip(jd.column("event_id").to_pylist(), jd.column("match_key").to_pylist(), strict=True))
    raw = [r for r in rows if "identifiers" in r]
    assert raw
    for row in raw[:50]:
        (kind, value), = row["identifiers"].items()
        assert match_key(SECRET, kind, value) == keys[row["event_id"]]
    orders = [r for r in rows if r["action"] == "order"]
    assert orders and all(isinstance(r["amount"], int) and r["currency"] == "CNY" for r in orders)
