"""Every error seedcart raises on purpose.

::

    SeedcartError                  root; ``retryable`` says whether trying again can help
    ├── TerminalError              retrying the same call gives the same answer
    │   ├── ConfigError            a setting is missing or contradicts another
    │   ├── ValidationError        input refused; names the field (and the row, when there is one)
    │   │   └── LinkRefused        a URL or link refused by a partner parser or the link policy
    │   ├── NotFound               an id that does not exist (or that the caller may not see)
    │   ├── Forbidden              the caller's key may not do this
    │   ├── Conflict               the object exists already, or its state forbids the change
    │   ├── SchemaError            a lake table or file does not have the expected columns
    │   └── MissingDependency      an optional extra is not installed; says what to install
    └── TransientError             the same call may succeed later
        ├── Backpressure           intake is full; retry after ``retry_after`` seconds
        └── StorageUnavailable     the catalog or the lake could not be reached or written
"""

from __future__ import annotations

from typing import Any


class SeedcartError(Exception):
    """Root of every error seedcart raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description: the message plus the inputs that caused it."""
        out: dict[str, Any] = {"error": self.message, "type": type(self).__name__}
        out.update({k: v for k, v in self.context.items() if v is not None})
        return out


class TerminalError(SeedcartError):
    """Retrying the same call gives the same answer."""


class TransientError(SeedcartError):
    """The same call may succeed later."""

    retryable = True


class ConfigError(TerminalError):
    """A setting is missing, malformed, or contradicts another."""


class ValidationError(TerminalError):
    """Input was refused. ``field`` names the offending field, ``row`` its 0-based row."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None,
                 **context: Any) -> None:
        super().__init__(message, field=field, row=row, **context)
        self.field = field
        self.row = row


class LinkRefused(ValidationError):
    """A URL or a link was refused; ``rule`` names the parser or policy rule that refused it."""

    def __init__(self, message: str, *, rule: str, field: str | None = None, **context: Any) -> None:
        super().__init__(message, field=field, rule=rule, **context)
        self.rule = rule


class NotFound(TerminalError):
    """An id that does not exist, or that the caller is not allowed to see."""


class Forbidden(TerminalError):
    """The caller's key may not do this."""


class Conflict(TerminalError):
    """The object exists already, or its state forbids the change."""


class SchemaError(TerminalError):
    """A table or file does not have the columns or types expected."""


class MissingDependency(TerminalError):
    """An optional extra is not installed. The message says which command installs it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; run: pip install 'seedcart[{extra}]'",
            package=package, extra=extra,
        )


class Backpressure(TransientError):
    """Intake cannot keep up; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0, **context: Any) -> None:
        super().__init__(message, retry_after=retry_after, **context)
        self.retry_after = retry_after


class StorageUnavailable(TransientError):
    """The catalog database or the lake could not be reached or written."""
