"""Canonical embedding types (OpenAI's embeddings API)."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct


class EmbeddingRequest(Struct, kw_only=True, omit_defaults=True):
    model: str
    input: str | list[Any]  # strings, or token ids (list[int] / list[list[int]]); checked at the edge
    encoding_format: str | None = None  # "float" | "base64"; the OpenAI SDK asks for base64 by default
    dimensions: int | None = None
    user: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    def texts(self) -> list[str]:
        """Inputs as strings; token-id inputs are kept for OpenAI-compatible pass-through only."""
        if isinstance(self.input, str):
            return [self.input]
        return [x for x in self.input if isinstance(x, str)]

    def input_error(self) -> str | None:
        """Why ``input`` is not one of OpenAI's four accepted shapes, or None when it is."""
        if isinstance(self.input, str):
            return None if self.input else "'input' must not be empty"
        if not self.input:
            return "'input' must not be empty"
        first = self.input[0]
        if isinstance(first, str):
            ok = all(isinstance(x, str) and x for x in self.input)
        elif isinstance(first, int):
            ok = all(isinstance(x, int) and not isinstance(x, bool) for x in self.input)
        elif isinstance(first, list):
            ok = all(isinstance(x, list) and x and all(isinstance(t, int) for t in x) for x in self.input)
        else:
            ok = False
        return None if ok else "'input' must be a string, a list of non-empty strings, or token ids"


class EmbeddingUsage(Struct):
    prompt_tokens: int = 0
    total_tokens: int = 0


class Embedding(Struct):
    index: int
    embedding: list[float]
    object: str = "embedding"


class EmbeddingResponse(Struct, kw_only=True):
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
    object: str = "list"
