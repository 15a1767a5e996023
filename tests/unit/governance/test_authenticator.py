"""The Authenticator on a real ledger: master key, API keys (both headers), refusals, anonymous, the cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import update

from alfred.errors import AuthenticationError, ServiceUnavailableError
from alfred.governance.authenticator import Authenticator
from alfred.governance.jwt import JwtVerifier, TokenClaims
from alfred.governance.settings import AuthSettings, JwtSettings
from alfred.ledger import Ledger, LedgerSettings
from alfred.ledger.keys import ApiKeys, KeyCheck, KeyHasher
from alfred.ledger.tables import ApiKey, User
from alfred.pipeline.call import Identity
from alfred.secrets import EnvSource, SecretResolver

from .ledgers import KEY_SECRET, Monotonic, WallClock, migrated_template, open_ledger, url_of

MASTER = "sk-master-0123456789abcdef"


class CountingKeys(ApiKeys):
    """The ledger's ApiKeys, counting how often the database is asked (and able to hold a lookup)."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger.db, KeyHasher(KEY_SECRET), ledger.audit, clock=ledger.clock)
        self.checks = 0
        self.gate: asyncio.Event | None = None

    async def check(self, presented: str) -> KeyCheck:
        self.checks += 1
        if self.gate is not None:
            await self.gate.wait()
        return await super().check(presented)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("auth-template"))


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def mono() -> Monotonic:
    return Monotonic()


@pytest.fixture
async def ledger(template: Path, tmp_path: Path, wall: WallClock) -> AsyncIterator[Ledger]:
    async with open_ledger(template, tmp_path, wall) as built:
        yield built


@pytest.fixture
def keys(ledger: Ledger) -> CountingKeys:
    return CountingKeys(ledger)


def authenticator(
    keys: ApiKeys, mono: Monotonic, *, master: str | None = MASTER, **settings: object
) -> Authenticator:
    return Authenticator(AuthSettings.model_validate(settings), keys, master_key=master, clock=mono)


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def refusal(auth: Authenticator, headers: dict[str, str]) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        await auth.authenticate(headers)
    err = caught.value
    assert (err.status, err.code, err.error_type) == (401, "invalid_api_key", "authentication_error")
    return err


async def test_the_master_key_is_an_admin(keys: CountingKeys, mono: Monotonic) -> None:
    auth = authenticator(keys, mono)
    identity = await auth.authenticate(bearer(MASTER))
    assert identity == Identity(key_id="master", is_admin=True, kind="master")
    assert await auth.authenticate({"x-api-key": MASTER}) == identity
    err = await refusal(auth, bearer(MASTER + "x"))
    assert MASTER not in err.message
    assert keys.checks == 0  # the master key never costs a database lookup


async def test_an_api_key_maps_to_its_identity(ledger: Ledger, keys: CountingKeys, mono: Monotonic) -> None:
    team = await ledger.directory.create_team("research")
    user = await ledger.directory.create_user("ada@example.com", "Ada", team_id=team.id, is_admin=True)
    created = await ledger.keys.create(
        user.id, "ci", allowed_models=["gpt-4o", "claude"], budget=7_000, rpm_limit=60, tpm_limit=9_000,
        priority=True,
    )  # fmt: skip
    auth = authenticator(keys, mono)
    identity = await auth.authenticate(bearer(created.key))
    assert identity == Identity(
        key_id=str(created.info.id), key_prefix=created.info.prefix, user_id=str(user.id), team_id=str(team.id),
        is_admin=True, allowed_models=frozenset({"gpt-4o", "claude"}), priority=True, rpm_limit=60,
        tpm_limit=9_000, budget=7_000, kind="key",
    )  # fmt: skip
    # Anthropic clients send x-api-key; "bearer" is case-insensitive.
    assert await auth.authenticate({"x-api-key": created.key}) == identity
    assert await auth.authenticate({"authorization": f"bearer  {created.key} "}) == identity


async def test_a_plain_key_has_no_team_and_no_limits(
    ledger: Ledger, keys: CountingKeys, mono: Monotonic
) -> None:
    user = await ledger.directory.create_user("bob@example.com", "Bob")
    created = await ledger.keys.create(user.id, "k")
    identity = await authenticator(keys, mono).authenticate(bearer(created.key))
    assert (identity.user_id, identity.team_id, identity.is_admin) == (str(user.id), None, False)
    assert (identity.allowed_models, identity.budget, identity.rpm_limit, identity.priority) == (
        None,
        None,
        None,
        False,
    )


