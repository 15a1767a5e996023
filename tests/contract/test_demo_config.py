"""`make run`'s promise: examples/demo.yaml serves chat, embeddings and images with no services or keys."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.servers import gateway


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    files = tmp_path_factory.mktemp("files")
    env = {"ALFRED_STORAGE__KIND": "local", "ALFRED_STORAGE__ROOT": str(files)}
    env["ALFRED_GOVERNANCE__LEDGER__DATABASE_URL"] = f"sqlite+aiosqlite:///{files / 'ledger.db'}"
    for name in ("OPENAI_API_KEY", "GROQ_API_KEY", "TOGETHER_API_KEY", "MISTRAL_API_KEY", "HF_TOKEN"):
        env[name] = ""  # real providers stay off: the demo must not need them
    with gateway("examples/demo.yaml", env=env) as url:
        yield url


@pytest.fixture
def client(demo_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{demo_url}/v1", api_key="demo", max_retries=0)


def test_demo_models_are_labelled(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert models["demo-chat"].owned_by == "alfred-demo"
    assert "gpt-4o-mini" not in models  # no OPENAI_API_KEY: the real provider is not served


def test_demo_chat_and_stream(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="demo-chat", messages=[{"role": "user", "content": "Hello, Alfred!"}]
    )
    assert "Hello, Alfred!" in (reply.choices[0].message.content or "")
    streamed = client.chat.completions.create(
        model="demo-chat", messages=[{"role": "user", "content": "stream"}], stream=True
    )
    assert "stream" in "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)


def test_demo_embeddings(client: openai.OpenAI) -> None:
    assert len(client.embeddings.create(model="demo-embeddings", input="hi").data[0].embedding) > 0


def test_demo_image_generation_returns_a_fetchable_png(client: openai.OpenAI) -> None:
    result = client.images.generate(model="demo-sdxl", prompt="a legendary fire sword, painterly icon")
    url = result.data[0].url
    assert url and url.startswith("http://127.0.0.1:")
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert "immutable" in response.headers["cache-control"]
