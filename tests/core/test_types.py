"""The vocabularies: each Literal and its tuple of values agree, and the touch classes cover the kinds."""

from __future__ import annotations

from typing import get_args

import pytest

from seedcart import types

PAIRS = [
    ("Partner", "PARTNERS"), ("FrontKind", "FRONT_KINDS"), ("BackAction", "BACK_ACTIONS"),
    ("TouchClass", "TOUCH_CLASSES"), ("CampaignMode", "CAMPAIGN_MODES"), ("Placement", "PLACEMENTS"),
    ("LinkKind", "LINK_KINDS"), ("BidType", "BID_TYPES"), ("NoteFormat", "NOTE_FORMATS"), ("Role", "ROLES"),
    ("Engine", "ENGINES"), ("Model", "MODELS"), ("Category", "CATEGORIES"), ("Device", "DEVICES"),
    ("Table", "TABLES"),
]


@pytest.mark.parametrize(("literal", "values"), PAIRS)
def test_each_literal_matches_its_tuple(literal: str, values: str) -> None:
    assert get_args(getattr(types, literal)) == getattr(types, values)
    assert len(set(getattr(types, values))) == len(getattr(types, values))


def test_every_literal_in_the_module_has_its_tuple() -> None:
    literals = {name for name, value in vars(types).items()
                if not name.startswith("_") and getattr(value, "__origin__", None) is not None
                and str(value).startswith("typing.Literal")}
    assert literals <= {literal for literal, _ in PAIRS}


def test_the_domain_vocabularies_of_the_design() -> None:
    assert types.PARTNERS == ("tmall", "taobao", "jd", "pdd", "vip", "wechat_mp")
    assert set(types.BACK_ACTIONS) == {"visit", "search", "favorite", "cart", "order", "refund"}
    assert len(types.CATEGORIES) == 8
    assert set(types.MODELS) >= {"last_touch", "first_touch", "linear", "position_based", "time_decay",
                                 "markov", "shapley"}


def test_every_front_kind_but_search_has_a_touch_class() -> None:
    assert set(types.TOUCH_CLASS_OF) == set(types.FRONT_KINDS) - {"search"}
    assert set(types.TOUCH_CLASS_OF.values()) == set(types.TOUCH_CLASSES)
    assert types.TOUCH_CLASS_OF["link_click"] == "click"
    assert types.TOUCH_CLASS_OF["deep_read"] == "engagement"
    assert types.TOUCH_CLASS_OF["impression"] == "view"
