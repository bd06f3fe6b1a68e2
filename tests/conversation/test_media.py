"""Pre-upload checks: real header bytes of every accepted format, and every way to fail."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from skill.common.errors import InputError
from skill.conversation import templates
from skill.conversation.media import check_upload, find_urls, is_media_url
from skill.wire.protocol import ACCEPTED_EXTENSIONS, MAX_UPLOAD_BYTES

# The first bytes of real files of each format.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02"
GIF87 = b"GIF87a\x10\x00\x10\x00\x80\x00\x00"
GIF89 = b"GIF89a\x10\x00\x10\x00\x80\x00\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
MP4_MP42 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  "
MOV_OLD = b"\x00\x00\x00\x08wide\x00\x1f\x02\x3emdat"
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isomiso2"
AVI = b"RIFF\xf4\x0b\x00\x00AVI LIST\x7e\x01\x00\x00hdrlavih"
EBML = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04"
MP3_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x23TSSE\x00\x00\x00\x0f"
MP3_FRAME = b"\xff\xfb\x90\x64\x00\x0f\xf0\x00\x00\x69\x00\x00"
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00"
AAC_MPEG4 = b"\xff\xf1\x50\x80\x02\x1f\xfc\x21\x00\x49"
AAC_MPEG2 = b"\xff\xf9\x50\x80\x02\x1f\xfc"

NOBODY = 65534
MISSING, DIRECTORY, FIFO, SPARSE, UNREADABLE = (object() for _ in range(5))

CASES = [
    # (file name, content, expected: kind when accepted, else the error key)
    ("photo.jpg", JPEG, "image"),
    ("PHOTO.JPEG", JPEG, "image"),
    ("logo.png", PNG, "image"),
    ("old.gif", GIF87, "image"),
    ("anim.gif", GIF89, "image"),
    ("still.webp", WEBP, "image"),
    ("clip.mp4", MP4, "video"),
    ("clip2.mp4", MP4_MP42, "video"),
    ("phone.mov", MOV, "video"),
    ("legacy.mov", MOV_OLD, "video"),
    ("old.avi", AVI, "video"),
    ("web.webm", EBML, "video"),
    ("film.mkv", EBML, "video"),
    ("song.mp3", MP3_ID3, "audio"),
    ("raw.mp3", MP3_FRAME, "audio"),
    ("voice.wav", WAV, "audio"),
    ("voice.m4a", M4A, "audio"),
    ("beat.aac", AAC_MPEG4, "audio"),
    ("beat2.aac", AAC_MPEG2, "audio"),
    ("tagged.aac", MP3_ID3, "audio"),
    ("gone.mp4", MISSING, "upload.not_found"),
    ("folder.mp4", DIRECTORY, "upload.is_directory"),
    ("pipe.mp4", FIFO, "upload.not_regular"),
    ("empty.png", b"", "upload.empty"),
    ("huge.mp4", SPARSE, "upload.too_large"),
    ("notes.txt", b"hello", "upload.bad_extension"),
    ("README", b"hello", "upload.no_extension"),
    ("fake.jpg", PNG, "upload.mismatch"),
    ("fake.mp3", AAC_MPEG4, "upload.mismatch"),
    ("fake.wav", AVI, "upload.mismatch"),
    ("fake.webp", WAV, "upload.mismatch"),
    ("fake.png", MP4, "upload.mismatch"),
    ("fake.avi", EBML, "upload.mismatch"),
    ("text.mp4", b"<html>not a video</html>", "upload.unrecognised"),
    ("locked.png", UNREADABLE, "upload.unreadable"),
]


@contextlib.contextmanager
def not_root() -> Iterator[None]:
    """Root reads any file: as root (CI, these sessions), check as `nobody` instead."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


def _make(folder: Path, name: str, content: object) -> Path:
    path = folder / name
    if content is MISSING:
        return path
    if content is DIRECTORY:
        path.mkdir()
    elif content is FIFO:
        os.mkfifo(path)
    elif content is SPARSE:
        with path.open("wb") as fh:
            fh.write(MP4)
            fh.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: no 200 MB written
    elif content is UNREADABLE:
        path.write_bytes(PNG)
        path.chmod(0)
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content + b"\x00" * 64 if content else b"")  # some body after the header
    return path


@pytest.mark.parametrize(("name", "content", "expected"), CASES, ids=[c[0] for c in CASES])
def test_check_upload(tmp_path: Path, name: str, content: object, expected: str) -> None:
    if content is UNREADABLE:  # a folder `nobody` may enter, so only reading the file fails
        tmp_path = Path(tempfile.mkdtemp())
        tmp_path.chmod(0o711)
        atexit.register(shutil.rmtree, tmp_path, True)
    path = _make(tmp_path, name, content)
    if not expected.startswith("upload."):
        media = check_upload(path)
        assert (media.kind, media.extension, media.path) == (
            expected,
            name.rsplit(".", 1)[1].lower(),
            path,
        )
        assert media.size == path.stat().st_size
        return
    reader = not_root() if content is UNREADABLE else contextlib.nullcontext()
    with pytest.raises(InputError) as caught, reader:
        check_upload(path)
    assert caught.value.key == expected
    for lang in ("en", "zh"):  # the message renders with the details the error carries
        line = templates.render(caught.value.key, lang, **caught.value.details)
        assert line and "{{" not in line
    if expected == "upload.too_large":
        assert caught.value.details["limit_mb"] == 200
    if expected == "upload.bad_extension":
        assert all(ext in caught.value.details["accepted"] for ext in ACCEPTED_EXTENSIONS)
    if name == "fake.jpg":
        assert caught.value.details["detected"] == "PNG"
        assert caught.value.details["suggested"] == "png"


URLS = [
    ("https://cdn.example.com/a/photo.JPG", True),
    ("http://example.com/clip.mp4?sig=abc#t=3", True),
    ("https://example.com/my%20song.mp3", True),
    ("https://example.com/page", False),
    ("https://example.com/photo.jpg/", False),
    ("https://example.com/archive.zip", False),
    ("ftp://example.com/clip.mp4", False),
    ("https:///clip.mp4", False),
    ("clip.mp4", False),
]


@pytest.mark.parametrize(("url", "media"), URLS)
def test_is_media_url(url: str, media: bool) -> None:
    assert is_media_url(url) is media


def test_find_urls_drops_trailing_punctuation() -> None:
    text = "see https://x.com/a.jpg, and (https://y.cn/b.mp4). 还有https://z.com/c.png。"
    assert find_urls(text) == ("https://x.com/a.jpg", "https://y.cn/b.mp4", "https://z.com/c.png")
