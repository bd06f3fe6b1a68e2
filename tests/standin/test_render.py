"""render_draft(): drafts become real, playable H.264/AAC MP4s."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from PIL import ImageFont

from skill.standin.probe import ffmpeg_exe, probe
from skill.standin.render import (
    SAMPLE_MUSIC,
    SAMPLE_PHOTO,
    Canvas,
    RenderFailedError,
    canvas_of,
    font_file,
    render_draft,
    wrap,
)

MEDIA = {"cdn://photo.jpg": SAMPLE_PHOTO, "cdn://lofi.m4a": SAMPLE_MUSIC}


def draft(
    d: int, video: list[dict[str, Any]], *, w: int = 320, h: int = 180, **tracks: Any
) -> dict[str, Any]:
    t = [{"tt": 0, "m": {"name": "Video"}, "sg": video}]
    t += [{"tt": 1, "m": {"name": "BGM"}, "sg": tracks["audio"]}] if "audio" in tracks else []
    t += [{"tt": 7, "m": {"name": "Title"}, "sg": tracks["text"]}] if "text" in tracks else []
    return {"d": d, "m": {"w": w, "h": h, "fps": 30}, "t": t}


def image(s: int, d: int) -> dict[str, Any]:
    return {"s": s, "d": d, "m": {"kind": "image", "url": "cdn://photo.jpg", "effect": "zoom"}}


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def make_clip(path: Path) -> Path:
    """A 0.5 s 160x120 test-pattern clip, made by ffmpeg."""
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=0.5",
         "-c:v", "libx264", str(path)],
        check=True,
    )  # fmt: skip
    return path


def frame(mp4: Path, at: float) -> bytes:
    """One decoded frame as raw 8x8 grey pixels, enough to tell black from footage."""
    return subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-ss", str(at), "-i", str(mp4), "-frames:v", "1",
         "-vf", "scale=8:8,format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


async def test_done_when_15s_1080p_image_title_and_bgm(tmp_path: Path) -> None:
    out = tmp_path / "export.mp4"
    the_draft = draft(
        15000,
        [image(0, 15000)],
        w=1920,
        h=1080,
        audio=[{"s": 0, "d": 15000, "m": {"url": "cdn://lofi.m4a", "volume": 0.3}}],
        text=[{"s": 0, "d": 3000, "m": {"text": "Paradise Found", "position": "center"}}],
    )
    await render_draft(the_draft, out, resolve=MEDIA.get)
    info = probe(out)
    assert (info.video_codec, info.width, info.height) == ("h264", 1920, 1080)
    assert info.duration == pytest.approx(15.0, abs=0.1)
    assert info.audio_codec == "aac"
    assert loudness(out, 12, 2) > -50  # the BGM plays to the end (looped past its 12 s)
    assert names(tmp_path) == ["export.mp4"]  # no temp files left


@pytest.mark.parametrize(
    ("meta", "size"),
    [
        ({"w": 1080, "h": 1920}, (1080, 1920)),
        ({"w": 1080, "h": 1080}, (1080, 1080)),
        ({"ratio": "9:16"}, (1080, 1920)),
        ({"ratio": "1:1"}, (1080, 1080)),
    ],
)
async def test_portrait_and_square_canvases(
    tmp_path: Path, meta: dict[str, Any], size: tuple[int, int]
) -> None:
    out = tmp_path / "out.mp4"
    await render_draft({"d": 500, "m": meta, "t": [{"tt": 0, "sg": [image(0, 500)]}]},
                       out, resolve=MEDIA.get)  # fmt: skip
    info = probe(out)
    assert (info.width, info.height, info.video_codec) == (*size, "h264")


@pytest.mark.parametrize(
    ("the_draft", "expected"),
    [
        ({"d": 15000}, Canvas(1920, 1080, 30, 15.0)),
        ({"d": 2000, "m": {"ratio": "9:16", "fps": 25}}, Canvas(1080, 1920, 25, 2.0)),
        ({"d": 2000, "m": {"w": "1081", "h": 721}}, Canvas(1082, 722, 30, 2.0)),  # even sizes
        ({"t": [{"tt": 7, "sg": [{"s": 1000, "d": 2500}]}]}, Canvas(1920, 1080, 30, 3.5)),
        (
            {"d": "soon", "m": "x", "t": [{"tt": 0, "sg": [{"d": 800}]}]},
            Canvas(1920, 1080, 30, 0.8),
        ),
    ],
)
def test_canvas_defaults_and_derivations(the_draft: dict[str, Any], expected: Canvas) -> None:
    assert canvas_of(the_draft) == expected


def test_a_draft_with_nothing_timed_is_refused() -> None:
    with pytest.raises(RenderFailedError, match="no duration"):
        canvas_of({"t": [{"tt": 0, "sg": []}]})


async def test_synthetic_clip_gaps_and_no_audio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4")
    segments = [
        {"s": 0, "d": 1000, "m": {"kind": "synthetic", "seed": 7}},
        {"s": 1500, "d": 1000, "m": {"kind": "video", "url": "cdn://clip.mp4"}},  # looped
    ]
    out = tmp_path / "out.mp4"
    media = {"cdn://clip.mp4": clip}
    await render_draft(draft(3000, segments), out, resolve=media.get)
    info = probe(out)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")  # silent track
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert max(frame(out, 0.5)) > 40  # gradient
    assert max(frame(out, 1.2)) < 30  # the gap is black
    assert max(frame(out, 2.2)) > 40  # the clip, looped past its 0.5 s
    assert max(frame(out, 2.8)) < 30  # black again after the clip


async def test_synthetic_footage_is_deterministic_per_seed(tmp_path: Path) -> None:
    frames = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        out = tmp_path / f"{name}.mp4"
        synthetic = {"s": 0, "d": 300, "m": {"kind": "synthetic", "seed": seed}}
        await render_draft(draft(300, [synthetic]), out, resolve=MEDIA.get)
        frames.append(frame(out, 0.1))
    assert frames[0] == frames[1] != frames[2]


async def test_chinese_and_awkward_text_is_drawn_at_its_times(tmp_path: Path) -> None:
    out = tmp_path / "it's: [odd], dir;" / "out.mp4"  # paths need escaping in the graph
    caption = {"text": "100% 'q': a\\b, %{pts} [x];", "position": "bottom", "size": 30}
    text = [
        {"s": 0, "d": 1000, "m": {"text": "天堂找到了", "size": 60}},
        {"s": 1500, "d": 1000, "m": caption},
    ]
    await render_draft(draft(3000, [], text=text), out, resolve=MEDIA.get)  # on black
    assert probe(out).video_codec == "h264"
    assert max(frame(out, 0.5)) > 40  # white Chinese title
    assert max(frame(out, 1.2)) < 30  # gone after its end
    assert max(frame(out, 2.0)) > 40  # the caption
    assert max(frame(out, 2.8)) < 30


@pytest.mark.parametrize(
    ("text", "joiner"),
    [("a quick brown fox jumps over the lazy dog " * 3, " "), ("天堂找到了，海浪和夕阳。" * 4, "")],
)
def test_wrap_breaks_long_text_between_words_or_cjk_characters(text: str, joiner: str) -> None:
    font = font_file()
    lines = wrap(text, font, 40, 400).splitlines()
    face = ImageFont.truetype(str(font), 40)
    assert len(lines) > 1
    assert all(face.getlength(line) <= 400 for line in lines)
    assert joiner.join(lines) == text.strip()
    assert wrap("Paradise Found", font, 40, 400) == "Paradise Found"


def loudness(mp4: Path, start: float, length: float) -> float:
    """Mean volume in dB of a stretch of the audio (-91 is digital silence)."""
    err = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-ss", str(start), "-t", str(length), "-i", str(mp4),
         "-af", "volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    found = re.search(r"mean_volume: (-?[\d.]+) dB", err)
    assert found, err
    return float(found.group(1))


async def test_audio_plays_at_its_start_and_volume_fraction_or_percent(tmp_path: Path) -> None:
    levels = {}
    for volume in (1, 0.3, 30):
        out = tmp_path / f"{volume}.mp4"
        bgm = {"s": 1000, "d": 1500, "m": {"url": "cdn://lofi.m4a", "volume": volume}}
        await render_draft(draft(3000, [], audio=[bgm]), out, resolve=MEDIA.get)
        assert loudness(out, 0, 0.9) < -80  # silent before its start
        assert loudness(out, 2.6, 0.3) < -80  # and after its end
        levels[volume] = loudness(out, 1.1, 1.3)
    assert levels[0.3] == pytest.approx(levels[30], abs=0.5)  # 30 means 30 %
    assert levels[1] - levels[0.3] == pytest.approx(10.5, abs=1.0)  # 20*log10(0.3)


async def test_audio_without_url_plays_the_sample_music(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    the_draft = draft(1000, [], audio=[{"s": 200, "d": 800, "m": {"name": "AI music"}}])
    await render_draft(the_draft, out, resolve=lambda url: None)
    assert probe(out).audio_codec == "aac"


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ({"s": 0, "d": 500, "m": {"kind": "image", "url": "cdn://gone.jpg"}}, "unknown media url"),
        (
            {"s": 0, "d": 500, "m": {"kind": "image", "name": "beach"}},
            r"\(beach\) has no media url",
        ),
        ({"s": 0, "d": 500, "m": {"kind": "hologram"}}, "unknown kind 'hologram'"),
    ],
)
async def test_bad_segments_fail_clearly_and_leave_no_file(
    tmp_path: Path, segment: Mapping[str, Any], message: str
) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(RenderFailedError, match=message):
        await render_draft(draft(500, [segment]), out, resolve=MEDIA.get)
    assert names(tmp_path) == []


async def test_ffmpeg_failure_reports_its_error_and_leaves_no_file(tmp_path: Path) -> None:
    fake = write(tmp_path / "fake.jpg", "not a picture")
    out = tmp_path / "out" / "out.mp4"
    render = render_draft(draft(500, [image(0, 500)]), out, resolve=lambda url: fake)
    with pytest.raises(RenderFailedError, match=r"ffmpeg failed \(exit \d+\): .*JPEG"):
        await asyncio.wait_for(render, timeout=60)  # a bad still must not loop forever
    assert names(out.parent) == []


async def test_progress_is_monotonic_and_reaches_one(tmp_path: Path) -> None:
    seen: list[float] = []
    await render_draft(draft(2000, [image(0, 2000)]), tmp_path / "o.mp4",
                       resolve=MEDIA.get, progress=seen.append)  # fmt: skip
    assert seen, "no progress reported"
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(1.0)
    assert all(0 < p <= 1 for p in seen)


def _ffmpeg_writing_into(folder: Path) -> list[str]:
    procs = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(folder).encode() in cmdline.read_bytes():
                procs.append(cmdline.parent.name)
        except OSError:
            continue
    return procs


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
async def test_cancelling_kills_ffmpeg_and_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "renders" / "out.mp4"
    started = asyncio.Event()
    long_draft = draft(600_000, [{"s": 0, "m": {"kind": "synthetic", "seed": 1}}])
    task = asyncio.create_task(
        render_draft(long_draft, out, resolve=MEDIA.get, progress=lambda p: started.set())
    )
    await asyncio.wait_for(started.wait(), timeout=30)
    assert _ffmpeg_writing_into(out.parent)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _ffmpeg_writing_into(out.parent) == []
    assert names(out.parent) == []
