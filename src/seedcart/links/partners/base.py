"""The small base every partner module builds on: what a parsed reference is, where it leads,
and the URL helpers the partner modules share.

A partner module declares its hosts and schemes as class constants and implements three
methods: ``parse`` (a split, already-vetted URL on one of its hosts -> a reference),
``web_url`` and ``app_url`` (a reference plus a click id -> where a click goes). The registry in
``seedcart.links.partners`` chooses the module by exact host; nothing here matches hosts by
substring.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import SplitResult, parse_qs, quote, urlencode

from seedcart.errors import LinkRefused

RefKind = Literal["product", "store", "short"]

#: The query parameter that carries the click id to the partner (RULES: wire formats).
CLICK_PARAM = "sc_cid"

_DIGITS = re.compile(r"^[0-9]{1,20}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class PartnerRef:
    """A canonical reference to a product or a store on one partner, or an opaque short link.

    ``item_id`` is the partner's product id (Taobao/Tmall ``id``, JD SKU, Pinduoduo
    ``goods_id``, Vipshop product id, WeChat mini-program page path with its query), the store
    id for a store, or the short link's path for a short link. ``store_id`` is the extra key
    some partners need (Vipshop brand id, WeChat mini-program app id).
    """

    partner: str
    kind: RefKind
    item_id: str
    canonical_url: str
    store_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view."""
        return asdict(self)


@dataclass(frozen=True)
class Destination:
    """Where a click on a reference goes: the app deep link (None when the partner has none for
    this reference) and the web fallback (None when there is no web page, e.g. a mini program)."""

    app_url: str | None
    web_url: str | None


class PartnerLinks:
    """One partner's link formats. Subclasses set the class constants and the three methods."""

    #: The partner id (seedcart.types.PARTNERS).
    name: ClassVar[str] = ""
    #: Hosts whose product and store URLs this partner parses (exact, lower-case).
    hosts: ClassVar[frozenset[str]] = frozenset()
    #: Registrable domains whose subdomains are the partner's too (e.g. ``tmall.com`` stores);
    #: matched as ``host == d or host.endswith("." + d)``, never as a substring.
    store_domains: ClassVar[frozenset[str]] = frozenset()
    #: Hosts of the partner's short links: recognised, kept opaque.
    short_hosts: ClassVar[frozenset[str]] = frozenset()
    #: Hosts a redirect may send a browser to (the allowlist; DESIGN §4).
    web_hosts: ClassVar[frozenset[str]] = frozenset()
    #: App URL schemes a redirect may send an app-capable agent to.
    app_schemes: ClassVar[frozenset[str]] = frozenset()
    #: Whether WeChat's in-app browser refuses to open this partner's app scheme.
    blocked_in_wechat: ClassVar[bool] = True

    def owns_host(self, host: str) -> bool:
        """Whether ``host`` (lower-case, vetted) is one of this partner's parse or short hosts."""
        if host in self.hosts or host in self.short_hosts:
            return True
        return any(host.endswith("." + domain) for domain in self.store_domains)

    def parse(self, parts: SplitResult, query: dict[str, list[str]]) -> PartnerRef:
        """The reference a vetted URL on one of this partner's hosts names; LinkRefused if none."""
        raise NotImplementedError

    def product(self, item_id: str, store_id: str | None = None) -> PartnerRef:
        """The reference of a catalog product (``item_id`` as stored in the catalog)."""
        raise NotImplementedError

    def web_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        """The web page of ``ref`` carrying ``click_id`` as ``sc_cid``."""
        raise NotImplementedError

    def app_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        """The app deep link of ``ref`` carrying ``click_id`` (inside a wrapped URL or JSON)."""
        raise NotImplementedError

    def destination(self, ref: PartnerRef, click_id: str | None) -> Destination:
        """Both ways to open ``ref``."""
        return Destination(app_url=self.app_url(ref, click_id), web_url=self.web_url(ref, click_id))

    # -- shared helpers for the partner modules -------------------------------------------

    def refuse(self, message: str, rule: str, url: str | None = None) -> LinkRefused:
        """A refusal naming this partner and ``rule``."""
        return LinkRefused(f"{self.name}: {message}", rule=rule, field="url", partner=self.name, url=url)

    def short(self, parts: SplitResult) -> PartnerRef:
        """An opaque short-link reference: host and path kept, nothing resolved."""
        path = parts.path.strip("/")
        if not path or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}(?:/[A-Za-z0-9_.-]{1,64})?", path):
            raise self.refuse("short link has no valid code", "short_code")
        return PartnerRef(partner=self.name, kind="short", item_id=path,
                          canonical_url=f"https://{parts.hostname}/{path}")

    def digits(self, value: str | None, what: str) -> str:
        """``value`` if it is a plain decimal id, else a refusal naming ``what``."""
        if value is None or not _DIGITS.match(value):
            raise self.refuse(f"{what} must be 1-20 digits, got {value!r}", "item_id")
        return value

    def token(self, value: str | None, what: str) -> str:
        """``value`` if it is a short id of letters, digits, ``_`` and ``-``, else a refusal."""
        if value is None or not _TOKEN.match(value):
            raise self.refuse(f"{what} must be 1-64 letters, digits, '_' or '-', got {value!r}", "item_id")
        return value


def first(query: dict[str, list[str]], *names: str) -> str | None:
    """The first value of the first present parameter among ``names``."""
    for name in names:
        values = query.get(name)
        if values:
            return values[0]
    return None


def parse_query(raw: str) -> dict[str, list[str]]:
    """A query string parsed strictly enough for ids (blank values kept)."""
    return parse_qs(raw, keep_blank_values=True)


def with_click(url: str, click_id: str | None) -> str:
    """``url`` with ``sc_cid=<click_id>`` appended to its query (unchanged when no click id)."""
    if not click_id:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}{urlencode({CLICK_PARAM: click_id})}"


def wrap(prefix: str, h5_url: str) -> str:
    """``prefix`` followed by ``h5_url`` percent-encoded as one query value."""
    return prefix + quote(h5_url, safe="")


def json_param(value: dict[str, Any]) -> str:
    """Compact JSON, percent-encoded as one query value (JD's ``params=``)."""
    return quote(json.dumps(value, separators=(",", ":"), ensure_ascii=False), safe="")
