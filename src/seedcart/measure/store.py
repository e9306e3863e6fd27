"""The report store: rollups and catalog dimensions held in an in-memory DuckDB for fast queries.

Rollups are small, so each reload copies them whole into memory (``front``, ``back``) next to the
catalog's ``notes``, ``campaigns`` and contribution ``weights``. Queries run on their own cursor,
so request threads never share one; a reload swaps tables in one transaction.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import duckdb
import pyarrow as pa

from seedcart.catalog.db import Catalog
from seedcart.lake.reader import partition_files, table_files
from seedcart.measure.dimensions import Dimensions, load_dimensions
from seedcart.measure.metrics import ACTION_COLUMNS, FRONT_COUNTS, GMV_ACTIONS, NEGATIVE_ACTIONS
from seedcart.measure.rollup import RefreshResult, refresh_rollups, rollup_files
from seedcart.measure.schemas import CREDIT_DAY, NOTE_DAY, ROLLUP_CREDIT_DAY, ROLLUP_NOTE_DAY

logger = logging.getLogger(__name__)

#: In-memory tables are sorted so that DuckDB's per-row-group min/max skip what a filter excludes.
_CLUSTER = {"front": "brand_id, day, note_id", "back": "model, brand_id, day, note_id"}



def _wide_sql() -> str:
    """``wide``: front rows and back rows pivoted by action, in one table, so a report is one GROUP BY.

    Front rows have no model and no lag day; back rows carry the seeding value under the brand's weights.
    """
    keys = "day, brand_id, note_id, placement, campaign_id, partner, mode"
    zero_back = ", ".join(f"0.0 AS {c}, 0.0 AS {c}_var" for c in ACTION_COLUMNS.values())
    zero_front = ", ".join(f"0 AS {c}" for c in FRONT_COUNTS if c != "spend")
    pivot = ", ".join(
        f"{'-' if a in NEGATIVE_ACTIONS else ''}coalesce(sum(r.credited) FILTER (WHERE r.action = '{a}'), 0.0) AS {c}, "
        f"coalesce(sum(r.credited_var) FILTER (WHERE r.action = '{a}'), 0.0) AS {c}_var"
        for a, c in ACTION_COLUMNS.items())
    gmv_in = ", ".join(f"'{a}'" for a in GMV_ACTIONS)
    rkeys = ", ".join(f"r.{k.strip()}" for k in keys.split(","))
    return f"""
CREATE OR REPLACE TABLE wide AS
SELECT * FROM (
    SELECT {keys}, NULL::VARCHAR AS model, NULL::BIGINT AS lag_day, users,
        {", ".join(c for c in FRONT_COUNTS)}, {zero_back}, 0.0 AS gmv, 0.0 AS gmv_var, 0.0 AS seeding_value
    FROM front
    UNION ALL BY NAME
    SELECT {rkeys}, r.model, r.lag_day, max(r.users) AS users, {zero_front}, 0.0 AS spend, {pivot},
        coalesce(sum(r.gmv) FILTER (WHERE r.action IN ({gmv_in})), 0.0) AS gmv,
        coalesce(sum(r.gmv_var) FILTER (WHERE r.action IN ({gmv_in})), 0.0) AS gmv_var,
        sum(r.credited * coalesce(w.weight, d.weight, 0.0)) AS seeding_value
    FROM back r
    LEFT JOIN weights w ON w.brand_id = r.brand_id AND w.action = r.action
    LEFT JOIN weights d ON d.brand_id IS NULL AND d.action = r.action
    GROUP BY ALL
)
ORDER BY model NULLS FIRST, brand_id, day, note_id
"""


_WEIGHTS_SCHEMA = pa.schema([pa.field("brand_id", pa.int64()), pa.field("action", pa.string()),
                             pa.field("weight", pa.float64())])


def _run(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> None:
    """Execute a statement and drain its result (DuckDB 2 refuses new work on an undrained cursor)."""
    cur.execute(sql, params or {}).fetchall()


class ReportStore:
    """Rollups of one lake, queryable with DuckDB. ``refresh()`` rebuilds changed days and reloads."""

    def __init__(self, root: str, catalog: Catalog) -> None:
        self.root = root
        self.catalog = catalog
        # one thread: report queries are small, and DuckDB's per-thread aggregate setup dominates them
        self._con = duckdb.connect(config={"threads": 1})
        _run(self._con, "SET TimeZone = 'UTC'")
        self._lock = threading.Lock()
        self.dims = Dimensions(campaigns=pa.table({}), notes=pa.table({}))
        self.rows = {"front": 0, "back": 0}
        self.reload()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one query (thread-safe)."""
        return self._con.cursor()

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of ``sql`` as dicts."""
        with self.cursor() as cur:
            result = cur.execute(sql, params or {})
            names = [d[0] for d in result.description or []]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    def refresh(self, *, full: bool = False) -> RefreshResult:
        """Rebuild the rollup days whose inputs changed, then reload (serialised across threads)."""
        with self._lock:
            dims = load_dimensions(self.catalog)
            result = refresh_rollups(self.root, self.catalog, full=full, dims=dims)
            if result.changed or dims.signature != self.dims.signature:
                self._load(dims, rollups=result.changed)
        return result

    def reload(self) -> None:
        """Load the rollups as they are on disk and the catalog as it is now."""
        with self._lock:
            self._load(load_dimensions(self.catalog), rollups=True)

    def _load(self, dims: Dimensions, *, rollups: bool) -> None:
        weights = [
            {"brand_id": brand, "action": action, "weight": w}
            for brand in [None, *dims.brand_names]
            for action, w in dims.weights_for(brand).items()
        ]
        with self.cursor() as cur:
            _run(cur, "BEGIN TRANSACTION")
            for name, table in (("notes", dims.notes), ("campaigns", dims.campaigns),
                                ("weights", pa.Table.from_pylist(weights, schema=_WEIGHTS_SCHEMA))):
                cur.register(f"_{name}_arrow", table)
                _run(cur, f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _{name}_arrow")
                cur.unregister(f"_{name}_arrow")
            if rollups:
                for name, table, schema in (("front", NOTE_DAY, ROLLUP_NOTE_DAY),
                                            ("back", CREDIT_DAY, ROLLUP_CREDIT_DAY)):
                    files = [str(f) for f in rollup_files(self.root, table)]
                    if files:
                        _run(cur, f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_parquet($files) "
                             f"ORDER BY {_CLUSTER[name]}", {"files": files})
                    else:
                        cur.register("_empty", schema.empty_table())
                        _run(cur, f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _empty")
                        cur.unregister("_empty")
                    self.rows[name] = int(cur.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])
            _run(cur, _wide_sql())
            _run(cur, "COMMIT")
        self.dims = dims

    def lake_files(self, table: str, days: list[str] | None = None) -> list[str]:
        """Committed lake files of ``table``, optionally only of the given ``YYYY-MM-DD`` days."""
        if days is None:
            return [str(p) for p in table_files(self.root, table)]
        return [str(p) for day in days for p in partition_files(self.root, table, day)]

    def close(self) -> None:
        """Release the in-memory database, once a refresh in flight has ended (DuckDB refuses to close a
        connection another thread is using)."""
        with self._lock:
            self._con.close()
