"""``alfred keys``, ``wallets``, ``audit`` and ``ledger``: API keys, money, and the two self-checks
(the audit chain and the ledger's balances), mounted by ``alfred.cli_admin``.

``audit verify`` and ``ledger check`` exit 1 when something is wrong, so a cron job or a CI step can
alert on them; ``--json`` prints the same verdict as the admin API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from alfred.cli_config import ConfigOption
from alfred.cli_ledger import (
    JsonOption,
    credits,
    err,
    find_user,
    micros,
    out,
    print_json,
    run_on_ledger,
    table,
)

if TYPE_CHECKING:
    from alfred.ledger import CreatedKey, KeyInfo, Ledger, UserInfo

keys = typer.Typer(help="API keys (stored only as keyed hashes).", no_args_is_help=True)
wallets = typer.Typer(help="Wallets: balances and top-ups.", no_args_is_help=True)
audit = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
ledger = typer.Typer(help="The credit ledger's self-check and reconciliation.", no_args_is_help=True)

# How many expired reservations one reconciliation pass frees; passes repeat until none are left.
_RECONCILE_BATCH = 1000


@keys.command("create")
def keys_create(
    user: Annotated[str, typer.Argument(help="the owner's user id or email")],
    name: Annotated[str, typer.Option(help="a label to tell the key apart")] = "default",
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="the key stops working after this")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="a model the key may use (repeatable; default all)")
    ] = None,
    budget: Annotated[str | None, typer.Option(help="the most credits this key may spend")] = None,
    rpm: Annotated[int | None, typer.Option(min=1, help="requests per minute for this key")] = None,
    tpm: Annotated[int | None, typer.Option(min=1, help="tokens per minute for this key")] = None,
    priority: Annotated[bool, typer.Option(help="may draw on the team pool past the personal limit")] = False,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Make an API key for a user. The key is printed once, on stdout, and never again."""
    budget_micros = micros(budget, "--budget") if budget is not None else None
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None

    async def work(ledger: Ledger) -> tuple[UserInfo, CreatedKey]:
        owner = await find_user(ledger, user)
        created = await ledger.keys.create(
            owner.id, name, expires_at=expires_at, allowed_models=model, budget=budget_micros,
            rpm_limit=rpm, tpm_limit=tpm, priority=priority,
        )  # fmt: skip
        return owner, created

    owner, created = run_on_ledger(config, work, hashes_keys=True)
    if json_output:
        from alfred.api.admin.views import CreatedKeyOut, KeyOut

        print_json(CreatedKeyOut(**KeyOut.fields_of(created.info), key=created.key))
    else:
        typer.echo(created.key)
    notes = err()
    notes.print(
        "[yellow]This key will not be shown again: Alfred stores only a hash of it. Keep it now.[/yellow]"
    )
    notes.print(
        f"key {created.info.id} ({created.info.prefix}…) for {escape(owner.email)}, named {escape(repr(name))}"
    )


@keys.command("list")
def keys_list(
    user: Annotated[str | None, typer.Option(help="only this user's keys (id or email)")] = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """List API keys (their prefixes and settings; the keys themselves are not stored)."""

    async def work(ledger: Ledger) -> list[KeyInfo]:
        owners = [await find_user(ledger, user)] if user is not None else await ledger.directory.list_users()
        return [key for owner in owners for key in await ledger.keys.list_for(owner.id)]

    found = run_on_ledger(config, work)
    if json_output:
        from alfred.api.admin.views import KeyOut

        print_json([KeyOut.of(k) for k in found])
        return
    rows = table("id", "prefix", "user", "name", "state", "expires", "budget (credits)", "spent", "models")
    for k in found:
        state = "revoked" if k.revoked_at else "active" if k.is_active else "inactive"
        rows.add_row(
            str(k.id), f"{k.prefix}…", str(k.user_id), escape(k.name), state,
            k.expires_at.strftime("%Y-%m-%d %H:%M") if k.expires_at else "", credits(k.budget), credits(k.spent),
            ", ".join(k.allowed_models) if k.allowed_models is not None else "all",
        )  # fmt: skip
    out().print(rows)


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="the key's id (see `alfred keys list`)")],
    config: ConfigOption = None,
) -> None:
    """Revoke a key for good; gateways refuse it within a second (their key cache's lifetime)."""
    info = run_on_ledger(config, lambda ledger: ledger.keys.revoke(key_id))
    err().print(f"[green]revoked[/green] key {info.id} ({info.prefix}…) of user {info.user_id}")


