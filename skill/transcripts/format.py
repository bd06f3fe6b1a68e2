"""Transcripts: one whole conversation, its HTTP and its chat, as a YAML file.

`nemo-video say/chat --record FILE` writes them (recorder.py, through writer.py);
`nemo-video replay` and tests/transcripts/test_corpus.py play them back (replay.py).
Placeholders such as `<token-1>` stand for secrets and values that differ between runs
(placeholders.py).

    format: 1
    title: Quick edit in English            # one line
    about: what it covers                   # optional
    recorded: stand-in, seed 3              # optional: where it came from
    platform: transcripts                   # X-Skill-Platform; a replay sets SKILL_SOURCE to it
    web_url: https://nemovideo.com          # optional (this default)
    timings: {still_working_every: 1.0}     # optional: Timings fields the recording changed
    start: {token: none, conversation: {}}  # optional: none|stored|env; the stored conversation
    headers: {X-Skill-Source: ..., X-Client-Id: <client-id-1>}   # every API request's
    turns:
      - say: add lo-fi BGM at 30%           # or `command: credits|state|export|resume|ready|new`
        files: [../../../skill/standin/media/sample-photo.jpg]  # attached, relative to this file
        http:                               # every exchange, in the order the runtime made it
          - request:
              method: POST
              path: /run_sse                # with its query; `host: <host-1>` off the API
              auth: <token-1>               # the bearer token (absent: none sent)
              headers: {...}                # only when not the transcript's `headers`
              accept: text/event-stream     # an Accept header other than */*
              json: {...}                   # or multipart: [{name, filename, type, size, sha256}]
            response:                       #   or text: ...
              status: 200
              headers: {Content-Type: ...}  # Content-Type (when not the body's usual one),
              sse:                          #   Retry-After, Content-Disposition, Location
                - "data: {...}\\n\\n"         # the body byte for byte, cut after each event
                - pause: 0.8                # seconds between bytes, as recorded
              end: close                    # close | drop (connection broke) | client (gave up)
              # or json: {...} | text: ... | file: {size: 1234, sha256: ...}
        replies: [..., re: 'a (regular|full)match']   # the chat: exact lines or patterns
        saved: [re: 'nemovideo-\\d{8}-\\d{6}\\.mp4']     # files delivered, in the export folder
        links: [https://nemovideo.com/workspace/claim?ct=<claim-token-1>]
        intent: chat                        # what the message was routed to (`say --json`)
        outcome: edited                     # how the turn ended (absent in older ones: not checked)
        cancel_after: 2                     # optional: the user stops the turn (`nemo-video
                                            # cancel`) once 2 lines were shown
        error: '2001'                       # absent: none
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from skill.common.config import DEFAULT_WEB_URL, Timings
from skill.common.errors import ConfigError

FORMAT = 1
COMMANDS = ("credits", "state", "export", "resume", "ready", "new")
ENDS = ("close", "drop", "client")


@dataclass(frozen=True)
class Pattern:
    """A chat line given as a regular expression (full match, `.` matches newlines)."""

    regex: str


Line = str | Pattern


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    type: str | None
    size: int
    sha256: str


@dataclass(frozen=True)
class FileBody:
    size: int
    sha256: str


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    host: str | None = None  # "<host-N>"; None: the API
    auth: str | None = None
    headers: Mapping[str, str] | None = None  # None: the transcript's (API) or none (other hosts)
    accept: str | None = None  # an Accept header other than */*
    json: Any = None
    multipart: tuple[Part, ...] | None = None
    text: str | None = None

    @property
    def target(self) -> str:
        return f"{self.method} {self.host or ''}{self.path}"


@dataclass(frozen=True)
class Response:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    sse: tuple[str | bytes | Pause, ...] | None = None  # bytes: not UTF-8 (base64 in YAML)
    end: str = "close"
    text: str | None = None
    file: FileBody | None = None


@dataclass(frozen=True)
class Exchange:
    request: Request
    response: Response


@dataclass(frozen=True)
class Turn:
    kind: str  # say | command
    text: str = ""  # say: the message; command: its name
    files: tuple[str, ...] = ()  # attachments, relative to the transcript
    http: tuple[Exchange, ...] = ()
    replies: tuple[Line, ...] = ()
    saved: tuple[Line, ...] = ()
    links: tuple[Line, ...] = ()
    intent: str = ""
    error: str | None = None
    outcome: str = ""  # "": recorded before outcomes existed, not compared
    cancel_after: int | None = None  # the user stops the turn once this many lines showed

    @property
    def label(self) -> str:
        return f"say {self.text!r}" if self.kind == "say" else f"command {self.text}"


@dataclass(frozen=True)
class Start:
    token: str = "none"  # none | stored | env
    conversation: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Transcript:
    title: str
    turns: tuple[Turn, ...] = ()
    about: str = ""
    recorded: str = ""
    platform: str = "transcripts"
    web_url: str = DEFAULT_WEB_URL
    timings: Mapping[str, float | list[float]] = field(default_factory=dict)
    start: Start = field(default_factory=Start)
    headers: Mapping[str, str] = field(default_factory=dict)


# -- YAML ------------------------------------------------------------------------------


def load(path: Path) -> Transcript:
    """Read and check a transcript; a problem is a ConfigError naming the file and key."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the transcript ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse(doc, str(path))


