"""Privacy-safe match keys: HMAC-SHA256 of a normalised identifier under the alliance secret.

Raw identifiers are normalised, keyed-hashed and dropped at the edge; they never reach disk.

Normalisation (both sides of the alliance must apply the same rules):
- ``phone``: digits only; a mainland number of 11 digits starting with 1 gets the country code
  86 prefixed, a leading ``00`` international prefix is dropped (``+86 138-0013-8000``,
  ``008613800138000`` and ``13800138000`` all become ``8613800138000``).
- ``oaid``, ``idfa``: trimmed and lower-cased; the all-zero advertising id (limit ad tracking)
  is refused because it identifies nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final, Literal, get_args

from seedcart.errors import ValidationError

IdentifierKind = Literal["phone", "oaid", "idfa"]
IDENTIFIER_KINDS: Final[tuple[IdentifierKind, ...]] = get_args(IdentifierKind)

_NON_DIGITS = re.compile(r"\D+")
_ZERO_ID = re.compile(r"^[0-]+$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalise(kind: str, value: str) -> str:
    """The canonical form of an identifier, or ValidationError naming the kind."""
    if kind not in IDENTIFIER_KINDS:
        raise ValidationError(f"identifier kind must be one of {', '.join(IDENTIFIER_KINDS)}, got {kind!r}",
                              field=f"identifiers.{kind}")
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"identifiers.{kind} must be a non-empty string", field=f"identifiers.{kind}")
    if kind == "phone":
        digits = _NON_DIGITS.sub("", value)
        if digits.startswith("00"):
            digits = digits[2:]
        if len(digits) == 11 and digits.startswith("1"):
            digits = "86" + digits
        if not 8 <= len(digits) <= 15:
            raise ValidationError("identifiers.phone is not a phone number", field="identifiers.phone")
        return digits
    cleaned = value.strip().lower()
    if _ZERO_ID.match(cleaned):
        raise ValidationError(f"identifiers.{kind} is the all-zero id, which identifies nobody",
                              field=f"identifiers.{kind}")
    if len(cleaned) > 128:
        raise ValidationError(f"identifiers.{kind} is longer than 128 characters", field=f"identifiers.{kind}")
    return cleaned


def match_key(secret: bytes, kind: str, value: str) -> str:
    """Hex HMAC-SHA256 of ``kind:normalised value`` under the alliance ``secret``."""
    message = f"{kind}:{normalise(kind, value)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def is_match_key(value: object) -> bool:
    """Whether ``value`` looks like a match key (64 lower-case hex characters)."""
    return isinstance(value, str) and _HEX64.match(value) is not None