@wallets.command("topup")
def wallets_topup(
    wallet_id: Annotated[
        int, typer.Argument(help="the wallet's id (see `alfred users list` or `teams list`)")
    ],
    amount: Annotated[str, typer.Argument(help="credits to add (1 USD = 100 credits)")],
    memo: Annotated[str | None, typer.Option(help="why, for the transaction and the audit log")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="a retried top-up with the same key pays only once")
    ] = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add credits to a wallet (audited)."""
    amount_micros = micros(amount, "AMOUNT")

    async def work(ledger: Ledger) -> None:
        posting = await ledger.accounts.topup(
            wallet_id, amount_micros, memo=memo, idempotency_key=idempotency_key
        )
        if json_output:
            from alfred.api.admin.views import PostingOut

            print_json(PostingOut.of(posting))
            return
        wallet = await ledger.accounts.get(wallet_id)
        replay = " (a replay: this top-up was already made)" if posting.replayed else ""
        err().print(
            f"[green]topped up[/green] wallet {wallet_id} by {credits(amount_micros)} credits{replay}: "
            f"balance {credits(wallet.balance)}, spendable {credits(wallet.spendable)}"
        )

    run_on_ledger(config, work)


@wallets.command("show")
def wallets_show(
    wallet_id: Annotated[int, typer.Argument(help="the wallet's id")],
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a wallet's balance, what is reserved by requests in flight, and its limits."""
    wallet = run_on_ledger(config, lambda ledger: ledger.accounts.get(wallet_id))
    if json_output:
        from alfred.api.admin.views import WalletOut

        print_json(WalletOut.of(wallet))
        return
    rows = table("wallet", "owner", "balance", "reserved", "spendable", "hard limit", "soft limit", "status")
    rows.add_row(
        str(wallet.id), f"{wallet.owner_type} {wallet.owner_id}", credits(wallet.balance), credits(wallet.reserved),
        credits(wallet.spendable), credits(wallet.hard_limit), credits(wallet.soft_limit), wallet.status,
    )  # fmt: skip
    out().print(rows)


@audit.command("verify")
def audit_verify(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Walk the audit chain; exit 1 and name the first row altered, inserted or deleted."""
    verdict = run_on_ledger(config, lambda ledger: ledger.audit.verify())
    if json_output:
        from alfred.api.admin.views import VerdictOut

        print_json(VerdictOut.of(verdict))
    elif verdict.ok:
        out().print(
            f"[green]audit chain intact[/green]: {verdict.rows_checked} rows, head {verdict.head_seq} "
            f"{verdict.head_hash[:16]}…"
        )
    else:
        out().print(
            f"[red]audit chain broken[/red]: {verdict.message} ({verdict.rows_checked} rows verified before it)"
        )
    if not verdict.ok:
        raise typer.Exit(1)


@ledger.command("check")
def ledger_check(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Prove that balances equal their entries and nothing is held without a live request ("drift 0")."""
    report = run_on_ledger(config, lambda ledger: ledger.check())
    if json_output:
        from alfred.api.admin.views import CheckOut

        print_json(CheckOut.of(report))
    elif report.healthy:
        out().print(report.summary())
    else:
        console = out()
        console.print(f"[red]drift {report.drift}[/red]: {len(report.problems)} problem(s)")
        for problem in report.problems:
            console.print(f"  {problem}")
        if all(p.kind == "stale_reservation" for p in report.problems):
            err().print("only expired reservations: `alfred ledger reconcile` frees them")
    if not report.healthy:
        raise typer.Exit(1)


@ledger.command("reconcile")
def ledger_reconcile(config: ConfigOption = None) -> None:
    """Expire reservations past their time (their request's process died) and free what they held."""

    async def work(ledger: Ledger) -> int:
        total = 0
        while True:
            freed = await ledger.wallets.reconcile_expired(limit=_RECONCILE_BATCH)
            total += len(freed)
            if len(freed) < _RECONCILE_BATCH:
                return total

    expired = run_on_ledger(config, work)
    out().print(f"expired {expired} reservation(s)")
