"""The draft as the user reads it: parsing odd shapes, the seed's summary, the diff."""

from __future__ import annotations

import json
from typing import Any

import pytest

from skill.conversation import templates
from skill.conversation.timeline import (
    Segment,
    Timeline,
    describe_changes,
    diff,
    parse_draft,
    summarize,
)


def seg(start: int, dur: int | None, **m: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"s": start, "m": m}
    if dur is not None:
        out["d"] = dur
    return out


def track(tt: Any, *segments: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    return {"tt": tt, "m": {"name": name} if name else {}, "sg": list(segments)}


def draft(*tracks: dict[str, Any], w: int = 1920, h: int = 1080) -> dict[str, Any]:
    return {"d": 15000, "m": {"w": w, "h": h}, "t": list(tracks)}


VIDEO = track(0, seg(0, 10000, name="city timelapse"))
BGM = track(1, seg(0, 10000, name="Lo-fi", volume=0.35))
TITLE = track(7, seg(0, 3000, text="Urban Dreams"))
SEED = draft(VIDEO, BGM, TITLE)
SEED_LINE = (
    "Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) "
    '3. Title: "Urban Dreams" (0-3s)'
)
EMPTY_EN = templates.render("timeline.empty", "en")


@pytest.mark.parametrize(
    ("doc", "lang", "expected"),
    [
        pytest.param(SEED, "en", SEED_LINE, id="seed"),
        pytest.param(json.dumps(SEED), "en", SEED_LINE, id="json-string"),
        pytest.param(
            SEED,
            "zh",
            "时间线（3 条轨道）：1. 视频：city timelapse（0-10秒） "
            "2. 背景音乐：Lo-fi（0-10秒，35%） 3. 标题：“Urban Dreams”（0-3秒）",
            id="seed-zh",
        ),
        pytest.param(
            draft(track(1, seg(0, 10000, name="Lo-fi", volume=35))),
            "en",
            "Timeline (1 track): 1. BGM: Lo-fi (0-10s, 35%)",
            id="volume-as-percent",
        ),
        pytest.param(
            draft(
                track(0, seg(0, 2500, url="http://cdn/media/x/beach%20day.mp4"), seg(2500, 5000))
            ),
            "en",
            "Timeline (1 track): 1. Video: beach day.mp4 (0-2.5s) 2. Video: clip 2 (2.5-7.5s)",
            id="unnamed-clips",
        ),
        pytest.param(
            draft(track(7, seg(0, 3000, text="Hi"), seg(5000, 3000, text="Bye")), TITLE),
            "en",
            'Timeline (2 tracks): 1. Title: "Hi" (0-3s) 2. Caption: "Bye" (5-8s) '
            '3. Caption: "Urban Dreams" (0-3s)',
            id="title-then-captions",
        ),
        pytest.param(
            draft(track(0, seg(30000, 35000, name="long"))),
            "en",
            "Timeline (1 track): 1. Video: long (30s-1m 05s)",
            id="minutes",
        ),
        pytest.param(
            draft(track(0, seg(0, None, name="no length")), track(1, seg(0, None, volume=0.5))),
            "en",
            "Timeline (2 tracks): 1. Video: no length 2. BGM: clip 1 (50%)",
            id="unknown-duration",
        ),
        pytest.param(
            draft(track(12, seg(0, 1000, name="smile"), name="Stickers"), track(99, seg(0, 1000))),
            "en",
            "Timeline (2 tracks): 1. Stickers: smile (0-1s) 2. Track: clip 2 (0-1s)",
            id="unknown-track-types",
        ),
        pytest.param(
            {
                "tracks": [
                    {"type": "video", "segments": [{"start": 0, "duration": 4000, "name": "a"}]},
                    {"type": "text", "segments": [{"duration": 2000, "text": "Hey"}]},
                ]
            },
            "en",
            'Timeline (2 tracks): 1. Video: a (0-4s) 2. Title: "Hey" (0-2s)',
            id="long-keys",
        ),
        pytest.param(
            draft(track(0), BGM),
            "en",
            "Timeline (1 track): 1. BGM: Lo-fi (0-10s, 35%)",
            id="empty-track",
        ),
        pytest.param(draft(track(0), track(1)), "en", EMPTY_EN, id="only-empty-tracks"),
        pytest.param(None, "zh", templates.render("timeline.empty", "zh"), id="none-zh"),
    ],
)
def test_summary(doc: Any, lang: str, expected: str) -> None:
    assert summarize(parse_draft(doc), lang) == expected


@pytest.mark.parametrize(
    "doc",
    [
        None,
        "",
        "{bad json",
        "[" * 100_000,  # nested too deep for the JSON parser
        "[1, 2]",
        b"\xff\xfe",
        [],
        42,
        {"t": "x"},
        {"t": [1, None, "x", {"sg": "x"}, {"tt": 0, "sg": [None, 3, {}, {"m": 5}, {"s": -4}]}]},
        {"t": [{"tt": "zzz", "sg": [{"s": "abc", "d": float("nan"), "m": {"volume": "loud"}}]}]},
        {"t": [{"tt": True, "sg": [{"s": 1e400, "d": "12", "m": {"name": 5, "text": ["x"]}}]}]},
        {"d": "long", "m": [], "t": [{"tt": None, "m": "x", "sg": [{"m": {"url": 7}}]}]},
    ],
)
def test_junk_never_raises(doc: Any) -> None:
    timeline = parse_draft(doc)
    for lang in ("en", "zh"):
        assert summarize(timeline, lang)
        assert describe_changes(diff(timeline, parse_draft(SEED)), lang)
        assert describe_changes(diff(parse_draft(SEED), timeline), lang)


def test_parse_fields() -> None:
    doc = draft(
        track(0, seg(0, 3000, name="a", kind="image", url="http://h/m/1/a.jpg")),
        track(1, {"d": 2000, "m": {"volume": "40%"}}, {"d": 1000}),
        w=1080,
        h=1920,
    )
    timeline = parse_draft(doc)
    assert (timeline.width, timeline.height, timeline.duration_ms) == (1080, 1920, 15000)
    video, audio = timeline.tracks
    assert (video.kind, video.type_code) == ("video", 0)
    assert video.segments[0] == Segment(0, 3000, "a", None, "http://h/m/1/a.jpg", None, "image")
    assert video.segments[0].file_name == "a.jpg"
    # a missing start follows the previous segment
    assert [(s.start_ms, s.end_ms, s.volume) for s in audio.segments] == [
        (0, 2000, 0.4),
        (2000, 3000, None),
    ]
    # no `d` at the top: the end of the last segment
    assert parse_draft({"t": [VIDEO, TITLE]}).duration_ms == 10000


@pytest.mark.parametrize(
    ("doc", "ready"),
    [(SEED, True), (draft(track(0), track(7, seg(0, 1000))), True), (draft(track(0)), False),
     (None, False), ({"t": [{"tt": 0, "sg": [None]}]}, False)],
)  # fmt: skip
def test_ready(doc: Any, ready: bool) -> None:
    assert parse_draft(doc).ready is ready


NEW_TITLE = track(7, seg(0, 3000, text="Paradise Found"))
BEACH = track(0, seg(0, 15000, name="beach"))


@pytest.mark.parametrize(
    ("before", "after", "lang", "expected"),
    [
        pytest.param(draft(BEACH), draft(BEACH, NEW_TITLE), "en",
                     ['Title added: "Paradise Found" (0-3s)'], id="title-added"),
        pytest.param(draft(BEACH), draft(BEACH, NEW_TITLE), "zh",
                     ["新增标题：“Paradise Found”（0-3秒）"], id="title-added-zh"),
        pytest.param(draft(track(1, seg(0, 10000, name="Lo-fi", volume=0.5))),
                     draft(track(1, seg(0, 10000, name="Lo-fi", volume=0.3))), "en",
                     ["BGM volume changed: Lo-fi 50% → 30%"], id="volume"),
        pytest.param(draft(track(1, seg(0, 10000, name="Lo-fi"))),
                     draft(track(1, seg(0, 10000, name="Lo-fi", volume=30))), "en",
                     ["BGM volume set: Lo-fi 30%"], id="volume-set"),
        pytest.param(draft(BEACH), draft(track(0, seg(0, 10000, name="beach"))), "en",
                     ["Video trimmed: beach (0-15s → 0-10s)"], id="trimmed"),
        pytest.param(draft(BEACH), draft(track(0, seg(0, 10000, name="beach"))), "zh",
                     ["视频已缩短：beach（0-15秒 → 0-10秒）"], id="trimmed-zh"),
        pytest.param(draft(track(0, seg(0, 5000, name="a"))),
                     draft(track(0, seg(0, 8000, name="a"))), "en",
                     ["Video extended: a (0-5s → 0-8s)"], id="extended"),
        pytest.param(draft(BEACH, TITLE),
                     draft(BEACH, track(7, seg(2000, 3000, text="Urban Dreams"))), "en",
                     ['Title moved: "Urban Dreams" (0-3s → 2-5s)'], id="moved"),
        pytest.param(draft(BEACH, BGM), draft(BEACH), "en",
                     ["BGM removed: Lo-fi (0-10s, 35%)"], id="track-removed"),
        pytest.param(draft(BEACH, TITLE), draft(BEACH, NEW_TITLE), "en",
                     ['Title changed: "Urban Dreams" → "Paradise Found"'], id="text-changed"),
        pytest.param(draft(BEACH), draft(track(0, seg(0, 15000, name="city"))), "en",
                     ["Video replaced: beach → city"], id="replaced"),
        pytest.param(draft(BEACH), draft(BEACH, w=1080, h=1920), "en",
                     ["Format changed: 1920x1080 → 1080x1920 (portrait)"], id="resized"),
        pytest.param(draft(BEACH), draft(BEACH, w=1080, h=1080), "zh",
                     ["画面尺寸已更改：1920x1080 → 1080x1080（方形）"], id="resized-zh"),
        pytest.param(draft(track(0, seg(0, 5000, name="a"))),
                     draft(track(0, seg(0, 5000, name="b"), seg(5000, 5000, name="a"))), "en",
                     ["Video added: b (0-5s)", "Video moved: a (0-5s → 5-10s)"],
                     id="inserted-before"),
        pytest.param(None, SEED, "en",
                     ["Video added: city timelapse (0-10s)", "BGM added: Lo-fi (0-10s, 35%)",
                      'Title added: "Urban Dreams" (0-3s)'], id="from-nothing"),
        pytest.param(draft(BEACH, TITLE),
                     draft(BEACH, track(7, seg(0, 3000, text="Urban Dreams"),
                                        seg(5000, 3000, text="Soon"))), "en",
                     ['Caption added: "Soon" (5-8s)'], id="caption-added"),
        pytest.param(SEED, json.loads(json.dumps(SEED)), "en", [], id="no-change"),
        pytest.param(SEED, {**SEED, "d": 99999, "extra": {"x": 1}}, "en", [],
                     id="invisible-change"),
    ],
)  # fmt: skip
def test_diff(before: Any, after: Any, lang: str, expected: list[str]) -> None:
    changes = diff(parse_draft(before), parse_draft(after))
    assert describe_changes(changes, lang) == expected
    assert (changes == ()) is (expected == [])


def test_no_change_line_exists() -> None:
    assert templates.render("timeline.no_change", "en")
    assert diff(Timeline(), Timeline()) == ()
