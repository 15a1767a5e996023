"""The admin CLI (``alfred migrate``, ``teams``, ``users``, ``keys``, ``wallets``, ``audit``, ``ledger``)
driven through typer's CliRunner on a fresh SQLite file and a fresh PostgreSQL database, and once
against a real gateway process: a key the CLI makes must authenticate there, and stop when revoked.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from alfred.cli import app
from alfred.state.db import Database
from tests.integration.ledger.conftest import PG_URL, _create_database, _drop_database
from tests.servers import gateway

SECRET = "cli-test-secret-0123456789"  # pragma: allowlist secret


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database: the tests migrate it with `alfred migrate`."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        return
    name = f"alfred_cli_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(name))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_drop_database(name))


def write_config(tmp_path: Path, url: str, secret: str | None = SECRET, extra: str = "") -> Path:
    path = tmp_path / "alfred.yaml"
    lines = [f"key_hash_secret: {secret}"] if secret else []
    lines += ["governance:", "  enabled: true", "  ledger:", f"    database_url: {url}"]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--config", str(config)])


def ok(config: Path, *args: str) -> Result:
    result = cli(config, *args)
    assert result.exit_code == 0, f"alfred {' '.join(args)}: {result.output}"
    return result


def execute(url: str, statement: str) -> None:
    async def run() -> None:
        db = Database.connect(url)
        try:
            async with db.transaction() as session:
                await session.execute(text(statement))
        finally:
            await db.dispose()

    asyncio.run(run())


def seeded(tmp_path: Path, url: str) -> Path:
    """A migrated ledger with a team, a member with 20 credits, and a key."""
    config = write_config(tmp_path, url)
    ok(config, "migrate")
    ok(config, "teams", "create", "eng", "--pool", "100", "--allow-pool")
    ok(config, "users", "create", "alice@example.com", "--team", "eng", "--quota", "20")
    ok(config, "keys", "create", "alice@example.com", "--name", "ci", "--budget", "5")
    return config


def test_admin_commands_end_to_end(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path, database_url)
    before = cli(config, "teams", "list")
    assert before.exit_code == 1 and "alfred migrate" in before.output

    ok(config, "migrate")
    ok(config, "migrate")  # a second run finds nothing to do
    team = json.loads(ok(config, "teams", "create", "eng", "--pool", "100", "--allow-pool", "--json").stdout)
    assert (team["name"], team["common_pool"], team["allow_pool"]) == ("eng", "100", True)
    user = json.loads(
        ok(
            config, "users", "create", "Alice@Example.com", "--team", "eng", "--quota", "12.5", "--json"
        ).stdout
    )
    assert (user["email"], user["team_id"], user["personal_quota"]) == (
        "alice@example.com",
        team["id"],
        "12.5",
    )

    created = ok(config, "keys", "create", "alice@example.com", "--name", "ci", "--model", "demo-chat")
    key = created.stdout.strip()
    assert key.startswith("sk-alfred-") and "\n" not in key
    assert "will not be shown again" in created.stderr
    listed = json.loads(ok(config, "keys", "list", "--json").stdout)
    assert [(k["name"], k["prefix"], k["allowed_models"]) for k in listed] == [
        ("ci", key[:18], ["demo-chat"])
    ]
    assert key not in ok(config, "keys", "list").stdout  # only the prefix is ever shown

    wallet = user["wallet_id"]
    ok(config, "wallets", "topup", str(wallet), "7.5", "--memo", "bonus")
    shown = json.loads(ok(config, "wallets", "show", str(wallet), "--json").stdout)
    assert (shown["balance"], shown["balance_micros"]) == ("20", 20_000_000)
    users = json.loads(ok(config, "users", "list", "--team", "eng", "--json").stdout)
    assert [u["email"] for u in users] == ["alice@example.com"]
    assert "alice@example.com" in ok(config, "users", "list").stdout

    vacation = ok(config, "users", "vacation", "alice@example.com", "on")
    assert "lending 2 credits" in vacation.stderr  # 10% of 20 unused credits
    ok(config, "users", "vacation", str(user["id"]), "off")
    ok(config, "keys", "revoke", str(listed[0]["id"]))
    assert json.loads(ok(config, "keys", "list", "--json").stdout)[0]["revoked_at"] is not None

    verdict = ok(config, "audit", "verify")
    assert "intact" in verdict.stdout and "7 rows" in verdict.stdout
    assert ok(config, "ledger", "check").stdout.startswith("drift 0")
    assert "expired 0" in ok(config, "ledger", "reconcile").stdout


def test_audit_verify_names_the_tampered_row(tmp_path: Path, database_url: str) -> None:
    config = seeded(tmp_path, database_url)
    assert json.loads(ok(config, "audit", "verify", "--json").stdout)["ok"] is True
    execute(database_url, "UPDATE audit_log SET action = 'nothing happened' WHERE seq = 2")
    broken = cli(config, "audit", "verify")
    assert broken.exit_code == 1
    assert "broken" in broken.stdout and "row 2 was altered" in broken.stdout
    verdict = json.loads(cli(config, "audit", "verify", "--json").stdout)
    assert (verdict["ok"], verdict["problem"], verdict["seq"]) == (False, "altered", 2)


def test_ledger_check_reports_drift(tmp_path: Path, database_url: str) -> None:
    config = seeded(tmp_path, database_url)
    execute(database_url, "UPDATE wallets SET balance = balance + 5 WHERE owner_type = 'user'")
    drifted = cli(config, "ledger", "check")
    assert drifted.exit_code == 1
    assert "drift 5" in drifted.stdout and "balance: wallet" in drifted.stdout
    report = json.loads(cli(config, "ledger", "check", "--json").stdout)
    assert (report["healthy"], report["drift"]) == (False, 5)


def test_mistakes_get_advice(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    config = seeded(tmp_path, url)
    bad_amount = cli(config, "wallets", "topup", "1", "ten")
    assert bad_amount.exit_code == 2 and "not an amount of credits" in bad_amount.output
    zero = cli(config, "wallets", "topup", "1", "0")
    assert zero.exit_code == 1 and "positive" in zero.output
    no_team = cli(config, "users", "create", "bob@example.com", "--team", "ops")
    assert no_team.exit_code == 1 and "alfred teams list" in no_team.output
    twice = cli(config, "teams", "create", "eng")
    assert twice.exit_code == 1 and "already exists" in twice.output
    no_user = cli(config, "keys", "create", "nobody@example.com")
    assert no_user.exit_code == 1 and "alfred users list" in no_user.output

    unset = write_config(tmp_path, url, secret="env:ALFRED_TEST_UNSET_SECRET")
    missing = cli(unset, "keys", "create", "alice@example.com")
    assert missing.exit_code == 1 and "ALFRED_TEST_UNSET_SECRET is not set" in missing.output
    # Reading and checking need no key secret: an auditor can verify without it.
    assert cli(unset, "audit", "verify").exit_code == 0
    short = write_config(tmp_path, url, secret="short")
    assert "key_hash_secret" in cli(short, "keys", "create", "alice@example.com").output

    elsewhere = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'none' / 'x.db'}")
    absent = cli(elsewhere, "users", "list")
    assert absent.exit_code == 1 and "alfred migrate --config" in absent.output
    assert not (tmp_path / "none").exists()  # looking did not create an empty database
    unreachable = write_config(tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    down = cli(unreachable, "teams", "list")
    assert down.exit_code == 1 and "cannot use the ledger database" in down.output


DEMO = """\
providers:
  demo: {kind: openai, base_url: "builtin-mock/v1", api_key: demo-key}