def parse(doc: Any, where: str) -> Transcript:
    top = _At(where, "", doc).fields(
        required=("format", "title", "turns"),
        optional=("about", "recorded", "platform", "web_url", "timings", "start", "headers"),
    )
    if top["format"].value != FORMAT:
        raise top["format"].fail(f"must be {FORMAT}")
    start = Start()
    if "start" in top:
        s = top["start"].fields(optional=("token", "conversation"))
        token = s["token"].choice(("none", "stored", "env")) if "token" in s else "none"
        conv = s["conversation"].mapping() if "conversation" in s else None
        start = Start(token, conv)
    timings = top["timings"].mapping() if "timings" in top else {}
    known = [f.name for f in fields(Timings)]
    for key, value in timings.items():
        at = top["timings"].child(key, value)
        if key not in known:
            raise at.fail(f"is not a known key (known: {', '.join(known)})")
        _ = [i.number() for i in at.items()] if isinstance(value, list) else at.number()
    return Transcript(
        title=top["title"].text(),
        turns=tuple(_turn(t) for t in top["turns"].items()),
        about=top["about"].text() if "about" in top else "",
        recorded=top["recorded"].text() if "recorded" in top else "",
        platform=top["platform"].text() if "platform" in top else "transcripts",
        web_url=top["web_url"].text() if "web_url" in top else DEFAULT_WEB_URL,
        timings=timings,
        start=start,
        headers=top["headers"].strings() if "headers" in top else {},
    )


def _turn(at: _At) -> Turn:
    f = at.fields(
        optional=("say", "command", "files", "http", "replies", "saved", "links", "intent",
                  "outcome", "error", "cancel_after"),
    )  # fmt: skip
    if ("say" in f) == ("command" in f):
        raise at.fail("needs one of the keys say, command")
    kind = "say" if "say" in f else "command"
    return Turn(
        kind=kind,
        text=f["say"].text() if kind == "say" else f["command"].choice(COMMANDS),
        files=tuple(i.text() for i in f["files"].items()) if "files" in f else (),
        http=tuple(_exchange(e) for e in f["http"].items()) if "http" in f else (),
        replies=_lines(f.get("replies")),
        saved=_lines(f.get("saved")),
        links=_lines(f.get("links")),
        intent=f["intent"].text() if "intent" in f else "",
        outcome=f["outcome"].text() if "outcome" in f else "",
        error=f["error"].text() if "error" in f and f["error"].value is not None else None,
        cancel_after=f["cancel_after"].integer() if "cancel_after" in f else None,
    )


def _lines(at: _At | None) -> tuple[Line, ...]:
    if at is None:
        return ()
    out: list[Line] = []
    for item in at.items():
        if isinstance(item.value, Mapping):
            out.append(Pattern(item.fields(required=("re",))["re"].text()))
        else:
            out.append(item.text())
    return tuple(out)