async def test_a_missing_key_is_refused_unless_anonymous_is_allowed(
    keys: CountingKeys, mono: Monotonic
) -> None:
    err = await refusal(authenticator(keys, mono), {})
    assert err.message.startswith("missing API key")
    assert err.headers["www-authenticate"].startswith("Bearer")
    await refusal(authenticator(keys, mono), {"authorization": "Bearer   "})
    await refusal(authenticator(keys, mono), {"authorization": "Basic dXNlcjpwYXNz"})
    assert await authenticator(keys, mono, anonymous=True).authenticate({}) == Identity()


async def test_a_foreign_credential_is_anonymous_only_when_allowed(
    keys: CountingKeys, mono: Monotonic
) -> None:
    foreign = bearer("sk-proj-not-an-alfred-key")
    err = await refusal(authenticator(keys, mono), foreign)
    assert "sk-alfred-" in err.message and "not-an-alfred-key" not in err.message
    assert await authenticator(keys, mono, anonymous=True).authenticate(foreign) == Identity()
    assert keys.checks == 0


async def test_an_unknown_alfred_key_is_refused_even_when_anonymous_is_allowed(
    ledger: Ledger, keys: CountingKeys, mono: Monotonic
) -> None:
    user = await ledger.directory.create_user("c@example.com", "C")
    created = await ledger.keys.create(user.id, "k")
    forged = created.key[:-3] + ("abc" if not created.key.endswith("abc") else "xyz")
    err = await refusal(authenticator(keys, mono, anonymous=True), bearer(forged))
    assert "no such key" in err.message
    assert forged not in err.message and forged[10:20] not in err.message


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("revoked", "has been revoked"),
        ("inactive", "is inactive"),
        ("expired", "has expired"),
        ("suspended", "is suspended"),
    ],
)
async def test_unusable_keys_are_refused_with_what_to_do(
    ledger: Ledger, keys: CountingKeys, mono: Monotonic, wall: WallClock, state: str, words: str
) -> None:
    user = await ledger.directory.create_user("d@example.com", "D")
    created = await ledger.keys.create(user.id, "k", expires_at=wall() + timedelta(hours=1))
    auth = authenticator(keys, mono, anonymous=True)
    assert (await auth.authenticate(bearer(created.key))).kind == "key"
    if state == "revoked":
        await ledger.keys.revoke(created.info.id)
    elif state == "expired":
        wall.advance(hours=1)
    else:
        async with ledger.db.transaction() as session:
            if state == "inactive":
                await session.execute(
                    update(ApiKey).where(ApiKey.id == created.info.id).values(is_active=False)
                )
            else:
                await session.execute(update(User).where(User.id == user.id).values(status="suspended"))
    auth.clear()
    err = await refusal(auth, bearer(created.key))
    assert words in err.message and "administrator" in err.message
    assert created.key not in err.message and created.key[10:] not in err.message


async def test_a_revocation_lands_within_the_cache_ttl(
    ledger: Ledger, keys: CountingKeys, mono: Monotonic
) -> None:
    user = await ledger.directory.create_user("e@example.com", "E")
    created = await ledger.keys.create(user.id, "k")
    auth = authenticator(keys, mono)  # another process's view: nobody tells it about the revocation
    await auth.authenticate(bearer(created.key))
    await ledger.keys.revoke(created.info.id)
    mono.advance(0.9)
    assert (await auth.authenticate(bearer(created.key))).key_id == str(created.info.id)
    assert keys.checks == 1
    mono.advance(0.2)
    err = await refusal(auth, bearer(created.key))
    assert "revoked" in err.message and keys.checks == 2


async def test_invalidate_key_drops_it_at_once(ledger: Ledger, keys: CountingKeys, mono: Monotonic) -> None:
    user = await ledger.directory.create_user("f@example.com", "F")
    kept = await ledger.keys.create(user.id, "kept")
    revoked = await ledger.keys.create(user.id, "revoked")
    auth = authenticator(keys, mono)
    await auth.authenticate(bearer(kept.key))
    await auth.authenticate(bearer(revoked.key))
    await ledger.keys.revoke(revoked.info.id)
    auth.invalidate_key(revoked.info.id)
    await refusal(auth, bearer(revoked.key))
    await auth.authenticate(bearer(kept.key))
    assert keys.checks == 3  # the other key stayed cached


async def test_a_lookup_in_flight_during_invalidation_is_not_cached(
    ledger: Ledger, keys: CountingKeys, mono: Monotonic
) -> None:
    user = await ledger.directory.create_user("g@example.com", "G")
    created = await ledger.keys.create(user.id, "k")
    auth = authenticator(keys, mono)
    keys.gate = asyncio.Event()
    pending = asyncio.create_task(auth.authenticate(bearer(created.key)))
    while keys.checks == 0:
        await asyncio.sleep(0)
    auth.invalidate_key(created.info.id)  # the revoke lands while the lookup is reading the old row
    keys.gate.set()
    assert (await pending).kind == "key"
    await auth.authenticate(bearer(created.key))
    assert keys.checks == 2


