"""What a transcript keeps of an HTTP exchange, what a replay serves back from it, and
how two requests differ.

Kept of a request: the method, path and query, the host when it is not the API, the
bearer token's placeholder, the headers that matter (the three attribution headers,
X-Client-Id), an Accept other than */* and the body: JSON as data, a multipart form
as its parts' names, file names, types, sizes and SHA-256. Kept of a response: the
status, the headers that matter (Content-Type, Retry-After, Content-Disposition,
Location) and the body: JSON as data, an event stream byte for byte with the pauses
between its bytes, text as text, anything else (an MP4) as its size and SHA-256.
A replay serves such a file as deterministic bytes of the same size: an `ftyp` box,
then zeros.
"""

from __future__ import annotations

import email
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from skill.transcripts.format import FileBody, Part, Pause, Request, Response
from skill.transcripts.placeholders import Placeholders

REQUEST_HEADERS = ("X-Skill-Source", "X-Skill-Version", "X-Skill-Platform", "X-Client-Id")
RESPONSE_HEADERS = ("Content-Type", "Retry-After", "Content-Disposition", "Location")
USUAL_TYPE = {
    "json": "application/json; charset=utf-8",
    "sse": "text/event-stream; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "file": "application/octet-stream",
}
MERGE_GAP = 0.05  # bytes closer together than this are one piece: no pause is kept
_FRAME_END = re.compile(r"(?<=\n\n)|(?<=\r\n\r\n)|(?<=\r\r)")
_MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def body_kind(content_type: str) -> str:
    """sse | json | text | file, from a Content-Type."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/event-stream":
        return "sse"
    if media == "application/json" or media.endswith("+json"):
        return "json"
    return "text" if media.startswith("text/") else "file"


# -- recording -------------------------------------------------------------------------


def request_record(
    marks: Placeholders,
    *,
    method: str,
    host: str | None,
    path_qs: str,
    headers: Mapping[str, str],
    body: bytes,
    version: str,
) -> Request:
    """A request as the transcript keeps it; `version` is SKILL.md's (<skill-version>)."""
    kept: dict[str, str] = {}
    for name in REQUEST_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        if name == "X-Client-Id":
            value = marks.name(value, "client-id")
        elif name == "X-Skill-Version" and value == version:
            value = "<skill-version>"
        kept[name] = marks.scrub(value)
    auth = headers.get("Authorization")
    if auth and auth[:7].lower() == "bearer ":
        auth = marks.name(auth[7:].strip(), "token")
    elif auth and auth[:6].lower() == "basic ":  # a URL's user:password, base64-encoded
        auth = "Basic " + marks.name(auth[6:].strip(), "basic-credentials")
    elif auth:
        auth = marks.scrub(auth)
    ctype = headers.get("Content-Type", "")
    doc: Any = None
    text = parts = None
    if body and ctype.lower().startswith("multipart/"):
        parts = multipart_parts(ctype, body, marks)
    elif body:
        try:
            doc = marks.scrub_doc(json.loads(body))
        except ValueError:  # UnicodeDecodeError is one
            text = marks.scrub(body.decode("utf-8", "replace"))
    accept = headers.get("Accept")
    accept = None if accept in (None, "*/*") else accept
    return Request(method, marks.scrub(path_qs), host, auth, kept, accept, doc, parts, text)


