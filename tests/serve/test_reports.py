"""The reports API over a real server: tenancy, partner scope, bad parameters, export, real-time counters."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import LiveServer
from seedcart.catalog.db import open_catalog
from seedcart.catalog.keys import create_key
from seedcart.config import Settings, load_settings
from seedcart.dashboard import build_site
from seedcart.lake.writer import LakeWriter
from seedcart.measure.testing import World, small_world


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World, Settings]]:
    """One server over ``small_world`` for the module (the tests only read, or write today's partitions).

    k = 70, so that campaign A_jd_cpc (60 users) is withheld from breakdowns.
    """
    data = tmp_path_factory.mktemp("reports") / "data"
    settings = load_settings({"SEEDCART__DATA_DIR": str(data), "SEEDCART__SERVE__K_ANONYMITY": "70"})
    catalog = open_catalog(settings)
    world = small_world(settings.resolved_lake_root, catalog)
    catalog.close()
    server = LiveServer(build_site(settings, services=False)).start()
    yield server.url, world, settings
    server.stop()


@pytest.fixture
def server(site: tuple[str, World, Settings]) -> str:
    return site[0]


@pytest.fixture
def world(site: tuple[str, World, Settings]) -> World:
    return site[1]


@pytest.fixture
def settings(site: tuple[str, World, Settings]) -> Settings:
    return site[2]


def client(url: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def note_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(r["note_id"] for r in response.json()["rows"])


def test_each_brand_sees_only_its_notes(server: str, world: World) -> None:
    with client(server, world.keys["brand_a"]) as a, client(server, world.keys["brand_b"]) as b:
        assert note_ids(a.get("/v1/reports/notes")) == ["nA1", "nA2"]
        assert note_ids(b.get("/v1/reports/notes")) == ["nB1"]
        row = a.get("/v1/reports/notes", params={"sort": "gmv"}).json()["rows"][0]
        assert (row["note_id"], row["gmv"], row["spend"], row["roi"]) == ("nA1", 10_000.0, 2_000.0, 5.0)


def test_brand_b_cannot_read_a_by_id_by_filter_or_by_export(server: str, world: World) -> None:
    with client(server, world.keys["brand_b"]) as b:
        assert b.get("/v1/reports/notes/nA1").status_code == 404
        assert note_ids(b.get("/v1/reports/notes", params={"campaign_id": world.campaigns["A_tmall_cpm"]})) == []
        refused = b.get("/v1/reports/notes", params={"brand_id": world.brands["A"]})
        assert refused.status_code == 403 and refused.json()["field"] == "brand_id"
        text = b.get("/v1/reports/export", params={"format": "csv"}).content.decode("utf-8-sig")
        assert [r["note_id"] for r in csv.DictReader(io.StringIO(text))] == ["nB1"]
        parquet = b.get("/v1/reports/export", params={"format": "parquet"})
        assert pq.read_table(io.BytesIO(parquet.content)).column("note_id").to_pylist() == ["nB1"]
        campaigns = b.get("/v1/reports/campaigns").json()["rows"]
        assert [r["key"] for r in campaigns] == [world.campaigns["B_tmall_cpm"]]


def test_partner_keys_see_their_ud_campaigns_and_admin_sees_all(server: str, world: World) -> None:
    with client(server, world.keys["partner_jd"]) as jd, client(server, world.keys["partner_tmall"]) as tmall:
        assert note_ids(jd.get("/v1/reports/notes")) == ["nA2"]
        assert note_ids(tmall.get("/v1/reports/notes")) == ["nB1"]  # A's tmall campaign is CID: not theirs
        assert jd.get("/v1/reports/notes/nA1").status_code == 404
    with client(server, world.keys["admin"]) as admin:
        assert note_ids(admin.get("/v1/reports/notes")) == ["nA1", "nA2", "nB1"]
        assert note_ids(admin.get("/v1/reports/notes", params={"brand_id": world.brands["A"]})) == ["nA1", "nA2"]


def test_readers_need_a_reading_key(server: str, world: World, settings: Settings) -> None:
    catalog = open_catalog(settings)
    with catalog.session() as s:
        source_key = create_key(s, "source")[0]
    catalog.close()
    with client(server, None) as anonymous, client(server, source_key) as source:
        assert anonymous.get("/v1/reports/notes").status_code == 401
        assert source.get("/v1/reports/notes").status_code == 403


@pytest.mark.parametrize(("params", "field"), [
    ({"model": "nope"}, "model"),
    ({"start": "2026-13-01"}, "start"),
    ({"start": "2026-11-21", "end": "2026-11-20"}, "start"),
    ({"sort": "password"}, "sort"),
    ({"lookback": "soon"}, "lookback"),
    ({"lookback": "36h"}, "lookback"),
    ({"limit": "0"}, "limit"),
    ({"placement": "billboard"}, "placement"),
    ({"campaign_id": "x"}, "campaign_id"),
])
def test_bad_parameters_get_a_4xx_naming_them(server: str, world: World, params: dict[str, str], field: str) -> None:
    with client(server, world.keys["brand_a"]) as a:
        response = a.get("/v1/reports/notes", params=params)
    assert response.status_code == 422
    body = response.json()
    named = body.get("field") or [err["loc"][-1] for err in body["detail"]]
    assert field in (named if isinstance(named, list) else [named])


def test_breakdowns_withhold_small_groups(server: str, world: World) -> None:
    with client(server, world.keys["admin"]) as admin:
        rows = admin.get("/v1/reports/breakdown", params={"by": "campaign"}).json()["rows"]
        assert {r["key"]: r["withheld"] for r in rows}[world.campaigns["A_jd_cpc"]] is True
        assert admin.get("/v1/reports/breakdown", params={"by": "colour"}).status_code == 422
        placements = admin.get("/v1/reports/breakdown", params={"by": "placement"}).json()["rows"]
        assert {r["key"] for r in placements} == {"feed", "search"}


def test_note_detail_and_models(server: str, world: World) -> None:
    with client(server, world.keys["brand_a"]) as a:
        detail = a.get("/v1/reports/notes/nA1").json()
        assert detail["funnel"][1] == {"step": "reads", "value": 40}
        assert detail["totals"]["seeding_value"] == 19.0
        models = {r["model"]: r for r in a.get("/v1/reports/models").json()["rows"]}
        assert models["linear"]["orders"] == 1.0 and models["last_touch"]["orders"] == 2.0


def test_realtime_counters_read_todays_lake(server: str, world: World, settings: Settings) -> None:
    now = datetime.now(UTC)
    writer = LakeWriter(settings.resolved_lake_root)
    writer.append("touch", pa.Table.from_pylist([
        {"event_id": f"rt-{i}", "ts": now, "received_at": now, "user_id": f"u{i}", "kind": kind, "note_id": "nA1",
         "brand_id": world.brands["A"], "is_bot": False, "is_duplicate": False, "source": "api"}
        for i, kind in enumerate(["impression", "impression", "read", "link_click"])]))
    writer.append("backflow", pa.Table.from_pylist([
        {"partner": "jd", "event_id": f"bf-{i}", "action": action, "ts": now, "received_at": now,
         "brand_id": world.brands["A"], "amount": amount, "sample_rate": 0.5, "source": "api"}
        for i, (action, amount) in enumerate([("visit", None), ("order", 1_000), ("order", 1_000)])]))
    with client(server, world.keys["brand_a"]) as a, client(server, world.keys["brand_b"]) as b:
        live = a.get("/v1/reports/realtime").json()
        assert (live["impressions"], live["reads"], live["link_clicks"]) == (2, 1, 1)
        assert (live["visits"], live["orders"], live["gmv"]) == (2.0, 4.0, 4_000.0)
        assert b.get("/v1/reports/realtime").json()["impressions"] == 0


def test_openapi_documents_the_formulas(server: str) -> None:
    with client(server, None) as anonymous:
        spec = anonymous.get("/openapi.json").json()
        assert anonymous.get("/docs").status_code == 200
    description = spec["paths"]["/v1/reports/notes"]["get"]["description"]
    for formula in ("CTR = reads / impressions", "进店率", "ROI(T+x)", "种草值", "bid_price / 1000"):
        assert formula in description


def test_sign_in_sets_a_session_cookie_that_reads_reports(server: str, world: World) -> None:
    with client(server, None) as browser:
        assert browser.post("/v1/session", json={"key": "sc_brand_wrong"}).status_code == 401
        assert browser.post("/v1/session", json={}).status_code == 422
        signed = browser.post("/v1/session", json={"key": world.keys["brand_a"]})
        assert signed.status_code == 200 and signed.json()["brand_name"] == "Brand A"
        assert "httponly" in signed.headers["set-cookie"].lower()
        assert browser.get("/v1/session").json()["role"] == "brand"
        assert note_ids(browser.get("/v1/reports/notes")) == ["nA1", "nA2"]
        browser.delete("/v1/session")
        assert browser.get("/v1/reports/notes").status_code == 401


def test_a_session_cookie_is_brand_scoped(server: str, world: World) -> None:
    with client(server, None) as browser:
        browser.post("/v1/session", json={"key": world.keys["brand_b"]})
        assert note_ids(browser.get("/v1/reports/notes")) == ["nB1"]
        assert browser.get("/v1/reports/notes/nA2").status_code == 404
        browser.cookies.set("seedcart_session", browser.cookies["seedcart_session"][:-2] + "00")
        assert browser.get("/v1/reports/notes").status_code == 401  # a tampered cookie is refused
