"""Render a draft to a real H.264/AAC MP4 with the ffmpeg of imageio-ffmpeg.

One ffmpeg run builds the whole timeline in a filter graph:

- a black canvas of the draft's size, fps and duration; every video-track segment
  (tt 0) is laid over it at its start: a still covers the canvas with a slow zoom, a clip
  is scaled and padded, a synthetic segment is a moving gradient seeded by `m.seed`;
- text segments (tt 7) are drawn with drawtext, read from files (no escaping of user
  text), in the WenQuanYi Micro Hei font of the `paperang-p2-fonts-cjk` package
  (Latin and Chinese);
- audio segments (tt 1) are looped or trimmed to their length, set to their volume,
  delayed to their start and mixed over a silent track, so there is always audio.

The MP4 is written beside `out_path` and renamed over it only when ffmpeg succeeded.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import math
import os
import random
import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from colorsys import hsv_to_rgb
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ImageFont

from .probe import ffmpeg_exe

MEDIA = Path(__file__).resolve().parent / "media"
SAMPLE_PHOTO = MEDIA / "sample-photo.jpg"
SAMPLE_MUSIC = MEDIA / "sample-music.m4a"
FONT_PACKAGE, FONT_FILE = "paperang_p2_fonts_cjk", "fonts/wqy-microhei.ttc"

ZOOM = 0.10  # a still grows by 10 % over its segment
FADE = 0.3  # seconds a text fades in and out
RATIOS = {"9:16": (1080, 1920), "1:1": (1080, 1080), "16:9": (1920, 1080)}
VIDEO_EXT = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".gif"}
_WORDS = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]|[^\s]+|\s+")

_ADDRESS = re.compile(r"\[[^\]]* @ 0x[0-9a-f]+\]\s*")  # "[mjpeg @ 0x55e6cfb42e80] "

Draft = Mapping[str, Any]


class RenderFailedError(Exception):
    """The draft could not be rendered: a bad segment, missing media, or ffmpeg failed."""


@dataclass(frozen=True)
class Canvas:
    width: int
    height: int
    fps: int
    duration: float  # seconds


def _meta(item: Any) -> Mapping[str, Any]:
    meta = item.get("m") if isinstance(item, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number == number and abs(number) != float("inf") else default


def _even(value: float) -> int:
    return max(2, min(4096, math.ceil(value / 2) * 2))


def _tracks(draft: Draft, kind: int) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(number, segment) for every segment of every track of type `kind`, in order."""
    tracks = draft.get("t")
    number = 0
    for track in tracks if isinstance(tracks, list) else []:
        if isinstance(track, Mapping) and _number(track.get("tt"), -1) == kind:
            for seg in track.get("sg") or []:
                if isinstance(seg, Mapping):
                    number += 1
                    yield number, seg


def canvas_of(draft: Draft) -> Canvas:
    meta = _meta(draft)
    width, height = RATIOS.get(str(meta.get("ratio", "16:9")).replace(" ", ""), (1920, 1080))
    width, height = _even(_number(meta.get("w"), width)), _even(_number(meta.get("h"), height))
    ends = [
        _number(seg.get("s"), 0) + _number(seg.get("d"), 0)
        for kind in (0, 1, 7)
        for _, seg in _tracks(draft, kind)
    ]
    duration = _number(draft.get("d"), max(ends, default=0)) / 1000
    if duration <= 0:
        raise RenderFailedError(
            "the draft has no duration and no timed segments: nothing to render"
        )
    return Canvas(width, height, int(min(60, max(1, _number(meta.get("fps"), 30)))), duration)


def _span(seg: Mapping[str, Any], canvas: Canvas) -> tuple[float, float] | None:
    """(start, length) in seconds, clipped to the canvas; None if nothing is left."""
    start = max(0.0, _number(seg.get("s"), 0) / 1000)
    length = _number(seg.get("d"), canvas.duration * 1000 - start * 1000) / 1000
    length = min(length, canvas.duration - start)
    return (start, length) if length > 0.01 else None


def _escape(value: str) -> str:
    """Quote a filter option value for ffmpeg: once for the option, once for the graph."""
    value = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)


def font_file() -> Path:
    try:
        font = Path(str(importlib.resources.files(FONT_PACKAGE) / FONT_FILE))
    except ModuleNotFoundError:
        font = Path("/nonexistent")
    if not font.is_file():
        raise RenderFailedError(
            "text needs the font package of the 'standin' extra: "
            "pip install 'nemo-video-skill[standin]'"
        )
    return font


def wrap(text: str, font: Path, size: int, width: int) -> str:
    """Break lines (between words, or between CJK characters) to fit `width` pixels."""
    face = ImageFont.truetype(str(font), size)
    lines = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in _WORDS.findall(paragraph):
            if line.strip() and face.getlength(line + word) > width:
                lines.append(line.rstrip())
                line = word.lstrip()
            else:
                line += word
        lines.append(line.rstrip())
    return "\n".join(lines)


