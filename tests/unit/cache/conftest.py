from __future__ import annotations

from collections.abc import Iterator

import pytest

from alfred.cache.embedder import MiniLMEmbedder


@pytest.fixture(scope="session")
def minilm() -> Iterator[MiniLMEmbedder]:
    """The real local model (int8 ONNX from its PyPI package), loaded once for the session."""
    embedder = MiniLMEmbedder()
    yield embedder
    embedder.close()
