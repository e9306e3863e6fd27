"""Taobao (淘宝) link formats.

Parsed (what people paste):
- web items ``https://item.taobao.com/item.htm?id=<digits>`` and mobile
  ``https://h5.m.taobao.com/awp/core/detail.htm?id=<digits>`` / ``https://market.m.taobao.com/...?id=``;
- stores ``https://shop<digits>.taobao.com/`` and ``https://shop.m.taobao.com/shop/shop_index.htm?shop_id=<digits>``
  (``shopId`` also accepted);
- short links ``https://m.tb.cn/<code>`` (also ``tb.cn``): recognised, kept opaque — they resolve
  only through Taobao's servers. Tmall items are shared through the same short host, so a short
  link is reported as Taobao's.

Built:
- web: ``https://item.taobao.com/item.htm?id=<id>&sc_cid=<click>``;
- app: ``taobao://item.taobao.com/item.htm?id=<id>&sc_cid=<click>`` — the ``taobao://`` scheme takes
  the H5 host and path after it, as in public URL-scheme lists (``taobao://s.taobao.com?q=``,
  ``taobao://shop.m.taobao.com/shop/shop_index.htm?shopId=``; searched in public code, 2026-11).
  The universal-link wrapper Taobao issues to affiliates needs its API and is not built offline.

Where checked: host and parameter names against public crawlers and URL-scheme lists found
with the ``search`` tool (code corpus: "taobao:// item.taobao.com item.htm?id="); the item
id is decimal in every sample seen.
"""

from __future__ import annotations

from urllib.parse import SplitResult

from seedcart.links.partners.base import PartnerLinks, PartnerRef, first, with_click

_ITEM_HOSTS = frozenset({"item.taobao.com", "h5.m.taobao.com", "market.m.taobao.com", "m.intl.taobao.com"})


class Taobao(PartnerLinks):
    """Taobao: items by ``id``, stores by shop id, ``m.tb.cn`` short links."""

    name = "taobao"
    hosts = _ITEM_HOSTS | {"shop.m.taobao.com", "world.taobao.com"}
    store_domains = frozenset()
    short_hosts = frozenset({"m.tb.cn", "tb.cn"})
    web_hosts = frozenset({"item.taobao.com", "shop.m.taobao.com"})
    app_schemes = frozenset({"taobao"})

    def owns_host(self, host: str) -> bool:
        return super().owns_host(host) or _shop_id_of_host(host) is not None

    def parse(self, parts: SplitResult, query: dict[str, list[str]]) -> PartnerRef:
        host = parts.hostname or ""
        if host in self.short_hosts:
            return self.short(parts)
        shop = _shop_id_of_host(host)
        if shop is not None:
            return self._store(shop)
        if host == "shop.m.taobao.com":
            return self._store(self.digits(first(query, "shop_id", "shopId"), "shop_id"))
        if host in _ITEM_HOSTS or host == "world.taobao.com":
            return self.product(self.digits(first(query, "id", "itemId", "item_id"), "id"))
        raise self.refuse(f"no product or store on host {host}", "unrecognised_path")

    def _store(self, shop_id: str) -> PartnerRef:
        return PartnerRef(partner=self.name, kind="store", item_id=shop_id,
                          canonical_url=f"https://shop.m.taobao.com/shop/shop_index.htm?shop_id={shop_id}")

    def product(self, item_id: str, store_id: str | None = None) -> PartnerRef:
        item_id = self.digits(item_id, "id")
        return PartnerRef(partner=self.name, kind="product", item_id=item_id,
                          canonical_url=f"https://item.taobao.com/item.htm?id={item_id}", store_id=store_id)

    def web_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        return with_click(ref.canonical_url, click_id)

    def app_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        if ref.kind == "short":
            return None
        if ref.kind == "store":
            return with_click(f"taobao://shop.m.taobao.com/shop/shop_index.htm?shopId={ref.item_id}", click_id)
        return with_click(f"taobao://item.taobao.com/item.htm?id={ref.item_id}", click_id)


def _shop_id_of_host(host: str) -> str | None:
    """``shop123.taobao.com`` -> ``"123"``; anything else -> None."""
    if host.endswith(".taobao.com"):
        label = host[: -len(".taobao.com")]
        if label.startswith("shop") and label[4:].isdigit() and 0 < len(label) - 4 <= 20:
            return label[4:]
    return None
