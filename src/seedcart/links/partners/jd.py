"""JD (京东) link formats.

Parsed (what people paste):
- web items ``https://item.jd.com/<sku>.html`` (also ``item.jd.hk``, ``npcitem.jd.hk``) and
  mobile ``https://item.m.jd.com/product/<sku>.html`` or ``https://item.m.jd.com/ware/view.action?wareId=<sku>``;
- stores ``https://mall.jd.com/index-<shopId>.html`` and ``https://shop.m.jd.com/?shopId=<shopId>``;
- short links ``https://u.jd.com/<code>`` and ``https://3.cn/<code>``: recognised, kept opaque.

Built:
- web: ``https://item.m.jd.com/product/<sku>.html?sc_cid=<click>`` (the mobile page works on
  every agent; desktop browsers are sent on to ``item.jd.com`` by JD itself);
- app: ``openapp.jdmobile://virtual?params=<percent-encoded JSON>`` with ``category: "jump"``;
  products use ``des: "productDetail"`` with ``skuId`` (and ``sc_cid`` inside the JSON); stores use
  ``des: "m"`` wrapping the H5 store URL (which carries ``sc_cid``).

Where checked: the ``search`` tool (code corpus, 2026-11): public iOS and H5 code opening
``openApp.jdMobile://virtual?params={"category":"jump","des":"productDetail","skuId":...,
"sourceType":...}`` and ``{"category":"jump","des":"m","url":...}``; item URL samples
``item.jd.com/<digits>.html`` in public crawlers.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult

from seedcart.links.partners.base import PartnerLinks, PartnerRef, first, json_param, with_click

_ITEM_PATH = re.compile(r"^/([0-9]{1,20})\.html$")
_MOBILE_PATH = re.compile(r"^/product/([0-9]{1,20})\.html$")
_MALL_PATH = re.compile(r"^/index-([0-9]{1,20})\.html$")


class JD(PartnerLinks):
    """JD: items by SKU, stores by shop id, ``u.jd.com`` / ``3.cn`` short links."""

    name = "jd"
    hosts = frozenset({"item.jd.com", "item.m.jd.com", "item.jd.hk", "npcitem.jd.hk", "mall.jd.com",
                       "shop.m.jd.com"})
    short_hosts = frozenset({"u.jd.com", "3.cn"})
    web_hosts = frozenset({"item.m.jd.com", "shop.m.jd.com"})
    app_schemes = frozenset({"openapp.jdmobile"})

    def parse(self, parts: SplitResult, query: dict[str, list[str]]) -> PartnerRef:
        host = parts.hostname or ""
        path = parts.path
        if host in self.short_hosts:
            return self.short(parts)
        if host in ("item.jd.com", "item.jd.hk", "npcitem.jd.hk"):
            match = _ITEM_PATH.match(path)
            if match is None:
                raise self.refuse(f"expected /<sku>.html, got {path!r}", "item_id")
            return self.product(match.group(1))
        if host == "item.m.jd.com":
            match = _MOBILE_PATH.match(path)
            if match is not None:
                return self.product(match.group(1))
            if path == "/ware/view.action":
                return self.product(self.digits(first(query, "wareId"), "wareId"))
            raise self.refuse(f"expected /product/<sku>.html, got {path!r}", "item_id")
        if host == "mall.jd.com":
            match = _MALL_PATH.match(path)
            if match is None:
                raise self.refuse(f"expected /index-<shopId>.html, got {path!r}", "item_id")
            return self._store(match.group(1))
        if host == "shop.m.jd.com":
            return self._store(self.digits(first(query, "shopId", "venderId"), "shopId"))
        raise self.refuse(f"no product or store on host {host}", "unrecognised_path")

    def _store(self, shop_id: str) -> PartnerRef:
        return PartnerRef(partner=self.name, kind="store", item_id=shop_id,
                          canonical_url=f"https://shop.m.jd.com/?shopId={shop_id}")

    def product(self, item_id: str, store_id: str | None = None) -> PartnerRef:
        sku = self.digits(item_id, "sku")
        return PartnerRef(partner=self.name, kind="product", item_id=sku,
                          canonical_url=f"https://item.jd.com/{sku}.html", store_id=store_id)

    def web_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        if ref.kind == "product":
            return with_click(f"https://item.m.jd.com/product/{ref.item_id}.html", click_id)
        return with_click(ref.canonical_url, click_id)

    def app_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        if ref.kind == "short":
            return None
        if ref.kind == "product":
            params: dict[str, str] = {"category": "jump", "des": "productDetail", "skuId": ref.item_id}
            if click_id:
                params["sc_cid"] = click_id
        else:
            h5 = self.web_url(ref, click_id)
            assert h5 is not None
            params = {"category": "jump", "des": "m", "url": h5}
        return "openapp.jdmobile://virtual?params=" + json_param(params)
