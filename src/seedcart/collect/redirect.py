"""The click redirect ``GET /c/{code}``: resolve from the link cache, record durably, answer.

``handle_click`` is the whole hot path and never waits on the catalog database:

1. the code is looked up in the in-memory ``LinkCache`` (unknown or inactive -> 404 page);
2. a click id is minted and a ``link_click`` touch is built (``ClickRecorder``);
3. the record joins the next log entry (group commit, DESIGN §4: one append and one fsync for
   every click since the last, fsynced by the log's helper process while the next entry fills;
   see ``_ClickBatch``) and, for people, the answer waits until it is fsynced; bots are appended
   without waiting (they are never counted, and must still be answered fast);
4. the answer: 302 to the app deep link for iOS and Android agents; inside WeChat's browser,
   partners whose schemes WeChat blocks get a small landing page with the web link; everyone
   else gets 302 to the web URL (a landing page when the partner has no web page). Every target
   passes ``is_allowed_destination``: its host or scheme comes from the partner allowlist.

The app may pass the reader as ``?uid=<platform user id>`` and, for links without a fixed
placement, ``?placement=search|feed|video``; both are recorded with the click.

``seedcart.collect.linkservice.redirect_service`` starts the app service (``SERVICES`` entry
``"links"``) holding the cache and the recorder; the durable log comes from the intake service at
request time. This module is on the click hot path and compiled with mypyc when built
(``seedcart.native``), so it holds no async generator (mypyc compiles none).
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import orjson

from seedcart.collect.clicks import ClickRecorder
from seedcart.collect.log import Done
from seedcart.errors import Backpressure, SeedcartError, StorageUnavailable
from seedcart.links.cache import CachedLink, LinkCache
from seedcart.links.partners import destination, get, is_allowed_destination

logger = logging.getLogger(__name__)


class TouchLog(Protocol):
    """What the redirect needs of the durable log (``seedcart.collect.log.DurableLog``)."""

    def append_soon(self, table: str, records: list[dict[str, Any]], done: Done) -> None:
        """Write one entry and return at once; ``done`` is called with its outcome, in the event loop
        as a rule (from another thread, it goes through ``call_soon_threadsafe``)."""


class Answer(NamedTuple):
    """An HTTP answer: status, headers and an HTML body (empty for a redirect). A redirect's target is
    ``location``, apart from ``headers``. Answers of one kind share one headers dict (the click edge
    caches the rendered head by its identity): never mutate it."""

    status: int
    headers: dict[str, str]
    body: str = ""
    click_id: str | None = None
    location: str | None = None

    def all_headers(self) -> dict[str, str]:
        """``headers`` with ``location`` among them (not to be mutated either)."""
        return self.headers if self.location is None else {"location": self.location, **self.headers}


_PAGE = """<!doctype html><html lang="zh"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">
<title>{title}</title></head><body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em">
<h1 style="font-size:1.2em">{title}</h1><p>{text}</p>{link}</body></html>"""
_NO_STORE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
_HTML_NO_STORE = {"content-type": "text/html; charset=utf-8", **_NO_STORE}  # shared: nobody mutates an answer's headers


def not_found_page() -> Answer:
    """The 404 page of an unknown or inactive code."""
    body = _PAGE.format(title="链接不存在 / Link not found",
                        text="这个链接不存在或已失效。 This link does not exist or has expired.", link="")
    return Answer(404, _HTML_NO_STORE, body)


def error_answer(exc: BaseException) -> Answer:
    """The answer to a click that could not be recorded: never a redirect. 503 (with Retry-After
    for Backpressure) when the log is full or down or the error is retryable, else 500."""
    if not isinstance(exc, SeedcartError):
        logger.error("click failed", exc_info=exc)
        exc = SeedcartError("the click could not be recorded")
    status = 503 if isinstance(exc, StorageUnavailable | Backpressure) or exc.retryable else 500
    headers = {"content-type": "application/json"}
    if isinstance(exc, Backpressure):
        headers["retry-after"] = str(max(1, round(exc.retry_after)))
    return Answer(status, headers, orjson.dumps(exc.to_dict()).decode())


def landing_page(url: str | None, click_id: str, *, in_wechat: bool) -> Answer:
    """A small page with the partner link, for agents that cannot be redirected to it."""
    if in_wechat:
        text = ("微信内无法直接打开此链接：请点右上角“…”，选择“在浏览器打开”。 "
                "Open this page in your browser to continue.")
    else:
        text = "请在手机上打开以继续。 Open this link on your phone to continue."
    link = f'<p><a href="{html.escape(url)}" rel="noreferrer">{html.escape(url)}</a></p>' if url else ""
    body = _PAGE.format(title="即将前往商品页 / Continue to the shop", text=text, link=link)
    return Answer(200, _HTML_NO_STORE, body, click_id)


#: Stands in for the click id in memoised targets; click ids are url-safe base64, which no
#: quoting or JSON encoding changes, so the placeholder is swapped for the id as plain text.
_PLACEHOLDER = "SCcid0placeholder0SCcid"


@dataclass(frozen=True)
class _Targets:
    app_url: str | None
    web_url: str | None


#: Memoised targets by ``id(link)``, each kept with its link so a reused id never matches: the
#: cache hands out the same ``CachedLink`` object until the link changes, and hashing the whole
#: frozen dataclass on every click would cost more than the lookup saves.
_MEMO: dict[int, tuple[CachedLink, _Targets]] = {}
_MEMO_MAX = 100_000


def _targets(link: CachedLink) -> _Targets:
    """The link's app and web URLs with a placeholder click id, allowlist-checked once."""
    found = _MEMO.get(id(link))
    if found is not None and found[0] is link:
        return found[1]
    dest = destination(link.partner, link.item_id, link.store_id, _PLACEHOLDER)
    targets = _Targets(app_url=dest.app_url if is_allowed_destination(dest.app_url) else None,
                       web_url=dest.web_url if is_allowed_destination(dest.web_url) else None)
    if (dest.app_url, dest.web_url) != (targets.app_url, targets.web_url):
        logger.error("link %s has a target outside the partner allowlist; dropped", link.code)
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[id(link)] = (link, targets)
    return targets


