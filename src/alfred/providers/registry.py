"""Maps a provider kind (as written in config) to its adapter. The only place kinds are listed."""

from __future__ import annotations

from collections.abc import Callable

from alfred.providers.base import ProviderAdapter
from alfred.providers.openai_compat import FLAVORS, OpenAICompatAdapter


def _openai_compat(kind: str) -> Callable[[], ProviderAdapter]:
    return lambda: OpenAICompatAdapter(FLAVORS[kind])


def _anthropic() -> ProviderAdapter:
    from alfred.providers.anthropic import AnthropicAdapter

    return AnthropicAdapter()


def _gemini() -> ProviderAdapter:
    from alfred.providers.gemini import GeminiAdapter

    return GeminiAdapter()


def _bedrock() -> ProviderAdapter:
    from alfred.providers.bedrock import BedrockAdapter

    return BedrockAdapter()


def _cohere() -> ProviderAdapter:
    from alfred.providers.cohere import CohereAdapter

    return CohereAdapter()


def _ollama() -> ProviderAdapter:
    from alfred.providers.ollama import OllamaAdapter

    return OllamaAdapter()


ADAPTERS: dict[str, Callable[[], ProviderAdapter]] = {
    "openai": _openai_compat("openai"),
    "azure": _openai_compat("azure"),
    "groq": _openai_compat("groq"),
    "together": _openai_compat("together"),
    "mistral": _openai_compat("mistral"),
    "huggingface": _openai_compat("huggingface"),
    "openai-compatible": _openai_compat("openai-compatible"),
    "anthropic": _anthropic,
    "gemini": _gemini,
    "bedrock": _bedrock,
    "cohere": _cohere,
    "ollama": _ollama,
}


def adapter_for(kind: str) -> ProviderAdapter:
    """A new adapter for ``kind``; raises ``KeyError`` naming the kinds that exist."""
    try:
        factory = ADAPTERS[kind]
    except KeyError:
        raise KeyError(
            f"no adapter for provider kind {kind!r}; known: {', '.join(sorted(ADAPTERS))}"
        ) from None
    return factory()
