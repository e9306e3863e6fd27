"""Deep-link builders: the app link and web fallback of every partner carry the click id."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from seedcart.errors import LinkRefused
from seedcart.links import destination, is_allowed_destination

CID = "cLk_9-Id"


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_taobao_scheme_carries_the_h5_path_and_click_id() -> None:
    dest = destination("taobao", "623456789012", None, CID)
    assert dest.app_url == f"taobao://item.taobao.com/item.htm?id=623456789012&sc_cid={CID}"
    assert dest.web_url == f"https://item.taobao.com/item.htm?id=623456789012&sc_cid={CID}"


def test_tmall_scheme_wraps_the_h5_url_with_the_click_id_inside() -> None:
    dest = destination("tmall", "577342018417", None, CID)
    assert dest.app_url is not None and dest.app_url.startswith("tmall://page.tm/appLink?h5Url=")
    wrapped = _query(dest.app_url)["h5Url"][0]
    assert wrapped == dest.web_url == f"https://detail.tmall.com/item.htm?id=577342018417&sc_cid={CID}"


def test_jd_scheme_puts_the_click_id_in_the_params_json() -> None:
    dest = destination("jd", "100012043978", None, CID)
    assert dest.app_url is not None and dest.app_url.startswith("openapp.jdmobile://virtual?params=")
    params = json.loads(_query(dest.app_url)["params"][0])
    assert params == {"category": "jump", "des": "productDetail", "skuId": "100012043978", "sc_cid": CID}
    assert dest.web_url == f"https://item.m.jd.com/product/100012043978.html?sc_cid={CID}"


def test_pdd_scheme_names_the_goods_page() -> None:
    dest = destination("pdd", "667048089669", None, CID)
    assert dest.app_url == f"pinduoduo://com.xunmeng.pinduoduo/goods.html?goods_id=667048089669&sc_cid={CID}"
    assert dest.web_url == f"https://mobile.yangkeduo.com/goods.html?goods_id=667048089669&sc_cid={CID}"


def test_vip_scheme_wraps_the_mobile_page() -> None:
    dest = destination("vip", "464314661", "2590192", CID)
    assert dest.web_url == f"https://m.vip.com/product-2590192-464314661.html?sc_cid={CID}"
    assert dest.app_url is not None
    assert _query(dest.app_url)["url"][0] == dest.web_url


def test_wechat_scheme_adds_the_click_id_to_the_encoded_query() -> None:
    dest = destination("wechat_mp", "pages/goods/detail?id=9", "wx4e1ba651bbe36d01", CID)
    assert dest.app_url is not None
    query = _query(dest.app_url)
    assert query["appid"] == ["wx4e1ba651bbe36d01"]
    assert query["path"] == ["pages/goods/detail"]
    assert parse_qs(query["query"][0]) == {"id": ["9"], "sc_cid": [CID]}
    assert dest.web_url is None  # a mini program has no web page: the redirect shows a landing page


def test_without_a_click_id_nothing_is_appended() -> None:
    dest = destination("pdd", "1", None, None)
    assert dest.web_url == "https://mobile.yangkeduo.com/goods.html?goods_id=1"


@pytest.mark.parametrize("partner,item,store", [
    ("taobao", "1", None), ("tmall", "1", None), ("jd", "1", None), ("pdd", "1", None), ("vip", "1", "2"),
    ("wechat_mp", "pages/a/b", "wx4e1ba651bbe36d01"),
])
def test_every_built_target_passes_the_allowlist(partner: str, item: str, store: str | None) -> None:
    dest = destination(partner, item, store, CID)
    for url in (dest.app_url, dest.web_url):
        if url is not None:
            assert is_allowed_destination(url), url


@pytest.mark.parametrize("url", [
    "https://evil.com/x", "https://detail.tmall.com.evil.cn/item.htm?id=1", "https://item.jd.com@evil.com/",
    "javascript:alert(1)", "http://item.jd.com/1.html", "https://item.m.jd.com:444/", "//evil.com/",
    "data:text/html,hi", "https://evil.com/\nLocation: https://item.jd.com/", "",
])
def test_the_allowlist_refuses_other_targets(url: str) -> None:
    assert not is_allowed_destination(url)


@pytest.mark.parametrize("partner,item,store", [
    ("jd", "12<script>", None), ("vip", "1", None), ("wechat_mp", "pages/a", "not-an-appid"), ("nosuch", "1", None),
])
def test_catalog_items_a_partner_cannot_open_are_refused(partner: str, item: str, store: str | None) -> None:
    with pytest.raises(LinkRefused):
        destination(partner, item, store, CID)
