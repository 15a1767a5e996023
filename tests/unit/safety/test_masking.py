from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alfred.safety.findings import Span
from alfred.safety.masking import Masker, Restorer, reserved_placeholders


def test_same_value_gets_the_same_placeholder_and_kinds_count_separately() -> None:
    masker = Masker()
    text = "a@x.io b@x.io a@x.io 4111"
    spans = [Span("EMAIL", 0, 6), Span("EMAIL", 7, 13), Span("EMAIL", 14, 20), Span("CARD", 21, 25)]
    assert masker.apply(text, spans) == "<EMAIL_1> <EMAIL_2> <EMAIL_1> <CARD_1>"
    assert masker.originals == {"<EMAIL_1>": "a@x.io", "<EMAIL_2>": "b@x.io", "<CARD_1>": "4111"}


def test_placeholders_the_caller_wrote_are_never_reused() -> None:
    reserved = reserved_placeholders(["template <EMAIL_1> here", "no placeholders"])
    assert reserved == {"<EMAIL_1>"}
    masker = Masker(reserved)
    assert masker.apply("bob@x.io", [Span("EMAIL", 0, 8)]) == "<EMAIL_2>"


def test_restore_leaves_unknown_placeholders_alone_and_escapes_for_json() -> None:
    restorer = Restorer({"<EMAIL_1>": "a@x.io", "<PRIVATE_KEY_1>": 'line1\nline"2'})
    assert restorer.restore("to <EMAIL_1> not <EMAIL_9>") == "to a@x.io not <EMAIL_9>"
    assert restorer.restore('{"k": "<PRIVATE_KEY_1>"}', json_string=True) == '{"k": "line1\\nline\\"2"}'


ORIGINALS = {"<EMAIL_1>": "ann@x.io", "<EMAIL_10>": "bob@y.io", "<CARD_1>": "4111 1111 1111 1111"}
PIECES = st.sampled_from(
    ["<EMAIL_1>", "<EMAIL_10>", "<CARD_1>", "<EMAIL_", "<", "<<", "hi ", "x<y ", ">", "_1>", "\n"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=12), st.data())
def test_stream_restore_equals_whole_restore_for_every_split(pieces: list[str], data: st.DataObject) -> None:
    text = "".join(pieces)
    restorer = Restorer(ORIGINALS)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    stream = restorer.stream()
    out = "".join(stream.feed(chunk) for chunk in chunks) + stream.flush()
    assert out == restorer.restore(text)


def test_stream_holds_back_only_a_possible_placeholder_prefix() -> None:
    stream = Restorer(ORIGINALS).stream()
    assert stream.feed("mail <EM") == "mail "
    assert stream.holding
    assert stream.feed("AIL_1> ok") == "ann@x.io ok"
    assert stream.feed("a < b") == "a < b"  # "< b" can never become a placeholder: not held
    assert stream.feed(" <EMAIL_1") == " "  # could still be <EMAIL_10>
    assert stream.feed("0>") == "bob@y.io"
