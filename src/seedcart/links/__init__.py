"""Shoppable links: partner URL parsing and deep links (one module per partner behind one
registry), short codes, blue-link rendering, the link policy and the redirect's link cache.

The public face, light to import (no database, no web framework):

- ``parse_link(url) -> dict``: what a pasted URL is and where its links go (the CLI's output);
- ``parse_url(url) -> PartnerRef`` and ``destination(partner, item_id, store_id, click_id)``;
- ``is_allowed_destination(url)``: the redirect allowlist;
- ``render_comment(text, mint)``: blue-link segments.

Heavier parts live in their modules: ``links.cache.LinkCache``, ``links.policy.check_link``,
``links.create`` (ad and blue links), ``links.campaigns`` (UD/CID ownership).
"""

from __future__ import annotations

from typing import Any

from seedcart.links.blue import render_comment
from seedcart.links.partners import (
    CLICK_PARAM,
    Destination,
    PartnerRef,
    describe,
    destination,
    is_allowed_destination,
    parse_url,
)

__all__ = [
    "CLICK_PARAM",
    "Destination",
    "PartnerRef",
    "describe",
    "destination",
    "is_allowed_destination",
    "parse_link",
    "parse_url",
    "render_comment",
]


def parse_link(url: str, click_id: str | None = None) -> dict[str, Any]:
    """Partner, kind (product/store/short), ids, canonical URL, app URL and web URL of a pasted URL."""
    return describe(parse_url(url), click_id)
