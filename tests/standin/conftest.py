"""Fixtures for the stand-in's tests: a started stand-in, and plain HTTP to talk to it.

These tests speak raw HTTP with aiohttp and parse answers here, never through
skill/wire/client.py or skill/wire/sse.py: a parsing bug shared by client and stand-in would
otherwise hide on both sides.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from skill.standin import RunningStandin, start_standin

FAST: dict[str, Any] = {
    "timing": {
        "heartbeat": 0.05,
        "generate": 0.15,
        "edit": 0.02,
        "frame_gap": 0,
        "render_queue": 0.02,
        "stall_max": 5,
    }
}
ATTRIBUTION = {
    "X-Skill-Source": "ai-video-generator-free-leonardo",
    "X-Skill-Version": "1.0.0",
    "X-Skill-Platform": "unknown",
}
GENERATE = "generate a 12-second video of a beach at sunset"
FAKE_MP4 = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00FAKE-MP4 "  # an ftyp box, then a marker


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


async def fake_renderer(
    draft: Mapping[str, Any],
    out_path: Path,
    *,
    resolve: Callable[[str], Path | None],
    progress: Callable[[float], None] | None = None,
    sample_music: Path | None = None,
) -> None:
    """Writes the draft as the 'video', after checking every media URL resolves."""
    for track in draft["t"]:
        for seg in track["sg"]:
            url = seg["m"].get("url")
            if url and resolve(url) is None:
                raise RuntimeError(f"cannot resolve {url}")
    if progress:
        progress(0.5)
    await asyncio.to_thread(out_path.write_bytes, FAKE_MP4 + json.dumps(draft).encode())


Start = Callable[..., Awaitable[RunningStandin]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """start(scenario=None, **kw): a stand-in with fast timings and the fake renderer."""
    running: list[RunningStandin] = []

    async def _start(scenario: Mapping[str, Any] | None = None, **kw: Any) -> RunningStandin:
        kw.setdefault("renderer", fake_renderer)
        kw.setdefault("data_dir", tmp_path / f"standin-{len(running)}")
        standin = await start_standin(scenario=merged(FAST, scenario or {}), **kw)
        running.append(standin)
        return standin

    yield _start
    for standin in running:
        await standin.close()


class Raw:
    """Plain HTTP against one stand-in; answers as (status, parsed JSON body, headers)."""

    def __init__(self, http: aiohttp.ClientSession, standin: RunningStandin) -> None:
        self.http, self.standin, self.base = http, standin, standin.api_url

    async def call(
        self, method: str, path: str, token: str | None = None, **kw: Any
    ) -> tuple[int, Any, Mapping[str, str]]:
        headers = dict(kw.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("http") else self.base + path
        async with self.http.request(method, url, headers=headers, **kw) as resp:
            raw = await resp.read()
            body = json.loads(raw) if resp.content_type == "application/json" else raw
            return resp.status, body, resp.headers

    async def token(self, client_id: str = "client-1") -> str:
        status, body, _ = await self.call(
            "POST", "/api/auth/anonymous-token", headers={"X-Client-Id": client_id}
        )
        assert status == 200 and body["code"] == 0, body
        return str(body["data"]["token"])

    async def session(self, token: str) -> str:
        status, body, _ = await self.call(
            "POST",
            "/api/tasks/me/with-session/nemo_agent",
            token,
            json={"task_name": "project", "language": "en"},
        )
        assert status == 200 and body["code"] == 0, body
        return str(body["data"]["session_id"])

    async def ready(self, client_id: str = "client-1") -> tuple[str, str]:
        token = await self.token(client_id)
        return token, await self.session(token)

    async def chat(self, token: str, sid: str, text: str, **extra: Any) -> bytes:
        """The whole raw stream of one turn (raises if it breaks off)."""
        body = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": sid,
            "new_message": {"parts": [{"text": text}]},
            **extra,
        }
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        async with self.http.post(self.base + "/run_sse", json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.content_type == "text/event-stream"
            return await resp.read()

    async def state(self, token: str, sid: str) -> dict[str, Any]:
        status, body, _ = await self.call("GET", f"/api/state/nemo_agent/me/{sid}/latest", token)
        assert status == 200 and body["code"] == 0, body
        return dict(body["data"]["state"])


@pytest.fixture
async def raw(start: Start) -> AsyncIterator[Raw]:
    """Raw HTTP against a default stand-in (fast timings, fake renderer)."""
    standin = await start()
    async with aiohttp.ClientSession() as http:
        yield Raw(http, standin)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def frames(stream: bytes) -> list[bytes]:
    """The stream cut into frames (each ended by a blank line, which is dropped)."""
    assert stream.endswith(b"\n\n") or not stream, stream[-80:]
    return stream.split(b"\n\n")[:-1]


def events(stream: bytes) -> list[dict[str, Any]]:
    """Every JSON frame, decoded; heartbeats and comments left out."""
    out = []
    for f in frames(stream):
        if f.startswith(b"data: {"):
            out.append(json.loads(f[len(b"data: ") :]))
    return out


def texts(stream: bytes) -> list[str]:
    """The aggregate (non-partial) model texts of a turn, in order."""
    found = []
    for event in events(stream):
        content = event.get("content") or {}
        if content.get("role") != "model" or event.get("partial") is True:
            continue
        found += [p["text"] for p in content["parts"] if "text" in p]
    return found
