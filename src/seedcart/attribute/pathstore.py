"""The path models' last full solve, kept on disk so that incremental passes credit new events from it.

A full pass solves the markov and shapley models over every path of the lake (``paths.solve_paths``)
and saves the solve here: the path summary with each converting path's id, and each path's shares.
An incremental pass re-credits only the events new data changed (``seedcart.attribute.incremental``);
their paths are looked up in the saved solve, so an event on a path the last solve saw gets exactly
the shares that solve gave it. A path the solve never saw as converting is solved with its group
(brand, action): the group's saved summary plus the new paths, solved again, and only the new
paths' shares are taken. The shares of every other path stay as the last full pass left them until
the next one (data-driven models are re-solved on a schedule, not per event: DESIGN §5).

Files (Parquet, replaced atomically by each full pass): ``summary.parquet`` (``_bkey, action, path,
conversions, non_conversions, revenue, _pid``) and ``shares.parquet`` (``_pid, _snote, _smodel,
_share``), plus ``models.json`` naming the models solved.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from seedcart.attribute.pathsolve import solve_summary
from seedcart.lake.writer import write_parquet_atomic

SUMMARY_COLUMNS = ("_bkey", "action", "path", "conversions", "non_conversions", "revenue")


@dataclass
class PathStore:
    """Where the last full solve lives; ``reuse`` chooses between solving afresh and reading it."""

    directory: Path
    #: False: the next solve is a full one and replaces what is stored. True: credit from the store.
    reuse: bool = False

    @property
    def summary_file(self) -> Path:
        return self.directory / "summary.parquet"

    @property
    def shares_file(self) -> Path:
        return self.directory / "shares.parquet"

    @property
    def models_file(self) -> Path:
        return self.directory / "models.json"

    def models(self) -> list[str] | None:
        """The models of the stored solve; None when there is none (or it is incomplete)."""
        if not (self.summary_file.exists() and self.shares_file.exists() and self.models_file.exists()):
            return None
        return list(json.loads(self.models_file.read_text())["models"])

    def save(self, summary: pa.Table, ids: pa.Table, shares: pa.Table, models: list[str]) -> None:
        """Store a full solve: the summary with each converting path's id, and the shares."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.models_file.unlink(missing_ok=True)  # incomplete until the models file is back
        keyed = ids.rename_columns(["_bkey", "action", "path", "_pid"])
        table = summary.select(list(SUMMARY_COLUMNS)).join(keyed, ["_bkey", "action", "path"], join_type="left outer")
        write_parquet_atomic(table, self.summary_file)
        write_parquet_atomic(shares, self.shares_file)
        temp = self.models_file.with_suffix(".tmp")
        temp.write_text(json.dumps({"models": models}))
        os.replace(temp, self.models_file)

    def shares_for(self, conv: pa.Table, models: list[str]) -> tuple[pa.Table, pa.Table]:
        """``(ids, shares)`` as ``paths.solve_shares`` gives them, for the converting paths of ``conv``
        (``_bkey, action, path, weight, amount`` per event) from the stored solve."""
        stored = self.models()
        if stored is None or any(m not in stored for m in models):
            raise LookupError(f"no stored path solve for models {models}")
        con = duckdb.connect()
        try:
            con.register("conv", conv)
            wanted = con.sql(
                "SELECT c._bkey, c.action, c.path, sum(c.weight) AS conversions, "
                "sum(c.weight * CAST(coalesce(c.amount, 0) AS DOUBLE)) AS revenue, any_value(s._pid) AS _pid "
                f"FROM conv c LEFT JOIN read_parquet('{self.summary_file}') s "
                "ON s._bkey = c._bkey AND s.action = c.action AND s.path = c.path AND s._pid IS NOT NULL "
                "GROUP BY ALL").to_arrow_table()
            known = wanted.filter(pc.is_valid(wanted["_pid"]))
            con.register("known", known)
            known_shares = con.sql(
                f"SELECT s._pid, s._snote, s._smodel, s._share FROM read_parquet('{self.shares_file}') s "
                "JOIN (SELECT DISTINCT _pid FROM known) k USING (_pid) WHERE s._smodel IN "
                f"({', '.join(repr(m) for m in models)})").to_arrow_table()
            known_ids = known.select(["_bkey", "action", "path", "_pid"])
            unseen = wanted.filter(pc.is_null(wanted["_pid"]))
            new_ids, new_shares = self._solve_unseen(con, unseen, models) if unseen.num_rows else (None, None)
        finally:
            con.close()
        ids = known_ids if new_ids is None else pa.concat_tables([known_ids, new_ids])
        shares = known_shares if new_shares is None else pa.concat_tables([known_shares, new_shares])
        return ids.rename_columns(["_sbkey", "_saction", "_spath", "_pid"]), shares

    def _solve_unseen(self, con: Any, unseen: pa.Table, models: list[str]) -> tuple[pa.Table, pa.Table]:
        """Paths the stored solve never saw converting: their groups solved again with them added."""
        con.register("unseen", unseen)
        group = con.sql(
            "SELECT _bkey, action, path, CAST(sum(conversions) AS DOUBLE) AS conversions, "
            "CAST(sum(non_conversions) AS DOUBLE) AS non_conversions, CAST(sum(revenue) AS DOUBLE) AS revenue, "
            "bool_or(_target) AS _target FROM ("
            f"  SELECT s._bkey, s.action, s.path, s.conversions, s.non_conversions, s.revenue, false AS _target "
            f"  FROM read_parquet('{self.summary_file}') s "
            "   SEMI JOIN (SELECT DISTINCT _bkey, action FROM unseen) g ON g._bkey = s._bkey AND g.action = s.action"
            "  UNION ALL SELECT _bkey, action, path, conversions, CAST(0 AS DOUBLE), revenue, true FROM unseen"
            ") GROUP BY ALL").to_arrow_table()
        ids, shares = solve_summary(group, models)  # the group's solve, shares of the unseen paths only
        top = con.execute(f"SELECT coalesce(max(_pid), -1) + 1 FROM read_parquet('{self.summary_file}')").fetchall()
        offset = int(top[0][0])
        con.register("solved_ids", ids)
        con.register("solved_shares", shares)
        new_local = con.sql(
            "SELECT i.* FROM solved_ids i SEMI JOIN unseen u "
            "ON u._bkey = i._sbkey AND u.action = i._saction AND u.path = i._spath").to_arrow_table()
        con.register("new_local", new_local)
        new_ids = con.sql(f"SELECT _sbkey AS _bkey, _saction AS action, _spath AS path, _pid + {offset} AS _pid "
                          "FROM new_local").to_arrow_table()
        new_shares = con.sql(f"SELECT s._pid + {offset} AS _pid, s._snote, s._smodel, s._share "
                             "FROM solved_shares s SEMI JOIN new_local n ON n._pid = s._pid").to_arrow_table()
        return new_ids, new_shares

