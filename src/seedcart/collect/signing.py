"""Signed backflow: HMAC-SHA256 over ``"<timestamp>." + body`` under the partner's signing secret.

Headers: ``X-Seedcart-Timestamp: <unix seconds>`` and ``X-Seedcart-Signature: sha256=<hex>``.
A request more than ``skew_s`` seconds away from the receiver's clock is refused, which bounds
how long a captured request can be replayed (within the window a replay only repeats rows that
intake already deduplicates).
"""

from __future__ import annotations

import hashlib
import hmac

from seedcart.errors import ValidationError

TIMESTAMP_HEADER = "X-Seedcart-Timestamp"
SIGNATURE_HEADER = "X-Seedcart-Signature"
SCHEME = "sha256="


class SignatureRefused(ValidationError):
    """A signed request was refused: missing, malformed, stale or wrong signature (HTTP 401)."""


def signer(secret: str, timestamp: int) -> hmac.HMAC:
    """An incremental HMAC already fed ``"<timestamp>."``: ``update`` it with the body as it streams."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    mac.update(f"{int(timestamp)}.".encode())
    return mac


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value, ``sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``."""
    mac = signer(secret, timestamp)
    mac.update(body)
    return SCHEME + mac.hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Both signature headers for ``body`` (what a partner sends)."""
    return {TIMESTAMP_HEADER: str(int(timestamp)), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def check_timestamp(timestamp_header: str | None, *, now: float, skew_s: float) -> int:
    """The header's timestamp, or SignatureRefused when it is missing, malformed or too far from ``now``."""
    if not timestamp_header:
        raise SignatureRefused(f"the {TIMESTAMP_HEADER} header is missing", field=TIMESTAMP_HEADER)
    try:
        timestamp = int(timestamp_header.strip())
    except ValueError:
        raise SignatureRefused(f"{TIMESTAMP_HEADER} must be unix seconds, got {timestamp_header[:40]!r}",
                               field=TIMESTAMP_HEADER) from None
    skew = abs(now - timestamp)
    if skew > skew_s:
        raise SignatureRefused(f"{TIMESTAMP_HEADER} is {skew:.0f} s away from the server clock "
                               f"(at most {skew_s:.0f} s accepted); re-sign the request",
                               field=TIMESTAMP_HEADER, skew_s=round(skew))
    return timestamp


def check_signature(expected_hex: str, signature_header: str | None) -> None:
    """Compare a computed hex digest with the presented header in constant time."""
    if not signature_header:
        raise SignatureRefused(f"the {SIGNATURE_HEADER} header is missing", field=SIGNATURE_HEADER)
    presented = signature_header.strip()
    if not presented.startswith(SCHEME):
        raise SignatureRefused(f"{SIGNATURE_HEADER} must be 'sha256=<hex>'", field=SIGNATURE_HEADER)
    if not hmac.compare_digest(presented[len(SCHEME):].lower().encode(), expected_hex.encode()):
        raise SignatureRefused("the signature does not match the body and timestamp", field=SIGNATURE_HEADER)


def verify(secret: str, timestamp_header: str | None, signature_header: str | None, body: bytes, *,
           now: float, skew_s: float = 300) -> None:
    """Return when the headers sign ``body`` under ``secret`` within ``skew_s`` of ``now``.

    Raises SignatureRefused naming the header otherwise.
    """
    timestamp = check_timestamp(timestamp_header, now=now, skew_s=skew_s)
    mac = signer(secret, timestamp)
    mac.update(body)
    check_signature(mac.hexdigest(), signature_header)
