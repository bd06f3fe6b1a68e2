"""Moving files without holding them in memory: a streamed upload body and a safe download.

Upload: `multipart_file()` builds the `files` form part from a path; the bytes are read
from disk in chunks (in a worker thread) only as the socket takes them, so a 200 MB
file costs one chunk of memory. The body can be rebuilt for a retry because it holds
the path, not an open file.

Download: `download()` writes to `<dest>.part` (held under an exclusive
`flock` while written, so a `.part` nobody holds was left by a killed process), and
renames it into place only when it is verified:

- the first answer is 200 with a content type a video may have (not HTML, JSON, text);
- a body that broke off or ended short of its length is resumed once with an HTTP
  Range request from where it stopped (a 206 starting at that byte); a second shortfall
  is DownloadIncomplete, told as what it is, not as a network problem;
- the file's own signature matches its extension (MP4/MOV: an ISO-BMFF `ftyp` box;
  WebM/MKV: the EBML magic), else NotAVideo.

On any failure the `.part` is removed, so `dest` is either the whole file or absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mimetypes
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from aiohttp.abc import AbstractStreamWriter

from skill.common.errors import DownloadIncomplete, NotAVideo
from skill.common.storage import flock_held

CHUNK = 256 * 1024

UploadProgress = Callable[[int, int], None]
DownloadProgress = Callable[[int, "int | None"], None]
Opener = Callable[[int], Awaitable[aiohttp.ClientResponse]]  # byte offset → open response

# Content types a rendered file may come with; anything else (text/html, JSON, ...) is not it.
_FILE_TYPES = ("application/octet-stream", "binary/octet-stream", "application/mp4", "")
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_ISO_BMFF = (b"ftyp",)
_QUICKTIME = (b"ftyp", b"moov", b"wide", b"free", b"mdat", b"skip")
_EBML = b"\x1a\x45\xdf\xa3"


class FilePayload(aiohttp.payload.Payload):
    """A file on disk as a request body part, read chunk by chunk while it is sent."""

    def __init__(self, path: Path, progress: UploadProgress | None = None) -> None:
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        super().__init__(path, content_type=media_type, filename=path.name)
        self._path = path
        self._size = path.stat().st_size
        self._progress = progress

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        total = self._size or 0
        limit = total if content_length is None else min(total, content_length)
        loop = asyncio.get_running_loop()
        fh: BinaryIO = await loop.run_in_executor(None, self._path.open, "rb")
        try:
            sent = 0
            while sent < limit:
                chunk = await loop.run_in_executor(None, fh.read, min(CHUNK, limit - sent))
                if not chunk:
                    raise OSError(f"{self._path} shrank while it was being uploaded")
                await writer.write(chunk)
                sent += len(chunk)
                if self._progress is not None:
                    self._progress(sent, total)
        finally:
            await loop.run_in_executor(None, fh.close)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a file upload body is streamed, never decoded into memory")


def multipart_file(field: str, path: Path, progress: UploadProgress | None) -> Any:
    """A multipart/form-data body with one file part; its size (Content-Length) is known."""
    writer = aiohttp.MultipartWriter("form-data")
    part = FilePayload(path, progress)
    part.set_content_disposition("form-data", name=field, filename=path.name)
    writer.append_payload(part)
    return writer


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def signature_ok(head: bytes, suffix: str) -> bool:
    """Whether the file's first bytes are those of its format (by extension)."""
    suffix = suffix.lower()
    if suffix in (".webm", ".mkv"):
        return head[:4] == _EBML
    boxes = _QUICKTIME if suffix == ".mov" else _ISO_BMFF
    return len(head) >= 8 and head[4:8] in boxes


def part_in_use(part: Path) -> bool:
    """True while a live process writes `part` (it holds the flock); False when absent."""
    return flock_held(part)


def remove_stale_part(dest: Path) -> bool:
    """Remove `<dest>.part` when no live process holds it (a killed run's leftover)."""
    part = part_path(dest)
    if not part.exists() or part_in_use(part):
        return False
    part.unlink(missing_ok=True)
    return True


async def download(open_at: Opener, dest: Path, progress: DownloadProgress | None = None) -> Path:
    """Fetch the file `open_at(0)` answers into `dest` via a verified `<dest>.part`."""
    part = part_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    try:
        with _locked(part) as fh:
            resp = await open_at(0)
            received, total, broke = 0, None, ""
            try:
                _check_type(resp, dest)
                total = resp.content_length
                received, broke = await _copy(resp, fh, received, total, progress, loop)
            finally:
                resp.release()
            if broke or (total is not None and received < total):
                log_total = total
                resp = await open_at(received)  # one resume, from the first missing byte
                try:
                    total = _resumed_total(resp, received, dest, log_total)
                    received, broke = await _copy(resp, fh, received, total, progress, loop)
                finally:
                    resp.release()
                if broke or (total is not None and received < total):
                    raise _incomplete(dest, received, total, broke)
            if total is not None and received > total:
                raise _incomplete(dest, received, total, "more bytes than announced")
            await loop.run_in_executor(None, _sync, fh)
            fh.seek(0)
            if not signature_ok(fh.read(16), dest.suffix):
                raise NotAVideo(
                    f"{dest.name}: the downloaded bytes are not a {dest.suffix} file",
                    name=dest.name,
                )
            os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest


@contextlib.contextmanager
def _locked(part: Path) -> Iterator[BinaryIO]:
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o666)  # a normal file (umask applies)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FileExistsError(f"{part} is being written by another process") from None
    os.ftruncate(fd, 0)
    with os.fdopen(fd, "w+b") as fh:
        yield fh


def _check_type(resp: aiohttp.ClientResponse, dest: Path) -> None:
    kind = (resp.content_type or "").lower()
    if resp.status != 200 or not (kind.startswith("video/") or kind in _FILE_TYPES):
        raise NotAVideo(
            f"{dest.name}: the download answered HTTP {resp.status} {kind or 'no type'}",
            name=dest.name,
            content_type=kind or None,
        )


def _resumed_total(
    resp: aiohttp.ClientResponse, offset: int, dest: Path, total: int | None
) -> int | None:
    """The whole file's size from a 206 that starts at `offset`; else the resume failed."""
    found = _RANGE.match(resp.headers.get("Content-Range", "").strip())
    if resp.status != 206 or found is None or int(found.group(1)) != offset:
        raise _incomplete(dest, offset, total, f"the resume was answered HTTP {resp.status}")
    whole = found.group(3)
    return int(whole) if whole != "*" else total


async def _copy(
    resp: aiohttp.ClientResponse,
    fh: BinaryIO,
    received: int,
    total: int | None,
    progress: DownloadProgress | None,
    loop: asyncio.AbstractEventLoop,
) -> tuple[int, str]:
    """Append the body to `fh`; (bytes so far, why it broke off or "")."""
    try:
        async for chunk in resp.content.iter_chunked(CHUNK):
            await loop.run_in_executor(None, fh.write, chunk)
            received += len(chunk)
            if progress is not None:
                progress(received, total)
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        return received, "stalled"
    except aiohttp.ClientError as exc:
        return received, type(exc).__name__
    return received, ""


def _incomplete(dest: Path, received: int, total: int | None, why: str) -> DownloadIncomplete:
    of = f" of {total}" if total is not None else ""
    return DownloadIncomplete(
        f"download of {dest.name} ended at {received}{of} bytes, also after one resume ({why})",
        name=dest.name,
        got_mb=round(received / 1e6, 1),
        total_mb=round(total / 1e6, 1) if total is not None else None,
    )


def _sync(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())
