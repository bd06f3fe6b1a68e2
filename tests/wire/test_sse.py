from __future__ import annotations

import json
from pathlib import Path

import pytest

from skill.common.errors import EventTooLarge
from skill.wire.sse import ServerSentEvent, SSEDecoder

CAPTURES = sorted((Path(__file__).parents[1] / "fixtures" / "adk-wire").glob("*.sse"))


def decode(chunks: list[bytes], **kw: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**kw)
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.close()


def bytewise(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def test_captures_are_present() -> None:
    assert len(CAPTURES) == 3, "tests/fixtures/adk-wire/ must hold the three ADK captures"


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_capture_decodes_the_same_whatever_the_split(path: Path, line_end: bytes) -> None:
    stream = path.read_bytes().replace(b"\n", line_end)
    whole = decode([stream])
    assert len(whole) == stream.count(b"data: ")
    assert all(isinstance(json.loads(e.data), dict) for e in whole)
    assert {(e.event, e.id, e.retry) for e in whole} == {("message", None, None)}
    assert decode(bytewise(stream)) == whole
    for offset in range(1, len(stream)):
        assert decode([stream[:offset], stream[offset:]]) == whole, f"split at byte {offset}"


def sse(data: str, event: str = "message", id: str | None = None, retry: int | None = None):
    return ServerSentEvent(data, event, id, retry)


SPEC_CASES = [
    pytest.param([b"\xef\xbb\xbfdata: a\n\n"], [sse("a")], id="bom"),
    pytest.param([b"\xef", b"\xbb", b"\xbfdata: a\n\n"], [sse("a")], id="bom-split"),
    pytest.param([b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n"], [], id="only-one-bom-stripped"),
    pytest.param([b"data: \xef\xbb\xbfa\n\n"], [sse("\ufeffa")], id="bom-kept-mid-stream"),
    pytest.param([b": proxy\ndata: a\n:\n\n"], [sse("a")], id="comments"),
    pytest.param([b": only a comment\n\n"], [], id="comment-block-not-dispatched"),
    pytest.param([b"data: a\ndata: b\n\n"], [sse("a\nb")], id="multi-line-data"),
    pytest.param([b"data:a\ndata:  b\n\n"], [sse("a\n b")], id="one-space-stripped"),
    pytest.param([b"data\ndata\n\n"], [sse("\n")], id="field-without-colon"),
    pytest.param([b"data:\n\n"], [sse("")], id="empty-data-dispatches"),
    pytest.param([b"event: x\n\ndata: a\n\n"], [sse("a")], id="no-data-no-dispatch"),
    pytest.param([b"event: update\ndata: a\n\n"], [sse("a", "update")], id="event-type"),
    pytest.param([b"event\ndata: a\n\n"], [sse("a")], id="empty-event-type"),
    pytest.param(
        [b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"],
        [sse("a", id="1"), sse("b", id="1")],
        id="id-with-nul-ignored",
    ),
    pytest.param(
        [b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"],
        [sse("a", id="7"), sse("b", id="7"), sse("c", id="")],
        id="id-persists",
    ),
    pytest.param(
        [b"retry: 3000\ndata: a\n\nretry: 3s\ndata: b\n\nretry: -1\nretry: \xd9\xa1\ndata: c\n\n"],
        [sse("a", retry=3000), sse("b", retry=3000), sse("c", retry=3000)],
        id="retry-digits-only",
    ),
    pytest.param([b"foo: bar\ndata: a\n\n"], [sse("a")], id="unknown-field"),
    pytest.param([b"data: a\rdata: b\r\r"], [sse("a\nb")], id="cr-line-ends"),
    pytest.param([b"data: a\r", b"\ndata: b\r\n\r\n"], [sse("a\nb")], id="crlf-split"),
    pytest.param([b"data: a\r", b"\n\r", b"\n"], [sse("a")], id="crlf-split-twice"),
    pytest.param(
        [b"data: a\x0bb\x0c\x1c\x85\xe2\x80\xa8c\n\n"],
        [sse("a\x0bb\x0c\x1c\ufffd\u2028c")],
        id="only-cr-lf-end-lines",
    ),
    pytest.param(
        [b"data: \xe4\xbd", b"\xa0\xe5\xa5\xbd\xef\xbc", b"\x81\n\n"],
        [sse("你好！")],
        id="chinese-split-in-sequence",
    ),
    pytest.param([b"data: \xff\xe4\xbdok\n\n"], [sse("\ufffd\ufffdok")], id="invalid-utf8"),
    pytest.param([b"data: a\n\ndata: b\n"], [sse("a")], id="incomplete-event-discarded"),
    pytest.param([b"data: a\n\ndata: b"], [sse("a")], id="unterminated-line-discarded"),
    pytest.param([b"\n\r\n\rdata: a\n\n\n"], [sse("a")], id="stray-blank-lines"),
    pytest.param([b"", b"data: a\n", b"", b"\n"], [sse("a")], id="empty-chunks"),
]


@pytest.mark.parametrize(("chunks", "expected"), SPEC_CASES)
def test_spec_case(chunks: list[bytes], expected: list[ServerSentEvent]) -> None:
    assert decode(chunks) == expected
    assert decode(bytewise(b"".join(chunks))) == expected


def test_events_arrive_as_soon_as_their_blank_line_does() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\r") == [sse("a")]  # no waiting for a possible LF
    assert decoder.feed(b"\ndata: b\n\n") == [sse("b")]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"data: 0123456789A\n"], id="one-data-line"),
        pytest.param([b"data: 0123\n", b"data: 4567\n", b"data: 8\n"], id="data-lines-add-up"),
        pytest.param([b"data: 0123456789A"], id="unterminated-line"),
        pytest.param([b":"] + [b"x"] * 30, id="endless-line-bytewise"),
        pytest.param([b":" + b"x" * 30 + b"\n\n"], id="whole-comment-line-in-one-chunk"),
        pytest.param([b"event: " + b"x" * 30 + b"\n"], id="whole-field-line-in-one-chunk"),
        pytest.param([b"data: 0\n" + b"x" * 30 + b"\ndata: 1\n\n"], id="whole-unknown-line"),
    ],
)
def test_event_too_large(chunks: list[bytes]) -> None:
    with pytest.raises(EventTooLarge) as raised:
        decode(chunks, max_event_bytes=10)
    assert "10 bytes" in str(raised.value)
    assert "max_event_bytes" in str(raised.value)
    assert raised.value.details["cap"] == 10
    assert raised.value.details["size"] > 10


def test_a_huge_chunk_is_split_in_bounded_slices() -> None:
    """5 MB of blank lines then an event, in one chunk: decoded, whatever the slicing."""
    stream = b"\n" * 5_000_000 + b"data: after\n\n" + b"\r\n" * 300_000 + b"data: end\n\n"
    assert SSEDecoder().feed(stream) == [sse("after"), sse("end")]


def test_events_within_the_cap_pass() -> None:
    stream = b"data: 0123456789\n\ndata: 0123\ndata: 4567\n\n"
    expected = [sse("0123456789"), sse("0123\n4567")]
    assert decode([stream], max_event_bytes=10) == expected
    assert decode(bytewise(stream), max_event_bytes=10) == expected
