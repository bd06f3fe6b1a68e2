"""What a media file holds, read from ffmpeg's own description of it.

imageio-ffmpeg ships ffmpeg but no ffprobe, so `probe()` runs `ffmpeg -hide_banner -i FILE`
(which describes its input, then stops for want of an output) and parses the text:

    Duration: 00:00:15.02, start: 0.000000, bitrate: 1234 kb/s
    Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(...), 1920x1080 ...
    Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, ...
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


class ProbeError(Exception):
    """A file could not be read as media (missing, unreadable, or not audio/video)."""


@dataclass(frozen=True)
class MediaInfo:
    duration: float  # seconds; 0.0 when the container gives none (a still image)
    video_codec: str | None
    width: int | None
    height: int | None
    audio_codec: str | None
    fps: float | None


_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.M)
_VIDEO = re.compile(r"^\s*Stream #\S+: Video: (\w+)(.*)$", re.M)
_AUDIO = re.compile(r"^\s*Stream #\S+: Audio: (\w+)", re.M)
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)\b")


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled in the imageio-ffmpeg wheel (the `standin` extra)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise RuntimeError(
            "the local stand-in needs ffmpeg from imageio-ffmpeg: "
            "pip install 'nemo-video-skill[standin]'"
        ) from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def probe(path: Path) -> MediaInfo:
    """Describe `path`; raises ProbeError when it is missing or holds no audio/video."""
    if not path.is_file():
        raise ProbeError(f"cannot probe {path}: no such file")
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return parse(done.stderr.decode("utf-8", "replace"), path)


def parse(text: str, path: Path) -> MediaInfo:
    """Read a MediaInfo from ffmpeg's input description (its stderr)."""
    video, audio = _VIDEO.search(text), _AUDIO.search(text)
    if video is None and audio is None:
        last = text.strip().splitlines()[-1:] or ["no output"]
        raise ProbeError(f"cannot probe {path}: not an audio or video file ({last[0]})")
    duration = 0.0
    if found := _DURATION.search(text):
        hours, minutes, seconds = found.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    width = height = None
    fps = None
    if video is not None:
        if size := _SIZE.search(video.group(2)):
            width, height = int(size.group(1)), int(size.group(2))
        if rate := _FPS.search(video.group(2)):
            fps = float(rate.group(1)) * (1000 if rate.group(2) else 1)
    return MediaInfo(
        duration=duration,
        video_codec=video.group(1) if video else None,
        width=width,
        height=height,
        audio_codec=audio.group(1) if audio else None,
        fps=fps,
    )
