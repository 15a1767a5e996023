from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alfred.ledger.audit import canonical_content, chain_hash
from alfred.ledger.keys import KEY_PREFIX, KeyHasher, generate_key, looks_like_key
from alfred.ledger.tables import GENESIS_HASH


def test_keys_are_random_and_prefixed() -> None:
    keys = {generate_key()[0] for _ in range(100)}
    assert len(keys) == 100
    key, prefix = generate_key()
    assert key.startswith(prefix) and prefix.startswith(KEY_PREFIX) and len(prefix) == len(KEY_PREFIX) + 8
    assert looks_like_key(key) and not looks_like_key(prefix) and not looks_like_key("sk-other-123456789")


def test_hashes_are_keyed() -> None:
    key, _ = generate_key()
    one, other = KeyHasher("a" * 32), KeyHasher("b" * 32)
    assert one.digest(key) != other.digest(key)
    assert one.matches(key, one.digest(key)) and not one.matches(key, other.digest(key))
    with pytest.raises(ValueError):
        KeyHasher("short")


def test_canonical_content_is_stable() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    a = canonical_content(1, "e", "act", 7, {"b": 1, "a": "é"}, "10.0.0.1", when)
    b = canonical_content(1, "e", "act", 7, {"a": "é", "b": 1}, "10.0.0.1", when)
    assert a == b
    assert a == (
        '{"action":"act","created_at":"2026-01-02T03:04:05.000678Z","details":{"a":"é","b":1},'
        '"event_type":"e","ip_address":"10.0.0.1","seq":1,"user_id":7}'
    )
    import hashlib

    assert chain_hash(GENESIS_HASH, a) == hashlib.sha256((GENESIS_HASH + a).encode()).hexdigest()
    with pytest.raises(ValueError):
        canonical_content(1, "e", "act", None, {"x": float("nan")}, None, when)
