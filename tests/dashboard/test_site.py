"""The dashboard pages over a real server: sign-in, pages, languages and the local chart library."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conftest import LiveServer
from seedcart.catalog.db import open_catalog
from seedcart.config import load_settings
from seedcart.dashboard import build_site, plotly_js
from seedcart.measure.testing import World, small_world


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    data = tmp_path_factory.mktemp("dashboard") / "data"
    settings = load_settings({"SEEDCART__DATA_DIR": str(data)})
    catalog = open_catalog(settings)
    world = small_world(settings.resolved_lake_root, catalog)
    catalog.close()
    server = LiveServer(build_site(settings, services=False)).start()
    yield server.url, world
    server.stop()


def browser(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30, follow_redirects=False)


def test_signed_out_visitors_get_the_sign_in_page(site: tuple[str, World]) -> None:
    with browser(site[0]) as b:
        page = b.get("/")
        assert page.status_code == 200 and 'action="/v1/session"' in page.text
        assert b.get("/notes").headers["location"] == "/"
        wrong = b.post("/v1/session", data={"key": "nope", "next": "/"})
        assert wrong.status_code == 303 and wrong.headers["location"] == "/?error=key"
        assert "not accepted" in b.get("/?error=key").text


def test_signing_in_with_a_form_opens_every_page(site: tuple[str, World]) -> None:
    url, world = site
    with browser(url) as b:
        signed = b.post("/v1/session", data={"key": world.keys["brand_a"], "next": "/notes"})
        assert signed.status_code == 303 and signed.headers["location"] == "/notes"
        overview = b.get("/")
        assert 'data-page="overview"' in overview.text and "Brand A" in overview.text
        for path, page in (("/notes", "notes"), ("/notes/nA1", "note"), ("/breakdowns", "breakdowns"),
                           ("/models", "models")):
            response = b.get(path)
            assert response.status_code == 200 and f'data-page="{page}"' in response.text
        assert b.get("/v1/reports/notes").json()["total"] == 2
        out = b.post("/v1/session/logout")
        assert out.status_code == 303
        assert 'action="/v1/session"' in b.get("/").text


def test_pages_speak_chinese_and_english(site: tuple[str, World]) -> None:
    with browser(site[0]) as b:
        zh = b.get("/", params={"lang": "zh"})
        assert 'lang="zh-CN"' in zh.text and "登录" in zh.text
        assert 'lang="zh-CN"' in b.get("/").text  # remembered in a cookie
        assert "Sign in" in b.get("/", params={"lang": "en"}).text
    with browser(site[0]) as b:
        assert "登录" in b.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text


def test_assets_are_served_locally(site: tuple[str, World]) -> None:
    with browser(site[0]) as b:
        bundle = b.get("/static/vendor/plotly.min.js")
        assert bundle.status_code == 200 and len(bundle.content) == plotly_js().stat().st_size
        assert b.get("/static/app.js").status_code == 200
        assert b.get("/static/app.css").status_code == 200
        page = b.get("/")
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
