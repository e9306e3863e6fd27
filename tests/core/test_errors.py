"""The error tree: what a caller can rely on when it catches a seedcart error."""

from __future__ import annotations

import pytest

from seedcart import errors
from seedcart.errors import (
    Backpressure,
    ConfigError,
    Conflict,
    Forbidden,
    LinkRefused,
    MissingDependency,
    NotFound,
    SchemaError,
    SeedcartError,
    StorageUnavailable,
    TerminalError,
    TransientError,
    ValidationError,
)


@pytest.mark.parametrize(("cls", "parent", "retryable"), [
    (ConfigError, TerminalError, False), (ValidationError, TerminalError, False),
    (LinkRefused, ValidationError, False), (NotFound, TerminalError, False), (Forbidden, TerminalError, False),
    (Conflict, TerminalError, False), (SchemaError, TerminalError, False),
    (MissingDependency, TerminalError, False), (Backpressure, TransientError, True),
    (StorageUnavailable, TransientError, True),
])
def test_the_tree_and_whether_retrying_helps(cls: type[SeedcartError], parent: type[SeedcartError],
                                             retryable: bool) -> None:
    assert issubclass(cls, parent) and issubclass(cls, SeedcartError)
    assert cls.retryable is retryable


def test_the_docstring_draws_every_error() -> None:
    drawn = errors.__doc__ or ""
    for name, value in vars(errors).items():
        if isinstance(value, type) and issubclass(value, SeedcartError):
            assert name in drawn, name


def test_validation_errors_keep_field_and_row() -> None:
    exc = ValidationError("amount must be an integer", field="amount", row=3)
    assert (exc.field, exc.row, str(exc)) == ("amount", 3, "amount must be an integer")
    assert exc.to_dict() == {"error": "amount must be an integer", "type": "ValidationError", "field": "amount",
                             "row": 3}
    assert "row" not in ValidationError("bad", field="x").to_dict()  # unset context is left out


def test_link_refusals_name_the_rule() -> None:
    exc = LinkRefused("host not allowed", rule="allowlist", field="url")
    assert exc.to_dict()["rule"] == "allowlist" and exc.field == "url"


def test_backpressure_says_when_to_retry() -> None:
    exc = Backpressure("queue full", retry_after=2.5)
    assert exc.retry_after == 2.5 and exc.retryable and exc.to_dict()["retry_after"] == 2.5


def test_missing_dependencies_say_what_to_install() -> None:
    exc = MissingDependency("pyspark", "spark")
    assert "pip install 'seedcart[spark]'" in str(exc)
    assert exc.context == {"package": "pyspark", "extra": "spark"}
