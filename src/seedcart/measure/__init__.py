"""Measure: rollups of the lake, the full-link metrics and the reports served from them.

- :func:`refresh_rollups` rebuilds the ``rollup_note_day`` / ``rollup_credit_day`` days whose inputs changed;
- :class:`ReportStore` holds the rollups in an in-memory DuckDB and answers the reports in
  :mod:`seedcart.measure.reports` and :mod:`seedcart.measure.realtime`;
- :func:`reports_service` is the app service that refreshes them while the server runs.
"""

from __future__ import annotations

from seedcart.measure.dimensions import DEFAULT_CONTRIBUTION_WEIGHTS, Dimensions, load_dimensions
from seedcart.measure.filters import ReportFilter, Scope
from seedcart.measure.intervals import ht_variance, interval
from seedcart.measure.metrics import METRICS, METRICS_DOC
from seedcart.measure.rollup import RefreshResult, refresh_rollups
from seedcart.measure.service import ReportsService, reports_service
from seedcart.measure.store import ReportStore

__all__ = [
    "DEFAULT_CONTRIBUTION_WEIGHTS",
    "METRICS",
    "METRICS_DOC",
    "Dimensions",
    "RefreshResult",
    "ReportFilter",
    "ReportStore",
    "ReportsService",
    "Scope",
    "ht_variance",
    "interval",
    "load_dimensions",
    "refresh_rollups",
    "reports_service",
]
