"""How the admin commands reach the ledger: open it from the config, check that it is migrated, run
one piece of async work on it, and turn what can go wrong into a message that says what to do next.

Keys made here must authenticate on the gateway, so the key hash secret is resolved exactly as the
server resolves it (``key_hash_secret`` through the deployment's secret resolver, Vault included).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from alfred.cli_config import config_path, load_config

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.table import Table

    from alfred.config import Settings
    from alfred.ledger import Ledger, TeamInfo, UserInfo
    from alfred.ledger.settings import LedgerSettings

T = TypeVar("T")

NO_KEY_HASH_ADVICE = (
    "set key_hash_secret in the config (at least 16 bytes; a secret reference such as "
    "env:ALFRED_KEY_HASH_SECRET, or a literal), the same value the gateway uses"
)


class LedgerTrouble(Exception):
    """Something an admin command cannot get past; the message says what to do about it."""


def migrate_hint(config: Path | None) -> str:
    path = config_path(config)
    return "alfred migrate" + (f" --config {path}" if path is not None else "")


def safe_url(url: str) -> str:
    """The database URL with any password masked, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def key_secret(settings: Settings) -> str:
    """The gateway's key hash secret, resolved like the server does, or LedgerTrouble."""
    from alfred.secrets import SecretError
    from alfred.vault import secret_resolver

    try:
        value = secret_resolver(settings.vault).resolve(settings.key_hash_secret) or ""
    except SecretError as exc:
        raise LedgerTrouble(f"cannot read key_hash_secret: {exc}") from None
    if len(value.encode()) < 16:
        raise LedgerTrouble(f"making or checking API keys needs the key hash secret: {NO_KEY_HASH_ADVICE}")
    return value


async def _check_revision(ledger: Ledger, settings: LedgerSettings, config: Path | None) -> None:
    from alfred.state.db import script_head, stamped

    revisions = await stamped(ledger.db)
    where = safe_url(settings.database_url)
    if not revisions:
        raise LedgerTrouble(
            f"the ledger database {where} has no tables yet: run `{migrate_hint(config)}` first"
        )
    head = script_head() or _alembic_head()
    if revisions != {head}:
        raise LedgerTrouble(
            f"the ledger database {where} is at revision {', '.join(sorted(revisions))}, this Alfred needs "
            f"{head}: run `{migrate_hint(config)}`"
        )


def _alembic_head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from alfred.state.db import MIGRATIONS

    script = Config()
    script.set_main_option("script_location", MIGRATIONS)
    return ScriptDirectory.from_config(script).get_current_head()


def _missing_sqlite_file(settings: LedgerSettings) -> Path | None:
    """The SQLite file the URL names, if it does not exist (opening it would create an empty one)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    path = Path(url.database)
    return None if path.exists() else path


def run_on_ledger(
    config: Path | None, work: Callable[[Ledger], Awaitable[T]], *, hashes_keys: bool = False
) -> T:
    """Open the ledger the config names, run ``work`` on it, close it; exit 1 with advice on failure.

    ``hashes_keys``: the work makes or checks API keys, so it needs the gateway's real key secret.
    """
    import asyncio
    import secrets

    from rich.markup import escape
    from sqlalchemy.exc import InterfaceError, OperationalError

    from alfred.errors import AlfredError

    settings = load_config(config)
    ledger_settings = settings.governance.ledger
    try:
        # Work that hashes no key gets a throwaway secret: an auditor can verify without the real one.
        secret = key_secret(settings) if hashes_keys else secrets.token_hex(32)
        missing = _missing_sqlite_file(ledger_settings)
        if missing is not None:
            raise LedgerTrouble(
                f"there is no ledger database at {missing}: run `{migrate_hint(config)}` first"
            )
        return asyncio.run(_run(ledger_settings, secret, config, work))
    except LedgerTrouble as exc:
        err().print(f"[red]{escape(str(exc))}[/red]")
    except AlfredError as exc:
        err().print(f"[red]{escape(exc.message)}[/red]")
    except (OSError, OperationalError, InterfaceError) as exc:
        where = safe_url(ledger_settings.database_url)
        err().print(
            f"[red]cannot use the ledger database {escape(where)}: {escape(str(exc))}[/red]\n"
            "check governance.ledger.database_url in the config, and that the database is running"
        )
    raise typer.Exit(1)


async def _run(
    settings: LedgerSettings, secret: str, config: Path | None, work: Callable[[Ledger], Awaitable[T]]
) -> T:
    from alfred.ledger import Ledger

    ledger = Ledger.build(settings, key_secret=secret)
    try:
        await _check_revision(ledger, settings, config)
        return await work(ledger)
    finally:
        await ledger.close()


def migrate_database(config: Path | None, revision: str) -> str:
    """Upgrade the config's ledger database to ``revision``; returns where it went, for the message."""
    import asyncio

    from alembic.util import CommandError
    from rich.markup import escape
    from sqlalchemy.exc import InterfaceError, OperationalError

    from alfred.state.db import migrate

    settings = load_config(config).governance.ledger
    where = safe_url(settings.database_url)
    try:
        asyncio.run(migrate(settings.database_url, revision))
    except (OSError, OperationalError, InterfaceError, ValueError, CommandError) as exc:
        err().print(
            f"[red]cannot migrate the ledger database {escape(where)}: {escape(str(exc))}[/red]\n"
            "check governance.ledger.database_url in the config, and that the database is running"
        )
        raise typer.Exit(1) from None
    return where


# What the admin commands share in how they read arguments and print.

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON (the admin API's shapes) for scripts")]


def out() -> Console:
    """Results go to stdout."""
    console = Console()
    # A pipe or a file: do not squeeze tables to 80 columns (emails and key prefixes get cut).
    return console if console.is_terminal else Console(width=200)


def err() -> Console:
    """Notes, warnings and errors go to stderr, so stdout stays clean for scripts."""
    return Console(stderr=True, soft_wrap=True)  # unwrapped: messages stay greppable


def micros(credits: str, option: str) -> int:
    """A credits amount typed by a person, as micro-credits; a usage error (exit 2) if it is not one."""
    from alfred.ledger.money import credits_to_micros

    try:
        return credits_to_micros(credits)
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(
            f"{credits!r} is not an amount of credits ({exc})", param_hint=option
        ) from None


def credits(amount: int | None) -> str:
    from alfred.ledger.money import format_credits

    return "" if amount is None else format_credits(amount)


def print_json(value: BaseModel | Sequence[BaseModel]) -> None:
    body: Any = (
        value.model_dump(mode="json")
        if not isinstance(value, Sequence)
        else [v.model_dump(mode="json") for v in value]
    )
    typer.echo(json.dumps(body, indent=2))


def table(*columns: str) -> Table:
    from rich.table import Table

    return Table(*columns)


async def find_user(ledger: Ledger, ref: str) -> UserInfo:
    """A user by id or email."""
    from alfred.errors import NotFoundError

    if ref.isdigit():
        return await ledger.directory.get_user(int(ref))
    found = await ledger.directory.find_user(ref)
    if found is None:
        raise NotFoundError(f"no user {ref!r}: see `alfred users list`")
    return found


async def find_team(ledger: Ledger, ref: str) -> TeamInfo:
    """A team by id or name."""
    from alfred.errors import NotFoundError

    if ref.isdigit():
        return await ledger.directory.get_team(int(ref))
    for team in await ledger.directory.list_teams():
        if team.name == ref:
            return team
    raise NotFoundError(f"no team {ref!r}: see `alfred teams list`")
