"""Small checks on query and path values that the OpenAPI types cannot state (and the databases refuse)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BeforeValidator

from alfred.api.admin.bodies import integer_text, rfc3339_text, storable
from alfred.errors import InvalidRequestError

# Query and path values are text: these read them as strictly as the document states them.
Id = Annotated[int, BeforeValidator(integer_text)]
Time = Annotated[datetime, BeforeValidator(rfc3339_text)]


def text(value: str | None, param: str) -> str | None:
    """Free text headed for a query: what no column can hold (NUL, lone surrogates) is refused first."""
    if value is not None:
        try:
            storable(value, param)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), param=param) from None
    return value


def aware(value: datetime | None, param: str) -> datetime | None:
    """A timestamp in UTC; one without a zone is taken to be UTC already."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidRequestError(f"{param} is out of range", param=param) from exc
