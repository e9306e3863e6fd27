"""The partner registry: one module per partner, chosen by exact host, and the URL vetting they share.

``parse_url(text)`` turns what people paste into a ``PartnerRef`` or raises ``LinkRefused``
naming the rule: ``empty``, ``too_long``, ``control_characters``, ``markup``, ``scheme``,
``malformed``, ``userinfo``, ``port``, ``host_not_allowlisted``, ``unrecognised_path``, ``item_id``,
``short_code``. ``destination(partner, item_id, store_id, click_id)`` builds where a click on a
catalog product goes, and ``is_allowed_destination(url)`` is the allowlist every redirect passes.
"""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import urlsplit

from seedcart.errors import LinkRefused
from seedcart.links.partners.base import CLICK_PARAM, Destination, PartnerLinks, PartnerRef, parse_query
from seedcart.links.partners.jd import JD
from seedcart.links.partners.pdd import PDD
from seedcart.links.partners.taobao import Taobao
from seedcart.links.partners.tmall import Tmall
from seedcart.links.partners.vip import Vip
from seedcart.links.partners.wechat_mp import COPIED_PREFIX, WechatMP

__all__ = [
    "CLICK_PARAM",
    "REGISTRY",
    "Destination",
    "PartnerLinks",
    "PartnerRef",
    "describe",
    "destination",
    "get",
    "is_allowed_destination",
    "parse_url",
]

#: Every partner's link formats, by partner id.
REGISTRY: Final[dict[str, PartnerLinks]] = {
    p.name: p for p in (Tmall(), Taobao(), JD(), PDD(), Vip(), WechatMP())
}

MAX_URL_CHARS = 2048
_EXACT_HOSTS: Final[dict[str, PartnerLinks]] = {
    host: p for p in REGISTRY.values() for host in (p.hosts | p.short_hosts)
}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_MARKUP = re.compile(r"[<>\"'`{}|^\\]")
_WEB_SCHEMES = ("http", "https")


def get(partner: str) -> PartnerLinks:
    """The link formats of ``partner``; LinkRefused when seedcart has none."""
    try:
        return REGISTRY[partner]
    except KeyError:
        raise LinkRefused(f"unknown partner {partner!r}", rule="partner", field="partner") from None


def _refuse(message: str, rule: str, url: str) -> LinkRefused:
    return LinkRefused(message, rule=rule, field="url", url=url[:200])


def _partner_of_host(host: str) -> PartnerLinks | None:
    found = _EXACT_HOSTS.get(host)
    if found is not None:
        return found
    for p in REGISTRY.values():
        if p.owns_host(host):
            return p
    return None


def parse_url(text: str) -> PartnerRef:
    """The partner reference of a pasted URL (web, mobile, short or mini-program), or LinkRefused."""
    if not isinstance(text, str) or not text.strip():
        raise LinkRefused("the URL is empty", rule="empty", field="url")
    raw = text.strip()
    if len(raw) > MAX_URL_CHARS:
        raise _refuse(f"the URL is longer than {MAX_URL_CHARS} characters", "too_long", raw)
    if raw.startswith(COPIED_PREFIX):
        wechat = REGISTRY["wechat_mp"]
        assert isinstance(wechat, WechatMP)
        return wechat.parse_copied(raw)
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise _refuse("the URL contains whitespace or control characters", "control_characters", raw)
    if _MARKUP.search(raw):
        raise _refuse("the URL contains markup characters (<>\"'`{}|^\\)", "markup", raw)
    match = _SCHEME.match(raw)
    scheme = match.group(1).lower() if match else ""
    if match and "." in scheme and raw[match.end():match.end() + 2] != "//":
        scheme = ""  # "item.jd.com:443/..." is a host with a port, not a scheme
    if scheme and scheme not in (*_WEB_SCHEMES, "weixin"):
        raise _refuse(f"scheme {scheme!r} is not accepted; paste an http(s) link", "scheme", raw)
    if not scheme:
        raw = ("https:" if raw.startswith("//") else "https://") + raw
    try:
        parts = urlsplit(raw)
    except ValueError as exc:  # e.g. an unbalanced "[" in the host
        raise _refuse(f"the URL is malformed: {exc}", "malformed", raw) from None
    if scheme == "weixin":
        return REGISTRY["wechat_mp"].parse(parts, parse_query(parts.query))
    if "@" in parts.netloc:
        raise _refuse("the URL carries a user name (user@host), a common disguise", "userinfo", raw)
    if "%" in parts.netloc:
        raise _refuse("the host is percent-encoded", "host_not_allowlisted", raw)
    try:
        port = parts.port
    except ValueError:
        raise _refuse("the port is malformed", "port", raw) from None
    if port not in (None, 80, 443):
        raise _refuse(f"port {port} is not a partner's", "port", raw)
    host = parts.hostname or ""
    if not host or not host.isascii():
        raise _refuse(f"host {host!r} is not a partner's", "host_not_allowlisted", raw)
    partner = _partner_of_host(host)
    if partner is None:
        raise _refuse(f"host {host} is not on any partner's allowlist", "host_not_allowlisted", raw)
    return partner.parse(parts, parse_query(parts.query))


def destination(partner: str, item_id: str, store_id: str | None, click_id: str | None) -> Destination:
    """Where a click on a catalog product goes, with ``sc_cid=<click_id>``."""
    links = get(partner)
    return links.destination(links.product(item_id, store_id), click_id)


def describe(ref: PartnerRef, click_id: str | None = None) -> dict[str, Any]:
    """A reference with its app and web URLs, as the CLI and the API print it."""
    out = ref.to_dict()
    out.update(get(ref.partner).destination(ref, click_id).__dict__)
    return out


def is_allowed_destination(url: str | None) -> bool:
    """Whether ``url`` may be a redirect target: https on a partner's allowlisted host, or an app
    scheme a partner declared. Never a host merely containing a partner's name."""
    if not url or len(url) > 8192 or _UNSAFE_TARGET.search(url):
        return False
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep:
        return False
    if scheme == "https":
        if not rest.startswith("//"):
            return False
        netloc = rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        host = netloc.lower()
        if host in _DESTINATION_HOSTS:
            return True
        return any(host.endswith(suffix) and _HOST_LABEL.match(host[: -len(suffix)])
                   for suffix in _DESTINATION_SUFFIXES)
    return scheme in _APP_SCHEMES


_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f\\]")
_HOST_LABEL = re.compile(r"^[a-z0-9-]{1,63}(?:\.m)?$")
_DESTINATION_HOSTS: Final[frozenset[str]] = frozenset(
    host for p in REGISTRY.values() for host in (p.web_hosts | p.short_hosts))
_DESTINATION_SUFFIXES: Final[tuple[str, ...]] = tuple(
    "." + d for p in REGISTRY.values() for d in p.store_domains)
_APP_SCHEMES: Final[frozenset[str]] = frozenset(s for p in REGISTRY.values() for s in p.app_schemes)
