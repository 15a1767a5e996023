"""PostgreSQL forms of the request path's common cases, each one statement (one round trip).

On PostgreSQL every statement is a network round trip, so ``hotpath`` sends these instead of its
statement-by-statement scripts where PostgreSQL allows it: data-modifying CTEs run the hold and its
reservation (and the key's hold) together, and the claim, the debit and all of the bookkeeping of a
settle together. They are the same guarded statements as the scripts' (the wallet UPDATE still takes
the whole amount or nothing, re-checked on the locked row under read committed), and they lock rows in
the same order (reservation, wallet, key, user, team), so they cannot deadlock with them either.
Everything runs inside the script's transaction: a result that calls for a rollback (a crossed soft
limit, a spent key budget) makes the script raise, and the transaction undoes the whole statement.

Every parameter is cast at every use: PostgreSQL deduces one type per parameter, and an untyped one used
in two contexts would be an error. CTEs that read another's RETURNING run only when it returned a row.
"""

from __future__ import annotations

from alfred.ledger.trips import Query

# Returns (wallet id, balance, reserved, soft limit, key held) when the wallet could cover the amount;
# no row (and nothing changed) when it could not.
HOLD_PERSONAL = Query("""
    WITH w AS (
        UPDATE wallets SET reserved = reserved + CAST(:amount AS BIGINT)
        WHERE owner_type = 'user' AND owner_id = CAST(:user_id AS INTEGER)
          AND owner_id IN (
              SELECT id FROM users WHERE id = CAST(:user_id AS INTEGER) AND status != 'suspended'
          )
          AND status = 'active' AND balance - reserved - CAST(:amount AS BIGINT) >= hard_limit
        RETURNING id, balance, reserved, soft_limit
    ), r AS (
        INSERT INTO reservations
            (request_id, wallet_id, user_id, key_id, source, amount, state, model, created_at, expires_at)
        SELECT CAST(:request_id AS VARCHAR), w.id, CAST(:user_id AS INTEGER), CAST(:key_id AS INTEGER),
               'personal', CAST(:amount AS BIGINT), 'open', CAST(:model AS VARCHAR),
               CAST(:now AS TIMESTAMPTZ), CAST(:expires_at AS TIMESTAMPTZ)
        FROM w
        RETURNING id
    ), k AS (
        UPDATE api_keys SET reserved = reserved + CAST(:amount AS BIGINT)
        WHERE id = CAST(:key_id AS INTEGER) AND EXISTS (SELECT 1 FROM r)
          AND (budget IS NULL OR spent + reserved + CAST(:amount AS BIGINT) <= budget)
        RETURNING id
    )
    SELECT w.id, w.balance, w.reserved, w.soft_limit, EXISTS (SELECT 1 FROM k) FROM w
""")

# Settles an open reservation whose wallet can pay the whole cost. Returns the claimed reservation
# (id, wallet id, amount, user id, key id, source, model) and the wallet's balance and owner after the
# debit; those two are NULL when the wallet could not pay it all (the script then caps the charge),
# and there is no row when no open reservation had this request id.
SETTLE_OPEN = Query("""
    WITH c AS (
        UPDATE reservations
        SET state = 'settled', closed_at = CAST(:now AS TIMESTAMPTZ), charged = CAST(:cost AS BIGINT),
            transaction_id = CAST(:tx_id AS UUID)
        WHERE request_id = CAST(:request_id AS VARCHAR) AND state = 'open'
        RETURNING id, wallet_id, amount, user_id, key_id, source, model
    ), w AS (
        UPDATE wallets
        SET balance = wallets.balance - CAST(:cost AS BIGINT), reserved = wallets.reserved - c.amount
        FROM c
        WHERE wallets.id = c.wallet_id
          AND wallets.balance - wallets.reserved + c.amount - CAST(:cost AS BIGINT) >= wallets.hard_limit
        RETURNING wallets.balance, wallets.owner_id
    ), t AS (
        INSERT INTO ledger_transactions
            (id, type, amount, wallet_id, user_id, key_id, request_id, model, provider, prompt_tokens,
             completion_tokens, created_at)
        SELECT CAST(:tx_id AS UUID), CAST(:type AS VARCHAR), CAST(:cost AS BIGINT), c.wallet_id, c.user_id,
               c.key_id, CAST(:request_id AS VARCHAR), COALESCE(CAST(:model AS VARCHAR), c.model),
               CAST(:provider AS VARCHAR), CAST(:prompt_tokens AS INTEGER),
               CAST(:completion_tokens AS INTEGER), CAST(:now AS TIMESTAMPTZ)
        FROM c, w
        RETURNING id
    ), e AS (
        INSERT INTO ledger_entries (transaction_id, wallet_id, system_account, amount, balance_after, created_at)
        SELECT t.id, v.wallet_id, v.account, v.amount, v.balance_after, CAST(:now AS TIMESTAMPTZ)
        FROM t, c, w, LATERAL (VALUES
            (c.wallet_id, CAST(NULL AS VARCHAR), -CAST(:cost AS BIGINT), w.balance),
            (CAST(NULL AS INTEGER), 'revenue', CAST(:cost AS BIGINT), CAST(NULL AS BIGINT))
        ) AS v (wallet_id, account, amount, balance_after)
        WHERE CAST(:cost AS BIGINT) <> 0
    ), k AS (
        UPDATE api_keys
        SET spent = api_keys.spent + CAST(:cost AS BIGINT), reserved = api_keys.reserved - c.amount
        FROM c, w
        WHERE api_keys.id = c.key_id
    ), u AS (
        UPDATE users SET used_tokens = users.used_tokens + CAST(:tokens AS BIGINT)
        FROM c, w
        WHERE users.id = c.user_id AND CAST(:tokens AS BIGINT) <> 0
    ), p AS (
        UPDATE teams SET used_pool = teams.used_pool + CAST(:cost AS BIGINT)
        FROM c, w
        WHERE c.source = 'team' AND teams.id = w.owner_id AND CAST(:cost AS BIGINT) <> 0
    )
    SELECT c.id, c.wallet_id, c.amount, c.user_id, c.key_id, c.source, c.model, w.balance, w.owner_id
    FROM c LEFT JOIN w ON TRUE
""")