def _gradients(seed: int, c: Canvas, length: float) -> str:
    """Moving gradients, the same for the same seed (ffmpeg's own "random" colours are not)."""
    rng = random.Random(seed)
    count = rng.randint(3, 6)
    colours = ":".join(
        f"c{i}=0x" + bytes(round(255 * v) for v in hsv_to_rgb(rng.random(), 0.65, 0.95)).hex()
        for i in range(count)
    )
    return (
        f"gradients=s={_even(c.width / 4)}x{_even(c.height / 4)}:r={c.fps}:d={length}"
        f":seed={seed % 2**32}:n={count}:{colours}:type={rng.choice((1, 2, 3))}:speed=0.04,"
        f"scale={c.width}:{c.height}:flags=bicubic:out_range=tv"
    )


class _Graph:
    """Collects ffmpeg inputs and filter-graph chains while reading the draft."""

    def __init__(self, canvas: Canvas, workdir: Path) -> None:
        self.canvas, self.workdir = canvas, workdir
        self.inputs: list[str] = []
        self.count = 0

    def add_input(self, *args: str) -> int:
        """Add one ffmpeg input; returns its index."""
        self.inputs += args
        self.count += 1
        return self.count - 1

    def video(self, n: int, seg: Mapping[str, Any], resolve: Callable[[str], Path | None]) -> str:
        c, meta, (start, length) = self.canvas, _meta(seg), _span(seg, self.canvas) or (0, 0)
        size = f"{c.width}:{c.height}"
        fit = f"setsar=1,format=yuv420p,setpts=PTS-STARTPTS+{start}/TB"  # placed at its start
        url = meta.get("url")
        kind = meta.get("kind") or (
            "synthetic" if not url else "video" if Path(str(url)).suffix.lower() in VIDEO_EXT
            else "image"
        )  # fmt: skip
        if kind == "synthetic":
            return f"{_gradients(int(_number(meta.get('seed'), n)), c, length)},{fit}"
        if kind not in ("image", "video"):
            raise RenderFailedError(f"video segment {n} has an unknown kind {kind!r}")
        path = self._resolve(n, meta, url, resolve)
        if kind == "video":
            i = self.add_input("-stream_loop", "-1", "-t", f"{length}", "-i", str(path))
            return (
                f"[{i}:v]fps={c.fps},scale={size}:force_original_aspect_ratio=decrease:out_range=tv,"
                f"pad={size}:-1:-1:black,{fit}"
            )
        i = self.add_input(
            "-loop", "1", "-framerate", f"{c.fps}", "-t", f"{length}", "-i", str(path)
        )
        zoom = 0 if meta.get("effect") in ("none", "static") else ZOOM
        cover = f"max({c.width}/iw\\,{c.height}/ih)*(1+{zoom}*t/{length})"
        return (
            f"[{i}:v]scale=w='2*ceil(iw*{cover}/2)':h='2*ceil(ih*{cover}/2)'"
            f":eval=frame:flags=bilinear:out_range=tv,crop={size},{fit}"
        )

    def _resolve(
        self, n: int, meta: Mapping[str, Any], url: Any, resolve: Callable[[str], Path | None]
    ) -> Path:
        name = meta.get("name") or "untitled"
        if not url:
            raise RenderFailedError(f"segment {n} ({name}) has no media url")
        path = resolve(str(url))
        if path is None or not Path(path).is_file():
            raise RenderFailedError(f"segment {n} ({name}): unknown media url {url}")
        return Path(path)

    def audio(self, n: int, seg: Mapping[str, Any], resolve: Callable[[str], Path | None],
              sample_music: Path) -> str:  # fmt: skip
        meta, (start, length) = _meta(seg), _span(seg, self.canvas) or (0, 0)
        url = meta.get("url")
        path = self._resolve(n, meta, url, resolve) if url else sample_music
        volume = max(0.0, _number(meta.get("volume"), 1.0))
        volume = volume / 100 if volume > 1 else volume
        i = self.add_input("-stream_loop", "-1", "-t", f"{length}", "-i", str(path))
        return (
            f"[{i}:a]aformat=sample_rates=48000:channel_layouts=stereo,volume={volume},"
            f"adelay={round(start * 1000)}:all=1"
        )

    def text(self, n: int, seg: Mapping[str, Any]) -> str | None:
        c, meta, span = self.canvas, _meta(seg), _span(seg, self.canvas)
        content = str(meta.get("text") or meta.get("name") or "").strip()
        if span is None or not content:
            return None
        start, length = span
        font = font_file()
        default = c.height / (12 if meta.get("position") in (None, "center") else 18)
        size = int(min(c.height / 4, max(8, _number(meta.get("size"), default))))
        textfile = self.workdir / f"text-{n}.txt"
        textfile.write_text(wrap(content, font, size, int(c.width * 0.9)), encoding="utf-8")
        y = {"bottom": "h-text_h-h/10", "top": "h/10"}.get(
            str(meta.get("position")), "(h-text_h)/2"
        )
        end, fade = start + length, min(FADE, length / 3)
        alpha = f"min(1\\,min(t-{start}\\,{end}-t)/{fade})"
        return (
            f"drawtext=fontfile={_escape(str(font))}:textfile={_escape(str(textfile))}"
            f":expansion=none:text_align=C:fontsize={size}:fontcolor=white"
            f":shadowcolor=black@0.6:shadowx=3:shadowy=3:box=1:boxcolor=black@0.3"
            f":boxborderw={size // 4}:x=(w-text_w)/2:y={y}:alpha='{alpha}'"
            f":enable='between(t\\,{start}\\,{end})'"
        )


