"""Blue-link rendering of comment text (the library function; the API is tested in tests/serve)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedcart.errors import LinkRefused
from seedcart.links import PartnerRef, render_comment
from seedcart.links.blue import flags


def mint(ref: PartnerRef) -> dict[str, Any]:
    if ref.kind != "product":
        raise LinkRefused("not a product", rule="not_a_product")
    return {"code": f"{ref.partner}-{ref.item_id}"}


def _links(segments: list[dict[str, Any]]) -> list[str]:
    return [s["code"] for s in segments if s["type"] == "link"]


def test_chinese_text_full_width_punctuation_and_several_links() -> None:
    text = ("姐妹们看这个https://item.jd.com/100012043978.html，真的好用！天猫也有：detail.tmall.com/item.htm?id=42。"
            "拼多多（https://mobile.yangkeduo.com/goods.html?goods_id=7）更便宜")
    segments = render_comment(text, mint)
    assert "".join(s["text"] for s in segments) == text  # nothing lost, nothing added
    assert _links(segments) == ["jd-100012043978", "tmall-42", "pdd-7"]
    assert segments[1]["text"] == "https://item.jd.com/100012043978.html"
    assert segments[2]["text"].startswith("，真的好用")
    assert flags(segments) == []


def test_trailing_ascii_punctuation_is_not_part_of_the_link() -> None:
    segments = render_comment("see https://item.jd.com/1.html.", mint)
    assert [s["text"] for s in segments] == ["see ", "https://item.jd.com/1.html", "."]


@pytest.mark.parametrize(("text", "reason"), [
    ("更多好物 https://evil.com/?u=https://item.jd.com/1.html", "host_not_allowlisted"),
    ("看 https://detail.tmall.com.evil.cn/item.htm?id=1", "host_not_allowlisted"),
    ("戳 javascript:alert(1)", "scheme"),
    ("短链 https://m.tb.cn/h.5Bq3Xyz", "not_a_product"),
])
def test_other_sites_and_hostile_urls_stay_text_with_the_reason(text: str, reason: str) -> None:
    segments = render_comment(text, mint)
    assert _links(segments) == []
    assert [(f["flag"], f["reason"]) for f in flags(segments)] == [("url_refused", reason)]


@pytest.mark.parametrize(("text", "reason"), [
    ("喜欢的加微信：meiyan_2024 领券", "wechat_id"),
    ("vx meiyan2024 私发", "wechat_id"),
    ("电话 138-0013-8000", "phone_number"),
    ("+86 13800138000", "phone_number"),
    ("QQ：12345678", "qq_number"),
    ("邮箱 shop@example.com", "email"),
    ("扫码进群有福利", "qr_prompt"),
    ("想要的私信我", "contact_prompt"),
])
def test_offsite_diversions_are_flagged(text: str, reason: str) -> None:
    segments = render_comment(text, mint)
    assert "".join(s["text"] for s in segments) == text
    assert reason in [f["reason"] for f in flags(segments) if f["flag"] == "offsite_diversion"]


def test_a_product_id_inside_a_link_is_not_taken_for_a_phone_number() -> None:
    segments = render_comment("https://item.jd.com/13800138000.html", mint)
    assert _links(segments) == ["jd-13800138000"]
    assert flags(segments) == []


def test_plain_comment_is_one_text_segment() -> None:
    assert render_comment("质地很清爽，推荐！", mint) == [{"type": "text", "text": "质地很清爽，推荐！"}]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["看", "，", "。", " ", "https://item.jd.com/1.html", "item.jd.com/2.html",
                                 "https://evil.com/", "加我", "微信：abc_123456", "13800138000", "x", ".", "(",
                                 ")", "javascript:", "@qq.com"]), max_size=12), st.text(max_size=40))
def test_rendering_never_loses_text(pieces: list[str], noise: str) -> None:
    text = "".join(pieces) + noise
    segments = render_comment(text, mint)
    assert "".join(s["text"] for s in segments) == text
    assert all(s["type"] in ("text", "link") for s in segments)
