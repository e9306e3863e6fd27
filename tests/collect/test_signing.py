"""Backflow signatures: HMAC-SHA256 over timestamp and body, refused when wrong, missing or stale."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from seedcart.collect.signing import SignatureRefused, sign, verify

SECRET = "s3cret-of-the-partner"
BODY = b'[{"event_id":"e1"}]'


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY) == f"sha256={expected}"


def test_verify_accepts_a_fresh_signature() -> None:
    verify(SECRET, "1700000000", sign(SECRET, 1700000000, BODY), BODY, now=1700000100, skew_s=300)


@pytest.mark.parametrize(("ts", "signature", "body", "now", "field"), [
    ("1700000000", "sha256=" + "0" * 64, BODY, 1700000000, "X-Seedcart-Signature"),  # wrong
    ("1700000000", None, BODY, 1700000000, "X-Seedcart-Signature"),  # missing
    ("1700000000", "md5=abc", BODY, 1700000000, "X-Seedcart-Signature"),  # malformed
    ("1700000000", "SIGN", BODY + b" ", 1700000000, "X-Seedcart-Signature"),  # body changed
    ("1700000000", "SIGN", BODY, 1700000301, "X-Seedcart-Timestamp"),  # stale: replay after the window
    ("1700000000", "SIGN", BODY, 1699999699, "X-Seedcart-Timestamp"),  # from the future
    (None, "SIGN", BODY, 1700000000, "X-Seedcart-Timestamp"),
    ("yesterday", "SIGN", BODY, 1700000000, "X-Seedcart-Timestamp"),
])
def test_verify_refuses_naming_the_header(ts: str | None, signature: str | None, body: bytes, now: float,
                                          field: str) -> None:
    if signature == "SIGN":
        signature = sign(SECRET, 1700000000, BODY)
    with pytest.raises(SignatureRefused) as info:
        verify(SECRET, ts, signature, body, now=now, skew_s=300)
    assert info.value.field == field


def test_another_partners_secret_does_not_verify() -> None:
    with pytest.raises(SignatureRefused):
        verify("other-secret", "1700000000", sign(SECRET, 1700000000, BODY), BODY, now=1700000000, skew_s=300)
