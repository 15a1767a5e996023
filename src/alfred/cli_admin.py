"""The admin commands: ``alfred migrate``, ``teams``, ``users``, and (from ``cli_accounts``) ``keys``,
``wallets``, ``audit`` and ``ledger``, working on the ledger database the config names: the same one
the gateway uses.

Amounts are given and shown in credits (1 USD = 100 credits). List commands take ``--json`` for
scripts, in the admin API's shapes. Everything past typer and rich is imported when a command runs,
so these commands cost the rest of the CLI nothing at start-up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from alfred.cli_accounts import audit, keys, ledger, wallets
from alfred.cli_config import ConfigOption
from alfred.cli_ledger import (
    JsonOption,
    credits,
    err,
    find_team,
    find_user,
    micros,
    out,
    print_json,
    run_on_ledger,
    table,
)

if TYPE_CHECKING:
    from alfred.ledger import Ledger, UserInfo

teams = typer.Typer(help="Teams and their pool wallets.", no_args_is_help=True)
users = typer.Typer(help="Users and their personal wallets.", no_args_is_help=True)


def register_admin(app: typer.Typer) -> None:
    """Mount the admin commands on the main ``alfred`` app."""
    app.command("migrate")(migrate)
    app.add_typer(teams, name="teams")
    app.add_typer(users, name="users")
    app.add_typer(keys, name="keys")
    app.add_typer(wallets, name="wallets")
    app.add_typer(audit, name="audit")
    app.add_typer(ledger, name="ledger")


def migrate(
    config: ConfigOption = None,
    revision: Annotated[str, typer.Option(help="the Alembic revision to upgrade to")] = "head",
) -> None:
    """Create or upgrade the ledger database (users, keys, wallets, audit) the config names."""
    from alfred.cli_ledger import migrate_database

    where = migrate_database(config, revision)
    err().print(f"[green]migrated[/green] {where} to {revision}")


@teams.command("create")
def teams_create(
    name: Annotated[str, typer.Argument(help="the team's unique name")],
    pool: Annotated[str, typer.Option(help="credits granted to the team's pool wallet")] = "0",
    vacation_share: Annotated[
        int | None,
        typer.Option(min=0, max=100, help="% of a vacationing member's unused quota lent to the pool"),
    ] = None,
    allow_pool: Annotated[
        bool, typer.Option(help="members may draw on the pool when their own wallet is short")
    ] = False,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a team with its pool wallet."""
    pool_micros = micros(pool, "--pool")
    team = run_on_ledger(
        config,
        lambda ledger: ledger.directory.create_team(
            name, common_pool=pool_micros, vacation_share_pct=vacation_share, allow_pool=allow_pool
        ),
    )
    if json_output:
        from alfred.api.admin.views import TeamOut

        print_json(TeamOut.of(team))
        return
    err().print(
        f"[green]created[/green] team {team.id} {escape(repr(team.name))}, pool wallet {team.wallet_id}"
    )


@teams.command("list")
def teams_list(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """List teams."""
    found = run_on_ledger(config, lambda ledger: ledger.directory.list_teams())
    if json_output:
        from alfred.api.admin.views import TeamOut

        print_json([TeamOut.of(t) for t in found])
        return
    rows = table("id", "name", "pool (credits)", "used", "vacation share", "pool for members", "wallet")
    for t in found:
        rows.add_row(
            str(t.id), escape(t.name), credits(t.common_pool), credits(t.used_pool), f"{t.vacation_share_pct}%",
            "yes" if t.allow_pool else "no", str(t.wallet_id),
        )  # fmt: skip
    out().print(rows)


@users.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="the user's email (unique)")],
    name: Annotated[str, typer.Option(help="display name (default: the email's local part)")] = "",
    team: Annotated[str | None, typer.Option(help="the team's id or name")] = None,
    team_admin: Annotated[bool, typer.Option(help="the user administers their team")] = False,
    admin: Annotated[bool, typer.Option(help="a gateway admin (their keys reach /admin)")] = False,
    quota: Annotated[str, typer.Option(help="credits granted to the user's wallet")] = "0",
    priority: Annotated[bool, typer.Option(help="may draw on the team pool past the personal limit")] = False,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a user with their personal wallet."""
    quota_micros = micros(quota, "--quota")

    async def work(ledger: Ledger) -> UserInfo:
        team_id = (await find_team(ledger, team)).id if team is not None else None
        return await ledger.directory.create_user(
            email, name or email.split("@")[0], team_id=team_id, team_role="admin" if team_admin else "member",
            is_admin=admin, personal_quota=quota_micros, priority=priority,
        )  # fmt: skip

    user = run_on_ledger(config, work)
    if json_output:
        from alfred.api.admin.views import UserOut

        print_json(UserOut.of(user))
        return
    err().print(f"[green]created[/green] user {user.id} {escape(user.email)}, wallet {user.wallet_id}")
    err().print(f"next: `alfred keys create {escape(user.email)}` gives them an API key")


@users.command("list")
def users_list(
    team: Annotated[str | None, typer.Option(help="only this team's members (id or name)")] = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """List users."""

    async def work(ledger: Ledger) -> list[UserInfo]:
        team_id = (await find_team(ledger, team)).id if team is not None else None
        return await ledger.directory.list_users(team_id=team_id)

    found = run_on_ledger(config, work)
    if json_output:
        from alfred.api.admin.views import UserOut

        print_json([UserOut.of(u) for u in found])
        return
    rows = table("id", "email", "name", "team", "role", "admin", "status", "quota (credits)", "wallet")
    for u in found:
        rows.add_row(
            str(u.id), escape(u.email), escape(u.name), "" if u.team_id is None else str(u.team_id), u.team_role,
            "yes" if u.is_admin else "", u.status, credits(u.personal_quota), str(u.wallet_id),
        )  # fmt: skip
    out().print(rows)


class Vacation(StrEnum):
    """on: lend the team a share of the unused quota; off: back from vacation."""

    on = "on"
    off = "off"


@users.command("vacation")
def users_vacation(
    user: Annotated[str, typer.Argument(help="the user's id or email")],
    state: Annotated[
        Vacation, typer.Argument(help="on: lend the team a share of the unused quota; off: back")
    ],
    config: ConfigOption = None,
) -> None:
    """Mark a user on vacation (lending part of their quota to the team pool) or back."""

    async def work(ledger: Ledger) -> tuple[UserInfo, int]:
        found = await find_user(ledger, user)
        return found, await ledger.governance.set_vacation(found.id, state is Vacation.on)

    found, share = run_on_ledger(config, work)
    if state is Vacation.on:
        err().print(
            f"{escape(found.email)} is on vacation, lending {credits(share)} credits to team {found.team_id}"
        )
    else:
        err().print(f"{escape(found.email)} is back from vacation")
