"""The chat stream over plain HTTP: ADK framing, real state changes, credits, languages,
honesty, silence, and the answers before a stream (404, 422, 2001)."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest

from .conftest import GENERATE, Raw, Start, events, frames, texts

CREDITS = "/api/credits/balance/simple"
FRAME = re.compile(rb"^data: \{.*\}$|^data:$", re.DOTALL)


async def test_a_generation_stream_is_framed_like_adk(raw: Raw) -> None:
    token, sid = await raw.ready()
    stream = await raw.chat(token, sid, GENERATE)
    assert b"[DONE]" not in stream and b"\r" not in stream
    for f in frames(stream):
        assert FRAME.match(f), f[:80]
        assert b"\n" not in f  # one data line per frame, no event:/id:/retry: fields
        if f != b"data:":
            body = f[len(b"data: ") :]
            assert (
                body
                == json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
            )
    evs = events(stream)
    assert all("_" not in key for e in evs for key in e)  # camelCase
    assert {e["author"] for e in evs} == {"nemo_agent"}
    assert len({e["invocationId"] for e in evs}) == 1
    partial_text = "".join(
        e["content"]["parts"][0].get("text", "") for e in evs if e.get("partial") is True
    )
    assert partial_text == "".join(texts(stream))
    names = [
        p["functionCall"]["name"]
        for e in evs
        if e.get("partial") is False
        for p in e["content"]["parts"]
        if "functionCall" in p
    ]
    assert names == ["generate_video", "add_background_music", "add_text", "apply_effects"]


async def test_heartbeats_while_the_video_is_generated(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start({"timing": {"generate": 0.4, "heartbeat": 0.05}}))
    token, sid = await raw.ready()
    stream = await raw.chat(token, sid, GENERATE)
    assert frames(stream).count(b"data:") >= 2


async def test_the_state_delta_really_changes_the_session(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start({"starting_credits": 1000}))
    token, sid = await raw.ready()
    stream = await raw.chat(token, sid, GENERATE)
    deltas = [e["actions"]["stateDelta"] for e in events(stream) if e["actions"]["stateDelta"]]
    assert [d["timeline_version"] for d in deltas] == [1, 2]
    raw_video, final = deltas[0]["draft"], deltas[1]["draft"]
    assert [t["tt"] for t in raw_video["t"]] == [0] and [t["tt"] for t in final["t"]] == [0, 1, 7]
    state = await raw.state(token, sid)
    assert state["draft"] == final and state["timeline_version"] == 2
    assert state["generated_media"] == deltas[0]["generated_media"]
    assert final["d"] == 12_000
    await raw.chat(token, sid, "remove the title")
    after = await raw.state(token, sid)
    assert [t["tt"] for t in after["draft"]["t"]] == [0, 1] and after["timeline_version"] == 3


async def test_credits_are_charged_like_the_cloud(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start({"starting_credits": 250}))
    token, sid = await raw.ready()
    await raw.chat(token, sid, "what can you do?")
    await raw.chat(token, sid, GENERATE)
    await raw.chat(token, sid, "add a caption 'hi' at 2s")
    _, body, _ = await raw.call("GET", CREDITS, token)
    assert body["data"] == {"available": 100, "frozen": 0, "total": 100}


async def test_credits_are_frozen_while_a_generation_runs(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start({"timing": {"generate": 1.0}}))
    token, sid = await raw.ready()
    body = {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": sid,
        "new_message": {"parts": [{"text": GENERATE}]},
    }
    async with http.post(
        raw.base + "/run_sse", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        await resp.content.readuntil(b"\n\n")
        _, during, _ = await raw.call("GET", CREDITS, token)
        await resp.read()
    assert during["data"] == {"available": 0, "frozen": 100, "total": 100}
    _, after, _ = await raw.call("GET", CREDITS, token)
    assert after["data"] == {"available": 0, "frozen": 0, "total": 0}


async def test_out_of_credits_is_a_2x_error_frame_by_default(raw: Raw) -> None:
    token, sid = await raw.ready()
    await raw.chat(token, sid, GENERATE)
    stream = await raw.chat(token, sid, "add a title 'again'")
    (error_event,) = events(stream)[:1]
    assert error_event["errorCode"] == "2001" and "credits" in error_event["errorMessage"]
    assert (
        json.loads(frames(stream)[-1][6:])["error_details"]["error_type"] == "InsufficientCredits"
    )
    assert (await raw.state(token, sid))["timeline_version"] == 2  # nothing happened


async def test_out_of_credits_as_an_envelope(start: Start, http: aiohttp.ClientSession) -> None:
    raw = Raw(http, await start({"credits_error": "envelope", "starting_credits": 40}))
    token, sid = await raw.ready()
    body = {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": sid,
        "new_message": {"parts": [{"text": GENERATE}]},
    }
    status, answer, _ = await raw.call("POST", "/run_sse", token, json=body)
    assert (status, answer["code"]) == (200, 2001)
    assert "100" in answer["message"] and "40" in answer["message"]


@pytest.mark.parametrize(
    ("message", "marker", "words"),
    [
        (GENERATE, "(local simulation)\n", "beach at sunset"),
        ("what can you do?", "(local simulation)\n", "generate"),
        ("生成一个15秒的竖屏视频，内容是海边日落", "（本地模拟）\n", "海边日落"),
        ("你能做什么", "（本地模拟）\n", "生成"),
    ],
)
async def test_every_reply_says_it_is_a_simulation(
    raw: Raw, message: str, marker: str, words: str
) -> None:
    token, sid = await raw.ready()
    said = texts(await raw.chat(token, sid, message))
    assert said[0].startswith(marker) and words in said[0]
    assert sum(marker in t for t in said) == 1


async def test_silent_edits_send_tool_events_only(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = Raw(http, await start({"silent_edits": 1.0, "starting_credits": 1000}))
    token, sid = await raw.ready()
    await raw.chat(token, sid, GENERATE)
    stream = await raw.chat(token, sid, "remove the music")
    assert texts(stream) == []
    kinds = [next(iter(e["content"]["parts"][0])) for e in events(stream)]
    assert kinds == ["functionCall", "functionCall", "functionResponse"]
    assert [t["tt"] for t in (await raw.state(token, sid))["draft"]["t"]] == [0, 7]


async def test_silence_is_deterministic_per_seed_and_turn(
    start: Start, http: aiohttp.ClientSession
) -> None:
    async def pattern(seed: int) -> list[bool]:
        raw = Raw(http, await start({"starting_credits": 10_000}, seed=seed))
        token, sid = await raw.ready()
        await raw.chat(token, sid, GENERATE)
        return [
            texts(await raw.chat(token, sid, f"trim it to {n} seconds")) == [] for n in range(3, 13)
        ]

    first = await pattern(5)
    assert first == await pattern(5)
    assert any(first) and not all(first)


@pytest.mark.parametrize(("adk", "streaming"), [("1.39", True), ("2.13", False)])
async def test_other_adk_shapes(
    start: Start, http: aiohttp.ClientSession, adk: str, streaming: bool
) -> None:
    raw = Raw(http, await start({"adk": adk, "streaming": streaming}))
    token, sid = await raw.ready()
    evs = events(await raw.chat(token, sid, GENERATE))
    assert all("nodeInfo" in e for e in evs) == (adk == "2.13")
    assert any("partial" in e for e in evs) == streaming


async def test_the_requests_streaming_field_wins(raw: Raw) -> None:
    token, sid = await raw.ready()
    evs = events(await raw.chat(token, sid, "hello", streaming=False))
    assert len(evs) == 1 and "partial" not in evs[0]


async def test_camel_case_request_bodies_work(raw: Raw) -> None:
    token, sid = await raw.ready()
    body = {
        "appName": "nemo_agent",
        "userId": "me",
        "sessionId": sid,
        "newMessage": {"parts": [{"text": "hi"}]},
    }
    async with raw.http.post(
        raw.base + "/run_sse", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 200 and texts(await resp.read())


async def test_before_the_stream_unknown_session_bad_body_bad_token(raw: Raw) -> None:
    token, sid = await raw.ready()
    body = {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": "gone",
        "new_message": {"parts": [{"text": "hi"}]},
    }
    status, answer, _ = await raw.call("POST", "/run_sse", token, json=body)
    assert (status, answer) == (404, {"detail": "Session not found: gone"})
    status, answer, _ = await raw.call("POST", "/run_sse", token, json={"session_id": sid})
    assert status == 422
    assert {tuple(d["loc"]) for d in answer["detail"]} >= {
        ("body", "app_name"),
        ("body", "new_message", "parts"),
    }
    status, answer, _ = await raw.call("POST", "/run_sse", "nmv_usr_bad", json=body)
    assert (status, answer["code"]) == (200, 1001)


async def test_a_foreign_origin_is_refused_as_adk_refuses_it(raw: Raw) -> None:
    token, sid = await raw.ready()
    body = {"app_name": "nemo_agent", "user_id": "me", "session_id": sid,
            "new_message": {"parts": [{"text": GENERATE}]}}  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}
    async with raw.http.post(raw.base + "/run_sse", json=body, headers=headers) as resp:
        assert (resp.status, await resp.text()) == (403, "Forbidden: origin not allowed")
