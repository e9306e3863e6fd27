"""Pinduoduo (拼多多) link formats.

Parsed (what people paste):
- items ``https://mobile.yangkeduo.com/goods.html?goods_id=<digits>`` (also ``goods1.html``,
  ``goods2.html``, and the hosts ``yangkeduo.com``, ``mobile.pinduoduo.com``, ``m.pinduoduo.com``);
- stores ``https://mobile.yangkeduo.com/mall_page.html?mall_id=<digits>``;
- short links ``https://p.pinduoduo.com/<code>``: recognised, kept opaque.

Built:
- web: ``https://mobile.yangkeduo.com/goods.html?goods_id=<id>&sc_cid=<click>``;
- app: ``pinduoduo://com.xunmeng.pinduoduo/goods.html?goods_id=<id>&sc_cid=<click>`` — the app
  scheme takes the H5 page name after the package name (stores: ``mall_page.html?mall_id=``).

Where checked: the ``search`` tool (code corpus, 2026-11): public scrapers naming
``mobile.yangkeduo.com/goods.html?goods_id=`` and a seller ``shopUrl`` of the form
``mobile.yangkeduo.com/mall_page.html?mall_id=``; public deep-link code using
``pinduoduo://com.xunmeng.pinduoduo/<page>.html?...``.
"""

from __future__ import annotations

from urllib.parse import SplitResult

from seedcart.links.partners.base import PartnerLinks, PartnerRef, first, with_click

_GOODS_PAGES = frozenset({"/goods.html", "/goods1.html", "/goods2.html"})


class PDD(PartnerLinks):
    """Pinduoduo: items by ``goods_id``, stores by ``mall_id``."""

    name = "pdd"
    hosts = frozenset({"mobile.yangkeduo.com", "yangkeduo.com", "mobile.pinduoduo.com", "m.pinduoduo.com"})
    short_hosts = frozenset({"p.pinduoduo.com"})
    web_hosts = frozenset({"mobile.yangkeduo.com"})
    app_schemes = frozenset({"pinduoduo"})

    def parse(self, parts: SplitResult, query: dict[str, list[str]]) -> PartnerRef:
        host = parts.hostname or ""
        if host in self.short_hosts:
            return self.short(parts)
        if parts.path in _GOODS_PAGES:
            return self.product(self.digits(first(query, "goods_id"), "goods_id"))
        if parts.path == "/mall_page.html":
            mall = self.digits(first(query, "mall_id"), "mall_id")
            return PartnerRef(partner=self.name, kind="store", item_id=mall,
                              canonical_url=f"https://mobile.yangkeduo.com/mall_page.html?mall_id={mall}")
        raise self.refuse(f"no product or store at {parts.path!r}", "unrecognised_path")

    def product(self, item_id: str, store_id: str | None = None) -> PartnerRef:
        goods = self.digits(item_id, "goods_id")
        return PartnerRef(partner=self.name, kind="product", item_id=goods,
                          canonical_url=f"https://mobile.yangkeduo.com/goods.html?goods_id={goods}",
                          store_id=store_id)

    def web_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        return with_click(ref.canonical_url, click_id)

    def app_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        if ref.kind == "short":
            return None
        page = ref.canonical_url.removeprefix("https://mobile.yangkeduo.com/")
        return with_click(f"pinduoduo://com.xunmeng.pinduoduo/{page}", click_id)
