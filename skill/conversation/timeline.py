"""The draft as the user sees it: parsing, the one-line summary, and what changed.

Pure: no I/O. The backend's draft uses short keys (`t` tracks, `tt` track type 0 video /
1 audio / 7 text, `sg` segments, `d` duration ms, `m` metadata; segments `s` start ms,
`d` duration ms, `m.name` / `m.text` / `m.url` / `m.volume`). Long spellings (`tracks`,
`type`, `segments`, `duration`, `start`, `metadata`) are read too.

`parse_draft()` never raises: None, a string that is not JSON, a non-mapping, junk
entries and missing keys all give what can be read (at worst an empty Timeline).
Volumes are fractions; a number above 1 is taken as a percentage.

The summary follows the seed: `Timeline (3 tracks): 1. Video: city timelapse (0-10s)
2. BGM: Lo-fi (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)`. The header counts tracks
that hold something; entries are numbered per segment, so a track with two clips gives
two entries. Roles: video-track segments are "Video", audio "BGM", the first text
segment of the draft the "Title" and later ones "Caption"; unknown track types show
the track's own name. Every word comes from `prompts/<lang>/timeline.yaml`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from skill.conversation import templates
from skill.wire.protocol import TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO

KINDS = ("video", "audio", "text", "other")
_KIND_BY_CODE = {TRACK_VIDEO: "video", TRACK_AUDIO: "audio", TRACK_TEXT: "text"}
_ROLE_BY_KIND = {"video": "video", "audio": "bgm", "text": "caption", "other": "other"}


@dataclass(frozen=True)
class Segment:
    start_ms: int = 0
    duration_ms: int | None = None
    name: str | None = None
    text: str | None = None
    url: str | None = None
    volume: float | None = None  # fraction: 0.35 is 35%
    kind: str | None = None  # m.kind: image | video | synthetic | ...

    @property
    def end_ms(self) -> int | None:
        return None if self.duration_ms is None else self.start_ms + self.duration_ms

    @property
    def file_name(self) -> str | None:
        last = urlsplit(self.url).path.rpartition("/")[2] if self.url else ""
        return unquote(last) or None


@dataclass(frozen=True)
class Track:
    kind: str  # video | audio | text | other
    type_code: int | None
    name: str | None
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Entry:
    """One segment in its place: its role, and its 1-based number among its kind's segments."""

    role: str  # video | bgm | title | caption | other
    n: int
    kind: str
    track: int  # index among the tracks of the same kind
    index: int  # index within the track
    track_name: str | None
    segment: Segment


@dataclass(frozen=True)
class Timeline:
    tracks: tuple[Track, ...] = ()
    duration_ms: int | None = None
    width: int | None = None
    height: int | None = None

    @property
    def ready(self) -> bool:
        """Something to export: a track with at least one segment (v1.9)."""
        return any(track.segments for track in self.tracks)

    def entries(self) -> tuple[Entry, ...]:
        """Every segment in draft order, with its role."""
        counts = dict.fromkeys(KINDS, 0)
        tracks = dict.fromkeys(KINDS, 0)
        out = []
        for track in self.tracks:
            for index, segment in enumerate(track.segments):
                counts[track.kind] += 1
                n = counts[track.kind]
                role = "title" if track.kind == "text" and n == 1 else _ROLE_BY_KIND[track.kind]
                out.append(
                    Entry(role, n, track.kind, tracks[track.kind], index, track.name, segment)
                )
            tracks[track.kind] += 1
        return tuple(out)


# -- parsing --------------------------------------------------------------------------------


