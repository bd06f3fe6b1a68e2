"""Export over plain HTTP: attribution (402), jobs pending → processing → completed or failed,
the download on the CDN listener and the fallback path, both answer shapes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import ATTRIBUTION, FAKE_MP4, GENERATE, Raw, Start

RENDER = "/api/render/proxy/lambda"


async def drafted(raw: Raw) -> tuple[str, str, dict[str, Any]]:
    token, sid = await raw.ready()
    await raw.chat(token, sid, GENERATE)
    return token, sid, (await raw.state(token, sid))["draft"]


def job(render_id: str, sid: str, draft: Any) -> dict[str, Any]:
    return {
        "id": render_id,
        "sessionId": sid,
        "draft": draft,
        "output": {"format": "mp4", "quality": "high"},
    }


async def until_done(raw: Raw, token: str, render_id: str) -> list[dict[str, Any]]:
    seen = []
    for _ in range(500):
        status, body, _ = await raw.call("GET", f"{RENDER}/{render_id}", token)
        assert status == 200 and body["code"] == 0
        seen.append(body)
        if body.get("status", body.get("data", {}).get("status")) in ("completed", "failed"):
            return seen
        await asyncio.sleep(0.01)
    raise AssertionError("the render never finished")


async def test_a_render_completes_and_downloads_from_the_cdn(raw: Raw) -> None:
    token, sid, draft = await drafted(raw)
    before = (await raw.call("GET", "/api/credits/balance/simple", token))[1]["data"]
    status, body, _ = await raw.call(
        "POST", RENDER, token, json=job("render_1", sid, draft), headers=ATTRIBUTION
    )
    assert status == 200 and body["code"] == 0
    assert (body["id"], body["status"], body["output"]["url"]) == ("render_1", "pending", None)
    seen = await until_done(raw, token, "render_1")
    statuses = [s["status"] for s in seen]
    assert statuses[-1] == "completed" and set(statuses) <= {"pending", "processing", "completed"}
    assert all(0 <= s["progress"] <= 1 for s in seen) and seen[-1]["progress"] == 1.0
    url = seen[-1]["output"]["url"]
    assert url.startswith(raw.standin.cdn_url + "/renders/")
    status, video, _ = await raw.call("GET", url)
    assert status == 200 and video.startswith(FAKE_MP4)
    assert json.loads(video[len(FAKE_MP4) :]) == draft
    status, again, _ = await raw.call("GET", "/api/render/proxy/render_1/download", token)
    assert status == 200 and again == video
    after = (await raw.call("GET", "/api/credits/balance/simple", token))[1]["data"]
    assert after == before  # export is free


@pytest.mark.parametrize("missing", list(ATTRIBUTION))
async def test_export_without_attribution_is_402(raw: Raw, missing: str) -> None:
    token, sid, draft = await drafted(raw)
    headers = {k: v for k, v in ATTRIBUTION.items() if k != missing}
    status, body, _ = await raw.call(
        "POST", RENDER, token, json=job("r", sid, draft), headers=headers
    )
    assert (status, body["code"]) == (402, 402) and missing in body["message"]


async def test_bad_render_requests(raw: Raw) -> None:
    token, sid, draft = await drafted(raw)
    cases = [
        (job("r1", sid, {"t": [{"tt": 0, "sg": []}]}), 400, 400),
        (job("r2", sid, None), 400, 400),
        (job("", sid, draft), 400, 400),
        (job("r3", "no-session", draft), 200, 1002),
    ]
    for payload, status_code, code in cases:
        status, body, _ = await raw.call("POST", RENDER, token, json=payload, headers=ATTRIBUTION)
        assert (status, body["code"]) == (status_code, code), payload
    status, body, _ = await raw.call("GET", f"{RENDER}/unknown", token)
    assert (status, body["code"]) == (404, 404)
    status, body, _ = await raw.call("GET", "/api/render/proxy/unknown/download", token)
    assert status == 404


async def test_resubmitting_an_id_answers_the_same_job(raw: Raw) -> None:
    token, sid, draft = await drafted(raw)
    await raw.call("POST", RENDER, token, json=job("same", sid, draft), headers=ATTRIBUTION)
    await until_done(raw, token, "same")
    _, body, _ = await raw.call(
        "POST", RENDER, token, json=job("same", sid, draft), headers=ATTRIBUTION
    )
    assert body["status"] == "completed"
    assert len(raw.standin.world.renders) == 1


async def test_a_renderer_failure_is_a_failed_job(
    start: Start, http: aiohttp.ClientSession
) -> None:
    async def broken(draft: Any, out_path: Path, **kw: Any) -> None:
        raise RuntimeError("ffmpeg exploded")

    raw = Raw(http, await start(renderer=broken))
    token, sid, draft = await drafted(raw)
    await raw.call("POST", RENDER, token, json=job("r", sid, draft), headers=ATTRIBUTION)
    last = (await until_done(raw, token, "r"))[-1]
    assert last["status"] == "failed" and "ffmpeg exploded" in last["error"]
    assert last["output"]["url"] is None
    status, _, _ = await raw.call("GET", "/api/render/proxy/r/download", token)
    assert status == 409


async def test_the_renderer_gets_media_resolved_to_local_files(raw: Raw) -> None:
    token, sid = await raw.ready()
    data = aiohttp.FormData()
    data.add_field("files", b"\xff\xd8photo", filename="me.jpg")
    await raw.call("POST", f"/api/upload-video/nemo_agent/me/{sid}", token, data=data)
    await raw.chat(token, sid, "generate a 5-second video from this photo")
    draft = (await raw.state(token, sid))["draft"]
    urls = [s["m"]["url"] for t in draft["t"] for s in t["sg"] if "url" in s["m"]]
    assert len(urls) == 2  # the photo and the sample music, both on the CDN
    for url in urls:
        assert raw.standin.world.resolve(url) is not None
    assert raw.standin.world.resolve("http://example.com/media/x/y.jpg") is None
    await raw.call("POST", RENDER, token, json=job("r", sid, draft), headers=ATTRIBUTION)
    assert (await until_done(raw, token, "r"))[-1]["status"] == "completed"