def choose_target(link: CachedLink, ua_class: str, click_id: str) -> Answer:
    """Where this agent goes for this link (see the module docstring)."""
    targets = _targets(link)
    if ua_class in ("ios", "android") and targets.app_url is not None:  # the usual click: fill one URL
        return Answer(302, _NO_STORE, "", click_id, targets.app_url.replace(_PLACEHOLDER, click_id))
    app_url = None if targets.app_url is None else targets.app_url.replace(_PLACEHOLDER, click_id)
    web_url = None if targets.web_url is None else targets.web_url.replace(_PLACEHOLDER, click_id)
    if ua_class == "wechat":
        if get(link.partner).blocked_in_wechat or app_url is None:
            return landing_page(web_url, click_id, in_wechat=True)
        target: str | None = app_url
    elif ua_class in ("ios", "android"):
        target = app_url or web_url
    else:
        target = web_url
    if target is None:
        if app_url is None and web_url is None:
            return not_found_page()
        return landing_page(app_url, click_id, in_wechat=False)
    return Answer(302, _NO_STORE, "", click_id, target)


#: Called once a click is durable (``None``) or could not be recorded (the error to answer with).
Settle = Callable[[BaseException | None], None]


class _Entry:
    """Clicks waiting for one log entry: their records and the settles of those who wait."""

    __slots__ = ("log", "opened", "records", "settles")

    def __init__(self, log: TouchLog, opened: float) -> None:
        self.log = log
        self.opened = opened  # loop time of its first click
        self.records: list[dict[str, Any]] = []
        self.settles: list[Settle] = []


class _ClickBatch:
    """Clicks share log appends: one entry, one fsync for every click gathered meanwhile.

    The clicks of consecutive turns of the event loop gather into one entry: it is handed to the log
    once a turn has read the sockets and found no new click, or ``gather_s`` after its first click (the
    requests that answered clicks send back come in over several turns; handing each turn's few over
    alone would make more, smaller entries). The log writes it at once and its fsync helper makes it
    durable (group commit, DESIGN §4): each entry asks for its fsync at once, and every entry handed
    over while one is in flight goes into the next, so the disk works back to back while the loop
    keeps parsing and answering. The log tells the outcome in this loop, where each person's click is
    settled through its own ``Settle`` callback, so a client going away affects only its own answer; a
    bot's click joins the entry unawaited. More than ``max_waiting`` clicks not yet durable:
    Backpressure."""

    def __init__(self, max_waiting: int = 100_000, gather_s: float = 0.0) -> None:
        self.max_waiting = max_waiting
        self.gather_s = gather_s
        self._entry: _Entry | None = None  # gathering
        self._gathered = 0  # its records when the pump last looked
        self._waiting = 0  # clicks added whose entry has not been written (or failed) yet
        self._in_flight = 0  # entries handed to a log, outcome not yet back
        self._idle: asyncio.Future[None] | None = None  # what drain waits on
        self._pump_handle: asyncio.Handle | None = None
        self.batches = 0
        self.lost = 0  # unawaited (bot) clicks whose append failed

    def add(self, log: TouchLog, record: dict[str, Any], settle: Settle | None = None) -> None:
        """Queue ``record`` for the next entry; ``settle`` is called once the entry is fsynced
        (``None``) or failed (the log's error: Backpressure, StorageUnavailable)."""
        if self._waiting >= self.max_waiting:
            raise Backpressure(f"{self._waiting} clicks are waiting for the log", retry_after=1.0,
                               queued=self._waiting)
        loop = asyncio.get_running_loop()
        entry = self._entry
        if entry is None or entry.log is not log:
            if entry is not None:  # another log (a restarted intake): the gathered clicks go to theirs
                self._hand_off(entry, loop)
            entry = self._entry = _Entry(log, loop.time())
            self._gathered = 0
        entry.records.append(record)
        if settle is not None:
            entry.settles.append(settle)
        self._waiting += 1
        if self._pump_handle is None:
            self._pump_handle = loop.call_soon(self._pump)

    def _pump(self) -> None:
        """Hand the gathering entry to its log, unless the last turn brought it clicks and it is
        younger than ``gather_s``: then look again after the next turn."""
        self._pump_handle = None
        entry = self._entry
        if entry is None:
            return
        loop = asyncio.get_running_loop()
        if len(entry.records) != self._gathered and loop.time() - entry.opened < self.gather_s:
            self._gathered = len(entry.records)  # this turn brought clicks: read the sockets once more
            self._pump_handle = loop.call_soon(self._pump)
            return
        self._entry = None
        self._hand_off(entry, loop)

    def _hand_off(self, entry: _Entry, loop: asyncio.AbstractEventLoop) -> None:
        self.batches += 1
        self._in_flight += 1

        def done(end: int, error: BaseException | None) -> None:  # in the log's loop: this one, as a rule
            if asyncio._get_running_loop() is loop:
                self._written(entry, error)
                return
            try:
                loop.call_soon_threadsafe(self._written, entry, error)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                logger.warning("%d clicks were written after their event loop closed", len(entry.records))

        try:
            entry.log.append_soon("touch", entry.records, done)
        except Exception as exc:  # refused at once (Backpressure, StorageUnavailable): so is every click in it
            self._written(entry, exc)

    def _written(self, entry: _Entry, error: BaseException | None) -> None:
        self._in_flight -= 1
        self._waiting -= len(entry.records)
        for settle in entry.settles:
            try:
                settle(error)
            except Exception:  # one answer failing to go out must not keep the others
                logger.exception("answering a click failed")
        unwaited = len(entry.records) - len(entry.settles)
        if error is not None and unwaited:
            self.lost += unwaited
            logger.warning("%d bot clicks were not recorded: %s", unwaited, error)
        idle = self._idle
        if not self._in_flight and idle is not None and not idle.done():
            idle.set_result(None)

    async def drain(self) -> None:
        """Hand over the clicks gathered so far and wait until every entry's outcome is back."""
        loop = asyncio.get_running_loop()
        while self._entry is not None or self._in_flight:
            if self._pump_handle is not None:
                self._pump_handle.cancel()
                self._pump_handle = None
            entry, self._entry = self._entry, None
            if entry is not None:
                self._hand_off(entry, loop)
            if self._in_flight:
                self._idle = idle = loop.create_future()
                await idle


