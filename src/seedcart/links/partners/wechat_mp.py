"""WeChat mini-program (微信小程序) link formats.

Parsed (what people paste):
- the plain-text URL Scheme ``weixin://dl/business/?appid=<appid>&path=<page path>&query=<encoded query>``
  (``env_version`` ignored): a product reference whose ``store_id`` is the app id and whose
  ``item_id`` is the page path, with ``?<query>`` when there is one (this is also how a
  wechat_mp product's ``item_id`` is stored in the catalog: ``pages/goods/detail?id=123``);
- the encrypted URL Scheme ``weixin://dl/business/?t=<ticket>``, the URL Link
  ``https://wxaurl.cn/<ticket>`` and the copied mini-program link ``#小程序://<name>/<code>``:
  recognised as short links, kept opaque (only WeChat can resolve them).

Built:
- app: the plain-text URL Scheme with ``sc_cid=<click>`` added to the encoded ``query``;
  opaque ``weixin://dl/business/?t=`` tickets get ``&cq=sc_cid%3D<click>`` (custom parameter);
- web: a URL Link ``https://wxaurl.cn/<ticket>?cp=sc_cid%3D<click>`` when the reference is one;
  a plain app id + path has no web page (None): the redirect shows a landing page instead.

Where checked (``search`` tool, pages corpus, 2026-11): WeChat's "获取 URL Scheme" page
(developers.weixin.qq.com/miniprogram/dev/framework/open-ability/url-scheme) — the plain-text
format above, ``path`` without query, ``query`` at most 512 characters and url-encoded, the
encrypted ``?t=<ticket>&cq=<custom parameter>`` form (Dec 2023 change); a cnblogs.com article on
URL Link showing ``https://wxaurl.cn/<ticket>?cp=<value>``.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, urlencode

from seedcart.links.partners.base import CLICK_PARAM, PartnerLinks, PartnerRef, first

_APPID = re.compile(r"^wx[0-9a-f]{16}$")
_PATH = re.compile(r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_.-]+)*$")
_QUERY = re.compile(r"^[A-Za-z0-9_.~=&%-]{0,512}$")
_TICKET = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
#: The copied "mini-program link" (小程序链接) prefix; not a URL, opaque.
COPIED_PREFIX = "#小程序://"


class WechatMP(PartnerLinks):
    """WeChat mini programs: app id + page path, or opaque tickets."""

    name = "wechat_mp"
    hosts = frozenset()
    short_hosts = frozenset({"wxaurl.cn"})
    web_hosts = frozenset({"wxaurl.cn"})
    app_schemes = frozenset({"weixin"})
    blocked_in_wechat = False

    def parse(self, parts: SplitResult, query: dict[str, list[str]]) -> PartnerRef:
        if parts.scheme == "weixin":
            return self._scheme(parts, query)
        ticket = parts.path.strip("/")
        if not _TICKET.match(ticket):
            raise self.refuse("URL Link has no valid ticket", "short_code")
        return PartnerRef(partner=self.name, kind="short", item_id=ticket,
                          canonical_url=f"https://wxaurl.cn/{ticket}")

    def parse_copied(self, text: str) -> PartnerRef:
        """``#小程序://<name>/<code>``: a short reference (opaque)."""
        rest = text[len(COPIED_PREFIX):]
        name, _, code = rest.partition("/")
        if not name or not _TICKET.match(code) or re.search(r"[<>\"'\s]", name):
            raise self.refuse("copied mini-program link is malformed", "short_code")
        return PartnerRef(partner=self.name, kind="short", item_id=code, canonical_url=f"{COPIED_PREFIX}{name}/{code}")

    def _scheme(self, parts: SplitResult, query: dict[str, list[str]]) -> PartnerRef:
        if parts.netloc != "dl" or parts.path not in ("/business/", "/business"):
            raise self.refuse("only weixin://dl/business/ links open mini programs", "unrecognised_path")
        ticket = first(query, "t")
        if ticket is not None:
            if not _TICKET.match(ticket):
                raise self.refuse("URL Scheme ticket is malformed", "short_code")
            return PartnerRef(partner=self.name, kind="short", item_id=ticket,
                              canonical_url=f"weixin://dl/business/?t={ticket}")
        appid = first(query, "appid")
        path = first(query, "path")
        if appid is None or not _APPID.match(appid):
            raise self.refuse(f"appid must be wx + 16 hex digits, got {appid!r}", "item_id")
        if path is None:
            raise self.refuse("path is required", "item_id")
        mp_query = first(query, "query") or ""
        return self.product(f"{path}?{mp_query}" if mp_query else path, appid)

    def product(self, item_id: str, store_id: str | None = None) -> PartnerRef:
        if store_id is None or not _APPID.match(store_id):
            raise self.refuse(f"store_id must be the mini program's appid (wx + 16 hex), got {store_id!r}",
                              "item_id")
        path, _, mp_query = item_id.partition("?")
        path = path.lstrip("/")
        if not _PATH.match(path) or ".." in path:
            raise self.refuse(f"page path must be letters, digits and '/_.-', got {path!r}", "item_id")
        if not _QUERY.match(mp_query):
            raise self.refuse("page query has characters WeChat does not accept", "item_id")
        item = f"{path}?{mp_query}" if mp_query else path
        return PartnerRef(partner=self.name, kind="product", item_id=item, store_id=store_id,
                          canonical_url=_scheme_url(store_id, path, mp_query))

    def web_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        if ref.canonical_url.startswith("https://wxaurl.cn/"):
            if not click_id:
                return ref.canonical_url
            return f"{ref.canonical_url}?cp={quote(urlencode({CLICK_PARAM: click_id}), safe='')}"
        return None

    def app_url(self, ref: PartnerRef, click_id: str | None) -> str | None:
        if ref.kind == "short":
            if ref.canonical_url.startswith("weixin://"):
                if not click_id:
                    return ref.canonical_url
                return f"{ref.canonical_url}&cq={quote(urlencode({CLICK_PARAM: click_id}), safe='')}"
            return None
        assert ref.store_id is not None
        path, _, mp_query = ref.item_id.partition("?")
        if click_id:
            mp_query = f"{mp_query}&{urlencode({CLICK_PARAM: click_id})}" if mp_query else urlencode(
                {CLICK_PARAM: click_id})
        return _scheme_url(ref.store_id, path, mp_query)


def _scheme_url(appid: str, path: str, mp_query: str) -> str:
    """The plain-text URL Scheme; ``mp_query`` (already a query string) is encoded once more."""
    url = f"weixin://dl/business/?appid={appid}&path={quote(path, safe='/')}"
    if mp_query:
        url += f"&query={quote(mp_query, safe='')}"
    return url
