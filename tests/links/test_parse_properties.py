"""Properties of the URL parser over arbitrary input: it refuses or returns a reference whose
canonical URL parses back to itself and whose targets pass the redirect allowlist."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from seedcart.errors import LinkRefused
from seedcart.links import destination, is_allowed_destination, parse_url
from seedcart.links.partners import PartnerRef

HOSTS = ["item.jd.com", "item.m.jd.com", "detail.tmall.com", "detail.m.tmall.com", "item.taobao.com",
         "mobile.yangkeduo.com", "detail.vip.com", "m.vip.com", "u.jd.com", "m.tb.cn", "evil.com",
         "detail.tmall.com.evil.cn", "item.jd.com@evil.com", "shop1.taobao.com", "x.tmall.com"]
PIECES = ["/", "item.htm", "?id=", "&", "goods.html", "goods_id=", ".html", "/product/", "detail-", "-",
          "123", "<", ">", "\"", "%2e", "..", "@", ":", "#", "javascript:", "\\", " ", "\u202e", "中文"]


def _check(ref: PartnerRef) -> None:
    again = parse_url(ref.canonical_url)
    assert (again.partner, again.kind, again.item_id, again.store_id) == (ref.partner, ref.kind, ref.item_id,
                                                                          ref.store_id)
    if ref.kind == "product":
        dest = destination(ref.partner, ref.item_id, ref.store_id, "Ab_-09")
        for url in (dest.app_url, dest.web_url):
            assert url is None or is_allowed_destination(url), url


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["https://", "http://", "", "//", "ftp://", "data:"]), st.sampled_from(HOSTS),
       st.lists(st.sampled_from(PIECES), max_size=8))
def test_assembled_urls_are_refused_or_round_trip(scheme: str, host: str, pieces: list[str]) -> None:
    try:
        ref = parse_url(scheme + host + "".join(pieces))
    except LinkRefused as exc:
        assert exc.rule
        return
    _check(ref)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    try:
        ref = parse_url(text)
    except LinkRefused:
        return
    _check(ref)
