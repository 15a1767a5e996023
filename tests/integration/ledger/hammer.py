"""A second gateway process for the overspend test: reserve many requests at once, settle the admitted.

Usage: python hammer.py URL USER_ID PREFIX COUNT COST. Prints "ready", waits for a line on stdin (so two
processes start together), then prints one JSON line: {"admitted": […], "refused": n, "errors": […]}.
"""

from __future__ import annotations

import asyncio
import json
import sys

from alfred.errors import InsufficientQuotaError
from alfred.ledger import Ledger, LedgerSettings
from alfred.state.db import Database, DatabaseOptions


async def main(url: str, user_id: int, prefix: str, count: int, cost: int) -> None:
    db = Database.connect(url, options=DatabaseOptions(pool_size=5, max_overflow=5))
    ledger = Ledger.build(
        LedgerSettings(database_url=url), key_secret="test-secret-of-at-least-16-bytes", db=db
    )
    async with db.session() as session:  # open a connection before the starting gun
        await session.connection()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def one(i: int) -> str:
        request_id = f"{prefix}-{i}"
        try:
            await ledger.governance.reserve(user_id, request_id, cost)
        except InsufficientQuotaError:
            return "refused"
        await ledger.wallets.settle(request_id, cost)
        return request_id

    results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    admitted = [r for r in results if isinstance(r, str) and r != "refused"]
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    print(
        json.dumps({"admitted": admitted, "refused": results.count("refused"), "errors": errors}), flush=True
    )
    await ledger.close()


if __name__ == "__main__":
    url, user_id, prefix, count, cost = sys.argv[1:6]
    asyncio.run(main(url, int(user_id), prefix, int(count), int(cost)))