models:
  - name: demo-chat
    demo: true
    deployments: [{provider: demo, model: demo-chat}]
    price: {input_per_mtok: "1", output_per_mtok: "2"}
"""


def test_a_key_made_by_the_cli_authenticates_on_the_gateway(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    # The secret comes from the environment, resolved the same way by the CLI and the server.
    config = write_config(tmp_path, url, secret="env:ALFRED_TEST_KEY_SECRET", extra=DEMO)
    env = {"ALFRED_TEST_KEY_SECRET": SECRET}
    runner = CliRunner(env=env)

    def run(*args: str) -> Result:
        result = runner.invoke(app, [*args, "--config", str(config)])
        assert result.exit_code == 0, result.output
        return result

    run("migrate")
    run("users", "create", "bob@example.com", "--quota", "100")
    key = run("keys", "create", "bob@example.com").stdout.strip()
    body = {"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    with gateway(str(config), env=env) as base:

        def status(presented: str) -> int:
            headers = {"Authorization": f"Bearer {presented}"}
            return httpx.post(
                f"{base}/v1/chat/completions", json=body, headers=headers, timeout=30
            ).status_code

        assert status(key) == 200
        assert status(key[:-2] + "xx") == 401
        run("keys", "revoke", "1")
        deadline = time.monotonic() + 10  # revocation lands within the key cache's TTL (1 s)
        while status(key) != 401:
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.1)