async def test_concurrent_misses_share_one_lookup(
    ledger: Ledger, keys: CountingKeys, mono: Monotonic
) -> None:
    user = await ledger.directory.create_user("h@example.com", "H")
    created = await ledger.keys.create(user.id, "k")
    auth = authenticator(keys, mono)
    identities = await asyncio.gather(*(auth.authenticate(bearer(created.key)) for _ in range(20)))
    assert {i.key_id for i in identities} == {str(created.info.id)} and keys.checks == 1
    identities[0].team_id = "changed by a stage"  # each caller gets its own copy
    assert (await auth.authenticate(bearer(created.key))).team_id is None


async def test_unknown_keys_are_cached_briefly(ledger: Ledger, keys: CountingKeys, mono: Monotonic) -> None:
    user = await ledger.directory.create_user("i@example.com", "I")
    created = await ledger.keys.create(user.id, "k")
    unknown = created.key[:-4] + ("zzzz" if not created.key.endswith("zzzz") else "yyyy")
    auth = authenticator(keys, mono)
    for _ in range(50):
        await refusal(auth, bearer(unknown))
    assert keys.checks == 1
    mono.advance(1.01)
    await refusal(auth, bearer(unknown))
    assert keys.checks == 2


async def test_a_flood_of_bad_keys_does_not_evict_good_ones(
    ledger: Ledger, keys: CountingKeys, mono: Monotonic
) -> None:
    user = await ledger.directory.create_user("j@example.com", "J")
    good = [await ledger.keys.create(user.id, f"k{n}") for n in range(3)]
    auth = authenticator(keys, mono, key_cache_size=2)
    for created in good[:2]:
        await auth.authenticate(bearer(created.key))
    for n in range(10):
        await refusal(auth, bearer(f"sk-alfred-bogus{n:04d}-padding-padding"))
    for created in good[:2]:
        await auth.authenticate(bearer(created.key))
    assert keys.checks == 12
    await auth.authenticate(bearer(good[2].key))  # a third valid key evicts the least recently used
    await auth.authenticate(bearer(good[0].key))
    assert keys.checks == 14


async def test_the_cache_never_holds_a_key_in_clear(
    ledger: Ledger, keys: CountingKeys, mono: Monotonic
) -> None:
    user = await ledger.directory.create_user("k@example.com", "K")
    created = await ledger.keys.create(user.id, "k")
    auth = authenticator(keys, mono)
    await auth.authenticate(bearer(created.key))
    secret_part = created.key[len(created.info.prefix) :]
    assert secret_part not in repr(vars(auth)) and secret_part.encode() not in repr(vars(auth)).encode()


async def test_an_unavailable_ledger_is_a_503_and_not_cached(
    tmp_path: Path, wall: WallClock, mono: Monotonic
) -> None:
    empty = tmp_path / "unmigrated.db"  # no tables: every query fails as a down database would
    ledger = Ledger.build(LedgerSettings(database_url=url_of(empty)), key_secret=KEY_SECRET, clock=wall)
    try:
        keys = CountingKeys(ledger)
        auth = authenticator(keys, mono)
        key = "sk-alfred-" + "a" * 43
        for _ in range(2):
            with pytest.raises(ServiceUnavailableError) as caught:
                await auth.authenticate(bearer(key))
            assert caught.value.status == 503 and key not in caught.value.message
        assert keys.checks == 2
    finally:
        await ledger.close()


JWT_SECRET = "hs256-shared-secret-of-32-bytes-or-more!"  # pragma: allowlist secret


class CountingVerifier(JwtVerifier):
    def __init__(self) -> None:
        super().__init__(JwtSettings(enabled=True, secret=JWT_SECRET, leeway_s=30), secret=JWT_SECRET)
        self.verified = 0

    async def verify(self, token: str) -> TokenClaims:
        self.verified += 1
        return await super().verify(token)


def token(sub: str | int, **extra: object) -> dict[str, str]:
    payload = {"sub": sub, "exp": int(time.time()) + 300, **extra}
    return bearer(jwt.encode(payload, JWT_SECRET, algorithm="HS256"))


def jwt_authenticator(ledger: Ledger, mono: Monotonic, verifier: JwtVerifier | None = None) -> Authenticator:
    return Authenticator(
        AuthSettings(), ledger.keys, directory=ledger.directory, master_key=MASTER, jwt=verifier or CountingVerifier(),
        clock=mono,
    )  # fmt: skip


