"""Moving files without holding them in memory: a streamed upload body and a safe download.

Upload: `multipart_file()` builds the `files` form part from a path; the bytes are read
from disk in chunks (in a worker thread) only as the socket takes them, so a 200 MB
file costs one chunk of memory. The body can be rebuilt for a retry because it holds
the path, not an open file.

Download: `save_stream()` writes to `<dest>.part`, fsyncs, checks the length against
Content-Length and renames into place only when complete; on any failure the `.part`
is removed, so `dest` is either the whole file or absent.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from aiohttp.abc import AbstractStreamWriter

from skill.common.errors import ConnectError, RequestTimeout

CHUNK = 256 * 1024

UploadProgress = Callable[[int, int], None]
DownloadProgress = Callable[[int, "int | None"], None]


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


async def save_stream(
    response: aiohttp.ClientResponse, dest: Path, progress: DownloadProgress | None = None
) -> Path:
    """Write the response body to `dest` through `<dest>.part`; return `dest`."""
    total = response.content_length
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    received = 0
    try:
        with part.open("wb") as fh:
            try:
                async for chunk in response.content.iter_chunked(CHUNK):
                    await loop.run_in_executor(None, fh.write, chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(received, total)
            except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
                raise RequestTimeout(f"download of {dest.name} stalled", path=dest.name) from None
            except aiohttp.ClientError as exc:
                raise ConnectError(
                    f"download of {dest.name} broke off after {received} bytes "
                    f"({type(exc).__name__})",
                    path=dest.name,
                ) from None
            if total is not None and received != total:
                raise ConnectError(
                    f"download of {dest.name} ended at {received} of {total} bytes",
                    path=dest.name,
                )
            await loop.run_in_executor(None, _sync, fh)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest


def _sync(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())
