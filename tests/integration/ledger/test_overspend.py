"""Invariant 1: a wallet that can afford exactly N requests, hit by 5N at once from two connection pools
(and from two real processes), admits at most N, never goes below its hard limit, and its entries sum
to its balance."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from alfred.errors import InsufficientQuotaError
from alfred.ledger import Ledger
from alfred.ledger.tables import LedgerEntry, Reservation

from .conftest import Backend
from .seed import entry_sum, wallet

N = 20
COST = 7_000_000  # 7 credits per request
CREDIT = 2 * COST  # the wallet may go this far below zero


async def _lowest_balance(ledger: Ledger, wallet_id: int) -> int:
    async with ledger.db.session() as session:
        low = (
            await session.execute(
                select(func.min(LedgerEntry.balance_after)).where(LedgerEntry.wallet_id == wallet_id)
            )
        ).scalar()
    return int(low)


async def _admitted(ledger: Ledger, wallet_id: int) -> int:
    async with ledger.db.session() as session:
        count = (
            await session.execute(
                select(func.count()).select_from(Reservation).where(Reservation.wallet_id == wallet_id)
            )
        ).scalar_one()
    return int(count)


async def test_two_pools_admit_at_most_n(backend: Backend, ledger: Ledger) -> None:
    user = await ledger.directory.create_user(
        "hot@x.io", "Hot", personal_quota=(N - 2) * COST, hard_limit=-CREDIT
    )
    other = backend.ledger()  # a second connection pool on the same database: a second gateway
    try:
        gateways = [ledger, other]

        async def one(i: int) -> bool:
            gw = gateways[i % 2]
            try:
                await gw.governance.reserve(user.id, f"req-{i}", COST)
            except InsufficientQuotaError:
                return False
            await gateways[(i + 1) % 2].wallets.settle(
                f"req-{i}", COST, prompt_tokens=10, completion_tokens=20
            )
            return True

        outcomes = await asyncio.gather(*(one(i) for i in range(5 * N)))
    finally:
        await other.close()

    assert sum(outcomes) == N
    info = await ledger.accounts.get(wallet(user))
    assert info.balance == -CREDIT == info.hard_limit
    assert info.reserved == 0
    assert await _lowest_balance(ledger, wallet(user)) >= -CREDIT
    assert await entry_sum(ledger, wallet(user)) == info.balance  # the wallet started at 0
    report = await ledger.check()
    assert report.healthy, report.summary()
    refusals = await ledger.audit.recent(event_type="budget.refused", limit=1000)
    assert len(refusals) == 4 * N
    assert (await ledger.audit.verify()).ok


async def test_two_processes_admit_at_most_n(backend: Backend, ledger: Ledger) -> None:
    user = await ledger.directory.create_user(
        "hot@x.io", "Hot", personal_quota=(N - 2) * COST, hard_limit=-CREDIT
    )
    script = Path(__file__).with_name("hammer.py")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), backend.url, str(user.id), f"p{i}", str(5 * N // 2), str(COST)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        for proc in procs:  # both are connected before either starts
            assert proc.stdout is not None
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line.strip() == "ready", (line, proc.stderr.read() if proc.stderr else "")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [await asyncio.to_thread(proc.communicate, timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    assert [r["errors"] for r in results] == [[], []]
    admitted = results[0]["admitted"] + results[1]["admitted"]
    assert len(admitted) == N
    assert results[0]["refused"] + results[1]["refused"] == 4 * N
    info = await ledger.accounts.get(wallet(user))
    assert info.balance == -CREDIT and info.reserved == 0
    assert await _admitted(ledger, wallet(user)) == N
    assert await _lowest_balance(ledger, wallet(user)) >= -CREDIT
    assert await entry_sum(ledger, wallet(user)) == info.balance
    report = await ledger.check()
    assert report.healthy, report.summary()
