"""Request bodies of the admin and self-service APIs (pydantic: they are the OpenAPI document's ``*In``).

Amounts are credits (a number or a decimal string, never below one micro-credit); the routes turn them
into integer micro-credits with ``micros``. The shapes are pinned by ``sdk/openapi/admin.json``.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, model_validator

from alfred.errors import InvalidRequestError
from alfred.ledger.money import credits_to_micros

# Amounts beyond this many micro-credits would overflow a BIGINT column; nothing real comes close.
MAX_MICROS = 2**62
_MAX_CREDIT_DIGITS = 12  # 2**62 micro-credits is about 4.6e12 credits


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_INTEGER = re.compile(r"-?\d{1,30}")


def rfc3339_text(value: Any) -> Any:
    """What ``format: date-time`` promises: RFC 3339 text with a zone, not seconds since 1970 or a date."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2026-12-31T23:59:59Z")
    return value


def integer_text(value: Any) -> Any:
    """A query or path integer as digits only (pydantic alone would also read "1.0" as 1)."""
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        raise ValueError("must be an integer")
    return value


# What the document says, and nothing looser: pydantic would read true as 1, "7" as 7 and 0 as false.
Int = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
Timestamp = Annotated[datetime, BeforeValidator(rfc3339_text)]


def _drop_null_defaults(schema: dict[str, Any]) -> None:
    # An optional field's "default": null says nothing the anyOf does not; the pinned document omits it.
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class Body(BaseModel):
    """A request body: unknown fields are refused, and no text may carry a NUL (databases refuse it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null_defaults)

    @model_validator(mode="after")
    def _storable_text(self) -> Body:
        for name, value in self:
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    storable(text, name)
        return self


def storable(text: str, name: str) -> None:
    """Refuse text no database column can hold: NUL characters, and lone surrogates (not UTF-8)."""
    if "\x00" in text:
        raise ValueError(f"{name} must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid Unicode text") from None


def micros(credits: Decimal, param: str) -> int:
    """Credits to micro-credits, refusing amounts finer than one micro-credit or beyond any wallet."""
    # Checked on the exponent first: turning 1e999999 into an int would take long, or fail.
    if not credits.is_finite() or (credits != 0 and credits.adjusted() > _MAX_CREDIT_DIGITS):
        raise InvalidRequestError(f"{param} is out of range", param=param)
    try:
        value = credits_to_micros(credits)
    except (ValueError, ArithmeticError) as exc:
        raise InvalidRequestError(f"{param}: {exc}", param=param) from exc
    if abs(value) > MAX_MICROS:
        raise InvalidRequestError(f"{param} is out of range", param=param)
    return value


def optional_micros(credits: Decimal | None, param: str) -> int | None:
    return None if credits is None else micros(credits, param)


class TeamIn(Body):
    name: str = Field(min_length=1, max_length=200)
    common_pool: Decimal = Field(Decimal("0"), ge=0, description="credits granted to the team pool")
    vacation_share_pct: Int | None = Field(None, ge=0, le=100)
    allow_pool: Flag = Field(False, description="any member may fall back to the pool")
    hard_limit: Decimal = Decimal("0")
    soft_limit: Decimal | None = None


class UserIn(Body):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    team_id: Int | None = None
    team_role: Literal["member", "admin"] = "member"
    is_admin: Flag = False
    personal_quota: Decimal = Field(Decimal("0"), ge=0, description="credits granted to the personal wallet")
    priority: Flag = False
    hard_limit: Decimal = Decimal("0")
    soft_limit: Decimal | None = None


class KeyIn(Body):
    user_id: Int
    name: str = Field("default", min_length=1, max_length=200)
    expires_at: Timestamp | None = None
    allowed_models: list[str] | None = None
    budget: Decimal | None = Field(None, ge=0, description="credits this key may spend in total")
    rpm_limit: Int | None = Field(None, gt=0)
    tpm_limit: Int | None = Field(None, gt=0)
    priority: Flag = False


class TopupIn(Body):
    amount: Decimal = Field(gt=0)
    memo: str | None = Field(None, max_length=500)
    idempotency_key: str | None = Field(None, max_length=128)


class TransferIn(Body):
    from_wallet: Int
    to_wallet: Int
    amount: Decimal = Field(gt=0)
    memo: str | None = Field(None, max_length=500)
    idempotency_key: str | None = Field(None, max_length=128)


class LimitsIn(Body):
    hard_limit: Decimal | None = None
    soft_limit: Decimal | None = None
    clear_soft_limit: Flag = False
    status: Literal["active", "frozen", "closed"] | None = None


class VacationIn(Body):
    on: Flag


class ApprovalIn(Body):
    amount: Decimal = Field(gt=0)
    reason: str | None = Field(None, max_length=1000)


class PeerTransferIn(Body):
    to_user_id: Int
    amount: Decimal = Field(gt=0)
    memo: str | None = Field(None, max_length=500)
