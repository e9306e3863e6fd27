"""Incremental crediting: passes over new files give the rows a full rebuild gives, day files stay few."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests.attribute.helpers import at, event, tables, touch
from tests.attribute.worlds import random_world

from seedcart.attribute import compute_credit, incremental
from seedcart.attribute.pathsolve import SEP, solve_summary
from seedcart.attribute.pathstore import PathStore
from seedcart.attribute.service import AttributionService, delta_of, list_inputs
from seedcart.config import Settings
from seedcart.lake.compaction import compact, compacted_from
from seedcart.lake.reader import read_credit, table_files
from seedcart.lake.writer import LakeWriter

PER_EVENT = ("last_touch", "first_touch", "linear", "position_based", "time_decay")
KEY = ["model", "partner", "event_id", "touch_event_id"]


def _lake(settings: Settings) -> pa.Table:
    return read_credit(settings.resolved_lake_root)


def _rows(table: pa.Table, models: tuple[str, ...]) -> list[dict[str, Any]]:
    table = table.filter(pc.is_in(table["model"], pa.array(models)))
    return table.sort_by([(k, "ascending") for k in KEY]).to_pylist()


def _assert_same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [tuple(r[k] for k in KEY) for r in got] == [tuple(r[k] for k in KEY) for r in want]
    for mine, theirs in zip(got, want, strict=True):
        for name, value in theirs.items():
            if isinstance(value, float):
                assert mine[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, theirs)
            else:
                assert mine[name] == value, (name, theirs)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Incremental passes however many events they re-credit (these worlds are small)."""
    settings.attribution.incremental_max_share = 1.0
    return settings


def _split(table: pa.Table, mask: pa.Array) -> tuple[pa.Table, pa.Table]:
    return table.filter(mask), table.filter(pc.invert(mask))


@pytest.mark.parametrize("seed", [3, 11])
def test_incremental_passes_give_what_a_full_rebuild_gives(settings: Settings, seed: int) -> None:
    touches, events, identity = random_world(seed=seed, users=20, touches=300, events=60)
    writer = LakeWriter(settings.resolved_lake_root)
    cut = pa.scalar(at(16), pa.timestamp("us", tz="UTC"))
    early_t, late_t = _split(touches, pc.less(touches["ts"], cut))
    early_e, late_e = _split(events, pc.less(events["ts"], cut))
    refunds = pc.equal(late_e["action"], "refund")
    late_refunds, late_orders = _split(late_e, refunds)
    some_ids, more_ids = identity.slice(0, 14), identity.slice(14)
    writer.append("touch", early_t)
    writer.append("backflow", early_e)
    writer.append("identity", some_ids)
    service = AttributionService(settings)
    assert service.run_once() and service.last_kind == "full"
    steps = [("backflow", late_orders),  # new orders, some on clicks recorded long ago
             ("touch", late_t),  # late touches: before events already credited
             ("identity", more_ids),  # match keys that gain their users
             ("backflow", late_refunds),  # refunds and the duplicate delivery
             ("backflow", early_e.slice(0, 3))]  # a partner re-sending rows already credited
    for table, data in steps:
        writer.append(table, data)
        assert service.run_once(), table
        assert service.last_kind == "incremental" and service.last_events, table
        _assert_same(_rows(_lake(settings), PER_EVENT), _rows(compute_credit(settings), PER_EVENT))
        lake = _lake(settings)
        for model in ("markov", "shapley"):  # every credited order is credited once under the path models
            orders = lake.filter(pc.and_(pc.equal(lake["model"], model), pc.equal(lake["action"], "order")))
            per_event = orders.group_by("event_id").aggregate([("credit", "sum")])
            assert pc.all(pc.less(pc.abs(pc.subtract(per_event["credit_sum"], 1.0)), 1e-9)).as_py(), model
            credited = lake.filter(pc.and_(pc.equal(lake["model"], "linear"), pc.equal(lake["action"], "order")))
            assert set(per_event["event_id"].to_pylist()) == set(credited["event_id"].to_pylist())
    assert not service.run_once()  # nothing new
    settings.attribution.full_every = timedelta(0)  # the next change brings a full pass: all models equal
    writer.append("touch", tables([touch("late", at(1), "n1")], [])[0])
    assert service.run_once() and service.last_kind == "full"
    everything = ("markov", "shapley", *PER_EVENT)
    _assert_same(_rows(_lake(settings), everything), _rows(compute_credit(settings), everything))


