"""Click recording: mint the click id, classify the agent, mark bots and duplicates, build the
``link_click`` touch record that the redirect appends to the durable log.

- Click id: 16 random bytes from ``os.urandom``, url-safe base64 (22 characters); it is the
  record's ``event_id`` too, and travels to the partner as ``sc_cid``. Ids are minted from the
  OS generator 256 at a time (one system call); a forked child drops the parent's unused ids.
- Agent classes (``ua_class``): ``bot`` (HEAD requests, empty agents, crawlers and link-preview
  fetchers), ``wechat`` (WeChat's in-app browser), ``ios``, ``android``, ``desktop``.
- Duplicates: a click on the same link from the same IP hash and agent (and the same platform user,
  when the app passes one: readers behind one carrier NAT with the same phone are not one reader)
  within the window is recorded with ``is_duplicate``; bots are recorded with ``is_bot``. Neither is
  ever counted.
- The client IP is kept only as a keyed hash (HMAC-SHA256 under the alliance secret, 32 hex).

On the click hot path: compiled with mypyc when built (``seedcart.native``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from typing import Any, Final

from seedcart.collect.dedupe import CLICK_SOURCE
from seedcart.links.cache import CachedLink
from seedcart.types import PLACEMENTS

_BOTS: Final = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|whatsapp|telegram|slack|discord|"
    r"embedly|quora link|pinterest|vkshare|w3c_validator|curl/|wget/|python-|httpx|go-http-client|"
    r"java/|okhttp/[0-2]\.|headlesschrome|phantomjs|lighthouse|bingpreview|skypeuripreview|"
    r"yahoo! slurp|baiduspider|sogou|bytespider|yisouspider|360spider|petalbot",
    re.IGNORECASE,
)
UA_CLASSES: Final = ("bot", "wechat", "ios", "android", "desktop")
_DEVICE_OF: Final = {"ios": "ios", "android": "android"}
MAX_REFERRER: Final = 300
MAX_USER_ID: Final = 64
_MEMO_MAX: Final = 10_000


def classify_agent(user_agent: str, method: str = "GET") -> str:
    """The agent class of a request: bot, wechat, ios, android or desktop."""
    if method.upper() == "HEAD" or not user_agent.strip() or _BOTS.search(user_agent):
        return "bot"
    if "MicroMessenger" in user_agent:
        return "wechat"
    if re.search(r"iPhone|iPad|iPod", user_agent):
        return "ios"
    if "Android" in user_agent:
        return "android"
    return "desktop"


def device_of(user_agent: str) -> str:
    """ios / android / web, for the touch's ``device`` column."""
    if re.search(r"iPhone|iPad|iPod", user_agent):
        return "ios"
    if "Android" in user_agent:
        return "android"
    return "web"


_ID_BYTES: Final = 16
_IDS_PER_READ: Final = 256
_unused_ids: list[str] = []
os.register_at_fork(after_in_child=_unused_ids.clear)  # never hand a parent's ids to a child


def mint_click_id() -> str:
    """A fresh random click id: 16 bytes of ``os.urandom``, url-safe base64 without padding."""
    while True:
        try:
            return _unused_ids.pop()  # atomic: safe if a thread mints too
        except IndexError:
            _unused_ids.extend(_mint_many())


def _mint_many() -> list[str]:
    """``_IDS_PER_READ`` ids from one read of the OS generator, base64-encoded in one call: each
    id's 16 bytes are followed by 2 zero bytes, so every id is a whole 24-character group of which
    the first 22 characters are exactly the unpadded encoding of the 16 bytes."""
    raw = os.urandom(_ID_BYTES * _IDS_PER_READ)
    spaced = bytearray((_ID_BYTES + 2) * _IDS_PER_READ)
    for column in range(_ID_BYTES):
        spaced[column::_ID_BYTES + 2] = raw[column::_ID_BYTES]
    text = base64.urlsafe_b64encode(spaced).decode("ascii")
    return [text[start:start + 22] for start in range(0, len(text), 24)]


class DuplicateWindow:
    """Remembers (link, IP hash, agent) keys for ``window_s`` seconds; bounded to ``2 * max_keys``.

    Two generations of ``key -> last sighting``: sightings go into the current one, and once it is
    ``window_s`` old (or holds ``max_keys`` keys) it becomes the previous one and the one before is
    dropped whole. A dropped sighting is more than ``window_s`` old, and every sighting is checked
    against the window itself, so the answer is exact; per click this is two dict lookups and one
    store, with nothing to expire one by one."""

    def __init__(self, window_s: float, max_keys: int = 1_000_000) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._current: dict[int, float] = {}
        self._previous: dict[int, float] = {}
        self._started = float("-inf")  # when the current generation began

    def seen(self, key: int, now: float) -> bool:
        """Whether ``key`` was seen within the window; records this sighting either way."""
        current = self._current
        if now - self._started >= self.window_s or len(current) >= self.max_keys:
            self._previous, self._current, self._started = current, {}, now
            current = self._current
        previous = current.get(key)
        if previous is None:
            previous = self._previous.get(key)
        current[key] = now
        return previous is not None and previous > now - self.window_s

    def __len__(self) -> int:
        """Keys remembered (a key sighted in both generations counts twice)."""
        return len(self._current) + len(self._previous)


