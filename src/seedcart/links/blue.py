"""Blue links (蓝链): comment text -> segments, product URLs of allowlisted partners becoming links.

``render_comment(text, mint)`` splits a comment into segments, in order, whose texts join back
into the comment exactly:

- ``{"type": "link", "text": <url as written>, ...}``: a product URL of an allowlisted partner
  that ``mint`` turned into a short link (mint returns the extra fields: code, short URL, ...);
- ``{"type": "text", "text": ...}``: plain text;
- ``{"type": "text", "text": ..., "flag": <kind>, "reason": ...}``: kept as plain text and flagged:
  ``url_refused`` (another site's URL, a hostile URL, a short link, a product not in the catalog
  or one the link policy refuses: ``reason`` is the refusing rule) or ``offsite_diversion``
  (站外导流: ``reason`` is ``wechat_id``, ``phone_number``, ``qq_number``, ``email``,
  ``contact_prompt`` or ``qr_prompt``).

URLs are found as runs of URL characters (ASCII), so Chinese text and full-width punctuation
around them (``看这个https://item.jd.com/1.html，很好用``) end them; trailing ASCII punctuation is
left out. Scheme-less partner hosts (``item.jd.com/1.html``) are found too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from seedcart.errors import LinkRefused
from seedcart.links.partners import PartnerRef, parse_url

Segment = dict[str, Any]
#: Turns a partner reference into the link fields of a segment; raises LinkRefused to keep it text.
Minter = Callable[[PartnerRef], dict[str, Any]]

MAX_COMMENT_CHARS: Final = 5000
MAX_LINKS: Final = 10

_URL_CHARS = r"[A-Za-z0-9\-._~:/?#@!$&*+,;=%]"
_URL = re.compile(
    rf"(?:https?|weixin|javascript|data|ftp)://{_URL_CHARS}+"
    rf"|(?:javascript|data):{_URL_CHARS}+"
    rf"|(?<![A-Za-z0-9.@/_-])(?:[A-Za-z0-9-]+\.)+(?:com|cn|hk|net|org|top|xyz|io|me|cc|tv|shop|vip)"
    rf"(?![A-Za-z0-9-])(?:[/?]{_URL_CHARS}*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?"

_DIVERSIONS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("wechat_id", re.compile(r"(?:微信号?|威信|薇信|卫星|v信|vx|wx|weixin|wechat)\s*号?\s*[:：]?\s*"
                             r"[A-Za-z][A-Za-z0-9_-]{5,19}", re.IGNORECASE)),
    ("qq_number", re.compile(r"(?:qq|扣扣|企鹅)\s*号?\s*[:：]?\s*[1-9][0-9]{4,10}", re.IGNORECASE)),
    ("phone_number", re.compile(r"(?<![0-9])(?:\+?86[\s-]?)?1[3-9][0-9](?:[\s-]?[0-9]{4}){2}(?![0-9])")),
    ("qr_prompt", re.compile(r"扫码|扫一扫|二维码|扫描下方|长按识别")),
    ("contact_prompt", re.compile(r"加我|加v|加微|加薇|私我|私信我|私聊|联系我|滴滴我|戳我|add me", re.IGNORECASE)),
)


def _text(text: str) -> list[Segment]:
    """Plain text, with off-platform diversions split out and flagged."""
    hits: list[tuple[int, int, str]] = []
    for reason, pattern in _DIVERSIONS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if not any(start < h_end and h_start < end for h_start, h_end, _ in hits):
                hits.append((start, end, reason))
    hits.sort()
    out: list[Segment] = []
    pos = 0
    for start, end, reason in hits:
        if start > pos:
            out.append({"type": "text", "text": text[pos:start]})
        out.append({"type": "text", "text": text[start:end], "flag": "offsite_diversion", "reason": reason})
        pos = end
    if pos < len(text):
        out.append({"type": "text", "text": text[pos:]})
    return out


def _url(url: str, mint: Minter, minted: int) -> Segment:
    try:
        ref = parse_url(url)
        if minted >= MAX_LINKS:
            raise LinkRefused(f"a comment carries at most {MAX_LINKS} links", rule="too_many_links")
        fields = mint(ref)
    except LinkRefused as exc:
        return {"type": "text", "text": url, "flag": "url_refused", "reason": exc.rule, "detail": exc.message}
    return {"type": "link", "text": url, **fields}


def render_comment(text: str, mint: Minter) -> list[Segment]:
    """The segments of a comment (see the module docstring)."""
    if len(text) > MAX_COMMENT_CHARS:
        raise LinkRefused(f"a comment is at most {MAX_COMMENT_CHARS} characters", rule="too_long", field="text")
    out: list[Segment] = []
    pos = 0
    minted = 0
    for match in _URL.finditer(text):
        start, end = match.span()
        url = match.group(0).rstrip(_TRAILING)
        end = start + len(url)
        if not url:
            continue
        out.extend(_text(text[pos:start]))
        segment = _url(url, mint, minted)
        minted += segment["type"] == "link"
        out.append(segment)
        pos = end
    out.extend(_text(text[pos:]))
    return [s for s in out if s["text"]]


def flags(segments: list[Segment]) -> list[dict[str, str]]:
    """The flagged segments' kinds and reasons, in order."""
    return [{"flag": s["flag"], "reason": s["reason"], "text": s["text"]} for s in segments if "flag" in s]
