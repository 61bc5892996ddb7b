"""Shared pydantic pieces: a time-zone name field, and turning a validation error into one readable
`Invalid` (a 400 from the API, a one-line CLI error).

Owns the wording of validation errors: `<field path>: <pydantic's message>`, the first error only.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from inbox.errors import Invalid

M = TypeVar("M", bound=BaseModel)


def known_zone(value: str) -> str:
    """An IANA time zone name this machine knows (e.g. America/Sao_Paulo)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(known_zone)]

# The largest id a database column holds (signed 64 bits). An id in a body is refused (400) outside
# it, one in a path is simply not found: past it SQLite raised OverflowError (a 500, found by the
# schemathesis run).
MAX_ID = 2**63 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _where(exc: ValidationError, what: str) -> str:
    return ".".join(str(x) for x in exc.errors()[0]["loc"]) or what


def readable(exc: ValidationError, what: str) -> str:
    """The first error as `<field path>: <message>` (`what` when the error is about the whole)."""
    return f"{_where(exc, what)}: {exc.errors()[0]['msg']}"


def validate(model: type[M], data: Any, *, what: str) -> M:
    """`model` from `data`, or `Invalid` with a readable reason (code `invalid_field`; params: the
    `field` and pydantic's `detail`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        params = {"field": _where(exc, what), "detail": exc.errors()[0]["msg"]}
        raise Invalid(readable(exc, what), code="invalid_field", params=params) from exc
