"""Match keys: the same person gives the same key on both sides of the alliance, and raw ids stay hidden."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from seedcart.errors import ValidationError
from seedcart.matchkey import is_match_key, match_key, normalise

SECRET = b"alliance-secret-for-tests-0123456789"


@pytest.mark.parametrize("phone", ["+86 138-0013-8000", "008613800138000", "13800138000", "(86) 13800138000"])
def test_spellings_of_one_phone_give_one_key(phone: str) -> None:
    assert normalise("phone", phone) == "8613800138000"
    assert match_key(SECRET, "phone", phone) == match_key(SECRET, "phone", "13800138000")


def test_the_key_is_hmac_sha256_of_kind_and_normalised_value() -> None:
    expected = hmac.new(SECRET, b"oaid:ab12-cd34", hashlib.sha256).hexdigest()
    assert match_key(SECRET, "oaid", "  AB12-CD34 ") == expected
    assert is_match_key(expected)
    assert "ab12" not in expected


def test_keys_differ_by_secret_and_by_kind() -> None:
    value = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    assert match_key(SECRET, "idfa", value) != match_key(b"another-secret-0123456789", "idfa", value)
    assert match_key(SECRET, "idfa", value) != match_key(SECRET, "oaid", value)


@pytest.mark.parametrize(("kind", "value", "field"), [
    ("idfa", "00000000-0000-0000-0000-000000000000", "identifiers.idfa"),
    ("oaid", "   ", "identifiers.oaid"),
    ("phone", "12345", "identifiers.phone"),
    ("email", "a@b.c", "identifiers.email"),
    ("oaid", "x" * 129, "identifiers.oaid"),
])
def test_refusals_name_the_identifier(kind: str, value: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        match_key(SECRET, kind, value)
    assert info.value.field == field


@pytest.mark.parametrize("value", ["", "A" * 64, "g" * 64, "a" * 63, None, 12])
def test_is_match_key_refuses_anything_else(value: object) -> None:
    assert not is_match_key(value)
