"""The catalog's CLI commands: JSON out, JSON errors with a non-zero exit, SEEDCART__DATA_DIR honoured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from seedcart.catalog.db import open_catalog
from seedcart.catalog.keys import authenticate
from seedcart.cli import app
from seedcart.config import load_settings


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in list(__import__("os").environ):
        if name.upper().startswith("SEEDCART__"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SEEDCART__DATA_DIR", str(tmp_path / "cli-data"))
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, Any]:
        result = runner.invoke(app, list(args))
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) \
            else result.stdout

    return invoke


def test_brands_create_and_list(run: Any, tmp_path: Path) -> None:
    code, brand = run("brands", "create", "Lumi")
    assert code == 0 and brand["name"] == "Lumi" and isinstance(brand["id"], int)
    code, listed = run("brands", "list", "--json")
    assert code == 0 and [b["name"] for b in listed] == ["Lumi"]
    code, text = run("brands", "list")
    assert code == 0 and text.split() == [str(brand["id"]), "Lumi"]
    assert (tmp_path / "cli-data" / "catalog.sqlite").exists()  # the environment's data dir
    code, error = run("brands", "create", "Lumi")
    assert code == 1 and error["type"] == "Conflict" and error["field"] == "name"


def test_keys_create_prints_the_key_once(run: Any, tmp_path: Path) -> None:
    _, brand = run("brands", "create", "Lumi")
    code, key = run("keys", "create", "--role", "brand", "--brand", str(brand["id"]), "--name", "dash")
    assert code == 0
    assert {k: key[k] for k in ("role", "brand_id", "partner_id")} == {"role": "brand", "brand_id": brand["id"],
                                                                       "partner_id": None}
    code, partner = run("keys", "create", "--role", "partner", "--partner", "pdd")
    assert code == 0 and len(partner["signing_secret"]) == 64
    catalog = open_catalog(load_settings({"SEEDCART__DATA_DIR": str(tmp_path / "cli-data")}))
    try:
        with catalog.session() as s:
            principal = authenticate(s, key["key"])
            assert principal is not None and principal.brand_id == brand["id"] and principal.key_id == key["id"]
    finally:
        catalog.close()


@pytest.mark.parametrize(("args", "field"), [
    (("--role", "brand"), "brand"),
    (("--role", "root"), "role"),
    (("--role", "partner", "--partner", "amazon"), "partner"),
])
def test_keys_create_errors_are_json(run: Any, args: tuple[str, ...], field: str) -> None:
    code, error = run("keys", "create", *args)
    assert code == 1 and error["field"] == field and error["error"]
