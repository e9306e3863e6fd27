"""Reports: the full-link note table, note detail, breakdowns, model comparison, real-time counters, export.

Tenancy is applied to every query by :class:`seedcart.measure.filters.Scope`: a brand key sees its
brand, a partner key the UD campaigns it runs, an admin everything (or one ``brand_id``).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query, Response

from seedcart.catalog.keys import Principal
from seedcart.durations import parse_duration
from seedcart.errors import ValidationError
from seedcart.measure.filters import ReportFilter, Scope
from seedcart.measure.metrics import METRICS, METRICS_DOC
from seedcart.measure.realtime import today_counters
from seedcart.measure.reports import SORTABLE, breakdown, model_comparison, note_detail, note_table
from seedcart.measure.service import ReportsService
from seedcart.measure.store import ReportStore
from seedcart.serve.auth import require
from seedcart.serve.state import AppState, app_state
from seedcart.types import CampaignMode, Model, Partner, Placement

router = APIRouter(prefix="/v1/reports", tags=["reports"])

EXPORT_MAX_ROWS = 100_000


def report_store(state: Annotated[AppState, Depends(app_state)]) -> ReportStore:
    """The running reports service's store; without services, one store made (and refreshed) on first use."""
    service = state.services.get("reports")
    if isinstance(service, ReportsService):
        return service.store
    store = state.services.get("reports.store")
    if store is None:
        store = state.services["reports.store"] = ReportStore(state.settings.resolved_lake_root, state.catalog)
        store.refresh()
    assert isinstance(store, ReportStore)
    return store


Reader = Annotated[Principal, Depends(require("admin", "brand", "partner"))]
Store = Annotated[ReportStore, Depends(report_store)]


def report_scope(principal: Reader, store: Store,
                 brand_id: Annotated[int | None, Query(description="Admin only: one brand's rows.")] = None,
                 ) -> Scope:
    """The rows the caller may see."""
    return Scope.of(principal, store.dims, brand_id=brand_id)


