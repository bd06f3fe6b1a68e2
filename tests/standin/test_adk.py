"""ADK events byte for byte: the stand-in's frames against the real captures in adk-wire/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skill.standin import adk

WIRE = Path(__file__).resolve().parents[1] / "fixtures" / "adk-wire"
FIRST, SECOND = "Sure, trimming the clip now.", "Done! Clip c1 is now 5s long."
RESPONSE = {"status": "ok", "clip_id": "c1", "duration": 5.0}


def capture(name: str) -> list[dict[str, Any]]:
    raw = (WIRE / name).read_bytes()
    return [json.loads(f[len(b"data: ") :]) for f in raw.split(b"\n\n") if f]


def simulated(version: str, streaming: bool) -> list[dict[str, Any]]:
    """The captured turn (say, call trim_clip, answer, say) played by the stand-in."""
    maker = adk.EventMaker(version=version, streaming=streaming)
    if not streaming:
        return maker.model_call(SECOND)
    call = adk.new_call("trim_clip", {"clip_id": "c1", "start": 0.0, "end": 5.0})
    return [
        *maker.model_call(FIRST, [call]),
        maker.tool_response([(call, RESPONSE)], {"timeline_version": 1}),
        *maker.model_call(SECOND),
    ]


def normal(event: dict[str, Any]) -> dict[str, Any]:
    """The event with what differs by nature (ids, times, model, token counts) blanked."""
    out = json.loads(json.dumps(event))
    for key in ("id", "timestamp", "invocationId"):
        out[key] = key
    if "modelVersion" in out:
        out["modelVersion"] = "model"
    if "usageMetadata" in out:
        out["usageMetadata"] = dict.fromkeys(out["usageMetadata"], 0)
    for part in (out.get("content") or {}).get("parts", []):
        for kind in ("functionCall", "functionResponse"):
            if kind in part:
                part[kind]["id"] = "call"
    return out


def collapsed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of partial text deltas without finishReason merged: chunk sizes may differ."""
    out: list[dict[str, Any]] = []
    for event in events:
        parts = (event.get("content") or {}).get("parts", [])
        delta = event.get("partial") is True and "finishReason" not in event and "text" in parts[0]
        if delta and out and out[-1].get("_delta"):
            out[-1]["content"]["parts"][0]["text"] += parts[0]["text"]
            continue
        out.append(json.loads(json.dumps(event)) | ({"_delta": True} if delta else {}))
    for event in out:
        event.pop("_delta", None)
    return out


def text_of(event: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in event["content"]["parts"])


@pytest.mark.parametrize(
    ("name", "version", "streaming"),
    [
        ("adk-2.13-streaming.sse", "2.13", True),
        ("adk-1.39-streaming-legacy.sse", "1.39", True),
        ("adk-2.13-nonstreaming.sse", "2.13", False),
    ],
)
def test_events_match_the_capture_key_for_key(name: str, version: str, streaming: bool) -> None:
    real, ours = capture(name), simulated(version, streaming)
    real_c, ours_c = collapsed(real), collapsed(ours)
    assert len(ours_c) == len(real_c)
    for mine, theirs in zip(ours_c, real_c, strict=True):
        if mine.get("partial") is True and "finishReason" not in mine:
            assert list(mine) == list(theirs)  # text deltas: same keys, wording split differs
            continue
        if mine.get("partial") is True:  # the last delta: its text may be a shorter tail
            assert list(mine) == list(theirs)
            continue
        assert json.dumps(normal(mine)) == json.dumps(normal(theirs))


@pytest.mark.parametrize("version", ["2.13", "1.39"])
def test_deltas_add_up_to_the_aggregate_and_ids_follow_the_version(version: str) -> None:
    maker = adk.EventMaker(version=version)
    call = adk.new_call("x", {})
    events = maker.model_call("(local simulation) Hello there, this is a longer reply.", [call])
    deltas, aggregate = events[:-1], events[-1]
    assert all(e["partial"] is True for e in deltas) and aggregate["partial"] is False
    assert "".join(text_of(e) for e in deltas) == text_of(aggregate)
    assert len([e for e in deltas if "text" in e["content"]["parts"][0]]) > 1
    ids = {e["id"] for e in events}
    assert len(ids) == (1 if version == "2.13" else len(events))
    assert {e["invocationId"] for e in events} == {maker.invocation_id}
    assert maker.invocation_id.startswith("e-") and call.id.startswith("adk-")


@pytest.mark.parametrize(
    "text",
    [
        "Sure, trimming the clip now.",
        "（本地模拟） 好的！正在生成一段12秒的横屏视频：海边日落。",
        "x" * 100,
        "a",
    ],
)
def test_split_text_loses_nothing(text: str) -> None:
    chunks = adk.split_text(text)
    assert "".join(chunks) == text
    assert all(0 < len(c) <= adk.CHUNK_CHARS for c in chunks)


def test_frames_are_compact_utf8_json_between_data_and_a_blank_line() -> None:
    data = adk.frame({"a": [1, {"b": "积分"}], "c": None})
    assert data == 'data: {"a":[1,{"b":"积分"}],"c":null}\n\n'.encode()


def test_error_frames_in_both_shapes() -> None:
    assert adk.error_frames("1.x", "X", "broke", None) == [b'data: {"error": "broke"}\n\n']
    maker = adk.EventMaker()
    event = maker.error_event("RuntimeError", "boom")
    first, echo = adk.error_frames("2.x", "RuntimeError", "boom", event, 1.5)
    decoded = json.loads(first[6:])
    assert list(decoded)[:4] == ["errorCode", "errorMessage", "invocationId", "author"]
    assert (decoded["errorCode"], decoded["errorMessage"]) == ("RuntimeError", "boom")
    # as google-adk 2.13's run_agent_sse writes it (seen by tests/contract/)
    assert json.loads(echo[6:]) == {
        "error": "RuntimeError: boom",
        "error_details": {"error_type": "RuntimeError", "error_message": "boom", "timestamp": 1.5},
    }
    assert echo.startswith(b'data: {"error": "')  # json.dumps defaults, as ADK writes it


def test_an_ending_without_content_is_shaped_as_llm_response_create_makes_it() -> None:
    maker = adk.EventMaker()
    no_content = maker.ended("STOP", adk.NO_CONTENT, adk.NO_CONTENT_MESSAGE)
    assert list(no_content)[:6] == [
        "modelVersion", "content", "finishReason", "errorCode", "errorMessage", "usageMetadata",
    ]  # fmt: skip
    assert no_content["content"] == {"parts": [], "role": "model"}
    cut = maker.ended("MAX_TOKENS", "MAX_TOKENS")
    assert (cut["finishReason"], cut["errorCode"]) == ("MAX_TOKENS", "MAX_TOKENS")
    assert "content" not in cut and "errorMessage" not in cut
    blocked = maker.ended(None, "PROHIBITED_CONTENT")
    assert "finishReason" not in blocked


def test_heartbeats_and_padding() -> None:
    assert adk.heartbeat("empty") == b"data:\n\n"
    assert adk.heartbeat("comment") == b": ping\n\n"
    assert json.loads(adk.heartbeat("event")[6:]) == {"type": "heartbeat"}
    padded = adk.frame(adk.EventMaker().padded(50_000))
    assert abs(len(padded) - 50_000) < 10 and json.loads(padded[6:])
