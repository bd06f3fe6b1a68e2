"""`POST /api/upload-video/nemo_agent/me/<sid>`: files (multipart) and URLs, to disk.

A multipart body is read part by part and chunk by chunk straight into a file, so a
200 MB upload costs one chunk of memory. The field is `files` (several allowed). A
name whose extension is not accepted answers code 4001 before its bytes are read; a
file over 200 MB answers 4002 as soon as it passes the limit, and what was written is
deleted. Nothing of a failed request is kept.

By URL (`{"urls": [...], "source_type": "url"}`): the stand-in is offline, so it only
fetches URLs on this machine (loopback), streamed to disk with the same checks; any
other host gets an honest HTTP 400 saying so.

The answer: `data.files`, one `{id, name, url, type, size}` per file, the url on the
CDN listener.
"""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp import web

from skill.wire import protocol as p

from .context import WORLD
from .envelope import Failure, ok
from .store import SessionRecord, World, extension

CHUNK = 256 * 1024
ACCEPTED = ", ".join(p.ACCEPTED_EXTENSIONS)


async def upload(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    account = world.authenticate(request.headers.get("Authorization"))
    session = world.session(request.match_info["sid"], account)
    saved: list[tuple[str, Path, str]] = []
    try:
        if request.content_type.startswith("multipart/"):
            await _receive(request, world, saved)
        elif request.content_type == "application/json":
            await _fetch(await _urls(request), world, saved)
        else:
            raise Failure(
                "Send multipart/form-data with the field 'files', or JSON "
                '{"urls": [...], "source_type": "url"}.',
                status=400,
            )
    except BaseException:
        for _, path, _ in saved:
            _discard(path)
        raise
    return ok({"files": [_register(world, session, *item) for item in saved]})


def _register(world: World, session: SessionRecord, media_id: str, path: Path, name: str) -> Any:
    return world.add_media(session, media_id, path, name).info()


async def _receive(request: web.Request, world: World, saved: list[tuple[str, Path, str]]) -> None:
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader) or part.name != "files":
            continue  # other fields, nested multiparts: not part of the contract
        name = part.filename or "upload"
        _check_type(name)
        media_id, path = world.new_media_path(name)
        saved.append((media_id, path, name))
        with path.open("wb") as out:
            size = 0
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > world.max_upload:
                    raise _too_large(name, world.max_upload)
                out.write(chunk)
    if not saved:
        raise Failure("No file in the request: send it in the multipart field 'files'.", status=400)


async def _urls(request: web.Request) -> list[str]:
    try:
        doc = await request.json()
    except ValueError:
        doc = None
    urls = doc.get("urls") if isinstance(doc, dict) else None
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise Failure('Send {"urls": ["<url>", ...], "source_type": "url"}.', status=400)
    return urls


async def _fetch(urls: list[str], world: World, saved: list[tuple[str, Path, str]]) -> None:
    timeout = aiohttp.ClientTimeout(total=600, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not is_loopback(parts.hostname or ""):
                raise Failure(
                    f"The local stand-in is offline and can only fetch URLs on this machine "
                    f"(127.0.0.1 or localhost), not {parts.hostname or url!r}. Download the "
                    "file and upload it instead.",
                    status=400,
                )
            name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or "download"
            _check_type(name)
            media_id, path = world.new_media_path(name)
            saved.append((media_id, path, name))
            try:
                async with http.get(url) as resp:
                    if resp.status != 200:
                        raise Failure(f"Could not fetch {url}: HTTP {resp.status}.", status=400)
                    with path.open("wb") as out:
                        size = 0
                        async for chunk in resp.content.iter_chunked(CHUNK):
                            size += len(chunk)
                            if size > world.max_upload:
                                raise _too_large(name, world.max_upload)
                            out.write(chunk)
            except aiohttp.ClientError as exc:
                raise Failure(f"Could not fetch {url}: {exc}.", status=400) from None


def _check_type(name: str) -> None:
    if extension(name) not in p.ACCEPTED_EXTENSIONS:
        raise Failure(f"Unsupported file type: {name!r}. Accepted formats: {ACCEPTED}.", code=4001)


def _too_large(name: str, limit: int) -> Failure:
    return Failure(f"File too large: {name!r} is over {limit / 2**20:g} MB.", code=4002)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
    with contextlib.suppress(OSError):
        path.parent.rmdir()