def parse_draft(draft: Mapping[str, Any] | str | bytes | None) -> Timeline:
    """The draft as a Timeline; anything unreadable is skipped, never raised."""
    if isinstance(draft, (str, bytes)):
        try:
            draft = json.loads(draft)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return Timeline()
    if not isinstance(draft, Mapping):
        return Timeline()
    meta = _mapping(draft, "m", "meta", "metadata")
    tracks = tuple(_track(t) for t in _list(draft, "t", "tracks") if isinstance(t, Mapping))
    ends = [s.end_ms for t in tracks for s in t.segments if s.end_ms is not None]
    duration = _int(_get(draft, "d", "duration", "duration_ms"))
    return Timeline(
        tracks=tracks,
        duration_ms=duration if duration is not None else max(ends, default=None),
        width=_int(_get(meta, "w", "width")) or _int(_get(draft, "w", "width")),
        height=_int(_get(meta, "h", "height")) or _int(_get(draft, "h", "height")),
    )


def _track(raw: Mapping[str, Any]) -> Track:
    raw_type = _get(raw, "tt", "type", "track_type", "trackType")
    code = _int(raw_type)
    kind = _KIND_BY_CODE.get(code, "other") if code is not None else "other"
    if isinstance(raw_type, str) and raw_type.strip().lower() in KINDS:
        kind = raw_type.strip().lower()  # a spelled-out type: "video", "audio", "text"
    segments, end = [], 0
    for item in _list(raw, "sg", "segments"):
        if isinstance(item, Mapping):
            segment = _segment(item, default_start=end)
            segments.append(segment)
            end = segment.end_ms if segment.end_ms is not None else segment.start_ms
    name = _text(_get(_mapping(raw, "m", "meta", "metadata"), "name")) or _text(_get(raw, "name"))
    return Track(kind, code, name, tuple(segments))


def _segment(raw: Mapping[str, Any], *, default_start: int) -> Segment:
    """A segment; a missing start follows the previous segment."""
    meta = _mapping(raw, "m", "meta", "metadata")

    def field(*names: str) -> Any:
        value = _get(meta, *names)
        return value if value is not None else _get(raw, *names)

    start = _int(_get(raw, "s", "start", "start_ms", "st"))
    volume = _float(field("volume", "vol"))
    return Segment(
        start_ms=default_start if start is None else start,
        duration_ms=_int(_get(raw, "d", "duration", "duration_ms")),
        name=_text(field("name", "title", "label")),
        text=_text(field("text", "content")),
        url=_text(field("url", "src")),
        volume=None if volume is None else volume / 100 if volume > 1 else volume,
        kind=_text(field("kind")),
    )


def _get(raw: Mapping[str, Any], *names: str) -> Any:
    return next((raw[n] for n in names if raw.get(n) is not None), None)


def _mapping(raw: Mapping[str, Any], *names: str) -> Mapping[str, Any]:
    value = _get(raw, *names)
    return value if isinstance(value, Mapping) else {}


def _list(raw: Mapping[str, Any], *names: str) -> list[Any]:
    value = _get(raw, *names)
    return value if isinstance(value, list) else []


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip().rstrip("%")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else round(number)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


# -- words --------------------------------------------------------------------------------


def summarize(timeline: Timeline, lang: str) -> str:
    """The seed's one-line track summary, or the "no video yet" line."""
    entries = timeline.entries()
    if not entries:
        return templates.render("timeline.empty", lang)
    count = sum(1 for track in timeline.tracks if track.segments)
    lines = [{"label": _label(e, lang), "item": _item(e, lang)} for e in entries]
    return templates.render("timeline.summary", lang, count=count, entries=lines)


def _label(entry: Entry, lang: str) -> str:
    return templates.render(f"timeline.role_{entry.role}", lang, track=entry.track_name)


def _what(entry: Entry, lang: str) -> str:
    s = entry.segment
    name = s.name if entry.kind == "text" else (s.name or s.file_name)
    return templates.render("timeline.what", lang, text=s.text, name=name, n=entry.n)


def _percent(volume: float | None) -> int | None:
    return None if volume is None else round(volume * 100)


def _item(entry: Entry, lang: str) -> str:
    s = entry.segment
    return templates.render(
        "timeline.item",
        lang,
        what=_what(entry, lang),
        start_ms=s.start_ms,
        end_ms=s.end_ms,
        volume=_percent(s.volume),
    )


