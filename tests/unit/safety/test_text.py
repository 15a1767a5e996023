from __future__ import annotations

from alfred.safety.text import TextView, shannon


def test_shape_keeps_offsets_for_any_script() -> None:
    text = "Zoë → 日本 card 4111 ok"
    view = TextView(text)
    assert len(view.shape) == len(text)
    start = text.index("4111")
    assert view.shape[start : start + 4] == b"9999"
    assert view.shape[0:1] == b"A" and view.shape[1:2] == b"a"


def test_runs_find_long_token_runs_only() -> None:
    text = "short words here " + "Ab1" * 10 + " and a_long_identifier_name_ok " + "é" + "x" * 25
    runs = TextView(text).runs()
    tokens = [text[s:e] for s, e in runs]
    assert tokens == ["Ab1" * 10, "a_long_identifier_name_ok", "x" * 25]


def test_lowered_is_offset_aligned_even_when_lowercasing_changes_length() -> None:
    text = "İstanbul ignore"
    view = TextView(text)
    assert len(view.lowered) == len(text)


def test_shannon_entropy() -> None:
    assert shannon("aaaa") == 0.0
    assert abs(shannon("abcd") - 2.0) < 1e-9
    assert shannon("") == 0.0
