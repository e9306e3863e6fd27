"""API keys: shown once, stored only as a hash, scoped, revocable."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedcart.catalog import repo
from seedcart.catalog.db import Catalog
from seedcart.catalog.keys import Principal, authenticate, create_key, hash_key, issue_key, list_keys, revoke_key
from seedcart.config import Settings
from seedcart.errors import NotFound, ValidationError


def test_keys_are_never_stored_in_clear(catalog: Catalog, settings: Settings) -> None:
    with catalog.session() as s:
        brand = repo.create_brand(s, "Lumi")
        keys = [create_key(s, role, brand_id=brand.id if role == "brand" else None,
                           partner_id="jd" if role == "partner" else None)[0]
                for role in ("admin", "source", "brand", "partner")]
    catalog.close()  # checkpoint the WAL into the main file as well
    files = [p for p in Path(settings.data_dir).iterdir() if p.name.startswith("catalog.sqlite")]
    stored = b"".join(p.read_bytes() for p in files)
    assert hash_key(keys[0]).encode() in stored  # the scan does see the table's contents
    for key in keys:
        assert key.encode() not in stored
        assert key[12:].encode() not in stored  # not even the part after the lookup prefix


def test_authenticate_scopes_and_revoke(any_catalog: Catalog) -> None:
    catalog = any_catalog
    with catalog.session() as s:
        brand = repo.create_brand(s, "Lumi")
        brand_key, brand_row = create_key(s, "brand", brand_id=brand.id, name="lumi dashboard")
        partner_key, _ = create_key(s, "partner", partner_id="pdd")
    with catalog.session() as s:
        principal = authenticate(s, brand_key)
        assert principal == Principal(key_id=brand_row.id, role="brand", brand_id=brand.id, partner_id=None)
        assert brand_key not in repr(principal)
        assert authenticate(s, partner_key) == Principal(key_id=principal.key_id + 1, role="partner",
                                                         partner_id="pdd")
        assert authenticate(s, brand_key[:-1] + ("A" if brand_key[-1] != "A" else "B")) is None
        assert authenticate(s, "") is None and authenticate(s, "x" * 500) is None
        revoke_key(s, brand_row.id)
    with catalog.session() as s:
        assert authenticate(s, brand_key) is None
        assert [k.role for k in list_keys(s)] == ["partner"]
        assert [k.role for k in list_keys(s, include_revoked=True)] == ["brand", "partner"]
        with pytest.raises(NotFound):
            revoke_key(s, 999)


@pytest.mark.parametrize(("role", "brand_id", "partner_id", "error", "field"), [
    ("root", None, None, ValidationError, "role"),
    ("brand", None, None, ValidationError, "brand"),
    ("brand", 42, None, NotFound, "brand"),
    ("admin", 1, None, ValidationError, "brand"),
    ("partner", None, None, ValidationError, "partner"),
    ("partner", None, "amazon", NotFound, "partner"),
    ("source", None, "jd", ValidationError, "partner"),
])
def test_key_refusals_name_the_field(catalog: Catalog, role: str, brand_id: int | None, partner_id: str | None,
                                     error: type[Exception], field: str) -> None:
    with catalog.session() as s:
        repo.create_brand(s, "Lumi")
        with pytest.raises(error) as info:
            create_key(s, role, brand_id=brand_id, partner_id=partner_id)
    assert info.value.context["field"] == field  # type: ignore[attr-defined]


def test_issued_partner_keys_carry_the_signing_secret(catalog: Catalog) -> None:
    with catalog.session() as s:
        partner_key = issue_key(s, "partner", partner_id="jd", name="jd backflow")
        admin_key = issue_key(s, "admin")
        secret = repo.get_partner(s, "jd").signing_secret
    assert partner_key["signing_secret"] == secret
    assert (partner_key["role"], partner_key["partner_id"], partner_key["brand_id"]) == ("partner", "jd", None)
    assert "signing_secret" not in admin_key and admin_key["key"].startswith("sc_admin_")