class RedirectService:
    """The links service: the link cache and the click recorder."""

    def __init__(self, cache: LinkCache, recorder: ClickRecorder, *, max_waiting: int = 100_000,
                 gather_s: float = 0.0) -> None:
        self.cache = cache
        self.recorder = recorder
        self._batch = _ClickBatch(max_waiting, gather_s)

    def status(self) -> dict[str, Any]:
        """Cache and click counters, for /healthz."""
        return {"cache": self.cache.status(), "clicks": self.recorder.status(), "log_batches": self._batch.batches,
                "bot_clicks_lost": self._batch.lost}

    async def handle_click(self, log: TouchLog | None, code: str, *, method: str, ip: str, user_agent: str,
                           referrer: str | None = None, user_id: str | None = None,
                           placement: str | None = None) -> Answer:
        """The redirect's answer to one click (see the module docstring)."""
        durable: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(error: BaseException | None) -> None:
            if not durable.done():  # a client that went away has cancelled its wait
                if error is None:
                    durable.set_result(None)
                else:
                    durable.set_exception(error)

        answer, waiting = self.begin_click(log, code, settle, method=method, ip=ip, user_agent=user_agent,
                                           referrer=referrer, user_id=user_id, placement=placement)
        if waiting:
            await durable  # Backpressure -> 503 + Retry-After
        return answer

    def begin_click(self, log: TouchLog | None, code: str, settle: Settle, *, method: str, ip: str,
                    user_agent: str, referrer: str | None = None, user_id: str | None = None,
                    placement: str | None = None) -> tuple[Answer, bool]:
        """Record one click and decide its answer without waiting: ``(answer, waiting)``. When
        ``waiting`` (a person's click), ``settle(None)`` is called once the click is fsynced and
        the answer may be sent, or ``settle(error)`` if it could not be recorded, and the error is
        the answer; bots and unknown codes are answered at once."""
        link = self.cache.get(code)
        if link is None:
            return not_found_page(), False
        if log is None:
            raise StorageUnavailable("the intake log is not running; clicks cannot be recorded")
        record = self.recorder.click(link, ip=ip, user_agent=user_agent, method=method, referrer=referrer,
                                     user_id=user_id, placement=placement)
        waiting = not record["is_bot"]
        self._batch.add(log, record, settle if waiting else None)
        return choose_target(link, record["ua_class"], record["click_id"]), waiting

    async def drain(self) -> None:
        """Wait for clicks still being appended (bots' included)."""
        await self._batch.drain()


def running(services: Mapping[str, Any]) -> tuple[RedirectService, TouchLog | None]:
    """The app's links service and the intake's durable log, from its running services
    (StorageUnavailable without the links service; no log: clicks are refused when recorded)."""
    service: RedirectService | None = services.get("links")
    if service is None:
        raise StorageUnavailable("the links service is not running")
    return service, getattr(services.get("intake"), "log", None)
