"""Every scenario option, seen over plain HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from .conftest import ATTRIBUTION, GENERATE, Raw, Start, events, frames, texts

Call = Callable[[Raw, str, str], Awaitable[tuple[int, Any, Any]]]
CHAT = {"app_name": "nemo_agent", "user_id": "me"}


def chat_body(sid: str, text: str = "hello") -> dict[str, Any]:
    return CHAT | {"session_id": sid, "new_message": {"parts": [{"text": text}]}}


async def upload(raw: Raw, token: str, sid: str) -> tuple[int, Any, Any]:
    data = aiohttp.FormData()
    data.add_field("files", b"x", filename="a.mp4")
    return await raw.call("POST", f"/api/upload-video/nemo_agent/me/{sid}", token, data=data)


async def render(raw: Raw, token: str, sid: str) -> tuple[int, Any, Any]:
    draft = {"t": [{"tt": 0, "sg": [{"s": 0, "d": 1000, "m": {"kind": "synthetic"}}]}]}
    payload = {"id": "r1", "sessionId": sid, "draft": draft}
    return await raw.call(
        "POST", "/api/render/proxy/lambda", token, json=payload, headers=ATTRIBUTION
    )


ENDPOINTS: dict[str, Call] = {
    "anonymous_token": lambda r, t, s: r.call(
        "POST", "/api/auth/anonymous-token", headers={"X-Client-Id": "other"}
    ),
    "create_session": lambda r, t, s: r.call("POST", "/api/tasks/me/with-session/nemo_agent", t),
    "chat": lambda r, t, s: r.call("POST", "/run_sse", t, json=chat_body(s)),
    "upload": upload,
    "credits": lambda r, t, s: r.call("GET", "/api/credits/balance/simple", t),
    "state": lambda r, t, s: r.call("GET", f"/api/state/nemo_agent/me/{s}/latest", t),
    "render_submit": render,
    "render_status": lambda r, t, s: r.call("GET", "/api/render/proxy/lambda/r1", t),
    "download": lambda r, t, s: r.call("GET", "/api/render/proxy/r1/download", t),
    "claim_token": lambda r, t, s: r.call(
        "POST", "/api/auth/claim-token", t, json={"session_id": s}
    ),
    "media": lambda r, t, s: r.call("GET", f"{r.standin.cdn_url}/media/sample/sample-photo.jpg"),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_any_endpoint_answers_any_error_for_its_next_calls(
    start: Start, http: aiohttp.ClientSession, endpoint: str
) -> None:
    setup = 1 if endpoint in ("anonymous_token", "create_session") else 0  # by raw.ready()
    faults = [
        {"endpoint": endpoint, "status": 503, "times": 2, "after": setup},
        {"endpoint": endpoint, "code": 4002},
    ]
    raw = Raw(http, await start({"faults": faults}))
    token, sid = await raw.ready()
    if endpoint in ("render_status", "download"):
        await render(raw, token, sid)
        for _ in range(500):
            if raw.standin.world.renders["r1"].status == "completed":
                break
            await asyncio.sleep(0.01)
    call = ENDPOINTS[endpoint]
    for _ in range(2):
        status, body, headers = await call(raw, token, sid)
        assert (status, body["code"]) == (503, 503) and "stand-in scenario" in body["message"]
        assert "X-Request-Id" in headers
    status, body, _ = await call(raw, token, sid)
    assert (status, body["code"]) == (200, 4002) and body["message"].startswith("File too large")
    status, body, _ = await call(raw, token, sid)
    assert status == 200 and (not isinstance(body, dict) or body.get("code", 0) == 0)


async def test_a_fault_after_some_calls_with_retry_after(
    start: Start, http: aiohttp.ClientSession
) -> None:
    fault = {"endpoint": "credits", "status": 429, "after": 1, "retry_after": 2, "message": "Slow!"}
    raw = Raw(http, await start({"faults": [fault]}))
    token = await raw.token()
    first = await raw.call("GET", "/api/credits/balance/simple", token)
    second = await raw.call("GET", "/api/credits/balance/simple", token)
    assert first[0] == 200 and second[0] == 429
    assert second[1] == {"code": 429, "message": "Slow! (stand-in scenario)"}
    assert second[2]["Retry-After"] == "2"


async def test_the_token_expires_after_some_calls(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start({"expire_token_after": 2}))
    token, sid = await raw.ready()  # the session call is authenticated call 1
    assert (await raw.call("GET", "/api/credits/balance/simple", token))[1]["code"] == 0
    assert (await raw.call("GET", "/api/credits/balance/simple", token))[1]["code"] == 1001
    assert (await raw.call("GET", "/api/credits/balance/simple", token))[1]["code"] == 1001
    renewed = await raw.token()  # same client id: allowed, the old token is dead
    assert (await raw.state(renewed, sid))["draft"] is None


async def test_the_session_is_lost_after_some_calls(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start({"lose_session_after": 1}))
    token, sid = await raw.ready()
    await raw.state(token, sid)
    status, body, _ = await raw.call("GET", f"/api/state/nemo_agent/me/{sid}/latest", token)
    assert body["code"] == 1002
    status, body, _ = await raw.call("POST", "/run_sse", token, json=chat_body(sid))
    assert (status, body) == (404, {"detail": f"Session not found: {sid}"})


async def test_every_response_is_slowed(start: Start, http: aiohttp.ClientSession) -> None:
    raw = Raw(http, await start({"delay_ms": 150}))
    began = time.monotonic()
    await raw.token()
    assert time.monotonic() - began >= 0.15


async def test_the_stream_drops_but_the_turn_finishes(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start({"stream": {"drop_after_events": 3, "times": 1}}))
    token, sid = await raw.ready()
    got: list[bytes] = []

    async def read_all() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(
            raw.base + "/run_sse", json=chat_body(sid, GENERATE), headers=headers
        ) as resp:
            async for chunk in resp.content.iter_any():
                got.append(chunk)

    with pytest.raises(aiohttp.ClientPayloadError):
        await read_all()
    assert len(events(b"".join(got))) == 3
    for _ in range(200):
        if (await raw.state(token, sid))["timeline_version"] == 2:
            break
        await asyncio.sleep(0.02)
    assert (await raw.state(token, sid))["timeline_version"] == 2
    assert texts(await raw.chat(token, sid, "hello"))  # only the next `times` turns drop


@pytest.mark.parametrize(
    ("style", "beat"),
    [("empty", b"data:"), ("comment", b": ping"), ("event", b'data: {"type":"heartbeat"}')],
)
async def test_a_stall_is_heartbeats_only(
    start: Start, http: aiohttp.ClientSession, style: str, beat: bytes
) -> None:
    raw = Raw(http, await start({"stream": {"stall": True, "heartbeat": style}}))
    token, sid = await raw.ready()
    async with http.post(
        raw.base + "/run_sse",
        json=chat_body(sid, GENERATE),
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        seen = [await resp.content.readuntil(b"\n\n") for _ in range(4)]
    assert seen == [beat + b"\n\n"] * 4
    assert (await raw.state(token, sid))["timeline_version"] == 0
    _, body, _ = await raw.call("GET", "/api/credits/balance/simple", token)
    assert body["data"]["available"] == 100


async def test_malformed_and_oversized_frames(start: Start, http: aiohttp.ClientSession) -> None:
    stream = {"malformed_frame": True, "oversized_frame_bytes": 300_000}
    raw = Raw(http, await start({"stream": stream}))
    token, sid = await raw.ready()
    got = frames(await raw.chat(token, sid, GENERATE))
    bad = [f for f in got if f.startswith(b"data: {") and not _is_json(f[6:])]
    assert len(bad) == 1 and got.index(bad[0]) == 1
    big = [f for f in got if len(f) > 250_000]
    assert len(big) == 1 and _is_json(big[0][6:])
    assert (await raw.state(token, sid))["timeline_version"] == 2


@pytest.mark.parametrize("shape", ["2.x", "1.x"])
async def test_an_error_frame_mid_stream(
    start: Start, http: aiohttp.ClientSession, shape: str
) -> None:
    raw = Raw(http, await start({"stream": {"error_frame": shape, "error_after_events": 2}}))
    token, sid = await raw.ready()
    got = frames(await raw.chat(token, sid, GENERATE))
    last = json.loads(got[-1][6:])
    assert "error" in last and got[-1].startswith(b'data: {"error": ')
    if shape == "2.x":
        assert json.loads(got[-2][6:])["errorCode"] == "RuntimeError"
        assert len(got) == 4
    else:
        assert len(got) == 3
    _, body, _ = await raw.call("GET", "/api/credits/balance/simple", token)
    assert body["data"] == {"available": 100, "frozen": 0, "total": 100}  # given back


async def test_a_trailing_temporary_issue(start: Start, http: aiohttp.ClientSession) -> None:
    raw = Raw(http, await start({"stream": {"trailing_issue": True}}))
    token, sid = await raw.ready()
    said = texts(await raw.chat(token, sid, GENERATE))
    assert said[-1] == "I encountered a temporary issue. Please try again."
    assert (await raw.state(token, sid))["timeline_version"] == 2


async def test_renders_fail_then_succeed_in_the_legacy_shape(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start({"render": {"fail_next": 1, "legacy_shape": True}}))
    token, sid = await raw.ready()
    results = []
    for render_id in ("r1", "r2"):
        draft = {"t": [{"tt": 0, "sg": [{"s": 0, "d": 1000, "m": {"kind": "synthetic"}}]}]}
        payload = {"id": render_id, "sessionId": sid, "draft": draft}
        _, body, _ = await raw.call(
            "POST", "/api/render/proxy/lambda", token, json=payload, headers=ATTRIBUTION
        )
        assert "status" not in body and body["data"]["status"] == "pending"
        for _ in range(300):
            _, body, _ = await raw.call("GET", f"/api/render/proxy/lambda/{render_id}", token)
            if body["data"]["status"] in ("completed", "failed"):
                break
            await asyncio.sleep(0.01)
        results.append(body["data"])
    assert results[0]["status"] == "failed" and "scenario" in results[0]["error"]
    assert results[0]["outputUrl"] is None
    assert results[1]["status"] == "completed"
    assert results[1]["outputUrl"].startswith(raw.standin.cdn_url)


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True
