"""Placeholders: values that differ between runs, and secrets, under stable names.

A recording writes them into the transcript in place of the real values; a replay
puts values of its own back where it serves a response, and swaps them for the
names again in what the runtime sends, so that recording and replay compare.

    <token-N>         bearer tokens (anonymous or NEMO_TOKEN)
    <client-id-N>     X-Client-Id values
    <claim-token-N>   claim tokens
    <session-N>       backend session ids        <task-N>    task ids
    <render-N>        render job ids (render_<ms>, made by the runtime's clock)
    <id-N>            any other UUID (ADK event ids)
    <host-N>          origins other than the API (a CDN, the stand-in's media port)
    <api>             the API's origin           <signature> a URL's query on a <host-N>
    <out> <here> <config>   the export folder, the transcript's folder, the config folder
    <skill-version>   X-Skill-Version when it is SKILL.md's version (headers only)
    "<epoch+N>"       a JSON string for a token expiry N s after the answer (ms: <epoch-ms+N>)

Numbers count first appearances: a replay meets the values in the same order as the
recording did (tokens and ids in answers, render ids and the client id in requests),
so it gives them the same names.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
NAME = re.compile(r"<([a-z][a-z-]*?)(?:-(\d+))?>")
_EDGE_BEFORE, _EDGE_AFTER = r"(?<![A-Za-z0-9_])", r"(?![A-Za-z0-9_])"

# Recognised by their shape wherever they appear, in the order tried.
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"nmv_[A-Za-z0-9_-]{6,}"), "token"),
    (re.compile(r"clm_[A-Za-z0-9_-]{6,}"), "claim-token"),
    (re.compile(r"render_\d{10,}(?!\d)"), "render"),
    # a loopback origin, with any userinfo (user:password@) in front of the host
    (re.compile(r"https?://(?:[^/\s\"'<>@]+@)?(?:127\.0\.0\.1|localhost|\[::1\]):\d+"), "host"),
    (re.compile(r"(?<=://)[^/\s\"'<>@:]+:[^/\s\"'<>@]+(?=@)"), "userinfo"),  # user:password
    (re.compile(_EDGE_BEFORE + UUID + _EDGE_AFTER), "id"),
)
# Recognised by the JSON key that holds them.
_KEYS = {
    "token": "token", "access_token": "token", "claim_token": "claim-token",
    "claimToken": "claim-token", "session_id": "session", "sessionId": "session",
    "task_id": "task", "taskId": "task",
}  # fmt: skip
_EXPIRY_KEYS = ("expires_at", "expire_time", "expiresAt")
_SIGNED = re.compile(r"(<host-\d+>[^\s\"'<>?#]*)\?[^\s\"'<>#]+")
EPOCH = re.compile(r"<epoch(-ms)?\+(-?\d+)>")

# What must never be in a transcript: (what it is, pattern).
SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a NemoVideo token", re.compile(r"nmv_[A-Za-z0-9]")),
    ("a claim token", re.compile(r"clm_[A-Za-z0-9]")),
    ("a bearer token", re.compile(r"Bearer\s", re.IGNORECASE)),
    ("basic credentials", re.compile(r"\bauth: Basic [A-Za-z0-9+/]")),
    ("a UUID (a client or session id?)", re.compile(UUID)),
    ("a loopback address with its port", re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\]):\d")),
    ("a URL's user:password", re.compile(r"://[^/\s\"'<>@:]+:[^/\s\"'<>@]+@")),
    ("a signed URL", re.compile(r"[?&](?:X-Amz-[A-Za-z]+|Signature|Expires|Key-Pair-Id)=")),
)


def find_secrets(text: str) -> Iterator[tuple[int, str, str]]:
    """(line number, what, the text found) for everything that looks like a secret."""
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in SECRETS:
            for m in pattern.finditer(line):
                yield number, what, m.group(0)


class Placeholders:
    """A two-way map between concrete values and placeholder names."""

    def __init__(self, pairs: Mapping[str, str] | None = None) -> None:
        self._names: dict[str, str] = {}  # value -> name
        self._values: dict[str, str] = {}  # name -> value
        self._counts: dict[str, int] = {}
        self._known: re.Pattern[str] | None = None
        for value, name in (pairs or {}).items():
            self.fix(value, name)

    def pairs(self) -> dict[str, str]:
        return dict(self._names)

    def fix(self, value: str, name: str) -> str:
        """Give `value` the name `name` (both ways); an empty value is ignored."""
        if not value:
            return name
        self._names[value] = name
        self._values.setdefault(name, value)
        self._known = None
        m = NAME.fullmatch(name)
        if m and m.group(2):
            kind, n = m.group(1), int(m.group(2))
            self._counts[kind] = max(self._counts.get(kind, 0), n)
        return name

    def name(self, value: str, kind: str) -> str:
        """The name of `value`, a new `<kind-N>` the first time it is seen."""
        if value in self._names:
            return self._names[value]
        if NAME.fullmatch(value):
            return value  # already a name
        return self.fix(value, f"<{kind}-{self._counts.get(kind, 0) + 1}>")

    def value(self, name: str) -> str | None:
        return self._values.get(name)

    # -- real values -> names ------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """Known values, then values recognised by their shape, then URL signatures."""
        text = self._replace_known(text)
        for pattern, kind in _SHAPES:
            text = pattern.sub(lambda m, k=kind: self.name(m.group(0), k), text)  # type: ignore[misc]
        return _SIGNED.sub(r"\1?<signature>", text)

    def scrub_doc(self, doc: Any, *, now: float | None = None) -> Any:
        """A JSON document: values learned from their keys, strings scrubbed, token expiries
        made relative to `now` (when given: an answer, not a request)."""
        self._learn_keys(doc)
        return self._scrub_tree(doc, now)

    def _learn_keys(self, doc: Any) -> None:
        if isinstance(doc, Mapping):
            for key, item in doc.items():
                if key in _KEYS and isinstance(item, str) and item:
                    self.name(item, _KEYS[key])
                self._learn_keys(item)
        elif isinstance(doc, list):
            for item in doc:
                self._learn_keys(item)

    def _scrub_tree(self, doc: Any, now: float | None) -> Any:
        if isinstance(doc, str):
            return self.scrub(doc)
        if isinstance(doc, list):
            return [self._scrub_tree(item, now) for item in doc]
        if not isinstance(doc, Mapping):
            return doc
        out: dict[str, Any] = {}
        for key, item in doc.items():
            is_epoch = isinstance(item, (int, float)) and not isinstance(item, bool) and item > 1e9
            if now is not None and key in _EXPIRY_KEYS and is_epoch:
                ms = item > 1e11
                offset = round(item - (now * 1000 if ms else now))
                out[key] = f"<epoch{'-ms' if ms else ''}+{offset}>"
            else:
                out[key] = self._scrub_tree(item, now)
        return out

    def _replace_known(self, text: str) -> str:
        if not self._names:
            return text
        if self._known is None:
            values = sorted(self._names, key=len, reverse=True)
            alternation = "|".join(re.escape(v) for v in values)
            self._known = re.compile(f"{_EDGE_BEFORE}(?:{alternation}){_EDGE_AFTER}")
        return self._known.sub(lambda m: self._names[m.group(0)], text)

    # -- names -> values (a replay) ------------------------------------------------------

    def fill(self, text: str) -> str:
        """Names replaced by their values; a name not met yet gets a made-up value."""
        return NAME.sub(lambda m: self._value_for(m), text)

    def fill_doc(self, doc: Any) -> Any:
        if isinstance(doc, str):
            m = EPOCH.fullmatch(doc)
            if m:
                return round((time.time() * (1000 if m.group(1) else 1)) + int(m.group(2)))
            return self.fill(doc)
        if isinstance(doc, list):
            return [self.fill_doc(item) for item in doc]
        if isinstance(doc, Mapping):
            return {key: self.fill_doc(item) for key, item in doc.items()}
        return doc

    def _value_for(self, m: re.Match[str]) -> str:
        name = m.group(0)
        if name in self._values:
            return self._values[name]
        if not m.group(2):
            return name  # a fixed name this replay has no value for: left as it is
        value = f"~{m.group(1)}.{m.group(2)}~"  # delimited: no made-up value is part of another
        self.fix(value, name)
        return value
