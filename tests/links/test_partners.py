"""Per-partner URL tables: web, mobile, short, malformed and hostile input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seedcart.errors import LinkRefused
from seedcart.links import parse_link, parse_url
from seedcart.links.partners import REGISTRY
from seedcart.types import PARTNERS

CLI = [sys.executable, "-c", "from seedcart.cli import main; main()"]

# (pasted URL, partner, kind, item_id, store_id, canonical_url)
PARSED = [
    # tmall
    ("https://detail.tmall.com/item.htm?id=577342018417&spm=a1z10", "tmall", "product", "577342018417", None,
     "https://detail.tmall.com/item.htm?id=577342018417"),
    ("https://detail.m.tmall.com/item.htm?spm=a2141&id=577342018417&sku_properties=1:2", "tmall", "product",
     "577342018417", None, "https://detail.tmall.com/item.htm?id=577342018417"),
    ("detail.tmall.com/item.htm?id=42", "tmall", "product", "42", None, "https://detail.tmall.com/item.htm?id=42"),
    ("https://suning.m.tmall.com/", "tmall", "store", "suning", None, "https://suning.tmall.com/"),
    # taobao
    ("https://item.taobao.com/item.htm?id=623456789012", "taobao", "product", "623456789012", None,
     "https://item.taobao.com/item.htm?id=623456789012"),
    ("http://h5.m.taobao.com/awp/core/detail.htm?id=623456789012", "taobao", "product", "623456789012", None,
     "https://item.taobao.com/item.htm?id=623456789012"),
    ("https://shop106.taobao.com/", "taobao", "store", "106", None,
     "https://shop.m.taobao.com/shop/shop_index.htm?shop_id=106"),
    ("https://shop.m.taobao.com/shop/shop_index.htm?shopId=106", "taobao", "store", "106", None,
     "https://shop.m.taobao.com/shop/shop_index.htm?shop_id=106"),
    ("https://m.tb.cn/h.5Bq3Xyz", "taobao", "short", "h.5Bq3Xyz", None, "https://m.tb.cn/h.5Bq3Xyz"),
    # jd
    ("https://item.jd.com/100012043978.html", "jd", "product", "100012043978", None,
     "https://item.jd.com/100012043978.html"),
    ("https://item.m.jd.com/product/100012043978.html?wxa_abtest=o", "jd", "product", "100012043978", None,
     "https://item.jd.com/100012043978.html"),
    ("https://item.m.jd.com/ware/view.action?wareId=100012043978", "jd", "product", "100012043978", None,
     "https://item.jd.com/100012043978.html"),
    ("https://mall.jd.com/index-1000004123.html", "jd", "store", "1000004123", None,
     "https://shop.m.jd.com/?shopId=1000004123"),
    ("https://u.jd.com/Ab3dEf9", "jd", "short", "Ab3dEf9", None, "https://u.jd.com/Ab3dEf9"),
    ("https://3.cn/10-Ab3d", "jd", "short", "10-Ab3d", None, "https://3.cn/10-Ab3d"),
    # pdd
    ("https://mobile.yangkeduo.com/goods.html?goods_id=667048089669&page_from=401", "pdd", "product",
     "667048089669", None, "https://mobile.yangkeduo.com/goods.html?goods_id=667048089669"),
    ("https://mobile.yangkeduo.com/goods2.html?goods_id=667048089669", "pdd", "product", "667048089669", None,
     "https://mobile.yangkeduo.com/goods.html?goods_id=667048089669"),
    ("http://mobile.yangkeduo.com/mall_page.html?mall_id=354267", "pdd", "store", "354267", None,
     "https://mobile.yangkeduo.com/mall_page.html?mall_id=354267"),
    ("https://p.pinduoduo.com/Xy12ab", "pdd", "short", "Xy12ab", None, "https://p.pinduoduo.com/Xy12ab"),
    # vip
    ("https://detail.vip.com/detail-2590192-464314661.html", "vip", "product", "464314661", "2590192",
     "https://detail.vip.com/detail-2590192-464314661.html"),
    ("https://m.vip.com/product-2590192-464314661.html?f=share", "vip", "product", "464314661", "2590192",
     "https://detail.vip.com/detail-2590192-464314661.html"),
    # wechat mini programs
    ("weixin://dl/business/?appid=wx4e1ba651bbe36d01&path=pages/goods/detail&query=id%3D9", "wechat_mp", "product",
     "pages/goods/detail?id=9", "wx4e1ba651bbe36d01",
     "weixin://dl/business/?appid=wx4e1ba651bbe36d01&path=pages/goods/detail&query=id%3D9"),
    ("weixin://dl/business/?t=AbCdEf123", "wechat_mp", "short", "AbCdEf123", None,
     "weixin://dl/business/?t=AbCdEf123"),
    ("https://wxaurl.cn/R9rhJJP6pzk", "wechat_mp", "short", "R9rhJJP6pzk", None, "https://wxaurl.cn/R9rhJJP6pzk"),
    ("#小程序://好物商店/Xy8ZaB2c", "wechat_mp", "short", "Xy8ZaB2c", None, "#小程序://好物商店/Xy8ZaB2c"),
]

# (pasted URL, rule that refuses it)
REFUSED = [
    ("", "empty"),
    ("   ", "empty"),
    ("https://detail.tmall.com.evil.cn/item.htm?id=1", "host_not_allowlisted"),
    ("https://item.jd.com@evil.com/1.html", "userinfo"),
    ("https://evil.com@item.jd.com/1.html", "userinfo"),
    ("javascript:alert(document.cookie)", "scheme"),
    ("JavaScript:alert(1)//item.jd.com/1.html", "scheme"),
    ("data:text/html;base64,PHNjcmlwdD4=", "scheme"),
    ("ftp://item.jd.com/1.html", "scheme"),
    ("https://item.jd.com/1<script>alert(1)</script>.html", "markup"),
    ("https://item.taobao.com/item.htm?id=1%22onmouseover=alert(1)", "item_id"),
    ("https://item.taobao.com/item.htm?id=abc", "item_id"),
    ("https://item.taobao.com/item.htm", "item_id"),
    ("https://item.jd.com/abc.html", "item_id"),
    ("https://item.jd.com/100012043978.htm", "item_id"),
    ("https://mobile.yangkeduo.com/goods.html?goods_id=", "item_id"),
    ("https://mobile.yangkeduo.com/search_result.html?q=x", "unrecognised_path"),
    ("https://detail.vip.com/detail-1.html", "item_id"),
    ("https://evil.com/?u=https://item.jd.com/100012043978.html", "host_not_allowlisted"),
    ("https://evil.com/item.jd.com/100012043978.html", "host_not_allowlisted"),
    ("https://item.jd.com.evil.com/1.html", "host_not_allowlisted"),
    ("https://jd.com.cn/1.html", "host_not_allowlisted"),
    ("https://tmall.com/", "host_not_allowlisted"),
    ("https://www.tmall.com/", "unrecognised_path"),
    ("https://item.jd.com:8443/1.html", "port"),
    ("https://item.jd.com\\@evil.com/1.html", "markup"),
    ("https://item.jd.com/1.html\n<script>", "control_characters"),
    ("https://xn--tmll-qoa.com/item.htm?id=1", "host_not_allowlisted"),
    ("https://detail.tmаll.com/item.htm?id=1", "host_not_allowlisted"),  # Cyrillic a
    ("https://m.tb.cn/", "short_code"),
    ("weixin://dl/business/?appid=wxNOTHEX&path=pages/a", "item_id"),
    ("weixin://dl/business/?appid=wx4e1ba651bbe36d01&path=../../etc", "item_id"),
    ("weixin://dl/profile", "unrecognised_path"),
    ("https://item.jd.com/" + "1" * 3000 + ".html", "too_long"),
]


@pytest.mark.parametrize(("url", "partner", "kind", "item_id", "store_id", "canonical"), PARSED)
def test_pasted_urls_parse_to_canonical_references(url: str, partner: str, kind: str, item_id: str,
                                                   store_id: str | None, canonical: str) -> None:
    ref = parse_url(url)
    assert (ref.partner, ref.kind, ref.item_id, ref.store_id, ref.canonical_url) == (
        partner, kind, item_id, store_id, canonical)


def test_every_partner_has_a_module_with_a_documented_format() -> None:
    assert set(REGISTRY) == set(PARTNERS)
    for links in REGISTRY.values():
        doc = type(links).__module__
        module = sys.modules[doc]
        assert module.__doc__ and "Where checked" in module.__doc__, doc
    covered = {row[1] for row in PARSED}
    assert covered == set(PARTNERS)


@pytest.mark.parametrize(("url", "rule"), REFUSED)
def test_hostile_and_malformed_urls_are_refused_with_their_rule(url: str, rule: str) -> None:
    with pytest.raises(LinkRefused) as caught:
        parse_url(url)
    assert caught.value.rule == rule
    assert caught.value.field == "url"


def test_short_links_are_kept_opaque() -> None:
    out = parse_link("https://u.jd.com/Ab3dEf9", click_id="CID")
    assert out["kind"] == "short"
    assert out["app_url"] is None  # cannot be resolved offline, so no app deep link
    assert out["web_url"] == "https://u.jd.com/Ab3dEf9?sc_cid=CID"


def test_cli_prints_json_and_exits_nonzero_on_refusal() -> None:
    ok = subprocess.run([*CLI, "links", "parse", "https://item.m.jd.com/product/100012043978.html"],
                        check=False, capture_output=True, text=True)
    out = json.loads(ok.stdout)
    assert ok.returncode == 0
    assert {k: out[k] for k in ("partner", "kind", "item_id")} == {"partner": "jd", "kind": "product",
                                                                   "item_id": "100012043978"}
    assert out["canonical_url"] == "https://item.jd.com/100012043978.html"
    assert out["app_url"].startswith("openapp.jdmobile://virtual?params=")
    assert out["web_url"] == "https://item.m.jd.com/product/100012043978.html"
    bad = subprocess.run([*CLI, "links", "parse", "javascript:alert(1)"], check=False, capture_output=True, text=True)
    assert bad.returncode != 0
    assert json.loads(bad.stdout)["rule"] == "scheme"


def test_the_links_facade_exports_what_all_lists() -> None:
    import seedcart.links as facade

    public = {name for name, value in vars(facade).items()
              if not name.startswith("_") and not isinstance(value, type(facade)) and name != "annotations"
              and name not in ("Any",)}
    assert set(facade.__all__) == public