def test_a_late_touch_recredits_only_the_events_it_falls_before(settings: Settings) -> None:
    writer = LakeWriter(settings.resolved_lake_root)
    t, e, i = tables([touch("t1", at(3), "A"), touch("t9", at(3), "Z", user="u2")],
                     [event("e1", at(5)), event("e2", at(30)), event("e3", at(5), key="k2")])
    for name, data in (("touch", t), ("backflow", e), ("identity", i)):
        writer.append(name, data)
    service = AttributionService(settings)
    assert service.run_once() and service.last_kind == "full"
    writer.append("touch", tables([touch("t0", at(1), "B")], [])[0])  # u1, before e1 only (e2 is 29 days on)
    assert service.run_once() and service.last_kind == "incremental"
    assert service.last_events == 1
    linear = _lake(settings).filter(pc.equal(_lake(settings)["model"], "linear")).to_pylist()
    assert {r["touch_event_id"] for r in linear if r["event_id"] == "e1"} == {"t0", "t1"}
    assert {r["touch_event_id"] for r in linear if r["event_id"] == "e3"} == {"t9"}


def test_a_change_to_most_events_gives_way_to_a_full_pass(settings: Settings) -> None:
    settings.attribution.incremental_max_share = 0.5
    writer = LakeWriter(settings.resolved_lake_root)
    t, e, i = tables([touch("t1", at(3), "A")], [event("e1", at(5)), event("e2", at(6))])
    for name, data in (("touch", t), ("backflow", e), ("identity", i)):
        writer.append(name, data)
    service = AttributionService(settings)
    assert service.run_once() and service.last_kind == "full"
    writer.append("backflow", tables([], [event("e3", at(7))])[1])  # 1 of 3 events
    assert service.run_once() and service.last_kind == "incremental"
    writer.append("touch", tables([touch("t0", at(2), "B")], [])[0])  # before all 3
    assert service.run_once() and service.last_kind == "full" and service.full_runs == 2
    linear = _lake(settings).filter(pc.equal(_lake(settings)["model"], "linear")).to_pylist()
    assert {r["touch_event_id"] for r in linear if r["event_id"] == "e3"} == {"t0", "t1"}


