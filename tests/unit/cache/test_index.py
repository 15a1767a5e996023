"""The per-process vector index: scoped exact search, top-k order, removal and its bound."""

from __future__ import annotations

import numpy as np
import pytest

from alfred.cache.guard import signature
from alfred.cache.index import IndexedQuestion, VectorIndex


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def item(entry_id: str, scope: str = "s") -> IndexedQuestion:
    return IndexedQuestion(entry_id, scope, entry_id, signature(entry_id), 0.0, 1e12)


def test_search_is_scoped_and_ranked() -> None:
    index = VectorIndex(3, 100)
    index.add(item("a"), unit(1, 0, 0))
    index.add(item("b"), unit(1, 1, 0))
    index.add(item("c"), unit(0, 1, 0))
    index.add(item("elsewhere", scope="t"), unit(1, 0, 0))
    found = index.search("s", unit(1, 0.1, 0), k=2, min_score=0.0)
    assert [i.entry_id for _, i in found] == ["a", "b"]
    assert found[0][0] > found[1][0]
    assert [i.entry_id for _, i in index.search("t", unit(1, 0, 0), k=5, min_score=0.0)] == ["elsewhere"]
    assert index.search("nobody", unit(1, 0, 0), k=5, min_score=0.0) == []


def test_threshold_filters() -> None:
    index = VectorIndex(3, 100)
    index.add(item("a"), unit(1, 0, 0))
    assert index.search("s", unit(0, 1, 0), k=5, min_score=0.5) == []


def test_oldest_entries_go_first_past_the_bound() -> None:
    index = VectorIndex(2, 3)
    for i in range(5):
        index.add(item(f"e{i}", scope=f"s{i % 2}"), unit(1, i))
    assert len(index) == 3
    assert "e0" not in index and "e1" not in index and "e4" in index


def test_remove_keeps_the_other_rows_right() -> None:
    index = VectorIndex(2, 100)
    vectors = {f"e{i}": unit(1, i) for i in range(6)}
    for key, vector in vectors.items():
        index.add(item(key), vector)
    index.remove("e1")
    index.remove("e0")
    for key in ("e2", "e3", "e4", "e5"):
        best = index.search("s", vectors[key], k=1, min_score=0.0)
        assert best[0][1].entry_id == key and best[0][0] == pytest.approx(1.0, abs=1e-6)
    index.remove("missing")  # no error
    assert len(index) == 4


def test_duplicates_and_wrong_sizes() -> None:
    index = VectorIndex(2, 10)
    assert index.add(item("a"), unit(1, 0))
    assert not index.add(item("a"), unit(0, 1))
    with pytest.raises(ValueError):
        index.add(item("b"), unit(1, 0, 0))


def test_blocks_grow_past_their_first_capacity() -> None:
    index = VectorIndex(4, 1000)
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(100, 4)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    for i, row in enumerate(rows):
        index.add(item(f"e{i}"), row)
    best = index.search("s", rows[77], k=1, min_score=0.0)
    assert best[0][1].entry_id == "e77"