def multipart_parts(content_type: str, body: bytes, marks: Placeholders) -> tuple[Part, ...]:
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        return ()
    parts = []
    for chunk in body.split(b"--" + m.group(1).encode())[1:-1]:
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        info = email.message_from_bytes(head + b"\r\n\r\n")
        name = info.get_param("name", header="content-disposition")
        filename = info.get_filename()
        parts.append(
            Part(
                name=str(name or ""),
                filename=marks.scrub(filename) if filename else None,
                type=info.get("Content-Type"),
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return tuple(parts)


def response_record(
    marks: Placeholders,
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes = b"",
    chunks: list[tuple[float, bytes]] | None = None,
    started: float = 0.0,
    end: str = "close",
    now: float,
) -> Response:
    """A response as kept. `chunks` (arrival time, bytes) for a stream that began at
    `started`; `now`: the wall-clock time of the answer (token expiries)."""
    ctype = headers.get("Content-Type", "")
    kind = body_kind(ctype)
    kept = {n: marks.scrub(headers[n]) for n in RESPONSE_HEADERS if n in headers}
    if kept.get("Content-Type") == USUAL_TYPE[kind]:
        del kept["Content-Type"]
    if chunks is not None:
        return Response(status, kept, sse=sse_pieces(chunks, started, marks), end=end)
    if not body:
        return Response(status, kept, end=end)
    if kind == "json":
        try:
            return Response(status, kept, json=marks.scrub_doc(json.loads(body), now=now), end=end)
        except ValueError:
            kind = "text"
    if kind == "text" and ctype:
        try:
            return Response(status, kept, text=marks.scrub(body.decode("utf-8")), end=end)
        except UnicodeDecodeError:
            pass
    digest = hashlib.sha256(body).hexdigest()
    return Response(status, kept, file=FileBody(len(body), digest), end=end)


def sse_pieces(
    chunks: list[tuple[float, bytes]], started: float, marks: Placeholders
) -> tuple[str | bytes | Pause, ...]:
    """The stream's bytes cut after each event, with the pauses (≥ MERGE_GAP) between."""
    pieces: list[str | bytes | Pause] = []
    buffer, last = b"", started

    def flush() -> None:
        if not buffer:
            return
        try:
            text = marks.scrub(buffer.decode("utf-8"))
        except UnicodeDecodeError:
            pieces.append(buffer)
            return
        pieces.extend(p for p in _FRAME_END.split(text) if p)

    for at, data in chunks:
        if at - last >= MERGE_GAP:
            flush()
            buffer = b""
            pieces.append(Pause(round(at - last, 3)))
        buffer += data
        last = at
    flush()
    return tuple(pieces)


# -- replaying -------------------------------------------------------------------------


def served_headers(marks: Placeholders, r: Response) -> dict[str, str]:
    headers = {k: marks.fill(v) for k, v in r.headers.items()}
    kind = (
        "sse" if r.sse is not None
        else "json" if r.json is not None
        else "text" if r.text is not None
        else "file"
    )  # fmt: skip
    if r.sse is not None or r.json is not None or r.text is not None or r.file is not None:
        headers.setdefault("Content-Type", USUAL_TYPE[kind])
    return headers


def served_body(marks: Placeholders, r: Response) -> bytes:
    """A response's body, not a stream, with values for its placeholders."""
    if r.json is not None:
        return json.dumps(marks.fill_doc(r.json), ensure_ascii=False).encode()
    if r.text is not None:
        return marks.fill(r.text).encode()
    if r.file is not None:
        return (_MP4_HEAD + bytes(max(0, r.file.size - len(_MP4_HEAD))))[: r.file.size]
    return b""


def served_stream(marks: Placeholders, r: Response) -> list[bytes | float]:
    """A stream's writes: bytes, or a pause in recorded seconds."""
    out: list[bytes | float] = []
    for piece in r.sse or ():
        if isinstance(piece, Pause):
            out.append(piece.seconds)
            continue
        data = piece if isinstance(piece, bytes) else marks.fill(piece).encode()
        if out and isinstance(out[-1], bytes):
            out[-1] += data
        else:
            out.append(data)
    return out


# -- comparing -------------------------------------------------------------------------


def request_differences(
    recorded: Request, actual: Request, api_headers: Mapping[str, str]
) -> list[str]:
    """Each field that differs, as `field: recorded X, replay Y`."""

    def effective(r: Request) -> Mapping[str, str]:
        if r.headers is not None:
            return r.headers
        return {} if r.host else api_headers

    found: list[tuple[str, Any, Any]] = []
    for name in ("method", "host", "path", "auth", "accept"):
        a, b = getattr(recorded, name), getattr(actual, name)
        if a != b:
            found.append((name, a, b))
    _walk("headers", dict(effective(recorded)), dict(effective(actual)), found)
    _walk("body", _body(recorded), _body(actual), found)
    return [f"{where}: recorded {_show(a)}, replay {_show(b)}" for where, a, b in found]


_ABSENT = object()


def _body(r: Request) -> Any:
    if r.multipart is not None:
        return {"multipart": [vars(p) for p in r.multipart]}
    return r.json if r.json is not None else r.text if r.text is not None else _ABSENT


def _walk(where: str, a: Any, b: Any, found: list[tuple[str, Any, Any]]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in list(a) + [k for k in b if k not in a]:
            _walk(f"{where}.{key}", a.get(key, _ABSENT), b.get(key, _ABSENT), found)
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else _ABSENT
            y = b[i] if i < len(b) else _ABSENT
            _walk(f"{where}[{i}]", x, y, found)
    elif a is not b and (type(a) is not type(b) or a != b):
        found.append((where, a, b))


def _show(value: Any) -> str:
    if value is _ABSENT or value is None:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 160 else text[:157] + "..."
