"""The simulated agent's tools: drafts in the contract's short keys, never mutated in place."""

from __future__ import annotations

import copy

import pytest

from skill.standin import timeline as tl

IMAGE = {"type": "image", "url": "http://127.0.0.1:1/media/a/p.jpg"}


def base() -> tl.Draft:
    return tl.generated("beach", 10_000, "16:9", seed=3)


def test_generated_draft_shapes() -> None:
    synthetic = base()
    assert synthetic["d"] == 10_000 and synthetic["m"] == {
        "w": 1920,
        "h": 1080,
        "ratio": "16:9",
        "fps": 30,
    }
    assert synthetic["t"] == [
        {
            "tt": 0,
            "m": {"name": "Video"},
            "sg": [{"s": 0, "d": 10_000, "m": {"name": "beach", "kind": "synthetic", "seed": 3}}],
        }
    ]
    still = tl.generated("photo", 5_000, "9:16", seed=1, media=IMAGE)
    assert still["m"]["w"] == 1080 and still["m"]["h"] == 1920
    assert still["t"][0]["sg"][0]["m"] == {"name": "photo", "kind": "image", "url": IMAGE["url"]}


@pytest.mark.parametrize(
    ("ratio", "size"), [("16:9", (1920, 1080)), ("9:16", (1080, 1920)), ("1:1", (1080, 1080))]
)
def test_canvas_sizes(ratio: str, size: tuple[int, int]) -> None:
    assert (tl.canvas(ratio)["width"], tl.canvas(ratio)["height"]) == size


def test_music_replaces_music_and_covers_the_video() -> None:
    one = tl.with_music(base(), "Lo-fi", "u1", 0.3)
    two = tl.with_music(one, "Jazz", "u2", 0.456)
    music = [t for t in two["t"] if t["tt"] == 1]
    assert len(music) == 1
    assert music[0]["sg"] == [
        {"s": 0, "d": 10_000, "m": {"name": "Jazz", "url": "u2", "volume": 0.46}}
    ]
    assert tl.with_volume(two, 0.8)["t"][1]["sg"][0]["m"]["volume"] == 0.8


def test_titles_replace_titles_and_captions_accumulate_within_the_video() -> None:
    draft = tl.with_text(base(), "Old", 0, 3000, title=True)
    draft = tl.with_text(draft, "New", 0, 3000, title=True)
    draft = tl.with_text(draft, "Second", 5000, 2000, title=False)
    draft = tl.with_text(draft, "First", 1000, 2000, title=False)
    draft = tl.with_text(draft, "Late", 9800, 5000, title=False)
    titles = [t for t in draft["t"] if t["m"]["name"] == tl.TITLE]
    captions = [t for t in draft["t"] if t["m"]["name"] == tl.CAPTIONS]
    assert [s["m"]["text"] for s in titles[0]["sg"]] == ["New"]
    assert [s["m"]["text"] for s in captions[0]["sg"]] == ["First", "Second", "Late"]
    late = captions[0]["sg"][-1]
    assert late["s"] + late["d"] <= 10_000 and late["d"] >= 500


def test_trim_cuts_every_track_and_extending_stretches_the_footage() -> None:
    draft = tl.with_text(tl.with_music(base(), "m", "u", 0.3), "Hi", 8000, 2000, title=False)
    short = tl.trimmed(draft, 6000)
    assert short["d"] == 6000
    assert [t["sg"][0]["d"] if t["sg"] else None for t in short["t"]] == [6000, 6000, None]
    longer = tl.trimmed(draft, 15_000)
    assert [t["sg"][0]["d"] for t in longer["t"]] == [15_000, 15_000, 2000]


@pytest.mark.parametrize(
    ("target", "left"),
    [
        ("music", [0, 7, 7]),
        ("title", [0, 1, 7]),
        ("captions", [0, 1, 7]),
        ("text", [0, 1]),
        ("video", [1, 7, 7]),
    ],
)
def test_removing_a_target(target: str, left: list[int]) -> None:
    draft = tl.with_text(tl.with_music(base(), "m", "u", 0.3), "T", 0, 3000, title=True)
    draft = tl.with_text(draft, "C", 4000, 2000, title=False)
    assert tl.has(draft, target)
    after = tl.without(draft, target)
    assert [t["tt"] for t in after["t"]] == left
    assert not tl.has(after, target)


def test_effects_and_reframing() -> None:
    still = tl.with_music(tl.generated("p", 5000, "16:9", seed=1, media=IMAGE), "m", "u", 0.3)
    assert tl.with_effects(still)["t"][0]["sg"][0]["m"]["effect"] == "zoom"
    assert tl.with_effects(base())["t"][0]["sg"][0]["m"]["effect"] == "fade"
    fresh = tl.generated("p", 5000, "9:16", seed=1, media=IMAGE)
    portrait = tl.reframed(still, fresh)
    assert portrait["m"]["ratio"] == "9:16" and [t["tt"] for t in portrait["t"]] == [0, 1]


def test_ready_and_no_mutation() -> None:
    assert not tl.ready(None) and not tl.ready({"t": [{"tt": 0, "sg": []}]})
    draft = base()
    before = copy.deepcopy(draft)
    tl.with_music(draft, "m", "u", 0.5)
    tl.trimmed(draft, 1000)
    tl.without(draft, "video")
    tl.with_text(draft, "x", 0, 1000, title=True)
    assert draft == before
