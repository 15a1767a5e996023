"""The ledger's configuration: where the database lives, how long reservations live, and prices."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alfred.state.db_options import DEFAULT_URL, DatabaseOptions, Synchronous


class ModelPrice(BaseModel):
    """USD per 1M input and output tokens, and per image; Decimal so a price never becomes a float."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: Decimal = Decimal(0)
    output_per_mtok: Decimal = Decimal(0)
    per_image: Decimal = Decimal(0)

    @field_validator("input_per_mtok", "output_per_mtok", "per_image", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        # YAML reads 0.15 as a float; its repr is the shortest round-trip text, which is what was written.
        return repr(value) if isinstance(value, float) else value

    @field_validator("input_per_mtok", "output_per_mtok", "per_image")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value < 0:
            raise ValueError("prices must be finite and not negative")
        return value


class LeaseSettings(BaseModel):
    """Credit leases: each process holds a block of a personal wallet's credit and reserves requests from
    it in memory, so a request costs one commit (its settle) instead of two (``alfred.ledger.leases``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    block_credits: Decimal = Field(
        Decimal(1), gt=0, description="credits one lease takes from a wallet (more when one request needs it)"
    )
    ttl_s: float = Field(
        30.0, ge=0.3, description="a lease row expires this long after its last renewal (every ttl_s / 3)"
    )

    @field_validator("block_credits", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        return repr(value) if isinstance(value, float) else value


class LedgerSettings(BaseModel):
    """Database, reservation and pricing settings of the governance ledger."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field(DEFAULT_URL, description="sqlite+aiosqlite:///path or postgresql+asyncpg://…")
    replica_url: str | None = Field(None, description="a read replica for reports; writes never go there")
    pool_size: int = Field(10, ge=1, le=200)
    max_overflow: int = Field(10, ge=0, le=200)
    busy_timeout_ms: int = Field(10_000, ge=0, description="how long a SQLite writer waits for the lock")
    sqlite_synchronous: Synchronous = "NORMAL"
    reservation_ttl_s: int = Field(
        900, ge=1, description="a reservation older than this is expired and released by reconciliation"
    )
    reconcile_interval_s: int = Field(30, ge=1)
    leases: LeaseSettings = Field(default_factory=LeaseSettings)
    default_vacation_share_pct: int = Field(10, ge=0, le=100)
    prices: dict[str, ModelPrice] = Field(default_factory=dict, description="model name → price")
    default_prices: bool = Field(True, description="also know the list prices of well-known models")
    unknown_model_price: ModelPrice | None = Field(
        None, description="price for a model with no entry; unset means such a model cannot be priced"
    )

    def database_options(self) -> DatabaseOptions:
        return DatabaseOptions(
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            busy_timeout_ms=self.busy_timeout_ms,
            sqlite_synchronous=self.sqlite_synchronous,
        )
