"""The simulated agent's tools: pure functions from one draft to the next.

Drafts use the contract's short keys (`t` tracks, `tt` type, `sg` segments, `d` ms,
`m` metadata) and the stand-in's segment keys (`s` start ms, `d` duration ms, `m`).
Every function returns a new draft and leaves its argument alone.
"""

from __future__ import annotations

import copy
from typing import Any

from skill.wire.protocol import TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO

Draft = dict[str, Any]

CANVAS = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}
TITLE, CAPTIONS = "Title", "Captions"
TARGETS = ("music", "title", "captions", "text", "video")


def canvas(ratio: str) -> dict[str, Any]:
    width, height = CANVAS[ratio]
    return {"width": width, "height": height, "ratio": ratio}


def generated(
    name: str, duration_ms: int, ratio: str, *, seed: int, media: dict[str, Any] | None = None
) -> Draft:
    """The raw video: one video track, from an uploaded image or clip, or synthetic."""
    meta: dict[str, Any] = {"name": name}
    if media is None:
        meta |= {"kind": "synthetic", "seed": seed}
    else:
        meta |= {"kind": media["type"], "url": media["url"]}
    width, height = CANVAS[ratio]
    return {
        "d": duration_ms,
        "m": {"w": width, "h": height, "ratio": ratio, "fps": 30},
        "t": [_track(TRACK_VIDEO, "Video", [_segment(0, duration_ms, meta)])],
    }


def reframed(draft: Draft, fresh: Draft) -> Draft:
    """`fresh` (a regenerated raw video) with the old draft's audio and text tracks."""
    out = copy.deepcopy(fresh)
    out["t"] += [copy.deepcopy(t) for t in draft.get("t", []) if t.get("tt") != TRACK_VIDEO]
    return trimmed(out, out["d"])


def with_music(draft: Draft, name: str, url: str, volume: float) -> Draft:
    """Background music over the whole video, replacing any earlier music."""
    out = without(draft, "music")
    meta = {"name": name, "url": url, "volume": round(volume, 2)}
    out["t"].append(_track(TRACK_AUDIO, "BGM", [_segment(0, out["d"], meta)]))
    return out


def with_volume(draft: Draft, volume: float) -> Draft:
    out = copy.deepcopy(draft)
    for track in _tracks(out, "music"):
        for seg in track["sg"]:
            seg["m"]["volume"] = round(volume, 2)
    return out


def with_text(draft: Draft, text: str, start_ms: int, length_ms: int, *, title: bool) -> Draft:
    """A title (replacing the old one) or one more caption."""
    out = without(draft, "title") if title else copy.deepcopy(draft)
    start = min(max(start_ms, 0), max(out["d"] - 500, 0))
    length = max(min(length_ms, out["d"] - start), 500)
    meta = {"text": text, "position": "center" if title else "bottom", "size": 96 if title else 48}
    name = TITLE if title else CAPTIONS
    track = next(iter(_tracks(out, "captions")), None) if not title else None
    if track is None:
        track = _track(TRACK_TEXT, name, [])
        out["t"].append(track)
    track["sg"].append(_segment(start, length, meta))
    track["sg"].sort(key=lambda s: s["s"])
    return out


def with_effects(draft: Draft) -> Draft:
    """A slow zoom on stills, fades on moving footage."""
    out = copy.deepcopy(draft)
    for track in _tracks(out, "video"):
        for seg in track["sg"]:
            seg["m"]["effect"] = "zoom" if seg["m"].get("kind") == "image" else "fade"
    return out


def trimmed(draft: Draft, duration_ms: int) -> Draft:
    """Every track cut (or the last visual stretched) to `duration_ms`."""
    out = copy.deepcopy(draft)
    out["d"] = duration_ms
    for track in out["t"]:
        kept = [s for s in track["sg"] if s["s"] < duration_ms]
        for seg in kept:
            seg["d"] = min(seg["d"], duration_ms - seg["s"])
        if track["tt"] in (TRACK_VIDEO, TRACK_AUDIO) and kept:
            last = kept[-1]
            last["d"] = duration_ms - last["s"]
        track["sg"] = kept
    return out


def without(draft: Draft, target: str) -> Draft:
    """The draft with the targeted tracks removed."""
    out = copy.deepcopy(draft)
    doomed = {id(t) for t in _tracks(out, target)}
    out["t"] = [t for t in out["t"] if id(t) not in doomed]
    return out


def has(draft: Draft | None, target: str) -> bool:
    return bool(draft) and any(t["sg"] for t in _tracks(draft or {}, target))


def ready(draft: Draft | None) -> bool:
    """The contract's test: at least one track with a segment."""
    return bool(draft) and any(t.get("sg") for t in (draft or {}).get("t", []))


def track_names(draft: Draft) -> list[str]:
    return [t["m"]["name"] for t in draft.get("t", []) if t.get("sg")]


def _tracks(draft: Draft, target: str) -> list[dict[str, Any]]:
    tracks: list[dict[str, Any]] = draft.get("t", [])
    if target == "music":
        return [t for t in tracks if t["tt"] == TRACK_AUDIO]
    if target == "video":
        return [t for t in tracks if t["tt"] == TRACK_VIDEO]
    if target == "text":
        return [t for t in tracks if t["tt"] == TRACK_TEXT]
    name = TITLE if target == "title" else CAPTIONS
    return [t for t in tracks if t["tt"] == TRACK_TEXT and t["m"].get("name") == name]


def _track(kind: int, name: str, segments: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tt": kind, "m": {"name": name}, "sg": segments}


def _segment(start_ms: int, length_ms: int, meta: dict[str, Any]) -> dict[str, Any]:
    return {"s": start_ms, "d": length_ms, "m": meta}
