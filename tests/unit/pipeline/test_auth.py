"""The auth stage on a real ledger: it fills the identity, refuses before the rest runs, holds keys to models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alfred.errors import AuthenticationError, PermissionDeniedError
from alfred.governance.authenticator import Authenticator
from alfred.governance.settings import AuthSettings
from alfred.ledger import Ledger
from alfred.pipeline.auth import AuthStage
from alfred.pipeline.call import Call, Identity, Result
from alfred.schema import ChatRequest, ChatResponse, Choice, EmbeddingRequest, Message, ResponseMessage
from tests.unit.governance.ledgers import Monotonic, WallClock, migrated_template, open_ledger

MASTER = "sk-master-0123456789abcdef"


class Rest:
    """The rest of the pipeline: records the identity it saw."""

    def __init__(self) -> None:
        self.seen: list[Identity] = []

    async def __call__(self, call: Call) -> Result:
        self.seen.append(call.identity)
        return ChatResponse(id="x", model="m", created=0, choices=[Choice(0, ResponseMessage(content="hi"))])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("auth-stage-template"))


@pytest.fixture
async def ledger(template: Path, tmp_path: Path) -> AsyncIterator[Ledger]:
    async with open_ledger(template, tmp_path, WallClock()) as built:
        yield built


def stage(ledger: Ledger, *, anonymous: bool = False) -> AuthStage:
    settings = AuthSettings(anonymous=anonymous)
    return AuthStage(Authenticator(settings, ledger.keys, master_key=MASTER, clock=Monotonic()))


def call(model: str = "gpt-4o", headers: dict[str, str] | None = None, *, embeddings: bool = False) -> Call:
    if embeddings:
        return Call("req", "embeddings", EmbeddingRequest(model=model, input="hi"), headers or {})
    request = ChatRequest(model=model, messages=[Message(role="user", content="hi")])
    return Call("req", "chat", request, headers or {})


async def test_a_key_fills_the_identity(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@example.com", "A")
    created = await ledger.keys.create(user.id, "k")
    rest = Rest()
    c = call(headers={"authorization": f"Bearer {created.key}"})
    await stage(ledger)(c, rest)
    assert c.identity.key_id == str(created.info.id) and c.identity.user_id == str(user.id)
    assert rest.seen == [c.identity]


async def test_a_refused_key_stops_the_call(ledger: Ledger) -> None:
    rest = Rest()
    with pytest.raises(AuthenticationError):
        await stage(ledger, anonymous=True)(call(headers={"x-api-key": "sk-alfred-unknown-key-0000"}), rest)
    with pytest.raises(AuthenticationError, match="missing API key"):
        await stage(ledger)(call(), rest)
    assert rest.seen == []


async def test_anonymous_callers_go_on_when_allowed(ledger: Ledger) -> None:
    rest = Rest()
    c = call()
    await stage(ledger, anonymous=True)(c, rest)
    assert rest.seen == [Identity()]


async def test_a_key_is_held_to_its_models(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("b@example.com", "B")
    created = await ledger.keys.create(user.id, "k", allowed_models=["gpt-4o", "text-embedding-3-small"])
    headers = {"authorization": f"Bearer {created.key}"}
    rest = Rest()
    auth = stage(ledger)
    await auth(call("gpt-4o", headers), rest)
    await auth(call("text-embedding-3-small", headers, embeddings=True), rest)
    with pytest.raises(PermissionDeniedError) as caught:
        await auth(call("claude-opus", headers), rest)
    err = caught.value
    assert (err.status, err.code, err.param) == (403, "permission_denied", "model")
    assert "'claude-opus'" in err.message and "gpt-4o" in err.message
    assert len(rest.seen) == 2


async def test_unrestricted_keys_and_the_master_key_use_any_model(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("c@example.com", "C")
    created = await ledger.keys.create(user.id, "k")
    rest = Rest()
    auth = stage(ledger)
    await auth(call("anything", {"authorization": f"Bearer {created.key}"}), rest)
    await auth(call("anything", {"authorization": f"Bearer {MASTER}"}), rest)
    assert [i.kind for i in rest.seen] == ["key", "master"]