def test_live_traffic_leaves_each_day_in_few_files_and_rewrites_no_big_one(settings: Settings,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    writer = LakeWriter(settings.resolved_lake_root)
    t, e, i = tables([touch(f"t{n}", at(n / 10), "A") for n in range(20)],
                     [event(f"old{n}", at(2.5, seconds=-n)) for n in range(50)])
    for name, data in (("touch", t), ("backflow", e), ("identity", i)):
        writer.append(name, data)
    service = AttributionService(settings)
    service.run_once()
    day = Path(settings.resolved_lake_root) / "credit" / f"date={at(2.5).date().isoformat()}"
    (big,) = day.glob("*.parquet")
    monkeypatch.setattr(incremental, "SMALL_FILE_BYTES", big.stat().st_size)  # the full pass's file is big
    counts = []
    for n in range(1, 16):  # new orders, one per pass
        writer.append("backflow", tables([], [event(f"e{n}", at(2.5, seconds=n))])[1])
        assert service.run_once() and service.last_kind == "incremental"
        counts.append(len(list(day.glob("*.parquet"))))
        assert big.exists()  # new events alone never rewrite it
    assert max(counts) == incremental.SMALL_FILES_TO_MERGE and min(counts[8:]) < max(counts)  # merged, and again
    assert not list(day.glob("_txn-*")) and not list((day.parent).glob(".recredit-*"))
    events = set(_lake(settings).filter(pc.equal(_lake(settings)["model"], "linear"))["event_id"].to_pylist())
    assert events == {f"e{n}" for n in range(1, 16)} | {f"old{n}" for n in range(50)}
    _assert_same(_rows(_lake(settings), PER_EVENT), _rows(compute_credit(settings), PER_EVENT))

    writer.append("touch", tables([touch("late", at(2.4), "B")], [])[0])  # a late touch before every event
    assert service.run_once() and service.last_kind == "incremental"
    assert not big.exists()  # old rows to replace: the big file is rewritten
    _assert_same(_rows(_lake(settings), PER_EVENT), _rows(compute_credit(settings), PER_EVENT))


def test_a_changed_or_removed_input_file_asks_for_a_full_pass(settings: Settings) -> None:
    writer = LakeWriter(settings.resolved_lake_root)
    t, e, i = tables([touch("t1", at(3), "A")], [event("e1", at(5))])
    for name, data in (("touch", t), ("backflow", e), ("identity", i)):
        writer.append(name, data)
    before = list_inputs(settings.resolved_lake_root)
    writer.append("backflow", tables([], [event("e2", at(6))])[1])
    now = list_inputs(settings.resolved_lake_root)
    delta = delta_of(before, now)
    assert delta is not None and len(delta.backflow) == 1 and not delta.touch and not delta.identity
    gone = {table: dict(files) for table, files in now.items()}
    gone["touch"] = {}
    assert delta_of(now, gone) is None  # compaction retired a file: credit it all again
    assert delta_of(now, now) is not None and not delta_of(now, now)


def _summary(rows: list[tuple[int, str, list[str], float, float]]) -> pa.Table:
    return pa.table({"_bkey": [r[0] for r in rows], "action": [r[1] for r in rows],
                     "path": [SEP.join(r[2]) for r in rows], "conversions": [float(r[3]) for r in rows],
                     "non_conversions": [float(r[4]) for r in rows], "revenue": [0.0] * len(rows)})


def _shares(ids: pa.Table, shares: pa.Table) -> dict[tuple[int, str, str, str], float]:
    by_pid = {r["_pid"]: r for r in ids.to_pylist()}
    return {(by_pid[s["_pid"]]["_sbkey"], by_pid[s["_pid"]]["_spath"], s["_snote"], s["_smodel"]): s["_share"]
            for s in shares.to_pylist()}


def test_the_path_store_gives_known_paths_their_solve_and_solves_new_ones_with_their_group(tmp_path: Path) -> None:
    models = ["markov", "shapley"]
    summary = _summary([(1, "order", ["a", "b"], 3, 2), (1, "order", ["b"], 1, 4), (1, "order", ["a"], 2, 2),
                        (2, "order", ["x", "y"], 1, 1), (2, "order", ["y"], 0, 3)])
    ids, shares = solve_summary(summary, models)
    store = PathStore(tmp_path / "paths")
    store.save(summary, ids, shares, models)
    conv = pa.table({"_bkey": [1, 1, 2], "action": ["order"] * 3,
                     "path": [SEP.join(["a", "b"]), SEP.join(["b", "a", "c"]), SEP.join(["y"])],
                     "weight": [1.0, 2.0, 1.0], "amount": [10, 20, 30]})
    got = _shares(*store.shares_for(conv, models))
    full = _shares(ids, shares)
    for key, value in full.items():
        if key[1] == SEP.join(["a", "b"]):
            assert got[key] == pytest.approx(value)
    # unseen in group 1 and y (never converting) in group 2: their groups solved again with them added
    regrouped = _summary([(1, "order", ["a", "b"], 3, 2), (1, "order", ["b"], 1, 4), (1, "order", ["a"], 2, 2),
                          (1, "order", ["b", "a", "c"], 2, 0), (2, "order", ["x", "y"], 1, 1),
                          (2, "order", ["y"], 1, 3)])
    want = _shares(*solve_summary(regrouped, models))
    for path in (SEP.join(["b", "a", "c"]), "y"):
        mine = {k: v for k, v in got.items() if k[1] == path}
        theirs = {k: v for k, v in want.items() if k[1] == path}
        assert mine.keys() == theirs.keys() and mine
        for key, value in theirs.items():
            assert mine[key] == pytest.approx(value, rel=1e-12)


def _credited_world(settings: Settings) -> tuple[LakeWriter, AttributionService]:
    writer = LakeWriter(settings.resolved_lake_root)
    t, e, i = tables([touch("t1", at(3), "A"), touch("t2", at(4), "B")], [event("e1", at(5))])
    for name, data in (("touch", t), ("backflow", e), ("identity", i)):
        writer.append(name, data)
    service = AttributionService(settings)
    assert not service.resumed and service.run_once() and service.last_kind == "full"
    return writer, service


def test_a_restarted_server_resumes_and_credits_what_came_meanwhile_incrementally(settings: Settings) -> None:
    writer, _before = _credited_world(settings)
    restarted = AttributionService(settings)  # a new process: nothing but the data dir in common
    assert restarted.resumed
    assert not restarted.run_once()  # nothing came while it was down: no pass at all
    writer.append("backflow", tables([], [event("e2", at(6)), event("e3", at(7))])[1])
    writer.append("touch", tables([touch("t0", at(2), "C")], [])[0])  # late: before every event
    again = AttributionService(settings)
    assert again.resumed and again.run_once()
    assert again.last_kind == "incremental" and again.last_events == 3 and again.full_runs == 0
    _assert_same(_rows(_lake(settings), PER_EVENT), _rows(compute_credit(settings), PER_EVENT))
    assert again.status()["resumed"] and again.status()["credit_current"]


def test_a_restart_rebuilds_when_the_saved_state_no_longer_describes_the_credit_table(settings: Settings) -> None:
    writer, before = _credited_world(settings)
    writer.append("backflow", tables([], [event("e2", at(6))])[1])
    for credit in table_files(settings.resolved_lake_root, "credit"):
        credit.unlink()  # someone removed the credit table while the server was down
    restarted = AttributionService(settings)
    assert not restarted.resumed and restarted.run_once() and restarted.last_kind == "full"
    _assert_same(_rows(_lake(settings), PER_EVENT), _rows(compute_credit(settings), PER_EVENT))
    before.state_file.write_text("{not json")
    assert not AttributionService(settings).resumed  # unreadable: start over, never fail to start


def test_a_lake_credited_before_the_stored_layout_is_credited_afresh_on_upgrade(settings: Settings) -> None:
    """What an older server left: credit files of long rows (one per event, touch and model) and a saved
    state of version 1 that describes them. The upgraded service must not resume from them."""
    _writer, before = _credited_world(settings)
    root = settings.resolved_lake_root
    for credit in table_files(root, "credit"):
        pq.write_table(read_credit(root, [credit]), credit)  # the old layout, in place
        assert "model" in pq.read_schema(credit).names
    state = json.loads(before.state_file.read_text())
    before.state_file.write_text(json.dumps({**state, "version": 1, "credit": {
        str(f.relative_to(root)): f.stat().st_size for f in table_files(root, "credit")}}))
    upgraded = AttributionService(settings)
    assert not upgraded.resumed and upgraded.run_once() and upgraded.last_kind == "full"
    assert all("model" not in pq.read_schema(f).names for f in table_files(root, "credit"))
    _assert_same(_rows(_lake(settings), PER_EVENT), _rows(compute_credit(settings), PER_EVENT))
    assert AttributionService(settings).resumed  # and from now on a restart resumes


def test_a_restart_after_the_full_pass_interval_runs_a_full_pass(settings: Settings) -> None:
    writer, _before = _credited_world(settings)
    settings.attribution.full_every = timedelta(0)
    writer.append("backflow", tables([], [event("e2", at(6))])[1])
    restarted = AttributionService(settings)
    assert restarted.resumed and restarted.run_once() and restarted.last_kind == "full"


def test_compaction_of_credited_files_needs_no_pass_and_of_new_ones_an_incremental_one(settings: Settings) -> None:
    writer, service = _credited_world(settings)
    for n in range(2, 6):  # small files, one per flush
        writer.append("backflow", tables([], [event(f"e{n}", at(5, seconds=n))])[1])
    assert service.run_once() and service.last_kind == "incremental"
    credit_files = sorted(table_files(settings.resolved_lake_root, "credit"))
    report = compact(settings.resolved_lake_root, "backflow", min_files=2)
    assert report.files_in == 5 and report.files_out == 1
    (merged,) = table_files(settings.resolved_lake_root, "backflow")
    assert len(compacted_from(merged)) == 5
    assert not service.run_once()  # the same rows in one file: nothing to credit, no full pass
    assert service.full_runs == 1 and sorted(table_files(settings.resolved_lake_root, "credit")) == credit_files
    assert AttributionService(settings).resumed  # and the saved state follows the merged file

    writer.append("backflow", tables([], [event("e9", at(6))])[1])  # not credited yet ...
    compact(settings.resolved_lake_root, "backflow", min_files=2)  # ... and merged before the next pass
    assert service.run_once() and service.last_kind == "incremental" and service.full_runs == 1
    _assert_same(_rows(_lake(settings), PER_EVENT), _rows(compute_credit(settings), PER_EVENT))
    assert "e9" in set(_lake(settings)["event_id"].to_pylist())


def test_a_file_removed_other_than_by_compaction_still_asks_for_a_full_pass(settings: Settings) -> None:
    writer, service = _credited_world(settings)
    writer.append("backflow", tables([], [event("e2", at(5, seconds=9))])[1])
    service.run_once()
    before = list_inputs(settings.resolved_lake_root)
    compact(settings.resolved_lake_root, "backflow", min_files=2)
    (merged,) = table_files(settings.resolved_lake_root, "backflow")
    merged.rename(merged.with_name("renamed.parquet"))  # the same rows, but nothing says so
    assert delta_of(before, list_inputs(settings.resolved_lake_root)) is None
