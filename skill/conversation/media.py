"""What may be uploaded: checks on a local file before any network call, and media URLs.

`check_upload()` looks at the path (exists, regular file, readable), the size (not
empty, at most `protocol.MAX_UPLOAD_BYTES`), the extension (`protocol.ACCEPTED_EXTENSIONS`)
and the first bytes of the content, which must match the extension. Each failure is an
`InputError` whose key names its message in `prompts/<lang>/upload.yaml`; only the first
`_HEAD` bytes are ever read.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from skill.common.errors import InputError
from skill.wire.protocol import ACCEPTED_EXTENSIONS, MAX_UPLOAD_BYTES

_HEAD = 4096
_MB = 1024 * 1024
_URL = re.compile(r"https?://[^\s<>\"'`()\[\]{}（）【】「」《》，。！？；]+", re.IGNORECASE)
_URL_TAIL = ".,;:!?'\""

KINDS = {
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "webp"), "image"),
    **dict.fromkeys(("mp4", "mov", "avi", "webm", "mkv"), "video"),
    **dict.fromkeys(("mp3", "wav", "m4a", "aac"), "audio"),
}

# Top-level QuickTime atoms an old .mov may start with instead of `ftyp`.
_QT_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def _riff(form: bytes) -> Callable[[bytes], bool]:
    return lambda h: h[:4] == b"RIFF" and h[8:12] == form


def _mpeg_audio(h: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, and layer bits not 00 (00 is AAC ADTS)."""
    return len(h) > 1 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0 and h[1] & 0x06 != 0


def _adts(h: bytes) -> bool:
    return len(h) > 1 and h[0] == 0xFF and h[1] & 0xF6 == 0xF0


# (format name, the extensions it may carry, its signature), first match wins.
_FORMATS: tuple[tuple[str, tuple[str, ...], Callable[[bytes], bool]], ...] = (
    ("JPEG", ("jpg", "jpeg"), lambda h: h[:3] == b"\xff\xd8\xff"),
    ("PNG", ("png",), lambda h: h[:8] == b"\x89PNG\r\n\x1a\n"),
    ("GIF", ("gif",), lambda h: h[:6] in (b"GIF87a", b"GIF89a")),
    ("WebP", ("webp",), _riff(b"WEBP")),
    ("AVI", ("avi",), _riff(b"AVI ")),
    ("WAV", ("wav",), _riff(b"WAVE")),
    ("MP4/MOV/M4A", ("mp4", "mov", "m4a"), lambda h: h[4:8] == b"ftyp"),
    ("QuickTime", ("mov",), lambda h: h[4:8] in _QT_ATOMS),
    ("WebM/MKV", ("webm", "mkv"), lambda h: h[:4] == b"\x1a\x45\xdf\xa3"),
    ("MP3/AAC", ("mp3", "aac"), lambda h: h[:3] == b"ID3"),  # an ID3 tag leads either
    ("AAC", ("aac",), lambda h: _adts(h) or h[:4] == b"ADIF"),
    ("MP3", ("mp3",), _mpeg_audio),
)


@dataclass(frozen=True)
class MediaFile:
    """A local file that passed every check and may be uploaded."""

    path: Path
    size: int
    kind: str  # image | video | audio
    extension: str  # lower case, no dot


def check_upload(path: Path) -> MediaFile:
    """Check a file before uploading it; raise InputError saying what is wrong and what to do."""
    path = Path(path).expanduser()
    shown = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: not found", key="upload.not_found", path=shown) from None
    except PermissionError:
        raise InputError(f"{path}: no permission", key="upload.unreadable", path=shown) from None
    except OSError as exc:  # a path too long, a loop of links, a broken mount...
        raise InputError(f"{path}: {exc}", key="upload.not_found", path=shown) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: a directory", key="upload.is_directory", path=shown)
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: not a regular file", key="upload.not_regular", path=shown)

    extension = path.suffix[1:].lower()
    if info.st_size == 0:
        raise InputError(f"{path}: empty", key="upload.empty", path=shown)
    if info.st_size > MAX_UPLOAD_BYTES:
        raise InputError(
            f"{path}: {info.st_size} bytes, over the limit",
            key="upload.too_large",
            name=path.name,
            size_mb=f"{info.st_size / _MB:.1f}",
            limit_mb=MAX_UPLOAD_BYTES // _MB,
        )
    accepted = ", ".join(ACCEPTED_EXTENSIONS)
    if extension not in ACCEPTED_EXTENSIONS:
        raise InputError(
            f"{path}: extension {extension!r} not accepted",
            key="upload.bad_extension" if extension else "upload.no_extension",
            name=path.name,
            extension=extension,
            accepted=accepted,
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD)
    except OSError as exc:
        raise InputError(f"{path}: {exc}", key="upload.unreadable", path=shown) from None

    detected = next(((name, exts) for name, exts, sign in _FORMATS if sign(head)), None)
    if detected is None:
        raise InputError(
            f"{path}: content not recognised",
            key="upload.unrecognised",
            name=path.name,
            extension=extension,
            accepted=accepted,
        )
    if extension not in detected[1]:
        raise InputError(
            f"{path}: content is {detected[0]}, not .{extension}",
            key="upload.mismatch",
            name=path.name,
            extension=extension,
            detected=detected[0],
            suggested=detected[1][0],
        )
    return MediaFile(path=path, size=info.st_size, kind=KINDS[extension], extension=extension)


def find_urls(text: str) -> tuple[str, ...]:
    """Every http(s) URL in a message, in order, without trailing punctuation."""
    return tuple(m.group().rstrip(_URL_TAIL) for m in _URL.finditer(text))


def is_media_url(url: str) -> bool:
    """An http(s) URL whose path ends with an accepted extension (query and fragment ignored)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return False
    name = unquote(parts.path).rsplit("/", 1)[-1]
    return "." in name and name.rsplit(".", 1)[1].lower() in ACCEPTED_EXTENSIONS
