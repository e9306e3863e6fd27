"""Versioned migrations: a fresh catalog, an old one upgraded in place, concurrent starts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, inspect, select, text

from seedcart.catalog.db import make_sessions
from seedcart.catalog.links import catalog_version, links_changed_since
from seedcart.catalog.migrations import LATEST, MIGRATIONS, current_version, pending, upgrade
from seedcart.catalog.models import Base, Brand, Link, Load, Partner
from seedcart.errors import ConfigError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def describe(conn: Connection) -> dict[str, Any]:
    """Everything about a schema that must not differ between a migrated and a fresh catalog."""
    insp = inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": {c["name"]: (c["type"].compile(dialect=conn.dialect), c["nullable"])
                        for c in insp.get_columns(table)},
            "pk": tuple(insp.get_pk_constraint(table)["constrained_columns"]),
            "fks": sorted((tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                          for fk in insp.get_foreign_keys(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(table)),
            "uniques": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
        }
    return out


def test_fresh_catalog_is_at_the_newest_version(db_url: str, make_engine: Callable[[str], Engine]) -> None:
    engine = make_engine(db_url)
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))
    assert len(pending(engine)) == LATEST
    assert upgrade(engine) == LATEST
    assert pending(engine) == []
    with engine.connect() as conn:
        assert current_version(conn) == LATEST
        versions = conn.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
    assert versions == list(range(1, LATEST + 1))


def test_migrated_schema_matches_the_models_exactly(db_url: str, make_engine: Callable[[str], Engine],
                                                    request: pytest.FixtureRequest, tmp_path: Any) -> None:
    migrated = make_engine(db_url)
    upgrade(migrated)
    if migrated.dialect.name == "sqlite":
        reference_url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    else:
        reference_url = request.getfixturevalue("pg_schema_url")
    reference = make_engine(reference_url)
    Base.metadata.create_all(reference)
    with migrated.connect() as got, reference.connect() as want:
        got_schema, want_schema = describe(got), describe(want)
    assert set(got_schema) == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        assert {c: n for c, (_, n) in got_schema[name]["columns"].items()} == \
            {c.name: c.nullable for c in table.columns}, name
    assert got_schema == want_schema


def _insert(conn: Connection, table: str, **values: Any) -> None:
    conn.execute(Table(table, MetaData(), autoload_with=conn).insert().values(**values))


def _v1_catalog_with_data(engine: Engine) -> None:
    assert upgrade(engine, target=1) == 1
    with engine.begin() as conn:
        _insert(conn, "brands", id=1, name="Lumi", created_at=T0)
        _insert(conn, "categories", id="beauty", name="Beauty", lookback_days=40)
        _insert(conn, "partners", id="jd", name="JD (custom)", opened_categories=["beauty"], pilot_brands=[1],
                sample_rate=0.25, signing_secret="s" * 64, lookback_overrides=None, ud_placements=["feed"])
        _insert(conn, "products", id=7, partner_id="jd", item_id="100012", brand_id=1, category_id="beauty",
                title="Serum", price=19900, store_id=None)
        _insert(conn, "notes", id="n1", brand_id=1, creator_id="c1", title="t", topics=["skincare"],
                format="image", is_ad=False, created_at=T0)
        _insert(conn, "links", id=3, code="abc123", kind="blue_link", note_id="n1", product_id=7, active=True,
                created_at=T0)
        _insert(conn, "api_keys", id=1, prefix="sc_admin_xxx", key_hash="h" * 64, role="admin", name="ops",
                created_at=T0)


def test_a_v1_catalog_upgrades_in_place_keeping_its_data(db_url: str,
                                                         make_engine: Callable[[str], Engine]) -> None:
    engine = make_engine(db_url)
    _v1_catalog_with_data(engine)
    with engine.connect() as conn:
        assert not inspect(conn).has_table("loads")
        assert "contribution_weights" not in {c["name"] for c in inspect(conn).get_columns("brands")}

    assert upgrade(engine) == LATEST

    with make_sessions(engine).begin() as session:
        brand = session.get(Brand, 1)
        assert brand is not None and brand.name == "Lumi" and brand.contribution_weights is None
        assert brand.created_at == T0
        jd = session.get(Partner, "jd")
        assert jd is not None
        # seeding fills in what is missing and never overwrites what an operator set
        assert (jd.name, jd.sample_rate, jd.pilot_brands) == ("JD (custom)", 0.25, [1])
        assert len(session.scalars(select(Partner)).all()) == 6
        link = session.get(Link, 3)
        assert link is not None and link.updated_at == T0  # backfilled from created_at
        assert [lk.id for lk in links_changed_since(session, None)] == [3]
        # the new schema is usable
        before = catalog_version(session)
        brand.contribution_weights = {"order": 1.0, "cart": 0.3}
        session.add(Load(id="load-1", partner_id="jd", filename="orders.csv"))
    with make_sessions(engine).begin() as session:
        assert catalog_version(session) == before + 1
        loaded = session.get(Load, "load-1")
        assert loaded is not None and loaded.status == "running"
        assert session.get(Brand, 1).contribution_weights == {"order": 1.0, "cart": 0.3}  # type: ignore[union-attr]


def test_upgrade_at_every_start_changes_nothing(db_url: str, make_engine: Callable[[str], Engine]) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        before = describe(conn)
        secrets = conn.execute(text("SELECT id, signing_secret FROM partners ORDER BY id")).all()
    assert upgrade(engine) == LATEST
    assert upgrade(engine) == LATEST
    with engine.connect() as conn:
        assert describe(conn) == before
        assert conn.execute(text("SELECT id, signing_secret FROM partners ORDER BY id")).all() == secrets
        assert conn.execute(text("SELECT count(*) FROM schema_version")).scalar_one() == LATEST


def test_processes_starting_at_once_upgrade_once(db_url: str, make_engine: Callable[[str], Engine]) -> None:
    engines = [make_engine(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    results: list[int] = []
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            barrier.wait()
            results.append(upgrade(engine))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert results == [LATEST] * len(engines)
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schema_version")).scalar_one() == LATEST
        assert conn.execute(text("SELECT count(*) FROM partners")).scalar_one() == 6
        assert conn.execute(text("SELECT count(*) FROM categories")).scalar_one() == 8


def test_a_catalog_made_before_migrations_is_stamped_then_upgraded(
        db_url: str, make_engine: Callable[[str], Engine]) -> None:
    engine = make_engine(db_url)
    upgrade(engine, target=2)  # the tables the skeleton's create_all used to make
    with engine.begin() as conn:
        _insert(conn, "brands", id=5, name="Old", created_at=T0)
        conn.execute(text("DROP TABLE schema_version"))
    assert upgrade(engine) == LATEST
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all() == \
            [1, 2, 3]
        assert conn.execute(text("SELECT name FROM brands")).scalars().all() == ["Old"]


def test_a_catalog_made_by_create_all_is_stamped_at_the_newest(db_url: str,
                                                               make_engine: Callable[[str], Engine]) -> None:
    engine = make_engine(db_url)
    tables = [t for name, t in Base.metadata.tables.items() if name != "schema_version"]
    Base.metadata.create_all(engine, tables=tables)
    with engine.begin() as conn:
        _insert(conn, "catalog_revision", id=1, value=0)
    assert upgrade(engine) == LATEST
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schema_version")).scalar_one() == LATEST
        assert conn.execute(text("SELECT count(*) FROM partners")).scalar_one() == 6


def test_a_catalog_newer_than_this_seedcart_is_refused(db_url: str, make_engine: Callable[[str], Engine]) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        _insert(conn, "schema_version", version=LATEST + 1, description="from the future", applied_at=T0)
    with pytest.raises(ConfigError, match="upgrade seedcart"):
        upgrade(engine)


def test_an_unknown_target_is_refused(tmp_path: Any, make_engine: Callable[[str], Engine]) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    with pytest.raises(ConfigError) as info:
        upgrade(engine, target=LATEST + 1)
    assert info.value.context["field"] == "target"


@pytest.mark.slow  # three interpreters start
def test_separate_processes_opening_one_new_data_dir_at_once(tmp_path: Any) -> None:
    import subprocess
    import sys

    data = tmp_path / "shared-data"
    code = ("import sys; from seedcart.config import load_settings; from seedcart.catalog.db import open_catalog; "
            "from seedcart.catalog.migrations import upgrade; "
            f"c = open_catalog(load_settings({{'SEEDCART__DATA_DIR': {str(data)!r}}})); "
            "print(upgrade(c.engine)); c.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == [str(LATEST)] * 3
    engine = create_engine(f"sqlite:///{data / 'catalog.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schema_version")).scalar_one() == LATEST
        assert conn.execute(text("SELECT count(*) FROM partners")).scalar_one() == 6
    engine.dispose()


def test_a_step_that_fails_leaves_the_catalog_at_the_last_complete_version(
        db_url: str, make_engine: Callable[[str], Engine], monkeypatch: pytest.MonkeyPatch) -> None:
    from seedcart.catalog import migrations

    engine = make_engine(db_url)
    upgrade(engine, target=2)
    real = migrations.MIGRATIONS[2]

    def half_done(conn: Connection) -> None:
        real.apply(conn)  # the column, the backfill, the new table...
        raise RuntimeError("power cut before the step's version row")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS[:2],
                                                  migrations.Migration(3, real.description, half_done)))
    with pytest.raises(RuntimeError):
        upgrade(engine)
    with engine.connect() as conn:
        assert current_version(conn) == 2
        assert "updated_at" not in {c["name"] for c in inspect(conn).get_columns("links")}
        assert not inspect(conn).has_table("catalog_revision")
    monkeypatch.undo()
    assert upgrade(engine) == LATEST