def lookback_days(value: str | None) -> int | None:
    """``7``, ``7d`` or ``168h`` as whole days; None when absent."""
    if value is None or value == "":
        return None
    if value.strip().isdigit():
        return int(value)
    seconds = parse_duration(value, field="lookback").total_seconds()
    if seconds % 86_400:
        raise ValidationError(f"lookback must be whole days, got {value!r}", field="lookback")
    return int(seconds // 86_400)


def report_filter(
    *,
    start: Annotated[date | None, Query(description="First UTC day, YYYY-MM-DD (included).")] = None,
    end: Annotated[date | None, Query(description="Last UTC day, YYYY-MM-DD (included).")] = None,
    campaign_id: Annotated[int | None, Query(description="Only this campaign.")] = None,
    placement: Annotated[Placement | None, Query(description="search, feed or video.")] = None,
    partner: Annotated[Partner | None, Query(description="Only this partner.")] = None,
    mode: Annotated[CampaignMode | None, Query(description="UD or CID campaigns.")] = None,
    model: Annotated[Model, Query(description="Attribution model of the credited counts.")] = "last_touch",
    lookback: Annotated[str | None, Query(
        description="ROI(T+x): credit only back-link events at most x days after the touch (7, 7d).")] = None,
) -> ReportFilter:
    """The filters shared by every report."""
    return ReportFilter(start=start, end=end, campaign_id=campaign_id, placement=placement, partner=partner,
                        mode=mode, model=model, lookback_days=lookback_days(lookback))


Filter = Annotated[ReportFilter, Depends(report_filter)]
ScopeDep = Annotated[Scope, Depends(report_scope)]
SortParam = Annotated[str, Query(description=f"Column to sort by: {', '.join(sorted(SORTABLE))}.")]
OrderParam = Annotated[Literal["asc", "desc"], Query(description="Sort direction.")]


@router.get("/notes", summary="The full-link note table", description=METRICS_DOC)
def notes(*, store: Store, scope: ScopeDep, flt: Filter, sort: SortParam = "reads", order: OrderParam = "desc",
          limit: Annotated[int, Query(ge=1, le=1000)] = 50,
          offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> dict[str, Any]:
    """One row per note: front counts, credited back counts with 95 % intervals, spend and the metrics."""
    return note_table(store, scope, flt, sort=sort, descending=order == "desc", limit=limit, offset=offset)


@router.get("/notes/{note_id}", summary="One note: funnel, trend, lag histogram, ROI(T+x), top paths")
def note(note_id: str, store: Store, scope: ScopeDep, flt: Filter) -> dict[str, Any]:
    """The front-to-back funnel, the daily trend, the lag histogram and the commonest paths of one note."""
    return note_detail(store, scope, flt, note_id)


@router.get("/campaigns", summary="Per campaign (k-anonymous)")
def campaigns(store: Store, scope: ScopeDep, flt: Filter,
              state: Annotated[AppState, Depends(app_state)]) -> dict[str, Any]:
    """One row per campaign; rows seen by fewer than ``serve.k_anonymity`` users are withheld."""
    return breakdown(store, scope, flt, by="campaign", k=state.settings.serve.k_anonymity)


@router.get("/partners", summary="Per partner (k-anonymous)")
def partners(store: Store, scope: ScopeDep, flt: Filter,
             state: Annotated[AppState, Depends(app_state)]) -> dict[str, Any]:
    """One row per partner; rows seen by fewer than ``serve.k_anonymity`` users are withheld."""
    return breakdown(store, scope, flt, by="partner", k=state.settings.serve.k_anonymity)


@router.get("/breakdown", summary="Per campaign, placement, mode, partner or day (k-anonymous)")
def breakdown_by(store: Store, scope: ScopeDep, flt: Filter,
                 by: Annotated[Literal["campaign", "placement", "mode", "partner", "day"], Query(
                     description="The key to break down by.")],
                 state: Annotated[AppState, Depends(app_state)]) -> dict[str, Any]:
    """Rows per ``by``; rows seen by fewer than ``serve.k_anonymity`` users are withheld."""
    return breakdown(store, scope, flt, by=by, k=state.settings.serve.k_anonymity)


@router.get("/models", summary="Totals under every attribution model")
def models(store: Store, scope: ScopeDep, flt: Filter) -> dict[str, Any]:
    """Credited counts, GMV, ROI and seeding value side by side for each model."""
    return model_comparison(store, scope, flt)


@router.get("/realtime", summary="Today's counters, straight from the lake")
def realtime(store: Store, scope: ScopeDep, principal: Reader) -> dict[str, Any]:
    """Exposures, reads, link clicks, visits, carts, orders and GMV of the current UTC day."""
    return today_counters(store, scope, partner=principal.partner_id)


@router.get("/metrics", summary="Every metric's formula")
def metrics() -> dict[str, Any]:
    """The formulas behind the report columns (the same text as the note table's description)."""
    return {"metrics": {name: text for name, (_, text) in METRICS.items()}, "doc": METRICS_DOC}


@router.post("/refresh", summary="Rebuild changed rollup days now (admin)")
def refresh(store: Store, _admin: Annotated[Principal, Depends(require("admin"))],
            full: Annotated[bool, Query(description="Rebuild every day.")] = False) -> dict[str, Any]:
    """Rebuild the rollup days whose inputs changed (``full``: all) and reload the store."""
    result = store.refresh(full=full)
    return {"rebuilt": result.rebuilt, "removed": result.removed, "rows": dict(store.rows)}


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, list):
            out[f"{key}_low"], out[f"{key}_high"] = value
        else:
            out[key] = value
    return out


@router.get("/export", summary="The note table as CSV or Parquet")
def export(*, store: Store, scope: ScopeDep, flt: Filter,
           format: Annotated[Literal["csv", "parquet"], Query(description="csv or parquet.")] = "csv",
           sort: SortParam = "reads", order: OrderParam = "desc") -> Response:
    """Every row of the note table under the same filters (intervals as ``_low`` / ``_high`` columns)."""
    table = note_table(store, scope, flt, sort=sort, descending=order == "desc", limit=EXPORT_MAX_ROWS)
    rows = [_flat({k: v for k, v in r.items() if k != "roi_ci"} | {"roi_ci": r["roi_ci"] or [None, None]})
            for r in table["rows"]]
    name = f"seedcart-notes-{flt.model}"
    if format == "parquet":
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), sink)
        return Response(sink.getvalue(), media_type="application/vnd.apache.parquet",
                        headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'})
    text = io.StringIO()
    if rows:
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Response(text.getvalue().encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
