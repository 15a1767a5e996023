"""Intent rules: ordered conditions over a call that send it to a model group; the first match wins.

Example (YAML under ``routing.rules``)::

    - {name: long, min_tokens: 50000, group: long-context}
    - {name: code, pattern: "(?i)\\b(python|stack trace|function)\\b", group: code}
    - {name: vision, images: true, group: vision}

Build once with ``IntentRouter.from_settings(settings.routing.rules)``; regexes are compiled then,
never per request. ``router.route(call)`` returns the matching rule (its ``group`` is the target) or
None, in which case the requested model names the group.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from alfred.pipeline.call import Call
from alfred.routing.settings import IntentRuleSettings
from alfred.schema import ChatRequest
from alfred.schema.tokens import estimate_prompt_tokens

INTENT_HEADER = "x-alfred-intent"


@dataclass(frozen=True, slots=True)
class IntentRule:
    """One compiled rule; a condition left as None is not checked."""

    name: str
    group: str
    models: frozenset[str] | None = None
    pattern: re.Pattern[str] | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    tools: bool | None = None
    images: bool | None = None
    intents: frozenset[str] | None = None
    teams: frozenset[str] | None = None

    @classmethod
    def from_settings(cls, s: IntentRuleSettings) -> IntentRule:
        return cls(
            name=s.name,
            group=s.group,
            models=frozenset(s.models) if s.models is not None else None,
            pattern=re.compile(s.pattern) if s.pattern is not None else None,
            min_tokens=s.min_tokens,
            max_tokens=s.max_tokens,
            tools=s.tools,
            images=s.images,
            intents=frozenset(i.strip().lower() for i in s.intents) if s.intents is not None else None,
            teams=frozenset(s.teams) if s.teams is not None else None,
        )

    @property
    def needs_messages(self) -> bool:
        """Whether the rule looks inside a chat request (so it never matches embeddings)."""
        return (
            self.pattern is not None
            or self.min_tokens is not None
            or self.max_tokens is not None
            or self.tools is not None
            or self.images is not None
        )


class _CallView:
    """What the rules read from one call, each piece computed at most once."""

    __slots__ = ("_text", "_tokens", "call", "max_scan_chars")

    def __init__(self, call: Call, max_scan_chars: int) -> None:
        self.call = call
        self.max_scan_chars = max_scan_chars
        self._text: str | None = None
        self._tokens: int | None = None

    def last_user_text(self, request: ChatRequest) -> str:
        if self._text is None:
            text = next((m.text() for m in reversed(request.messages) if m.role == "user"), "")
            self._text = text[: self.max_scan_chars]
        return self._text

    def prompt_tokens(self, request: ChatRequest) -> int:
        if self._tokens is None:
            self._tokens = estimate_prompt_tokens(request)
        return self._tokens


def _has_images(request: ChatRequest) -> bool:
    return any(
        part.type == "image_url"
        for message in request.messages
        if isinstance(message.content, list)
        for part in message.content
    )


class IntentRouter:
    """Evaluates rules in order; the first rule whose every condition holds picks the group.

    The regex runs over the last user message's text, cut to ``max_scan_chars`` so a huge prompt
    cannot make a rule slow; token counts are the gateway's estimate (``schema.tokens``).
    """

    def __init__(self, rules: Sequence[IntentRule], *, max_scan_chars: int = 32_768) -> None:
        self.rules = tuple(rules)
        self._max_scan_chars = max_scan_chars

    @classmethod
    def from_settings(
        cls, rules: Sequence[IntentRuleSettings], *, max_scan_chars: int = 32_768
    ) -> IntentRouter:
        return cls([IntentRule.from_settings(r) for r in rules], max_scan_chars=max_scan_chars)

    def route(self, call: Call) -> IntentRule | None:
        if not self.rules:
            return None
        view = _CallView(call, self._max_scan_chars)
        for rule in self.rules:
            if self._matches(rule, view):
                return rule
        return None

    @staticmethod
    def _matches(rule: IntentRule, view: _CallView) -> bool:
        call = view.call
        if rule.models is not None and call.request.model not in rule.models:
            return False
        if rule.teams is not None and call.identity.team_id not in rule.teams:
            return False
        if rule.intents is not None:
            intent = call.headers.get(INTENT_HEADER)
            if intent is None or intent.strip().lower() not in rule.intents:
                return False
        if not rule.needs_messages:
            return True
        request = call.request
        if not isinstance(request, ChatRequest):
            return False
        if rule.tools is not None and bool(request.tools) != rule.tools:
            return False
        if rule.images is not None and _has_images(request) != rule.images:
            return False
        if rule.min_tokens is not None or rule.max_tokens is not None:
            tokens = view.prompt_tokens(request)
            if rule.min_tokens is not None and tokens < rule.min_tokens:
                return False
            if rule.max_tokens is not None and tokens > rule.max_tokens:
                return False
        return rule.pattern is None or rule.pattern.search(view.last_user_text(request)) is not None
