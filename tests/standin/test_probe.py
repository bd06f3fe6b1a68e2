"""probe(): what ffmpeg says a media file holds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from skill.standin.probe import MediaInfo, ProbeError, ffmpeg_exe, parse, probe
from skill.standin.render import SAMPLE_MUSIC, SAMPLE_PHOTO

MP4 = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'out.mp4':
  Duration: 00:00:15.02, start: 0.000000, bitrate: 676 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, progressive), \
1920x1080 [SAR 1:1 DAR 16:9], 542 kb/s, 30 fps, 30 tbr, 15360 tbn (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 127 kb/s
At least one output file must be specified"""
WEBM = """Input #0, matroska,webm, from 'clip.webm':
  Duration: 01:02:03.50, start: 0.000000, bitrate: N/A
  Stream #0:0: Video: vp9 (Profile 0), yuv420p(tv), 640x360, SAR 1:1 DAR 16:9, 23.98 fps, 1k tbr
At least one output file must be specified"""
M4A = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'a.m4a':
  Duration: 00:00:12.00, start: 0.000000, bitrate: 129 kb/s
  Stream #0:0[0x1](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 127 kb/s"""
JPEG = """Input #0, image2, from 'p.jpg':
  Duration: N/A, start: 0.000000, bitrate: N/A
  Stream #0:0: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 1600x1200, \
25 fps, 25 tbr, 25 tbn"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MP4, MediaInfo(15.02, "h264", 1920, 1080, "aac", 30.0)),
        (WEBM, MediaInfo(3723.5, "vp9", 640, 360, None, 23.98)),
        (M4A, MediaInfo(12.0, None, None, None, "aac", None)),
        (JPEG, MediaInfo(0.0, "mjpeg", 1600, 1200, None, 25.0)),
    ],
)
def test_parse_reads_duration_streams_size_and_rate(text: str, expected: MediaInfo) -> None:
    assert parse(text, Path("x")) == expected


def test_parse_rejects_text_without_streams() -> None:
    with pytest.raises(ProbeError, match="not an audio or video file"):
        parse("x.txt: Invalid data found when processing input", Path("x.txt"))


def test_probe_reads_the_sample_media_the_project_made() -> None:
    photo, music = probe(SAMPLE_PHOTO), probe(SAMPLE_MUSIC)
    assert (photo.video_codec, photo.width, photo.height) == ("mjpeg", 1600, 1200)
    assert (music.audio_codec, music.video_codec) == ("aac", None)
    assert 10 <= music.duration <= 20
    assert SAMPLE_PHOTO.stat().st_size < 300_000
    assert SAMPLE_MUSIC.stat().st_size < 400_000


def test_probe_reads_a_clip_made_by_ffmpeg(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc2=s=320x240:r=25:d=1", "-c:v", "libx264", str(clip)],
        check=True,
    )  # fmt: skip
    info = probe(clip)
    assert (info.video_codec, info.width, info.height, info.fps) == ("h264", 320, 240, 25.0)
    assert info.audio_codec is None
    assert info.duration == pytest.approx(1.0, abs=0.05)


def test_probe_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="no such file"):
        probe(tmp_path / "gone.mp4")


def test_probe_rejects_a_file_that_is_not_media(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video at all\n")
    with pytest.raises(ProbeError, match="not an audio or video file"):
        probe(notes)
