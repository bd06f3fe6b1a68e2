"""Uploads over plain HTTP: multipart streamed to disk, by loopback URL, and the limits."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp

from .conftest import Raw, Start

SAMPLE_PHOTO = Path(__file__).resolve().parents[2] / "skill/standin/media/sample-photo.jpg"


def upload_path(sid: str) -> str:
    return f"/api/upload-video/nemo_agent/me/{sid}"


def form(*files: tuple[str, bytes]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("note", "ignored")
    for name, content in files:
        data.add_field("files", content, filename=name, content_type="application/octet-stream")
    return data


def stored(raw: Raw) -> list[Path]:
    media = raw.standin.world.data_dir / "media"
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


async def test_a_several_megabyte_file_is_stored_and_served_by_the_cdn(raw: Raw) -> None:
    token, sid = await raw.ready()
    content = os.urandom(6 * 1024 * 1024 + 123)
    status, body, _ = await raw.call(
        "POST", upload_path(sid), token, data=form(("clip.mp4", content))
    )
    assert status == 200 and body["code"] == 0, body
    (info,) = body["data"]["files"]
    assert (info["name"], info["type"], info["size"]) == ("clip.mp4", "video", len(content))
    assert info["url"].startswith(raw.standin.cdn_url + "/media/")
    assert raw.standin.cdn_url != raw.standin.api_url
    status, served, _ = await raw.call("GET", info["url"])
    assert status == 200 and served == content
    status, part, _ = await raw.call("GET", info["url"], headers={"Range": "bytes=10-19"})
    assert status == 206 and part == content[10:20]
    state = await raw.state(token, sid)
    assert state["video_infos"] == [info]


async def test_several_files_in_one_request(raw: Raw) -> None:
    token, sid = await raw.ready()
    files = (("a.png", b"png"), ("b.m4a", b"m4a"), ("c.WEBM", b"webm"))
    _, body, _ = await raw.call("POST", upload_path(sid), token, data=form(*files))
    assert [f["type"] for f in body["data"]["files"]] == ["image", "audio", "video"]


async def test_an_unsupported_type_is_4001_and_nothing_is_kept(raw: Raw) -> None:
    token, sid = await raw.ready()
    data = form(("ok.jpg", b"jpg"), ("notes.txt", b"hello"))
    status, body, _ = await raw.call("POST", upload_path(sid), token, data=data)
    assert (status, body["code"]) == (200, 4001)
    assert "notes.txt" in body["message"] and "mp4" in body["message"]
    assert stored(raw) == []
    assert (await raw.state(token, sid))["video_infos"] == []


async def test_a_file_over_the_limit_is_4002_and_discarded(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start(max_upload_bytes=1024 * 1024))
    token, sid = await raw.ready()
    data = form(("big.mp4", b"x" * (2 * 1024 * 1024)))
    status, body, _ = await raw.call("POST", upload_path(sid), token, data=data)
    assert (status, body["code"]) == (200, 4002) and "big.mp4" in body["message"]
    assert stored(raw) == []
    status, body, _ = await raw.call("POST", upload_path(sid), token, data=form(("s.mp4", b"x")))
    assert body["code"] == 0  # the connection and the stand-in are fine afterwards


async def test_upload_by_loopback_url(raw: Raw) -> None:
    token, sid = await raw.ready()
    url = f"{raw.standin.cdn_url}/media/sample/sample-photo.jpg"
    body_json = {"urls": [url], "source_type": "url"}
    status, body, _ = await raw.call("POST", upload_path(sid), token, json=body_json)
    assert status == 200 and body["code"] == 0, body
    (info,) = body["data"]["files"]
    assert (info["name"], info["type"]) == ("sample-photo.jpg", "image")
    _, served, _ = await raw.call("GET", info["url"])
    assert served == SAMPLE_PHOTO.read_bytes()


async def test_other_hosts_are_refused_honestly(raw: Raw) -> None:
    token, sid = await raw.ready()
    for url in ("https://example.com/a.mp4", "file:///etc/passwd"):
        body_json = {"urls": [url], "source_type": "url"}
        status, body, _ = await raw.call("POST", upload_path(sid), token, json=body_json)
        assert (status, body["code"]) == (400, 400) and "offline" in body["message"]
    url = f"{raw.standin.cdn_url}/media/sample/nothing.mp4"
    status, body, _ = await raw.call(
        "POST", upload_path(sid), token, json={"urls": [url], "source_type": "url"}
    )
    assert status == 400 and "HTTP 404" in body["message"]
    status, body, _ = await raw.call(
        "POST", upload_path(sid), token, json={"urls": [f"{raw.standin.cdn_url}/x.exe"]}
    )
    assert body["code"] == 4001
    assert stored(raw) == []


async def test_bad_upload_requests(raw: Raw) -> None:
    token, sid = await raw.ready()
    status, body, _ = await raw.call("POST", upload_path(sid), token, json={"urls": "x"})
    assert status == 400
    status, body, _ = await raw.call("POST", upload_path(sid), token, data=b"raw bytes")
    assert status == 400 and "multipart" in body["message"]
    status, body, _ = await raw.call("POST", upload_path(sid), token, data=form())
    assert status == 400 and "files" in body["message"]
    status, body, _ = await raw.call("POST", upload_path("nope"), token, data=form(("a.mp4", b"")))
    assert body["code"] == 1002
