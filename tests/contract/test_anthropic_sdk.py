"""The official ``anthropic`` SDK as the client of /v1/messages, against every chat model of examples/mock.yaml."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import MASTER_KEY
from tests.contract.models import mock_models

CHAT_MODELS = mock_models("chat")
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["location"],
    },
}
# A tiny valid PNG (1x1, transparent).
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def client(gateway_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway_url, api_key=MASTER_KEY, max_retries=0)


@pytest.fixture(scope="module")
def async_client(gateway_url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gateway_url, api_key=MASTER_KEY, max_retries=0)


def text_of(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_create_sync(client: anthropic.Anthropic, model: str) -> None:
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "hello there gateway"}]
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.content[0].type == "text"
    assert "hello there gateway" in text_of(message)
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens == len(text_of(message).split())
    assert raw.headers["x-alfred-model"] and raw.headers["x-alfred-provider"]
    assert raw.headers["request-id"] == raw.headers["x-request-id"] == message.id.removeprefix("msg_")


@pytest.mark.parametrize("model", CHAT_MODELS)
async def test_create_async_with_system_prompt(async_client: anthropic.AsyncAnthropic, model: str) -> None:
    messages: list[Any] = [{"role": "user", "content": [{"type": "text", "text": "async hi"}]}]
    plain = await async_client.messages.create(model=model, max_tokens=256, messages=messages)
    system = [{"type": "text", "text": "you are a terse assistant who answers in very few words"}]
    with_system = await async_client.messages.create(
        model=model,
        max_tokens=256,
        messages=messages,
        system=system,  # type: ignore[arg-type]
    )
    assert "async hi" in text_of(with_system)
    # The upstream counted the system prompt's words, so it reached the model.
    assert with_system.usage.input_tokens > plain.usage.input_tokens


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_stream_sync(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "stream me please"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "stream me please" in text
    assert text_of(final) == text
    assert final.id.startswith("msg_")
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0
    assert final.usage.output_tokens == len(text.split())


@pytest.mark.parametrize("model", CHAT_MODELS)
async def test_stream_async(async_client: anthropic.AsyncAnthropic, model: str) -> None:
    async with async_client.messages.stream(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "async stream"}]
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert "async stream" in text
    assert text_of(final) == text
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_raw_stream_event_order(client: anthropic.Anthropic, model: str) -> None:
    events = list(
        client.messages.create(
            model=model, max_tokens=256, stream=True, messages=[{"role": "user", "content": "raw events"}]
        )
    )
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds[1] == "content_block_start" and kinds[-3] == "content_block_stop"
    assert set(kinds[2:-3]) == {"content_block_delta"}
    start = events[0]
    assert start.type == "message_start" and start.message.usage.input_tokens > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_tools_round_trip(client: anthropic.Anthropic, model: str) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    first = client.messages.create(model=model, max_tokens=256, messages=messages, tools=[WEATHER_TOOL])  # type: ignore[list-item]
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert len(uses) == 1
    use = uses[0]
    assert use.name == "get_weather" and use.id
    assert isinstance(use.input, dict) and use.input["location"] == "Paris"
    messages.append(
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]}
    )
    messages.append(
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": use.id,
                    "content": [{"type": "text", "text": "sunny, 21C"}],
                }
            ],
        }
    )
    second = client.messages.create(model=model, max_tokens=256, messages=messages, tools=[WEATHER_TOOL])  # type: ignore[list-item]
    assert second.stop_reason == "end_turn"
    assert "sunny, 21C" in text_of(second)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_streamed_tool_use(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds
    assert final.stop_reason == "tool_use"
    uses = [block for block in final.content if block.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather"]
    assert uses[0].id
    assert uses[0].input == {"location": "Paris", "unit": "c"}


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_stop_sequences(client: anthropic.Anthropic, model: str) -> None:
    messages: list[Any] = [{"role": "user", "content": "stop early"}]
    full = text_of(client.messages.create(model=model, max_tokens=256, messages=messages))
    assert "You said" in full
    stopped = client.messages.create(
        model=model, max_tokens=256, messages=messages, stop_sequences=["You said"]
    )
    assert text_of(stopped).strip() == full[: full.index("You said")].strip()
    assert stopped.stop_reason in ("end_turn", "stop_sequence")


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_max_tokens_truncates(client: anthropic.Anthropic, model: str) -> None:
    messages: list[Any] = [{"role": "user", "content": "say a lot of things please"}]
    message = client.messages.create(model=model, max_tokens=3, messages=messages)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3
    with client.messages.stream(model=model, max_tokens=3, messages=messages) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 3
    assert text_of(final) == text_of(message)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_image_block(client: anthropic.Anthropic, model: str) -> None:
    message = client.messages.create(
        model=model,
        max_tokens=256,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1},
                    },
                    {"type": "text", "text": "what is in this picture"},
                ],
            }
        ],
    )
    assert "what is in this picture" in text_of(message)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_mid_stream_failure_raises(
    client: anthropic.Anthropic, mock_control: httpx.Client, model: str
) -> None:
    assert mock_control.post("/mock/faults", json={"drop_after_chunks": 3}).status_code == 200
    seen = ""
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(
            model=model, max_tokens=256, messages=[{"role": "user", "content": "mock:words=40"}]
        ) as stream,
    ):
        for piece in stream.text_stream:
            seen += piece
        stream.get_final_message()
    assert isinstance(info.value.body, dict)
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "api_error"
    assert info.value.body["error"]["message"]
    assert len(seen.split()) < 40


def test_mid_stream_failure_wire_format(gateway_url: str, mock_control: httpx.Client) -> None:
    mock_control.post("/mock/faults", json={"drop_after_chunks": 3}).raise_for_status()
    body = {
        "model": CHAT_MODELS[0],
        "max_tokens": 256,
        "stream": True,
        "messages": [{"role": "user", "content": "mock:words=40"}],
    }
    response = httpx.post(
        f"{gateway_url}/v1/messages", json=body, headers={"x-api-key": MASTER_KEY}, timeout=30
    )
    assert response.status_code == 200
    events = [block for block in response.text.split("\n\n") if block]
    assert events[0].startswith("event: message_start\n")
    assert events[-1].startswith("event: error\ndata: ")
    assert not any(block.startswith("event: message_stop") for block in events)
    error = json.loads(events[-1].split("data: ", 1)[1])
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert error["error"]["request_id"] == response.headers["x-request-id"]


def test_unknown_model_is_404(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["code"] == "model_not_found"
    assert body["error"]["request_id"] == info.value.request_id


def test_invalid_role_is_400_naming_the_field(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=CHAT_MODELS[0],
            max_tokens=10,
            messages=[{"role": "system", "content": "x"}],  # type: ignore[misc,list-item]
        )
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["param"] == "messages[0].role"


def test_missing_max_tokens_is_400(gateway_url: str) -> None:
    response = httpx.post(
        f"{gateway_url}/v1/messages",
        json={"model": CHAT_MODELS[0], "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "max_tokens"
    assert body["error"]["request_id"] == response.headers["x-request-id"]
