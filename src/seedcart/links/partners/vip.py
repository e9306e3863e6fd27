"""Vipshop (唯品会) link formats.

Parsed (what people paste):
- web items ``https://detail.vip.com/detail-<brandId>-<productId>.html`` and mobile
  ``https://m.vip.com/product-<brandId>-<productId>.html``. The product id is the item id; the
  brand (sale event) id is kept as ``store_id`` because both pages need it.
- Vipshop has no short-link host seedcart can vouch for; anything else on its hosts is refused.

Built:
- web: ``https://m.vip.com/product-<brandId>-<productId>.html?sc_cid=<click>``;
- app: ``vipshop://showWeb?url=<percent-encoded web URL, sc_cid inside>`` — opening the H5 page in
  the app. Seen only in public third-party code, not in Vipshop documentation: treat as
  best-effort; agents without the app get the web page from the landing page.

Where checked: the ``search`` tool (code corpus, 2026-11): public crawlers building
``https://detail.vip.com/detail-{brandId}-{productId}.html`` and URL validators pairing it with
``m.vip.com/product-\\d+-\\d+.html``.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult

from seedcart.links.partners.base import PartnerLinks, PartnerRef, with_click, wrap

_DETAIL = re.compile(r"^/detail-([0-9]{1,20})-([0-9]{1,20})\.html$")
_MOBILE = re.compile(r"^/product-([0-9]{1,20})-([0-9]{1,20})\.html$")


class Vip(PartnerLinks):
    """Vipshop: items by brand id and product id."""

    name = "vip"
    hosts = frozenset({"detail.vip.com", "m.vip.com"})
    short_hosts = frozenset()
    web_hosts = frozenset({"m.vip.com", "detail.vip.com"})
    app_schemes = frozenset({"vipshop"})

    def parse(self, parts: SplitResult, query: dict[str, list[str]]) -> PartnerRef:
        pattern = _DETAIL if parts.hostname == "detail.vip.com" else _MOBILE
        match = pattern.match(parts.path)
        if match is None:
            raise self.refuse(f"no product at {parts.path!r}", "item_id")
        return self.product(match.group(2), match.group(1))

    def product(self, item_id: str, store_id: str | None = None) -> PartnerRef:
        product = self.digits(item_id, "product id")
        brand = self.digits(store_id, "brand id (store_id)")
        return PartnerRef(partner=self.name, kind="product", item_id=product, store_id=brand,
                          canonical_url=f"https://detail.vip.com/detail-{brand}-{product}.html")

    def web_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        return with_click(f"https://m.vip.com/product-{ref.store_id}-{ref.item_id}.html", click_id)

    def app_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        web = self.web_url(ref, click_id)
        return None if web is None else wrap("vipshop://showWeb?url=", web)
