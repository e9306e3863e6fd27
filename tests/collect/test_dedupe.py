"""The dedupe index: keys recorded in SQLite, keys claimed since, and both after a reopen."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from seedcart.collect import dedupe
from seedcart.collect.dedupe import DedupeIndex, touch_key
from seedcart.collect.keyfilter import KeyFilter


def test_seen_finds_recorded_and_claimed_keys_and_survives_a_reopen(tmp_path: Path) -> None:
    index = DedupeIndex(tmp_path / "dedupe.sqlite")
    entries = [(3, "touch", [{"event_id": f"e{i}"} for i in range(3)]),
               (4, "backflow", [{"partner": "jd", "event_id": "b1", "action": "order", "order_id": "o1"}])]
    assert index.record(entries, 4) == 5
    index.claim([touch_key("fresh")])
    odd = ["t:防晒", "t:quote\"d\\", "t:"]  # non-ASCII, JSON quoting, an empty id
    index.claim(odd[:1])
    asked = [touch_key("e0"), touch_key("e2"), touch_key("fresh"), "o:jd:o1:order", touch_key("new"), *odd]
    assert index.seen(asked) == {touch_key("e0"), touch_key("e2"), touch_key("fresh"), "o:jd:o1:order", odd[0]}
    index.close()

    reopened = DedupeIndex(tmp_path / "dedupe.sqlite")
    assert reopened.position == 4
    assert reopened.seen([touch_key(f"e{i}") for i in range(5)]) == {touch_key(f"e{i}") for i in range(3)}
    assert reopened.seen([touch_key("fresh")]) == set()  # claimed only in memory, never recorded
    reopened.close()



def test_keys_stay_in_memory_until_the_entry_that_holds_them_is_recorded(tmp_path: Path) -> None:
    index = DedupeIndex(tmp_path / "dedupe.sqlite")
    index.claim(["t:a", "t:b"])
    index.appended(["t:a", "t:b"], 5)
    index.claim(["t:c"])
    index.appended(iter(["t:c"]), 9)
    index.claim(["t:d"])  # its append is still in flight
    index.claim(["t:e"])
    index.release(["t:e"])  # its append failed: a retry is not a duplicate
    index.prune(4)
    assert index.recent == {"t:a", "t:b", "t:c", "t:d"}
    index.prune(5)  # the flusher recorded up to 5: those keys are the SQLite file's to answer now
    assert index.recent == {"t:c", "t:d"}
    index.prune(100)
    assert index.recent == {"t:d"}  # never appended: kept until it is, or released
    assert index.seen(["t:d", "t:e", "t:a"]) == {"t:d"}
    index.close()


def test_with_the_filter_loaded_seen_answers_the_same_and_asks_the_file_only_about_keys_it_may_hold(
        tmp_path: Path) -> None:
    index = DedupeIndex(tmp_path / "dedupe.sqlite")
    index.record([(1, "touch", [{"event_id": f"old{i}"} for i in range(200)])], 1)
    index.close()

    server = DedupeIndex(tmp_path / "dedupe.sqlite")
    worker = DedupeIndex(tmp_path / "dedupe.sqlite")  # the flush worker's own handle on the same file
    server.load_filter()
    looked_up: list[str] = []
    server._reader.set_trace_callback(looked_up.append)
    new = [touch_key(f"new{i}") for i in range(500)]
    assert server.seen(new) == set()
    assert len(looked_up) <= 1  # at most the few the filter wrongly holds, in one statement (usually none)

    # Keys the server appends are recorded by the worker, then pruned from the server's memory: the
    # server's filter takes them as they leave memory, so they are still found.
    appended = [touch_key(f"a{i}") for i in range(50)]
    server.claim(appended)
    server.appended(appended, 2)
    worker.record_keys({"t:": appended}, 2)
    server.prune(2)
    assert server.recent == set()
    old = [touch_key(f"old{i}") for i in range(200)]
    assert server.seen([*old, *appended, *new[:10]]) == {*old, *appended}
    server.record_keys({"t:": [touch_key("here")]}, 3)  # recorded by the server itself
    assert server.seen([touch_key("here"), touch_key("nowhere")]) == {touch_key("here")}
    for handle in (server, worker):
        handle.close()


def test_a_filter_loaded_while_serving_misses_no_key_recorded_or_pruned_during_the_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = [touch_key(f"old{i:03d}") for i in range(100)]
    first = DedupeIndex(tmp_path / "dedupe.sqlite")
    first.record_keys({"t:": old}, 1)
    first.close()

    # The loader reads 10 keys, then waits in its first add until the test has recorded and pruned.
    go = threading.Event()

    class Paused(KeyFilter):
        def add(self, keys: Iterable[str]) -> None:
            if threading.current_thread().name == "dedupe-filter":
                assert go.wait(30)
            super().add(keys)

    monkeypatch.setattr(dedupe, "KeyFilter", Paused)
    monkeypatch.setattr(dedupe, "_FILL_CHUNK", 10)
    server = DedupeIndex(tmp_path / "dedupe.sqlite")
    worker = DedupeIndex(tmp_path / "dedupe.sqlite")  # the flush worker's own handle on the same file
    loader = server.load_filter(background=True)
    assert loader is not None and server.filter_state == "loading"
    assert server.seen([*old, touch_key("new")]) == set(old)  # meanwhile the file answers

    # recorded by the server itself, and appended by it then recorded by the worker and pruned; the
    # "aa" keys sort before every key the loader has read, so only these two paths can give them to it
    mine, theirs = [touch_key("aa-mine"), touch_key("zz-mine")], [touch_key("aa-theirs"), touch_key("zz-theirs")]
    server.record_keys({"t:": mine}, 2)
    server.claim(theirs)
    server.appended(theirs, 3)
    worker.record_keys({"t:": theirs}, 3)
    server.prune(3)
    assert server.recent == set() and server.filter_state == "loading"
    go.set()
    loader.join(30)
    assert server.filter_state == "ready"

    looked_up: list[str] = []
    server._reader.set_trace_callback(looked_up.append)
    new = [touch_key(f"new{i}") for i in range(500)]
    assert server.seen(new) == set()
    assert len(looked_up) <= 1  # the filter answers (but for the few it wrongly holds)
    everything = [*old, *mine, *theirs]
    assert server.seen([*everything, *new[:5]]) == set(everything)
    for handle in (server, worker):
        handle.close()
