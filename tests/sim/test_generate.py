"""The touch table's columns are built sparsely and by buffer: they must still be valid and null where they should."""

from __future__ import annotations

import pyarrow.compute as pc
from tests.sim.worlds import SmallWorld

#: Columns a touch has only when it is a link click (a bot's included).
CLICK_ONLY = ("link_id", "product_id", "partner", "click_id", "ip_hash", "ua_class")


def test_click_columns_are_set_on_link_clicks_only(faulty_world: SmallWorld) -> None:
    touch = faulty_world.tables["touch"]
    touch.validate(full=True)
    is_click = pc.equal(touch.column("kind"), "link_click")
    assert pc.sum(is_click).as_py() > 0
    for name in CLICK_ONLY:
        valid = pc.is_valid(touch.column(name))
        assert pc.all(pc.equal(valid, is_click)).as_py(), name


def test_optional_values_are_null_exactly_where_they_do_not_apply(faulty_world: SmallWorld) -> None:
    touch = faulty_world.tables["touch"]
    kind = touch.column("kind")
    searches = pc.equal(kind, "search")
    # A search has a query and no note; every other touch has a note (bots' on their link's).
    assert pc.all(pc.equal(pc.is_valid(touch.column("query")), searches)).as_py()
    assert pc.all(pc.not_equal(pc.is_valid(touch.column("note_id")), searches)).as_py()
    # Dwell time and share watched never both; positions within 1..30.
    both = pc.and_(pc.is_valid(touch.column("dwell_ms")), pc.is_valid(touch.column("watch_ratio")))
    assert not pc.any(both).as_py()
    position = touch.column("position")
    assert pc.min(position).as_py() >= 1 and pc.max(position).as_py() <= 30
