"""A recording reverse proxy on loopback, in front of the real backend (cloud or stand-in).

The runtime's client is pointed at the proxy's address; each request is forwarded
upstream as it came and both sides are kept byte for byte (`Raw`), an event stream
with each piece's arrival time. Absolute URLs in answers that point at other hosts
(a CDN's download URL, the stand-in's media port) are rewritten to further listeners
of this proxy, one per host, so that a download passes through it too and keeps
going to "another host" (no Authorization, no attribution headers); in request bodies
they are rewritten back before going upstream. Links to the web app are left alone.

With `seed` (the transcript's path), each listener first tries a port derived from the
seed and its upstream, so the rewritten URLs stay the same from one recorded turn to the
next: a draft that did not change reads the same (the export flow keys renders by it).

How an exchange ended: `close` (the server finished), `drop` (the upstream connection
broke: the proxy breaks the runtime's connection the same way) or `client` (the
runtime stopped reading, or was still reading when the turn ended).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from yarl import URL

from skill.transcripts.capture import body_kind

_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
        "content-encoding", "accept-encoding", "date", "server", "upgrade"}  # fmt: skip
# An absolute URL's origin, with any userinfo (user:password@) kept apart.
_ORIGIN = re.compile(
    rb"(https?://)(?:([^/\s\"'<>@]+)@)?(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+(?::\d+)?)"
)


def origin(url: str) -> str:
    return str(URL(url).origin())


@dataclass
class Raw:
    """One exchange as it passed through the proxy."""

    method: str
    upstream: str  # the origin it went to
    path_qs: str
    headers: dict[str, str]
    body: bytes = b""
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    chunks: list[tuple[float, bytes]] | None = None  # an event stream: (loop time, bytes)
    started: float = 0.0
    wall: float = 0.0
    end: str = "close"
    done: bool = False


class RecordingProxy:
    def __init__(self, api_url: str, *, leave: tuple[str, ...] = (), seed: str = "") -> None:
        self.api = origin(api_url)
        self._seed = seed
        self._api_path = URL(api_url).path.rstrip("/")
        self._leave = {origin(u).encode() for u in leave}
        self.exchanges: list[Raw] = []
        self.listeners: dict[str, str] = {}  # upstream origin -> proxy origin
        self._runners: list[web.AppRunner] = []
        self._tasks: set[asyncio.Task[object]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> str:
        """Listen on loopback; the API's URL through the proxy."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return await self._listener(self.api) + self._api_path

    async def close(self) -> list[Raw]:
        """Stop; exchanges still streaming end as `client`. Returns every exchange."""
        for raw in self.exchanges:
            if not raw.done:
                raw.end = "client"
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for runner in self._runners:
            await runner.cleanup()
        if self._http is not None:
            await self._http.close()
        return self.exchanges

    async def _listener(self, upstream: str) -> str:
        async with self._lock:
            if upstream in self.listeners:
                return self.listeners[upstream]
            app = web.Application(client_max_size=1024**3)

            async def handle(request: web.Request) -> web.StreamResponse:
                return await self._handle(request, upstream)

            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            self._runners.append(runner)
            try:
                site = web.TCPSite(runner, "127.0.0.1", self._port(upstream))
                await site.start()
            except OSError:  # the seeded port is taken: any free one
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
            port = runner.addresses[0][1]
            self.listeners[upstream] = f"http://127.0.0.1:{port}"
            return self.listeners[upstream]

    def _port(self, upstream: str) -> int:
        if not self._seed:
            return 0
        digest = hashlib.sha256(f"{self._seed}|{upstream}".encode()).digest()
        return 20000 + int.from_bytes(digest[:4], "big") % 20000

    async def _handle(self, request: web.Request, upstream: str) -> web.StreamResponse:
        raw = Raw(request.method, upstream, request.path_qs, dict(request.headers))
        self.exchanges.append(raw)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            raw.body = await request.read()
            return await self._forward(request, raw)
        finally:
            self._tasks.discard(task)
            raw.done = True

    async def _forward(self, request: web.Request, raw: Raw) -> web.StreamResponse:
        assert self._http is not None
        headers = {k: v for k, v in raw.headers.items() if k.lower() not in _HOP}
        headers["Accept-Encoding"] = "identity"
        loop = asyncio.get_running_loop()
        try:
            up = await self._http.request(
                raw.method, raw.upstream + raw.path_qs, headers=headers,
                data=self._to_upstream(raw.body) or None, allow_redirects=False,
            )  # fmt: skip
        except aiohttp.ClientError:
            return _drop(request, raw)
        async with up:
            raw.status, raw.wall = up.status, time.time()
            raw.response_headers = dict(up.headers)
            kept = {k: v for k, v in up.headers.items() if k.lower() not in _HOP}
            kind = body_kind(up.headers.get("Content-Type", ""))
            if kind != "sse":
                try:
                    raw.response_body = await up.read()
                except aiohttp.ClientError:
                    return _drop(request, raw)
                body = raw.response_body
                body = await self._to_proxy(body) if kind in ("json", "text") else body
                return web.Response(status=up.status, headers=kept, body=body)
            raw.chunks, raw.started = [], loop.time()
            response = web.StreamResponse(status=up.status, headers=kept)
            await response.prepare(request)
            stream = up.content.iter_any()
            while True:
                try:
                    data = await stream.__anext__()
                except StopAsyncIteration:
                    break
                except aiohttp.ClientError:  # the upstream broke
                    return _drop(request, raw)
                try:
                    await response.write(await self._to_proxy(data))
                except ConnectionError:  # the runtime stopped reading
                    raw.end = "client"
                    return response
                raw.chunks.append((loop.time(), data))
            await response.write_eof()
            return response

    async def _to_proxy(self, data: bytes) -> bytes:
        for found in {m.group(0): m.groups() for m in _ORIGIN.finditer(data)}.items():
            whole, (scheme, userinfo, host) = found
            theirs = (scheme + host).decode()
            if theirs.encode() in self._leave or theirs in self.listeners.values():
                continue
            ours = (await self._listener(theirs)).encode()
            if userinfo:  # kept on the rewritten URL: the client sends it on as it would
                ours = ours.replace(b"://", b"://" + userinfo + b"@", 1)
            data = re.sub(re.escape(whole) + rb"(?![0-9])", ours, data)
        return data

    def _to_upstream(self, data: bytes) -> bytes:
        for theirs, ours in self.listeners.items():
            data = re.sub(re.escape(ours.encode()) + rb"(?![0-9])", theirs.encode(), data)
        return data


def _drop(request: web.Request, raw: Raw) -> web.StreamResponse:
    """Break the runtime's connection, as the upstream one broke."""
    raw.end = "drop"
    if request.transport is not None:
        request.transport.close()
    return web.Response()