def _exchange(at: _At) -> Exchange:
    f = at.fields(required=("request", "response"))
    r = f["request"].fields(
        required=("method", "path"),
        optional=("host", "auth", "headers", "accept", "json", "multipart", "text"),
    )
    request = Request(
        method=r["method"].text(),
        path=r["path"].text(),
        host=r["host"].text() if "host" in r else None,
        auth=r["auth"].text() if "auth" in r else None,
        headers=r["headers"].strings() if "headers" in r else None,
        accept=r["accept"].text() if "accept" in r else None,
        json=r["json"].value if "json" in r else None,
        multipart=tuple(_part(p) for p in r["multipart"].items()) if "multipart" in r else None,
        text=r["text"].text() if "text" in r else None,
    )
    s = f["response"].fields(optional=("status", "headers", "json", "sse", "end", "text", "file"))
    file = None
    if "file" in s:
        ff = s["file"].fields(required=("size", "sha256"))
        file = FileBody(ff["size"].integer(), ff["sha256"].text())
    response = Response(
        status=s["status"].integer() if "status" in s else 200,
        headers=s["headers"].strings() if "headers" in s else {},
        json=s["json"].value if "json" in s else None,
        sse=tuple(_piece(p) for p in s["sse"].items()) if "sse" in s else None,
        end=s["end"].choice(ENDS) if "end" in s else "close",
        text=s["text"].text() if "text" in s else None,
        file=file,
    )
    return Exchange(request, response)


def _part(at: _At) -> Part:
    f = at.fields(required=("name", "size", "sha256"), optional=("filename", "type"))
    return Part(
        f["name"].text(),
        f["filename"].text() if "filename" in f else None,
        f["type"].text() if "type" in f else None,
        f["size"].integer(),
        f["sha256"].text(),
    )


def _piece(at: _At) -> str | bytes | Pause:
    if isinstance(at.value, str):
        return at.value
    f = at.fields(optional=("pause", "base64"))
    if "pause" in f:
        return Pause(f["pause"].number())
    if "base64" in f:
        try:
            return base64.b64decode(f["base64"].text(), validate=True)
        except ValueError:
            raise f["base64"].fail("is not base64") from None
    raise at.fail("must be text, {pause: seconds} or {base64: ...}")


@dataclass(frozen=True)
class _At:
    """A value in the document and where it is, for messages naming the file and key."""

    file: str
    key: str
    value: Any

    def fail(self, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.key or 'the transcript'} {problem}", field=self.key)

    def child(self, key: str | int, value: Any) -> _At:
        if isinstance(key, int):
            return _At(self.file, f"{self.key}[{key}]", value)
        return _At(self.file, f"{self.key}.{key}" if self.key else key, value)

    def fields(
        self, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
    ) -> dict[str, _At]:
        if not isinstance(self.value, Mapping):
            raise self.fail("must be a mapping")
        unknown = [k for k in self.value if k not in required + optional]
        if unknown:
            known = ", ".join(required + optional)
            raise self.child(str(unknown[0]), None).fail(f"is not a known key (known: {known})")
        missing = [k for k in required if k not in self.value]
        if missing:
            raise self.fail(f"needs the key {missing[0]!r}")
        return {k: self.child(k, v) for k, v in self.value.items()}

    def mapping(self) -> dict[str, Any]:
        if not isinstance(self.value, Mapping):
            raise self.fail("must be a mapping")
        return dict(self.value)

    def strings(self) -> dict[str, str]:
        return {k: self.child(k, v).text() for k, v in self.mapping().items()}

    def items(self) -> list[_At]:
        if not isinstance(self.value, list):
            raise self.fail("must be a list")
        return [self.child(i, v) for i, v in enumerate(self.value)]

    def text(self) -> str:
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int, float)):
            raise self.fail(f"must be text, not {self.value!r}")
        return str(self.value)

    def choice(self, allowed: tuple[str, ...]) -> str:
        value = self.text()
        if value not in allowed:
            raise self.fail(f"is {value!r}; choose one of {', '.join(allowed)}")
        return value

    def integer(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail(f"must be an integer, not {self.value!r}")
        return self.value

    def number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise self.fail(f"must be a number, not {self.value!r}")
        return float(self.value)
