"""Settings: read from a passed-in environment, typed, defaulted; secrets never printed."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pydantic
import pytest

from seedcart.config import Settings, load_settings
from seedcart.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({"SEEDCART__DATA_DIR": str(tmp_path)})
    assert settings.data_dir == tmp_path
    assert settings.engine == "duckdb"
    assert settings.lookback.click == settings.lookback.view == timedelta(days=15)
    assert settings.attribution.half_life == timedelta(days=7)
    assert settings.resolved_catalog_url == f"sqlite:///{(tmp_path / 'catalog.sqlite').resolve()}"
    assert settings.resolved_lake_root == str((tmp_path / "lake").resolve())
    assert settings.log_dir == tmp_path / "log"


def test_nested_settings_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings({
        "SEEDCART__DATA_DIR": str(tmp_path),
        "SEEDCART__LOOKBACK__CLICK": "30d",
        "seedcart__lookback__view": "36h",  # case does not matter
        "SEEDCART__ATTRIBUTION__HALF_LIFE": "3d",
        "SEEDCART__ENGINE": "spark",
        "SEEDCART__SERVE__PORT": "9001",
        "SEEDCART__LAKE_ROOT": "/srv/lake",
        "OTHER": "ignored",
    })
    assert settings.lookback.click == timedelta(days=30)
    assert settings.lookback.view == timedelta(hours=36)
    assert settings.lookback.engagement == timedelta(days=15)
    assert settings.attribution.half_life == timedelta(days=3)
    assert (settings.engine, settings.serve.port, settings.resolved_lake_root) == ("spark", 9001, "/srv/lake")


def test_a_passed_environment_ignores_the_process_environment(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.setenv("SEEDCART__ENGINE", "spark")
    monkeypatch.setenv("SEEDCART__LOOKBACK__CLICK", "1d")
    isolated = load_settings({"SEEDCART__DATA_DIR": str(tmp_path)})
    assert isolated.engine == "duckdb" and isolated.lookback.click == timedelta(days=15)
    from_process = load_settings()
    assert from_process.engine == "spark" and from_process.lookback.click == timedelta(days=1)


@pytest.mark.parametrize(("env", "field"), [
    ({"SEEDCART__LOOKBACK__CLICK": "soon"}, "click"),
    ({"SEEDCART__ENGINE": "pandas"}, "engine"),
    ({"SEEDCART__SERVE__PORT": "eighty"}, "port"),
])
def test_bad_values_are_refused_naming_the_setting(env: dict[str, str], field: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        load_settings(env)
    assert field in str(info.value)


def test_secrets_never_print(tmp_path: Path) -> None:
    secret = "s3cr3t-alliance-value-0123456789"
    session = "s3cr3t-session-value-0123456789"
    password = "hunter2-db-password"
    settings = load_settings({
        "SEEDCART__DATA_DIR": str(tmp_path),
        "SEEDCART__ALLIANCE_SECRET": secret,
        "SEEDCART__SERVE__SESSION_SECRET": session,
        "SEEDCART__CATALOG_URL": f"postgresql+psycopg://seedcart:{password}@db.internal/seedcart",
    })
    for text in (repr(settings), str(settings), repr(settings.serve), f"{settings}"):
        assert secret not in text and session not in text and password not in text
    assert "db.internal" in repr(settings)  # the URL itself is still shown, masked
    assert settings.alliance_key() == secret.encode()
    assert settings.resolved_catalog_url.endswith(f":{password}@db.internal/seedcart")  # usable, just not printed


def test_the_alliance_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings({"SEEDCART__DATA_DIR": str(tmp_path / "d")}).alliance_key()
    again = load_settings({"SEEDCART__DATA_DIR": str(tmp_path / "d")}).alliance_key()
    other = load_settings({"SEEDCART__DATA_DIR": str(tmp_path / "e")}).alliance_key()
    assert first == again != other and len(first) == 64
    path = tmp_path / "d" / "alliance.secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p for p in (tmp_path / "d").iterdir() if ".tmp" in p.name]


def test_a_short_configured_alliance_secret_is_refused(tmp_path: Path) -> None:
    settings = load_settings({"SEEDCART__DATA_DIR": str(tmp_path), "SEEDCART__ALLIANCE_SECRET": "short"})
    with pytest.raises(ConfigError) as info:
        settings.alliance_key()
    assert info.value.context["field"] == "alliance_secret"


def test_every_setting_is_documented() -> None:
    def walk(model: type[pydantic.BaseModel], prefix: str) -> list[str]:
        missing = []
        for name, info in model.model_fields.items():
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
                missing += walk(annotation, f"{prefix}{name}.")
            elif not info.description:
                missing.append(prefix + name)
        return missing

    assert walk(Settings, "") == []
