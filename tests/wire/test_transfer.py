"""Streamed upload and safe download, against a real loopback server."""

from __future__ import annotations

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


def file_app(payload: bytes, *, cut_at: int | None = None) -> web.Application:
    async def download(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        resp.content_length = len(payload)
        await resp.prepare(request)
        await resp.write(payload[:cut_at] if cut_at is not None else payload)
        if cut_at is not None:
            assert request.transport is not None
            request.transport.close()
        return resp

    app = web.Application()
    app.router.add_get("/out.mp4", download)
    return app


async def test_download_goes_through_part_then_renames(serve: Any, tmp_path: Path) -> None:
    payload = os.urandom(SIZE)
    client = await serve(file_app(payload))
    dest = tmp_path / "exports" / "video.mp4"
    progress: list[tuple[int, int | None]] = []
    await client.download("/out.mp4", dest, lambda n, t: progress.append((n, t)))
    assert dest.read_bytes() == payload
    assert progress[-1] == (SIZE, SIZE)
    assert sorted(f.name for f in dest.parent.iterdir()) == ["video.mp4"]


async def test_an_interrupted_download_leaves_nothing_at_dest(serve: Any, tmp_path: Path) -> None:
    client = await serve(file_app(os.urandom(SIZE), cut_at=SIZE // 2))
    dest = tmp_path / "exports" / "video.mp4"
    with pytest.raises(errors.ConnectError):
        await client.download("/out.mp4", dest)
    assert list(dest.parent.iterdir()) == []
