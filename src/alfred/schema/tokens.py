"""Token estimates for when a provider reports no usage (and for pre-call reservations).

A character heuristic (about four characters per token for English text, as OpenAI documents) is
used instead of a tokenizer: it needs no download, costs nanoseconds and errs on the high side for
code and non-Latin text, which is the safe side for reservations.
"""

from __future__ import annotations

from alfred.schema.chat import ChatRequest

_PER_MESSAGE_OVERHEAD = 4  # role and separators, as in OpenAI's cookbook accounting
_IMAGE_TOKENS = 765  # a 1024² image at "high" detail; a conservative default for reservations


def estimate_text_tokens(text: str) -> int:
    if not text:
        return 0
    return (len(text) + 3) // 4


def estimate_prompt_tokens(request: ChatRequest) -> int:
    total = 3
    for message in request.messages:
        total += _PER_MESSAGE_OVERHEAD
        content = message.content
        if isinstance(content, str):
            total += estimate_text_tokens(content)
        elif content:
            for part in content:
                if part.type == "text":
                    total += estimate_text_tokens(part.text or "")
                elif part.type == "image_url":
                    total += _IMAGE_TOKENS
        for call in message.tool_calls or ():
            total += estimate_text_tokens(call.function.name) + estimate_text_tokens(call.function.arguments)
    for tool in request.tools or ():
        total += estimate_text_tokens(tool.function.name) + estimate_text_tokens(
            tool.function.description or ""
        )
        if tool.function.parameters:
            total += estimate_text_tokens(str(tool.function.parameters))
    return total
