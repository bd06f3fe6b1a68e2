"""skill/wire/client.py against the stand-in: every endpoint, and every error code through a
scenario. The stand-in parses requests on its own (no shared code), so a misreading of
the contract by either side shows up here."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from skill.common import errors
from skill.common.config import Settings, Timings
from skill.standin import RunningStandin
from skill.wire.attribution import Attribution
from skill.wire.client import NemoClient
from skill.wire.protocol import RenderJob

from .conftest import FAKE_MP4, GENERATE, Start

TIMINGS = Timings(request_timeout=5, rate_limit_wait=0.01, retry_base=0.001, retry_attempts=3)
ATTRIBUTION = Attribution("ai-video-generator-free-leonardo", "1.0.0", "unknown")
Connect = Callable[..., Awaitable[NemoClient]]
ClientFor = Callable[..., NemoClient]


@pytest.fixture
async def client_for(tmp_path: Path) -> AsyncIterator[ClientFor]:
    """client_for(standin, config="config", attribution=..., timings=...): a NemoClient on it."""
    clients: list[NemoClient] = []

    def _client_for(
        standin: RunningStandin,
        *,
        config: str = "config",
        attribution: Attribution = ATTRIBUTION,
        timings: Timings = TIMINGS,
        client_id: str | None = None,
    ) -> NemoClient:
        env = {"NEMO_API_URL": standin.api_url, "NEMO_CONFIG_DIR": str(tmp_path / config)}
        if client_id:
            env["NEMO_CLIENT_ID"] = client_id
        settings = replace(Settings.from_env(env), timings=timings)
        clients.append(NemoClient(settings, attribution=attribution))
        return clients[-1]

    yield _client_for
    for client in clients:
        await client.close()


@pytest.fixture
def connect(start: Start, client_for: ClientFor) -> Connect:
    """connect(scenario=None, **kw): a stand-in (kw: start_standin's) and a client on it."""

    async def _connect(scenario: Mapping[str, Any] | None = None, **kw: Any) -> NemoClient:
        client_kw = {k: kw.pop(k) for k in ("attribution", "timings") if k in kw}
        return client_for(await start(scenario, **kw), **client_kw)

    return _connect


async def turn(client: NemoClient, sid: str, text: str) -> list[dict[str, Any]]:
    """The decoded JSON of one turn's events (heartbeats left out)."""
    return [json.loads(e.data) async for e in client.chat(sid, text) if e.data.strip()]


async def finished(client: NemoClient, render_id: str) -> RenderJob:
    for _ in range(500):
        job = await client.render_status(render_id)
        if job.done:
            return job
        await asyncio.sleep(0.01)
    raise AssertionError("the render never finished")


async def test_every_endpoint(start: Start, client_for: ClientFor, tmp_path: Path) -> None:
    standin = await start()
    client = client_for(standin)
    token = await client.ensure_token()
    assert token.startswith("nmv_usr_")
    session = await client.create_session("en")
    assert (await client.credits()).available == 100

    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 3_000_000)
    (uploaded,) = await client.upload_file(session.session_id, video)
    assert (uploaded.name, uploaded.media_type) == ("clip.mp4", "video")
    assert uploaded.url and uploaded.url.startswith(standin.cdn_url)
    (by_url,) = await client.upload_url(
        session.session_id, f"{standin.cdn_url}/media/sample/sample-photo.jpg"
    )
    assert by_url.media_type == "image"

    events = await turn(client, session.session_id, GENERATE)
    assert any(e.get("actions", {}).get("stateDelta") for e in events)
    state = await client.state(session.session_id)
    assert state.draft is not None and [t["tt"] for t in state.draft["t"]] == [0, 1, 7]
    assert len(state.video_infos) == 2 and state.canvas_config == {
        "width": 1920,
        "height": 1080,
        "ratio": "16:9",
    }
    assert (await client.credits()).available == 0

    job = await client.submit_render("render_1", session.session_id, state.draft)
    assert job.status == "pending" and not job.done
    done = await finished(client, "render_1")
    assert done.status == "completed" and done.progress == 1.0
    assert done.url and done.url.startswith(standin.cdn_url)
    saved = await client.download(done.url, tmp_path / "out" / "video.mp4")
    assert saved.read_bytes().startswith(FAKE_MP4)
    fallback = await client.download("/api/render/proxy/render_1/download", tmp_path / "v2.mp4")
    assert fallback.read_bytes() == saved.read_bytes()

    claim = await client.claim_token(session.task_id, session.session_id)
    assert claim.token.startswith("clm_") and claim.expires_in == 604800


async def test_the_legacy_render_shape_and_a_failed_render(connect: Connect) -> None:
    client = await connect({"render": {"legacy_shape": True, "fail_next": 1}})
    session = await client.create_session()
    draft = {"t": [{"tt": 0, "sg": [{"s": 0, "d": 1000, "m": {"kind": "synthetic"}}]}]}
    await client.submit_render("r1", session.session_id, draft)
    failed = await finished(client, "r1")
    assert failed.status == "failed" and failed.error and "scenario" in failed.error
    await client.submit_render("r2", session.session_id, draft)
    done = await finished(client, "r2")
    assert done.status == "completed" and done.url and "/renders/r2.mp4" in done.url


async def test_1001_the_client_reacquires_with_the_same_client_id(connect: Connect) -> None:
    client = await connect({"expire_token_after": 1})
    first = await client.ensure_token()
    await client.create_session()
    assert (await client.credits()).available == 100  # 1001 → new token → retried
    assert await client.ensure_token() != first