def build_command(
    draft: Draft, target: Path, *, resolve: Callable[[str], Path | None], sample_music: Path,
    workdir: Path,
) -> tuple[list[str], Canvas]:  # fmt: skip
    """The ffmpeg arguments that render `draft` to `target` (text files go to `workdir`)."""
    c = canvas_of(draft)
    graph = _Graph(c, workdir)
    chains = [f"color=c=black:s={c.width}x{c.height}:r={c.fps}:d={c.duration}[base0]"]
    last = "base0"
    for n, seg in _tracks(draft, 0):
        if _span(seg, c) is not None:
            chains.append(f"{graph.video(n, seg, resolve)}[v{n}]")
            chains.append(f"[{last}][v{n}]overlay=eof_action=pass:repeatlast=0[base{n}]")
            last = f"base{n}"
    texts = [text for n, seg in _tracks(draft, 7) if (text := graph.text(n, seg))]
    chains.append(f"[{last}]{','.join([*texts, 'format=yuv420p'])}[vout]")
    chains.append(f"anullsrc=r=48000:cl=stereo:d={c.duration}[a0]")
    mix = ["[a0]"]
    for n, seg in _tracks(draft, 1):
        if _span(seg, c) is not None:
            chains.append(f"{graph.audio(n, seg, resolve, sample_music)}[a{n}]")
            mix.append(f"[a{n}]")
    chains.append(f"{''.join(mix)}amix=inputs={len(mix)}:normalize=0:duration=first[aout]")
    return [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-xerror", *graph.inputs,
        "-filter_complex", ";".join(chains), "-map", "[vout]", "-map", "[aout]",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-r", str(c.fps), "-c:a", "aac", "-b:a", "128k", "-t", str(c.duration),
        "-movflags", "+faststart", "-f", "mp4", "-progress", "pipe:1", "-nostats", "-y",
        str(target),
    ], c  # fmt: skip


async def render_draft(
    draft: Draft,
    out_path: Path,
    *,
    resolve: Callable[[str], Path | None],
    progress: Callable[[float], None] | None = None,
    sample_music: Path | None = None,
) -> None:
    """Render `draft` to `out_path` (an audio segment without a url plays `sample_music`,
    by default the bundled loop). Raises RenderFailedError; on any failure or
    cancellation ffmpeg is killed and nothing is left at `out_path`."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".render-", dir=out_path.parent) as tmp:
        part = Path(tmp) / "render.mp4"
        try:
            args, canvas = build_command(
                draft, part, resolve=resolve, sample_music=sample_music or SAMPLE_MUSIC,
                workdir=Path(tmp),
            )  # fmt: skip
        except RuntimeError as exc:  # the standin extra is not installed
            raise RenderFailedError(str(exc)) from exc
        await _run(args, canvas.duration, progress)
        os.replace(part, out_path)


async def _run(args: list[str], duration: float, progress: Callable[[float], None] | None) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = proc.stdout, proc.stderr
    head: list[str] = []  # the first errors name the cause, the last ones the outcome
    tail: deque[str] = deque(maxlen=2)
    done = 0.0

    async def read_progress() -> None:
        nonlocal done
        async for raw in stdout:
            key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                fraction = min(1.0, int(value) / 1e6 / duration)
            elif key == "progress" and value == "end":
                fraction = 1.0
            else:
                continue
            if fraction > done:
                done = fraction
                if progress is not None:
                    progress(done)

    async def read_errors() -> None:
        async for raw in stderr:
            line = _ADDRESS.sub("", raw.decode("utf-8", "replace")).strip()
            if line and not line.startswith("Last message") and line not in (*head, *tail):
                (head if len(head) < 3 else tail).append(line)

    try:
        await asyncio.gather(read_progress(), read_errors())
        code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if code != 0:
        detail = " | ".join([*head, *tail])[:800] or "no error output"
        raise RenderFailedError(f"ffmpeg failed (exit {code}): {detail}")