# -- changes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One visible difference. `kind`: added | removed | replaced | text | trimmed |
    extended | moved | volume | resized. `before`/`after`: the entry on each side
    (one is None for added/removed, both None for resized); sizes are (width, height)."""

    kind: str
    before: Entry | None = None
    after: Entry | None = None
    size_before: tuple[int, int] | None = None
    size_after: tuple[int, int] | None = None

    @property
    def role(self) -> str:
        entry = self.after or self.before
        return entry.role if entry else "canvas"


def diff(before: Timeline, after: Timeline) -> tuple[Change, ...]:
    """What changed from `before` to `after`, in the order the user reads it; () when nothing."""
    changes: list[Change] = []
    if before.width and before.height and after.width and after.height:
        old_size, new_size = (before.width, before.height), (after.width, after.height)
        if old_size != new_size:
            changes.append(Change("resized", size_before=old_size, size_after=new_size))
    old_entries, new_entries = before.entries(), after.entries()
    for kind in KINDS:
        old = [e for e in old_entries if e.kind == kind]
        new = [e for e in new_entries if e.kind == kind]
        pairs = _match(old, new)
        for j, entry in enumerate(new):
            if j in pairs:
                changes.extend(_compare(old[pairs[j]], entry))
            else:
                changes.append(Change("added", after=entry))
        matched = set(pairs.values())
        changes.extend(Change("removed", before=e) for i, e in enumerate(old) if i not in matched)
    return tuple(changes)


def _match(old: Sequence[Entry], new: Sequence[Entry]) -> dict[int, int]:
    """new index → old index: same url, else same name, else same text, else same place."""
    pairs: dict[int, int] = {}
    free = list(range(len(old)))
    identities = (
        lambda e: e.segment.url,
        lambda e: e.segment.name,
        lambda e: e.segment.text,
        lambda e: (e.track, e.index),
    )
    for identity in identities:
        for j, entry in enumerate(new):
            key = identity(entry)
            if j in pairs or key is None:
                continue
            i = next((i for i in free if identity(old[i]) == key), None)
            if i is not None:
                pairs[j] = i
                free.remove(i)
    return pairs


def _compare(old: Entry, new: Entry) -> Iterator[Change]:
    a, b = old.segment, new.segment
    if a.text and b.text and a.text != b.text:
        yield Change("text", old, new)
    elif (a.name, a.url, a.text) != (b.name, b.url, b.text):
        yield Change("replaced", old, new)
    if a.duration_ms is not None and b.duration_ms is not None:
        if b.duration_ms != a.duration_ms:
            yield Change("trimmed" if b.duration_ms < a.duration_ms else "extended", old, new)
        elif b.start_ms != a.start_ms:
            yield Change("moved", old, new)
    if _percent(b.volume) is not None and _percent(a.volume) != _percent(b.volume):
        yield Change("volume", old, new)


def describe_changes(changes: Sequence[Change], lang: str) -> list[str]:
    """One line per change, e.g. `Title added: "Paradise Found" (0-3s)`."""
    return [
        templates.render(f"timeline.change_{c.kind}", lang, **_context(c, lang)) for c in changes
    ]


def _context(change: Change, lang: str) -> dict[str, Any]:
    if change.kind == "resized":
        assert change.size_before and change.size_after
        (old_w, old_h), (new_w, new_h) = change.size_before, change.size_after
        return {"old_w": old_w, "old_h": old_h, "new_w": new_w, "new_h": new_h}
    entry = change.after or change.before
    assert entry is not None
    ctx: dict[str, Any] = {
        "label": _label(entry, lang),
        "what": _what(entry, lang),
        "item": _item(entry, lang),
    }
    if change.before and change.after:
        a, b = change.before.segment, change.after.segment
        ctx.update(
            old=_what(change.before, lang),
            new=ctx["what"],
            old_start_ms=a.start_ms,
            old_end_ms=a.end_ms,
            new_start_ms=b.start_ms,
            new_end_ms=b.end_ms,
            old_volume=_percent(a.volume),
            new_volume=_percent(b.volume),
        )
    return ctx
