"""Today's real-time counters, read straight from today's lake partitions (no rollup in between).

Front counts (exposures, reads, link clicks) come from today's ``touch`` files, back counts (visits,
carts, orders, GMV) from today's ``backflow`` files, scaled by 1 / sample_rate and deduplicated on
``(partner, event_id)``. These are raw partner counts for the brand, not credited counts: a new event
shows as soon as intake has flushed it into the lake (``intake.flush_interval_s``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from seedcart.measure.filters import Scope
from seedcart.measure.store import ReportStore

COUNTERS = ("impressions", "reads", "link_clicks", "visits", "carts", "orders", "gmv")


def today_counters(store: ReportStore, scope: Scope, *, partner: str | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """Counters for the current UTC day within ``scope`` (a partner key passes its ``partner``)."""
    now = now or datetime.now(UTC)
    day = now.date().isoformat()
    out: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    out.update(day=day, as_of=now.isoformat())
    touch_files = store.lake_files("touch", [day])
    if touch_files:
        clauses = ["NOT t.is_bot", "NOT t.is_duplicate"]
        params: dict[str, Any] = {"files": touch_files}
        if scope.brand_id is not None:
            clauses.append("coalesce(t.brand_id, n.brand_id) = $brand")
            params["brand"] = scope.brand_id
        if scope.campaign_ids is not None:
            clauses.append("list_contains($campaigns, t.campaign_id)")
            params["campaigns"] = list(scope.campaign_ids)
        row = store.query(f"""
            SELECT count(*) FILTER (WHERE kind = 'impression') AS impressions,
                   count(*) FILTER (WHERE kind = 'read') AS reads,
                   count(*) FILTER (WHERE kind = 'link_click') AS link_clicks
            FROM read_parquet($files, union_by_name = true) t LEFT JOIN notes n ON n.id = t.note_id
            WHERE {" AND ".join(clauses)}""", params)[0]
        out.update({k: int(v or 0) for k, v in row.items()})
    back_files = store.lake_files("backflow", [day])
    if back_files and (scope.campaign_ids is None or partner is not None):
        clauses = ["TRUE"]
        params = {"files": back_files}
        if scope.brand_id is not None:
            clauses.append("brand_id = $brand")
            params["brand"] = scope.brand_id
        if partner is not None:
            clauses.append("partner = $partner")
            params["partner"] = partner
        row = store.query(f"""
            WITH b AS (
                SELECT DISTINCT ON (partner, event_id) action, amount, 1.0 / sample_rate AS w
                FROM read_parquet($files, union_by_name = true) WHERE {" AND ".join(clauses)}
            )
            SELECT sum(w) FILTER (WHERE action = 'visit') AS visits,
                   sum(w) FILTER (WHERE action = 'cart') AS carts,
                   sum(w) FILTER (WHERE action = 'order') AS orders,
                   sum(w * coalesce(amount, 0)) FILTER (WHERE action = 'order')
                   - coalesce(sum(w * coalesce(amount, 0)) FILTER (WHERE action = 'refund'), 0) AS gmv
            FROM b""", params)[0]
        out.update({k: round(float(v or 0), 2) for k, v in row.items()})
    return out
