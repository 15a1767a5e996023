from __future__ import annotations

import pytest
from pydantic import ValidationError

from alfred.pipeline.call import Call, Identity
from alfred.routing.intent import IntentRouter
from alfred.routing.settings import IntentRuleSettings
from alfred.schema import ChatRequest, ContentPart, EmbeddingRequest, FunctionDef, ImageURL, Message, Tool

RULES = [
    IntentRuleSettings(name="long", min_tokens=50_000, group="long-context"),
    IntentRuleSettings(name="header", intents=["Research"], group="research"),
    IntentRuleSettings(
        name="code", pattern=r"(?i)\b(python|traceback|function)\b", max_tokens=49_999, group="code"
    ),
    IntentRuleSettings(name="vision", images=True, group="vision"),
    IntentRuleSettings(name="agents", tools=True, teams=["team-agents"], group="agents"),
    IntentRuleSettings(name="mini-alias", models=["fast"], tools=False, group="gpt-4o-mini"),
]


def _call(
    text: str = "hello",
    *,
    model: str = "gpt-4o",
    history: list[Message] | None = None,
    tools: bool = False,
    image: bool = False,
    headers: dict[str, str] | None = None,
    team: str | None = None,
) -> Call:
    content: str | list[ContentPart] = text
    if image:
        content = [
            ContentPart(type="text", text=text),
            ContentPart(type="image_url", image_url=ImageURL("https://x/y.png")),
        ]
    request = ChatRequest(
        model=model,
        messages=[*(history or []), Message(role="user", content=content)],
        tools=[Tool(FunctionDef(name="lookup"))] if tools else None,
    )
    return Call("req", "chat", request, headers or {}, identity=Identity(team_id=team))


ROUTER = IntentRouter.from_settings(RULES)


def _group(call: Call) -> str | None:
    rule = ROUTER.route(call)
    return rule.group if rule else None


def test_each_condition_routes_and_first_match_wins() -> None:
    assert _group(_call("plain question")) is None
    assert _group(_call("Why does this Python function fail?")) == "code"
    assert _group(_call("a picture", image=True)) == "vision"
    assert _group(_call("use tools", tools=True, team="team-agents")) == "agents"
    assert _group(_call("use tools", tools=True, team="team-other")) is None
    assert _group(_call("hi", model="fast")) == "gpt-4o-mini"
    assert _group(_call("hi", model="fast", tools=True)) is None  # tools=False must hold too
    # the header rule comes before "code", so it wins when both match; the value is case-insensitive
    assert _group(_call("python function", headers={"x-alfred-intent": " research "})) == "research"


def test_token_estimate_bounds() -> None:
    long_text = "word " * 50_000  # about 62,500 tokens by the 4-characters rule
    assert _group(_call(long_text)) == "long-context"
    # a code question that is long goes to long-context (rule order), not to code (max_tokens)
    assert _group(_call("python " + long_text)) == "long-context"


def test_regex_reads_only_the_last_user_message() -> None:
    history = [Message(role="user", content="python please"), Message(role="assistant", content="sure")]
    assert _group(_call("thanks, that is all", history=history)) is None
    history = [Message(role="user", content="hello")]
    call = _call("x", history=history)
    assert isinstance(call.request, ChatRequest)
    call.request.messages.append(Message(role="assistant", content="here is a python function"))
    assert _group(call) is None  # the last *user* message is "x"


def test_scan_is_bounded() -> None:
    router = IntentRouter.from_settings(
        [IntentRuleSettings(name="tail", pattern="needle", group="g")], max_scan_chars=100
    )
    assert router.route(_call("a" * 50 + " needle")) is not None
    assert router.route(_call("a" * 200 + " needle")) is None


def test_embeddings_match_only_request_independent_rules() -> None:
    router = IntentRouter.from_settings(
        [
            IntentRuleSettings(name="code", pattern="python", group="code"),
            IntentRuleSettings(name="team", teams=["t1"], group="team-embeddings"),
        ]
    )
    call = Call(
        "r", "embeddings", EmbeddingRequest(model="e", input="python"), {}, identity=Identity(team_id="t1")
    )
    rule = router.route(call)
    assert rule is not None and rule.group == "team-embeddings"


def test_rules_are_compiled_once() -> None:
    rule = ROUTER.rules[2]
    assert rule.pattern is not None and rule.pattern.pattern.startswith("(?i)")
    assert ROUTER.rules[2].pattern is rule.pattern


def test_rule_validation() -> None:
    with pytest.raises(ValidationError, match="no condition"):
        IntentRuleSettings(name="all", group="g")
    with pytest.raises(ValidationError, match="invalid regex"):
        IntentRuleSettings(name="bad", pattern="(", group="g")
    with pytest.raises(ValidationError, match="min_tokens"):
        IntentRuleSettings(name="inverted", min_tokens=10, max_tokens=5, group="g")