async def test_a_jwt_names_a_ledger_user_by_email_or_id(ledger: Ledger, mono: Monotonic) -> None:
    team = await ledger.directory.create_team("ml")
    user = await ledger.directory.create_user("ada@example.com", "Ada", team_id=team.id, priority=True)
    auth = jwt_authenticator(ledger, mono)
    expected = Identity(user_id=str(user.id), team_id=str(team.id), priority=True, kind="jwt")
    assert await auth.authenticate(token("Ada@Example.com")) == expected
    assert await auth.authenticate(token(str(user.id))) == expected  # RFC 7519: "sub" is a string
    assert (
        await auth.authenticate(token(str(user.id), team="not-this-one")) == expected
    )  # the ledger's team wins
    assert (await auth.authenticate(token("ada@example.com", admin=True))).is_admin


async def test_a_jwt_team_claim_fills_in_for_a_user_without_a_team(ledger: Ledger, mono: Monotonic) -> None:
    user = await ledger.directory.create_user("bob@example.com", "Bob", is_admin=True)
    identity = await jwt_authenticator(ledger, mono).authenticate(token("bob@example.com", team="ops"))
    assert (identity.user_id, identity.team_id, identity.is_admin) == (str(user.id), "ops", True)


async def test_a_jwt_for_an_unknown_or_suspended_user_is_refused(ledger: Ledger, mono: Monotonic) -> None:
    user = await ledger.directory.create_user("eve@example.com", "Eve")
    auth = jwt_authenticator(ledger, mono)
    for unknown in ("nobody@example.com", "12345", "eve", "١٢"):
        assert "not known here" in (await refusal(auth, token(unknown))).message
    async with ledger.db.transaction() as session:
        await session.execute(update(User).where(User.id == user.id).values(status="suspended"))
    assert "suspended" in (await refusal(auth, token("eve@example.com"))).message


async def test_bad_jwts_are_refused_and_cached_briefly(ledger: Ledger, mono: Monotonic) -> None:
    await ledger.directory.create_user("ada@example.com", "Ada")
    verifier = CountingVerifier()
    auth = jwt_authenticator(ledger, mono, verifier)
    bad = bearer(
        jwt.encode({"sub": "ada@example.com", "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256")
    )
    for _ in range(5):
        assert "Signature verification failed" in (await refusal(auth, bad)).message
    assert verifier.verified == 1
    mono.advance(1.01)
    await refusal(auth, bad)
    assert verifier.verified == 2


async def test_a_jwt_is_never_cached_past_its_expiry(ledger: Ledger, mono: Monotonic) -> None:
    await ledger.directory.create_user("ada@example.com", "Ada")
    verifier = CountingVerifier()
    auth = jwt_authenticator(ledger, mono, verifier)
    fresh = token("ada@example.com")
    await auth.authenticate(fresh)
    await auth.authenticate(fresh)
    assert verifier.verified == 1
    lapsed = token("ada@example.com", exp=int(time.time()) - 5)  # expired, still inside the 30 s leeway
    await auth.authenticate(lapsed)
    await auth.authenticate(lapsed)
    assert verifier.verified == 3


async def test_jwts_are_not_tried_unless_configured(
    ledger: Ledger, keys: CountingKeys, mono: Monotonic
) -> None:
    await ledger.directory.create_user("ada@example.com", "Ada")
    assert "sk-alfred-" in (await refusal(authenticator(keys, mono), token("ada@example.com"))).message
    with pytest.raises(ValueError, match="directory"):
        Authenticator(AuthSettings(), keys, jwt=CountingVerifier())


async def test_from_settings_wires_jwt_when_enabled(ledger: Ledger, mono: Monotonic) -> None:
    await ledger.directory.create_user("ada@example.com", "Ada")
    settings = AuthSettings.model_validate({"jwt": {"enabled": True, "secret": "env:TEST_JWT_SECRET"}})
    resolve = SecretResolver({"env": EnvSource({"TEST_JWT_SECRET": JWT_SECRET})}).resolve
    auth = Authenticator.from_settings(settings, ledger, master_key=MASTER, resolve=resolve, clock=mono)
    assert (await auth.authenticate(token("ada@example.com"))).kind == "jwt"
    assert (await auth.authenticate(bearer(MASTER))).kind == "master"
    plain = Authenticator.from_settings(AuthSettings(), ledger, clock=mono)
    assert "sk-alfred-" in (await refusal(plain, token("ada@example.com"))).message
    with pytest.raises(ValueError, match="no JwtVerifier"):
        Authenticator(settings, ledger.keys, directory=ledger.directory)
