"""A server-sent events decoder: bytes in, events out, no I/O.

Follows the WHATWG event-stream rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
one leading BOM is dropped; lines end in CR, LF or CRLF (also when CR and LF arrive in
different chunks); lines starting with ``:`` are comments; ``data`` lines are joined with
``\\n``; a blank line dispatches the event unless no ``data`` line came; ``id`` (without NUL)
and ``retry`` (ASCII digits only) persist across events; an unterminated event at the end
of the stream is discarded.

The stream is split into lines as bytes (LF and CR are ASCII, so they never occur inside a
UTF-8 sequence) and each value is decoded once with ``errors="replace"``, which gives the
same text, U+FFFD for invalid bytes included, as decoding the whole stream incrementally.
Memory stays bounded: one event's data, and any one line (whether it arrives whole in a
chunk or split across many), may not exceed ``max_event_bytes``; a chunk is split into
lines at most ``_SLICE`` bytes at a time, so a huge chunk of blank lines costs a bounded
list, not one list entry per byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from skill.common.errors import EventTooLarge

_BOM = b"\xef\xbb\xbf"
_LINE_ENDS = (10, 13)  # LF, CR
_DATA_PREFIX = len(b"data: ")  # a line may hold max_event_bytes of data after its field name
_SLICE = 256 * 1024  # the most of one chunk split into lines at once


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Incremental decoder: `feed()` any split of the byte stream, then `close()`."""

    def __init__(self, max_event_bytes: int = 1 << 20) -> None:
        self._cap = max_event_bytes
        self._tail = bytearray()  # the line still waiting for its end
        self._started = False  # the BOM check is done
        self._skip_lf = False  # the last chunk ended in CR: an LF next is the same line end
        self._data: list[bytes] = []
        self._size = 0  # bytes in self._data, plus one per line for the separators
        self._event = b""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode one chunk; return the events it completes (possibly none)."""
        if len(chunk) <= _SLICE:
            return self._feed(chunk)
        events: list[ServerSentEvent] = []
        view = memoryview(chunk)
        for start in range(0, len(chunk), _SLICE):
            events += self._feed(bytes(view[start : start + _SLICE]))
        return events

    def _feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if not self._started:
            chunk = bytes(self._tail) + chunk
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._tail = bytearray(chunk)  # maybe a BOM split across chunks: wait
                return []
            self._started = True
            self._tail = bytearray()
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        lines = chunk.splitlines()  # bytes: CR, LF and CRLF only, unlike str.splitlines
        if not lines:
            return []
        ended = chunk[-1] in _LINE_ENDS
        rest = b"" if ended else lines.pop()  # the last line has no end yet: keep it
        if lines and self._tail:
            lines[0] = bytes(self._tail) + lines[0]
            self._tail = bytearray()
        if ended:
            self._skip_lf = chunk[-1] == 13
        else:
            self._tail += rest
            self._check_tail()
        return self._lines(lines) if lines else []

    def close(self) -> list[ServerSentEvent]:
        """End of stream: an event without its closing blank line is discarded (spec).

        The decoder is then ready for a new stream (a reconnect); the last event id and
        retry persist, as the spec keeps them across connections.
        """
        self._tail = bytearray()
        self._started = self._skip_lf = False
        self._data = []
        self._size = 0
        self._event = b""
        return []

    def _check_tail(self) -> None:
        if len(self._tail) > self._cap + _DATA_PREFIX:
            size = len(self._tail)
            self.close()
            raise _too_large("a line", size, self._cap)

    def _lines(self, lines: list[bytes]) -> list[ServerSentEvent]:
        # The decoder's hot loop (see bench/bench_sse.py): dispatch is inlined, and each
        # event is built by setting its __dict__ in one go, a third of the cost of the
        # frozen dataclass __init__ (four object.__setattr__ calls); the result is the same.
        events: list[ServerSentEvent] = []
        data, size, cap = self._data, self._size, self._cap
        longest = cap + _DATA_PREFIX
        new, set_attr = object.__new__, object.__setattr__
        for line in lines:
            if len(line) > longest:  # any field, comment or unknown line: the same cap
                self.close()
                raise _too_large("a line", len(line), cap)
            if not line:  # blank line: dispatch, unless no data line came
                if data:
                    raw = data[0] if len(data) == 1 else b"\n".join(data)
                    fields = {
                        "data": raw.decode("utf-8", "replace"),
                        "event": self._event.decode("utf-8", "replace") or "message",
                        "id": self._id,
                        "retry": self._retry,
                    }
                    sse = new(ServerSentEvent)
                    set_attr(sse, "__dict__", fields)
                    events.append(sse)
                    data, size = [], 0
                self._event = b""
                continue
            if line[:6] == b"data: ":  # the common case first
                value = line[6:]
            elif line[:5] == b"data:":
                value = line[5:]
            elif line[:1] == b":":  # comment
                continue
            else:
                name, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if name == b"event":
                    self._event = value
                elif name == b"id" and b"\0" not in value:
                    self._id = value.decode("utf-8", "replace")
                elif name == b"retry" and value.isdigit():  # bytes.isdigit: ASCII only
                    self._retry = int(value)
                if name != b"data":  # "data" without a colon is an empty data line
                    continue
            size += len(value) + 1  # the data so far, and a line feed after it
            if size - 1 > cap:
                self.close()
                raise _too_large("one event's data", size - 1, cap)
            data.append(value)
        self._data, self._size = data, size
        return events


def _too_large(what: str, size: int, cap: int) -> EventTooLarge:
    return EventTooLarge(
        f"The chat stream sent {what} of over {cap} bytes (got {size} so far); stopped "
        "reading to keep memory bounded. If the backend really sends events this large, "
        "raise max_event_bytes; otherwise the server or a proxy is misbehaving.",
        size=size,
        cap=cap,
    )
