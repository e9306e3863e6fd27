"""API keys: minted once, shown once, stored only as a SHA-256 hash.

A key is ``sc_<role>_<43 url-safe random characters>`` (256 bits); its first 12 characters are
kept in clear as a lookup prefix. Keys are random, so a plain SHA-256 is a sound at-rest hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seedcart.catalog.models import ApiKey, Brand, Partner, utcnow
from seedcart.errors import NotFound, ValidationError
from seedcart.types import ROLES, Role

PREFIX_LEN = 12


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and, for brand and partner keys, the one scope it may touch."""

    key_id: int
    role: Role
    brand_id: int | None = None
    partner_id: str | None = None

    def __repr__(self) -> str:
        return f"Principal(role={self.role!r}, brand_id={self.brand_id}, partner_id={self.partner_id!r})"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, role: str, *, brand_id: int | None = None,
               partner_id: str | None = None, name: str = "") -> tuple[str, ApiKey]:
    """Mint a key; returns ``(clear_key, row)``. The clear key is never stored or logged."""
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}", field="role")
    if role == "brand":
        if brand_id is None:
            raise ValidationError("a brand key needs --brand", field="brand")
        if session.get(Brand, brand_id) is None:
            raise NotFound(f"brand {brand_id} does not exist", field="brand", brand_id=brand_id)
    elif brand_id is not None:
        raise ValidationError(f"--brand applies to brand keys only, not {role}", field="brand")
    if role == "partner":
        if partner_id is None:
            raise ValidationError("a partner key needs --partner", field="partner")
        if session.get(Partner, partner_id) is None:
            raise NotFound(f"partner {partner_id!r} does not exist", field="partner", partner_id=partner_id)
    elif partner_id is not None:
        raise ValidationError(f"--partner applies to partner keys only, not {role}", field="partner")
    clear = f"sc_{role}_{secrets.token_urlsafe(32)}"
    row = ApiKey(prefix=clear[:PREFIX_LEN], key_hash=hash_key(clear), role=role, brand_id=brand_id,
                 partner_id=partner_id, name=name)
    session.add(row)
    session.flush()
    return clear, row


def issue_key(session: Session, role: str, *, brand_id: int | None = None, partner_id: str | None = None,
              name: str = "") -> dict[str, Any]:
    """Mint a key and describe it for its owner, once: the clear key and, for a partner key, the
    partner's backflow signing secret (needed to sign what the key posts)."""
    clear, row = create_key(session, role, brand_id=brand_id, partner_id=partner_id, name=name)
    out: dict[str, Any] = {"id": row.id, "key": clear, "role": row.role, "brand_id": row.brand_id,
                           "partner_id": row.partner_id, "name": row.name}
    if row.partner_id is not None:
        partner = session.get(Partner, row.partner_id)
        assert partner is not None  # checked by create_key
        out["signing_secret"] = partner.signing_secret
    return out


def list_keys(session: Session, *, role: str | None = None, brand_id: int | None = None,
              partner_id: str | None = None, include_revoked: bool = False) -> list[ApiKey]:
    """Keys (hashes only, never the clear key), optionally filtered, by id."""
    query = select(ApiKey).order_by(ApiKey.id)
    if role is not None:
        query = query.where(ApiKey.role == role)
    if brand_id is not None:
        query = query.where(ApiKey.brand_id == brand_id)
    if partner_id is not None:
        query = query.where(ApiKey.partner_id == partner_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def authenticate(session: Session, key: str) -> Principal | None:
    """The principal of a presented key, or None when it is unknown or revoked."""
    if not key or len(key) > 200:
        return None
    digest = hash_key(key)
    candidates = session.scalars(select(ApiKey).where(ApiKey.prefix == key[:PREFIX_LEN])).all()
    for row in candidates:
        if hmac.compare_digest(row.key_hash, digest) and row.revoked_at is None:
            return Principal(key_id=row.id, role=row.role,  # type: ignore[arg-type]
                             brand_id=row.brand_id, partner_id=row.partner_id)
    return None


def revoke_key(session: Session, key_id: int) -> None:
    """Revoke a key by id; it stops authenticating at once."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"key {key_id} does not exist", key_id=key_id)
    row.revoked_at = utcnow()
