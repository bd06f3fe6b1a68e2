"""Streamed upload and safe download, against a real loopback server."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from skill.common import errors
from skill.common.config import Settings, Timings
from skill.wire import protocol as p
from skill.wire import transfer
from skill.wire.attribution import Attribution
from skill.wire.client import NemoClient

TOKEN = "nmv_usr_transfertoken0123"
SID = "sess-9"
SIZE = 5 * 1024 * 1024 + 123  # several chunks, and not a multiple of one


class Recorder:
    def __init__(self) -> None:
        self.digest = ""
        self.size = 0
        self.filename = ""
        self.headers: dict[str, str] = {}

    async def upload(self, request: web.Request) -> web.Response:
        self.headers = dict(request.headers)
        reader = await request.multipart()
        part = await reader.next()
        assert part is not None
        assert part.name == "files"
        self.filename = part.filename or ""
        digest = hashlib.sha256()
        while chunk := await part.read_chunk(1 << 16):
            digest.update(chunk)
            self.size += len(chunk)
        self.digest = digest.hexdigest()
        return web.json_response({"code": 0, "data": [{"name": self.filename, "url": "u"}]})


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[[web.Application], Any]]:
    started: list[tuple[TestServer, NemoClient]] = []

    async def start(app: web.Application) -> NemoClient:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        api = str(server.make_url("")).rstrip("/")
        timings = Timings(retry_attempts=1)
        settings = Settings(api, "http://web", tmp_path / "cfg", env_token=TOKEN, timings=timings)
        client = NemoClient(settings, attribution=Attribution("s", "1", "unknown"))
        started.append((server, client))
        return client

    yield start
    for server, client in started:
        await client.close()
        await server.close()


async def test_upload_streams_the_file_unchanged(serve: Any, tmp_path: Path) -> None:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post(p.upload_path(SID), recorder.upload)
    client = await serve(app)
    source = tmp_path / "clip.mp4"
    source.write_bytes(os.urandom(SIZE))
    progress: list[tuple[int, int]] = []
    (upload,) = await client.upload_file(SID, source, lambda n, t: progress.append((n, t)))
    assert upload.name == "clip.mp4"
    assert (recorder.size, recorder.filename) == (SIZE, "clip.mp4")
    assert recorder.digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert int(recorder.headers["Content-Length"]) > SIZE  # not chunked: the size is known
    assert recorder.headers["Authorization"] == f"Bearer {TOKEN}"
    assert progress[-1] == (SIZE, SIZE)
    assert len(progress) > 2
    assert [n for n, _ in progress] == sorted(n for n, _ in progress)


FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def mp4(size: int = SIZE) -> bytes:
    return FTYP + os.urandom(size - len(FTYP))


class Files:
    """A file server that can misbehave: cut the body, ignore or honour Range, lie."""

    def __init__(
        self,
        payload: bytes,
        *,
        cut_at: int | None = None,
        content_type: str = "video/mp4",
        ranges: bool = True,
        cut_every_time: bool = False,
    ) -> None:
        self.payload, self.cut_at, self.type = payload, cut_at, content_type
        self.ranges, self.cut_every_time = ranges, cut_every_time
        self.requests: list[str | None] = []  # the Range header of each request

    async def get(self, request: web.Request) -> web.StreamResponse:
        rng = request.headers.get("Range")
        self.requests.append(rng)
        start, status = 0, 200
        if rng and self.ranges:
            start, status = int(rng.removeprefix("bytes=").rstrip("-")), 206
        body = self.payload[start:]
        resp = web.StreamResponse(status=status, headers={"Content-Type": self.type})
        if status == 206:
            resp.headers["Content-Range"] = (
                f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}"
            )
        resp.content_length = len(body)
        await resp.prepare(request)
        cut = self.cut_at is not None and (len(self.requests) == 1 or self.cut_every_time)
        await resp.write(body[: self.cut_at] if cut else body)
        if cut:
            assert request.transport is not None
            request.transport.close()
        return resp

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/out.mp4", self.get)
        return app


def file_app(payload: bytes, *, cut_at: int | None = None) -> web.Application:
    return Files(payload, cut_at=cut_at, ranges=False).app()


async def test_download_goes_through_part_then_renames(serve: Any, tmp_path: Path) -> None:
    payload = mp4()
    client = await serve(file_app(payload))
    dest = tmp_path / "exports" / "video.mp4"
    progress: list[tuple[int, int | None]] = []
    await client.download("/out.mp4", dest, lambda n, t: progress.append((n, t)))
    assert dest.read_bytes() == payload
    assert progress[-1] == (SIZE, SIZE)
    assert sorted(f.name for f in dest.parent.iterdir()) == ["video.mp4"]


async def test_a_cut_body_is_resumed_once_with_range(serve: Any, tmp_path: Path) -> None:
    payload = mp4()
    files = Files(payload, cut_at=SIZE // 3)
    client = await serve(files.app())
    dest = await client.download("/out.mp4", tmp_path / "v.mp4")
    assert dest.read_bytes() == payload
    assert files.requests[0] is None and files.requests[1] is not None
    assert files.requests[1].startswith("bytes=") and len(files.requests) == 2


@pytest.mark.parametrize(
    ("files", "error"),
    [
        (Files(mp4(), cut_at=SIZE // 2, ranges=False), errors.DownloadIncomplete),  # 200 again
        (Files(mp4(), cut_at=1000, cut_every_time=True), errors.DownloadIncomplete),  # cut twice
        (
            Files(b"<html><body>Login</body></html>" * 50, content_type="text/html"),
            errors.NotAVideo,
        ),
        (Files(os.urandom(4096), content_type="application/octet-stream"), errors.NotAVideo),
        (Files(b"\x1a\x45\xdf\xa3" + os.urandom(100)), errors.NotAVideo),  # WebM bytes as .mp4
    ],
    ids=["resume-refused", "cut-twice", "html-page", "no-signature", "wrong-signature"],
)
async def test_a_bad_download_is_told_as_what_it_is_and_leaves_nothing(
    serve: Any, tmp_path: Path, files: Files, error: type[Exception]
) -> None:
    client = await serve(files.app())
    dest = tmp_path / "exports" / "video.mp4"
    with pytest.raises(error) as info:
        await client.download("/out.mp4", dest)
    assert list(dest.parent.iterdir()) == []
    assert len(files.requests) <= 2  # at most one resume
    if error is errors.DownloadIncomplete:
        assert info.value.details["total_mb"] == round(SIZE / 1e6, 1)


@pytest.mark.parametrize(
    ("head", "suffix", "ok"),
    [(FTYP, ".mp4", True), (FTYP, ".mov", True), (b"\x00\x00\x00\x08moov", ".mov", True),
     (b"\x00\x00\x00\x08moov", ".mp4", False), (b"\x1a\x45\xdf\xa3", ".webm", True),
     (b"\x1a\x45\xdf\xa3", ".mkv", True), (b"<!DOCTYPE html>", ".mp4", False),
     (b"", ".mp4", False)],
)  # fmt: skip
def test_signatures(head: bytes, suffix: str, ok: bool) -> None:
    assert transfer.signature_ok(head, suffix) is ok


def test_a_part_nobody_holds_is_stale_and_removed(tmp_path: Path) -> None:
    dest = tmp_path / "v.mp4"
    part = transfer.part_path(dest)
    part.write_bytes(b"left by a killed run")
    with part.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert transfer.part_in_use(part) and not transfer.remove_stale_part(dest)
    assert not transfer.part_in_use(part)
    assert transfer.remove_stale_part(dest) and not part.exists()
    assert not transfer.remove_stale_part(dest)  # nothing there: nothing to do