async def test_1002_a_lost_session(connect: Connect) -> None:
    client = await connect({"lose_session_after": 0})
    session = await client.create_session()
    with pytest.raises(errors.SessionNotFound):
        await client.state(session.session_id)
    with pytest.raises(errors.SessionNotFound):
        await turn(client, session.session_id, "hello")


async def test_2001_out_of_credits_before_the_stream(connect: Connect) -> None:
    client = await connect({"credits_error": "envelope", "starting_credits": 50})
    session = await client.create_session()
    with pytest.raises(errors.OutOfCredits):
        await turn(client, session.session_id, GENERATE)


async def test_2001_out_of_credits_as_an_error_frame(connect: Connect) -> None:
    client = await connect({"starting_credits": 50})
    session = await client.create_session()
    events = await turn(client, session.session_id, GENERATE)
    assert events[0]["errorCode"] == "2001" and "error_details" in events[-1]


async def test_2001_as_a_fault_on_any_call(connect: Connect) -> None:
    client = await connect({"faults": [{"endpoint": "credits", "code": 2001}]})
    with pytest.raises(errors.OutOfCredits):
        await client.credits()


async def test_4001_and_4002_uploads(connect: Connect, tmp_path: Path) -> None:
    client = await connect(max_upload_bytes=100_000)
    session = await client.create_session()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(errors.UnsupportedFileType):
        await client.upload_file(session.session_id, text)
    big = tmp_path / "big.mov"
    big.write_bytes(b"\x00" * 300_000)
    with pytest.raises(errors.FileTooLarge):
        await client.upload_file(session.session_id, big)


async def test_400_the_client_replaces_its_client_id(connect: Connect, tmp_path: Path) -> None:
    client = await connect({"faults": [{"endpoint": "anonymous_token", "status": 400}]})
    before = client.client_id
    await client.ensure_token()
    assert client.client_id != before
    assert (tmp_path / "config" / "client_id").read_text().strip() == client.client_id


@pytest.mark.parametrize(
    ("scenario", "attribution"),
    [
        ({}, Attribution("", "", "")),
        ({"faults": [{"endpoint": "render_submit", "status": 402}]}, ATTRIBUTION),
    ],
)
async def test_402_export_blocked(
    connect: Connect, scenario: Any, attribution: Attribution
) -> None:
    client = await connect(scenario, attribution=attribution)
    session = await client.create_session()
    draft = {"t": [{"tt": 0, "sg": [{"s": 0, "d": 1000, "m": {"kind": "synthetic"}}]}]}
    with pytest.raises(errors.PlanRequired):
        await client.submit_render("r", session.session_id, draft)


async def test_429_waits_once_then_gives_up(connect: Connect) -> None:
    fault = {"endpoint": "credits", "status": 429, "retry_after": 0.01}
    client = await connect({"faults": [fault | {"times": 1}, fault | {"after": 1, "times": 2}]})
    assert (await client.credits()).available == 100  # waited once, then fine
    with pytest.raises(errors.RateLimited) as err:
        await client.credits()
    assert err.value.retry_after == 0.01


async def test_429_one_token_per_client_id(start: Start, client_for: ClientFor) -> None:
    standin = await start()
    client = client_for(standin)
    await client.ensure_token()
    twin = client_for(standin, config="other", client_id=client.client_id)
    with pytest.raises(errors.RateLimited):
        await twin.ensure_token()


async def test_5xx_on_a_read_is_retried(connect: Connect) -> None:
    client = await connect({"faults": [{"endpoint": "state", "status": 503, "times": 2}]})
    session = await client.create_session()
    assert (await client.state(session.session_id)).draft is None


async def test_a_slow_backend_times_out(connect: Connect) -> None:
    client = await connect({"delay_ms": 400}, timings=replace(TIMINGS, request_timeout=0.1))
    with pytest.raises(errors.RequestTimeout):
        await client.ensure_token()


async def test_a_dropped_stream_raises_after_its_events(connect: Connect) -> None:
    client = await connect({"stream": {"drop_after_events": 2}})
    session = await client.create_session()
    seen: list[Any] = []

    async def read_all() -> None:
        async for event in client.chat(session.session_id, GENERATE):
            seen.append(event)

    with pytest.raises(errors.StreamDropped):
        await read_all()
    assert len(seen) == 2


async def test_an_oversized_frame_is_refused(connect: Connect) -> None:
    client = await connect({"stream": {"oversized_frame_bytes": 2_000_000}})
    session = await client.create_session()
    with pytest.raises(errors.EventTooLarge):
        await turn(client, session.session_id, GENERATE)


async def test_stall_malformed_and_error_frames_reach_the_caller(connect: Connect) -> None:
    client = await connect({"stream": {"stall": True, "times": 1, "heartbeat": "empty"}})
    session = await client.create_session()
    beats = []
    async for event in client.chat(session.session_id, GENERATE):
        beats.append(event.data)
        if len(beats) == 3:
            break
    assert beats == ["", "", ""]

    client = await connect(
        {"stream": {"malformed_frame": True, "error_frame": "1.x", "error_after_events": 3}}
    )
    session = await client.create_session()
    data = [e.data async for e in client.chat(session.session_id, GENERATE)]
    assert data[1].startswith('{"content":{"parts":[{"text":"Sure, gen')
    assert json.loads(data[-1]) == {
        "error": "The agent stopped unexpectedly (a fault from the stand-in's scenario)."
    }
