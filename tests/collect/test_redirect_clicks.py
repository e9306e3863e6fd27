"""Click classification and duplicate marking (the recording over HTTP is in test_redirect.py)."""

from __future__ import annotations

import base64
import dataclasses
import string

import pytest

from seedcart.collect import clicks
from seedcart.collect.clicks import ClickRecorder, DuplicateWindow, classify_agent, mint_click_id
from seedcart.links.cache import CachedLink

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36"
WECHAT = IPHONE + " MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36"
URLSAFE = set(string.ascii_letters + string.digits + "-_")
LINK = CachedLink(link_id=7, code="abc", kind="ad_link", note_id="n-ad", brand_id=1, product_id=3, partner="jd",
                  item_id="1", store_id=None, campaign_id=2, placement=None, commenter_id=None)


@pytest.mark.parametrize(("agent", "method", "expected"), [
    (IPHONE, "GET", "ios"), (ANDROID, "GET", "android"), (WECHAT, "GET", "wechat"), (DESKTOP, "GET", "desktop"),
    (IPHONE, "HEAD", "bot"), ("", "GET", "bot"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "GET", "bot"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "GET", "bot"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "GET", "bot"),
    ("TelegramBot (like TwitterBot)", "GET", "bot"), ("WhatsApp/2.23.20.0", "GET", "bot"),
    ("curl/8.5.0", "GET", "bot"), ("Mozilla/5.0 (compatible; Baiduspider/2.0)", "GET", "bot"),
])
def test_agent_classes(agent: str, method: str, expected: str) -> None:
    assert classify_agent(agent, method) == expected


def test_duplicate_window_marks_repeats_within_the_window_only() -> None:
    window = DuplicateWindow(30.0)
    assert not window.seen(1, 100.0)
    assert window.seen(1, 110.0)
    assert not window.seen(2, 110.0)
    assert not window.seen(1, 200.0)  # 90 s after the last sighting


def test_duplicate_window_is_exact_across_its_generations_and_bounded() -> None:
    window = DuplicateWindow(30.0)
    assert not window.seen(1, 100.0)
    assert not window.seen(2, 125.0)
    assert not window.seen(3, 131.0)  # a new generation begins: 1 and 2 are only in the previous one
    assert window.seen(2, 150.0)  # 25 s after its sighting, which the previous generation holds
    assert not window.seen(1, 131.5)  # 31.5 s after its sighting
    assert window.seen(3, 160.5)  # 29.5 s after
    assert not window.seen(3, 190.5)  # exactly 30 s after the last sighting: outside, as before
    bounded = DuplicateWindow(30.0, max_keys=4)
    for key in range(100):
        assert not bounded.seen(key, 1000.0 + key / 100)
    assert len(bounded) <= 2 * 4
    assert bounded.seen(99, 1001.0)  # the newest keys are kept


def test_click_record_hashes_the_ip_and_marks_duplicates() -> None:
    recorder = ClickRecorder(b"k" * 32, duplicate_window_s=30.0)
    first = recorder.click(LINK, ip="203.0.113.9", user_agent=IPHONE, referrer="https://app.example/n", now=1000.0,
                           user_id="u1", placement="feed")
    again = recorder.click(LINK, ip="203.0.113.9", user_agent=IPHONE, now=1001.0, user_id="u1")
    other_ip = recorder.click(LINK, ip="203.0.113.10", user_agent=IPHONE, now=1002.0, user_id="u1")
    assert (first["is_duplicate"], again["is_duplicate"], other_ip["is_duplicate"]) == (False, True, False)
    # another reader behind the same carrier NAT, same phone model: not a repeat of u1's click
    neighbour = recorder.click(LINK, ip="203.0.113.9", user_agent=IPHONE, now=1003.0, user_id="u2")
    anonymous = [recorder.click(LINK, ip="198.51.100.7", user_agent=IPHONE, now=1004.0 + i) for i in range(2)]
    assert [r["is_duplicate"] for r in (neighbour, *anonymous)] == [False, False, True]
    record = first
    assert record["click_id"] == record["event_id"] != again["click_id"]
    assert "203.0.113.9" not in str(record)
    assert record["ip_hash"] == again["ip_hash"] != other_ip["ip_hash"]
    assert (record["kind"], record["surface"], record["placement"], record["user_id"], record["ts"]) == (
        "link_click", "ad_link", "feed", "u1", 1_000_000_000)
    assert record["referrer"] == "https://app.example/n"


def test_a_changed_link_gives_records_of_its_new_version() -> None:
    recorder = ClickRecorder(b"k" * 32)
    before = recorder.click(LINK, ip="203.0.113.9", user_agent=IPHONE, placement="video")
    moved = dataclasses.replace(LINK, note_id="n-other", campaign_id=5, placement="search")
    after = recorder.click(moved, ip="203.0.113.9", user_agent=ANDROID, placement="video")
    assert (before["note_id"], before["campaign_id"], before["placement"], before["device"]) == (
        "n-ad", 2, "video", "ios")
    assert (after["note_id"], after["campaign_id"], after["placement"], after["device"]) == (
        "n-other", 5, "search", "android")  # the link's own placement wins over the app's
    assert list(before) == list(after)  # every record has every field, in one order
    assert recorder.click(LINK, ip="203.0.113.9", user_agent=IPHONE)["note_id"] == "n-ad"


def test_click_ids_are_distinct_urlsafe_16_byte_tokens() -> None:
    ids = [mint_click_id() for _ in range(2000)]  # several refills of the id pool
    assert len(set(ids)) == len(ids)
    for click_id in ids[:50]:
        assert len(click_id) == 22 and set(click_id) <= URLSAFE
        assert len(base64.urlsafe_b64decode(click_id + "==")) == 16


def test_each_click_id_encodes_exactly_its_own_16_random_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[bytes] = []

    def urandom(size: int) -> bytes:
        drawn.append(bytes((i * 7 + 3 * len(drawn)) % 256 for i in range(size)))  # every byte value, shifted
        return drawn[-1]

    monkeypatch.setattr(clicks.os, "urandom", urandom)
    ids = clicks._mint_many()
    raw = drawn[0]
    assert [base64.urlsafe_b64decode(i + "==") for i in ids] == [raw[k:k + 16] for k in range(0, len(raw), 16)]
    assert all(len(i) == 22 for i in ids)