class ClickRecorder:
    """Builds click records; holds the IP-hash key and the duplicate window."""

    def __init__(self, ip_key: bytes, *, duplicate_window_s: float = 30.0) -> None:
        self._ip_key = ip_key
        self._agents: dict[tuple[str, str], tuple[str, str]] = {}  # (agent, method) -> (ua_class, device)
        self._ips: dict[str, str] = {}
        self._links: dict[int, tuple[CachedLink, dict[str, Any]]] = {}  # id(link) -> (link, its fixed record)
        self.window = DuplicateWindow(duplicate_window_s)
        self.clicks = 0
        self.bots = 0
        self.duplicates = 0

    def ip_hash(self, ip: str) -> str:
        """The keyed hash of a client IP (the IP itself is never stored; recent hashes are kept in memory)."""
        found = self._ips.get(ip)
        if found is None:
            if len(self._ips) >= _MEMO_MAX:
                self._ips.clear()
            found = self._ips[ip] = hmac.new(self._ip_key, b"ip:" + ip.encode(), hashlib.sha256).hexdigest()[:32]
        return found

    def _agent(self, user_agent: str, method: str) -> tuple[str, str]:
        key = (user_agent, method)
        found = self._agents.get(key)
        if found is None:
            if len(self._agents) >= _MEMO_MAX:
                self._agents.clear()
            found = self._agents[key] = (classify_agent(user_agent, method), device_of(user_agent))
        return found

    def _fixed(self, link: CachedLink) -> dict[str, Any]:
        """The record of a click on ``link`` with what the link fixes filled in, in record order;
        each click copies it and sets its own fields (cheaper than building all 21 keys)."""
        found = self._links.get(id(link))
        if found is not None and found[0] is link:  # the cache hands out one object until the link changes
            return found[1]
        fixed: dict[str, Any] = {
            "event_id": None, "ts": None, "received_at": None, "user_id": None, "kind": "link_click",
            "note_id": link.note_id, "brand_id": link.brand_id, "campaign_id": link.campaign_id,
            "placement": link.placement, "surface": link.kind, "link_id": link.link_id, "click_id": None,
            "partner": link.partner, "product_id": link.product_id, "device": None, "ip_hash": None,
            "ua_class": None, "is_bot": None, "is_duplicate": None, "source": CLICK_SOURCE, "referrer": None,
        }
        if len(self._links) >= _MEMO_MAX:
            self._links.clear()
        self._links[id(link)] = (link, fixed)
        return fixed

    def click(self, link: CachedLink, *, ip: str, user_agent: str, method: str = "GET",
              referrer: str | None = None, user_id: str | None = None, placement: str | None = None,
              now: float | None = None) -> dict[str, Any]:
        """Mint a click on ``link``: its ``link_click`` touch record, whose ``click_id``, ``ua_class``,
        ``is_bot`` and ``is_duplicate`` the redirect reads back."""
        now = time.time() if now is None else now
        ua_class, device = self._agent(user_agent, method)
        is_bot = ua_class == "bot"
        ip_hash = self.ip_hash(ip)
        is_duplicate = self.window.seen(hash((link.link_id, ip_hash, user_agent, user_id)), now)
        click_id = mint_click_id()
        micros = int(now * 1_000_000)
        record = self._fixed(link).copy()
        record["event_id"] = record["click_id"] = click_id
        record["ts"] = record["received_at"] = micros
        if user_id:
            record["user_id"] = user_id[:MAX_USER_ID]
        if placement in PLACEMENTS and link.placement is None:
            record["placement"] = placement
        record["device"] = device
        record["ip_hash"] = ip_hash
        record["ua_class"] = ua_class
        record["is_bot"] = is_bot
        record["is_duplicate"] = is_duplicate
        if referrer:
            record["referrer"] = referrer[:MAX_REFERRER]
        self.clicks += 1
        self.bots += is_bot
        self.duplicates += is_duplicate
        return record

    def status(self) -> dict[str, Any]:
        """Counters since start."""
        return {"clicks": self.clicks, "bots": self.bots, "duplicates": self.duplicates,
                "duplicate_keys": len(self.window)}
