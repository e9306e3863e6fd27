"""Simulating into a data dir: catalog rows, lake tables, determinism, and the CLI command."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from seedcart.catalog.db import open_catalog
from seedcart.catalog.models import Brand, Campaign, Link, Note, Product
from seedcart.cli import app
from seedcart.config import Settings, load_settings
from seedcart.errors import Conflict
from seedcart.lake.reader import table_files
from seedcart.lake.schemas import SCHEMAS
from seedcart.matchkey import match_key
from seedcart.sim import WorldConfig, build_world, generate_tables, simulate
from seedcart.sim.generate import generate_world

CONFIG = WorldConfig(users=300, days=6, seed=21, block_users=120)
SORT_KEYS = {"touch": ["event_id", "received_at"], "backflow": ["partner", "event_id", "received_at"],
             "truth": ["partner", "event_id"], "identity": ["user_id", "match_key"]}


def _settings(root: Path) -> Settings:
    return load_settings({"SEEDCART__DATA_DIR": str(root),
                          "SEEDCART__ALLIANCE_SECRET": "a-fixed-alliance-secret-for-tests"})


def _lake(settings: Settings, table: str) -> pa.Table:
    files = table_files(settings.resolved_lake_root, table)
    return pa.concat_tables([pq.read_table(f) for f in files]).sort_by([(k, "ascending") for k in SORT_KEYS[table]])


def test_same_seed_gives_an_identical_lake(tmp_path: Path) -> None:
    first, second = _settings(tmp_path / "a"), _settings(tmp_path / "b")
    summary = simulate(first, CONFIG)
    simulate(second, CONFIG)
    for table in SORT_KEYS:
        left, right = _lake(first, table), _lake(second, table)
        assert left.num_rows == summary.tables[table] > 0
        assert left.equals(right), table
    other = _settings(tmp_path / "c")
    simulate(other, CONFIG.replace(seed=22))
    assert not _lake(other, "touch").equals(_lake(first, "touch"))


def test_lake_holds_exactly_the_rows_generate_yields_with_the_lake_schemas(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    simulate(settings, CONFIG)
    expected = generate_tables(CONFIG, settings.alliance_key())
    for table, keys in SORT_KEYS.items():
        for path in table_files(settings.resolved_lake_root, table)[:3]:
            assert pq.read_table(path).schema.equals(SCHEMAS[table]), path  # plain strings, not dictionaries
        assert _lake(settings, table).equals(expected[table].sort_by([(k, "ascending") for k in keys]))


def test_chunks_made_on_threads_are_the_chunks_made_in_order() -> None:
    world = build_world(CONFIG.replace(block_users=70), b"threads-alliance-secret-0123456789")
    serial = list(generate_world(world, encoded=True))
    threaded = list(generate_world(world, encoded=True, workers=3))
    assert [name for name, _ in threaded] == [name for name, _ in serial]
    assert all(a.equals(b) for (_, a), (_, b) in zip(threaded, serial, strict=True))


def test_lake_files_are_partitioned_by_the_date_of_ts(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    simulate(settings, CONFIG)
    for table in SORT_KEYS:
        for path in table_files(settings.resolved_lake_root, table):
            dates = {t.strftime("%Y-%m-%d") for t in pq.read_table(path, columns=["ts"]).column("ts").to_pylist()}
            assert dates == {path.parent.name.removeprefix("date=")}, path


def test_catalog_rows_and_identity_match_the_world(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    summary = simulate(settings, CONFIG)
    catalog = open_catalog(settings)
    try:
        with catalog.session() as s:
            counts = {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                      for m in (Brand, Product, Note, Campaign, Link)}
            codes = list(s.scalars(select(Link.code)))
            modes = set(s.scalars(select(Campaign.mode)))
            partners = set(s.scalars(select(Product.partner_id)))
    finally:
        catalog.close()
    assert counts == summary.catalog
    assert all(len(code) == 8 and code.isalnum() for code in codes)
    assert modes == {"UD", "CID"}
    assert partners == {"tmall", "taobao", "jd", "pdd", "vip", "wechat_mp"}
    # The platform registers each user's phone key, as a partner derives it from the raw phone.
    world = build_world(CONFIG, settings.alliance_key())
    identity = _lake(settings, "identity")
    pairs = set(zip(identity.column("user_id").to_pylist(), identity.column("match_key").to_pylist(), strict=True))
    assert ("u0000007", match_key(settings.alliance_key(), "phone", world.phones[7])) in pairs
    with pytest.raises(Conflict):
        simulate(settings, CONFIG)


def test_cli_simulate_prints_a_json_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--users", "120", "--days", "2", "--seed", "4",
                                      "--start", "2026-03-01", "--no-faults"],
                                env={"SEEDCART__DATA_DIR": str(tmp_path / "cli")})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["tables"]["touch"] > 0 and summary["tables"]["backflow"] > 0
    assert summary["start"].startswith("2026-03-01")
    assert summary["faults"]["duplicates"] == 0
    assert len(summary["brands"]) == 16
    assert summary["partners"]["pdd"] == 1.0  # --no-faults: no sampling
    bad = CliRunner().invoke(app, ["simulate", "--start", "March"], env={"SEEDCART__DATA_DIR": str(tmp_path / "x")})
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["field"] == "start"
