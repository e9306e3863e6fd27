"""Tmall (天猫) link formats.

Parsed (what people paste):
- web items ``https://detail.tmall.com/item.htm?id=<digits>`` (also ``detail.tmall.hk``,
  ``chaoshi.detail.tmall.com``) and mobile ``https://detail.m.tmall.com/item.htm?id=<digits>``;
- stores ``https://<shop>.tmall.com/`` and ``https://<shop>.m.tmall.com/`` (the shop's sub-domain
  is the store id; e.g. ``suning.m.tmall.com`` in a public item-detail sample);
- short links: Tmall shares Taobao's ``m.tb.cn``, reported as Taobao's (see ``taobao``).

Built:
- web: ``https://detail.tmall.com/item.htm?id=<id>&sc_cid=<click>``;
- app: ``tmall://page.tm/appLink?h5Url=<percent-encoded web URL, sc_cid inside>`` — the Tmall app's
  ``appLink`` page opening a wrapped H5 URL (seen in public deep-link converters; ``tmall://page.tm/``
  is also the host of the documented-by-example search scheme ``tmall://page.tm/search?q=``).
  Universal-link wrappers are not built: on iOS the https web URL itself opens the app where the
  app claims that host (Apple universal links); affiliate wrappers need Alibaba's API.

Where checked: the ``search`` tool (code corpus) — item-detail samples naming
``detail.m.tmall.com/item.htm?id=`` and ``<shop>.m.tmall.com``, and URL-scheme lists naming
``tmall://page.tm/``; 2026-11.
"""

from __future__ import annotations

from urllib.parse import SplitResult

from seedcart.links.partners.base import PartnerLinks, PartnerRef, first, with_click, wrap

_ITEM_HOSTS = frozenset({"detail.tmall.com", "detail.m.tmall.com", "detail.tmall.hk", "detail.m.tmall.hk",
                         "chaoshi.detail.tmall.com"})
#: Sub-domains of tmall.com that are Tmall's own services, not shops.
_NOT_SHOPS = frozenset({"www", "m", "list", "login", "pages", "s", "vip", "chaoshi", "detail", "page",
                        "buy", "cart", "mdetail", "h5"})


class Tmall(PartnerLinks):
    """Tmall: items by ``id``, stores by shop sub-domain."""

    name = "tmall"
    hosts = _ITEM_HOSTS
    store_domains = frozenset({"tmall.com"})
    short_hosts = frozenset()
    web_hosts = frozenset({"detail.tmall.com", "detail.tmall.hk"})
    app_schemes = frozenset({"tmall"})

    def parse(self, parts: SplitResult, query: dict[str, list[str]]) -> PartnerRef:
        host = parts.hostname or ""
        if host in _ITEM_HOSTS:
            return self.product(self.digits(first(query, "id"), "id"))
        label = host[: -len(".tmall.com")].removesuffix(".m")
        if "." in label or label in _NOT_SHOPS:
            raise self.refuse(f"no product or store on host {host}", "unrecognised_path")
        shop = self.token(label, "shop")
        return PartnerRef(partner=self.name, kind="store", item_id=shop,
                          canonical_url=f"https://{shop}.tmall.com/")

    def product(self, item_id: str, store_id: str | None = None) -> PartnerRef:
        item_id = self.digits(item_id, "id")
        return PartnerRef(partner=self.name, kind="product", item_id=item_id,
                          canonical_url=f"https://detail.tmall.com/item.htm?id={item_id}", store_id=store_id)

    def web_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        return with_click(ref.canonical_url, click_id)

    def app_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        return wrap("tmall://page.tm/appLink?h5Url=", with_click(ref.canonical_url, click_id))
