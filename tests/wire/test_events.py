from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skill.wire.events import (
    AdkEvent,
    AgentFailure,
    Heartbeat,
    Malformed,
    MessageEnd,
    StateChange,
    Text,
    ToolCall,
    ToolResult,
    TurnEvents,
)
from skill.wire.sse import ServerSentEvent, SSEDecoder

CAPTURES = Path(__file__).parents[1] / "fixtures" / "adk-wire"
TRIM_ARGS = {"clip_id": "c1", "start": 0.0, "end": 5.0}
TRIM_RESULT = {"status": "ok", "clip_id": "c1", "duration": 5.0}


def read_capture(name: str) -> list[AdkEvent]:
    decoder, turn = SSEDecoder(), TurnEvents()
    frames = decoder.feed((CAPTURES / name).read_bytes()) + decoder.close()
    return [event for frame in frames for event in turn.parse(frame)]


def streamed_turn(call_id: str) -> list[AdkEvent]:
    return [
        Text("Sure, "),
        Text("trimming the clip "),
        Text("now."),
        MessageEnd(),
        ToolCall(call_id, "trim_clip", TRIM_ARGS),
        ToolResult(call_id, "trim_clip", TRIM_RESULT),
        StateChange({"timeline_version": 1}),
        Text("Done! "),
        Text("Clip c1 is now 5s long."),
        MessageEnd(),
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("adk-2.13-streaming.sse", streamed_turn("adk-f085063c-eb33-4662-bf15-17194eff0329")),
        ("adk-2.13-nonstreaming.sse", [Text("Done! Clip c1 is now 5s long."), MessageEnd()]),
        (
            "adk-1.39-streaming-legacy.sse",
            streamed_turn("adk-60b7ffdd-c90e-4775-ab27-39086afdf5e4"),
        ),
    ],
)
def test_capture(name: str, expected: list[AdkEvent]) -> None:
    assert read_capture(name) == expected


def model(*parts: dict[str, Any], partial: bool | None = None, **extra: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, **extra}
    if partial is not None:
        frame["partial"] = partial
    return frame


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"text": value, **extra}


CALL = {"functionCall": {"id": "c1", "name": "add_bgm", "args": {"mood": "calm"}}}
ERROR_2X = {"errorCode": "MALFORMED_FUNCTION_CALL", "errorMessage": "bad call", "author": "a"}
ECHO_2X = {"error": "ValueError: bad call", "error_details": {"type": "ValueError"}}

FRAME_CASES = [
    pytest.param([""], [Heartbeat()], id="empty-data-heartbeat"),
    pytest.param([" \n\t"], [Heartbeat()], id="whitespace-heartbeat"),
    pytest.param([{"type": "heartbeat"}], [Heartbeat()], id="type-heartbeat"),
    pytest.param([{"heartbeat": 1712345678}], [Heartbeat()], id="heartbeat-key"),
    pytest.param([{"event": "heartbeat", "ts": 1}], [Heartbeat()], id="event-heartbeat"),
    pytest.param([ServerSentEvent("{}", event="heartbeat")], [Heartbeat()], id="sse-heartbeat"),
    pytest.param(["not json"], [Malformed("not json")], id="malformed"),
    pytest.param(["[DONE]", "42"], [Malformed("[DONE]"), Malformed("42")], id="not-an-object"),
    pytest.param(["{" + "x" * 200], [Malformed("{" + "x" * 79)], id="malformed-preview"),
    pytest.param(["[" * 100_000], [Malformed("[" * 80)], id="malformed-too-deep"),
    pytest.param([{"error": "Quota exceeded"}], [AgentFailure(None, "Quota exceeded")], id="1x"),
    pytest.param(
        [ERROR_2X, ECHO_2X], [AgentFailure("MALFORMED_FUNCTION_CALL", "bad call")], id="2x-once"
    ),
    pytest.param([ECHO_2X], [AgentFailure(None, "ValueError: bad call")], id="2x-echo-alone"),
    pytest.param([{"errorCode": 7}], [AgentFailure("7", "7")], id="error-code-only"),
    pytest.param(
        [
            model(text("why", thought=True), partial=True),
            model(text("Hi"), partial=True),
            model(text("why", thought=True), text("Hi"), partial=False),
        ],
        [Text("Hi"), MessageEnd()],
        id="thought-parts-skipped",
    ),
    pytest.param(
        [{"content": {"role": "user", "parts": [text("make it blue")]}}], [], id="user-text"
    ),
    pytest.param([model(text("All set."))], [Text("All set."), MessageEnd()], id="aggregate-only"),
    pytest.param(
        [model(text("Hel"), partial=True), model(text("Hello there."), partial=False)],
        [Text("Hel"), Text("lo there."), MessageEnd()],
        id="aggregate-remainder",
    ),
    pytest.param(
        [model(text("Hi "), partial=True), model(text("Hello."), partial=False)],
        [Text("Hi "), MessageEnd()],
        id="aggregate-differs",
    ),
    pytest.param(
        [
            model(text("Hi "), partial=True),
            model(text("there"), partial=True),
            model(text("Hi there")),  # ADK 1.x: no partial key
            model(CALL),
        ],
        [Text("Hi "), Text("there"), MessageEnd(), ToolCall("c1", "add_bgm", {"mood": "calm"})],
        id="legacy-aggregate-then-call",
    ),
    pytest.param(
        [model(CALL, partial=True), model(text(""), CALL, partial=False)],
        [ToolCall("c1", "add_bgm", {"mood": "calm"})],
        id="call-reported-once",
    ),
    pytest.param(
        [model({"functionCall": {"args": "oops"}}), model({"functionResponse": {"id": 3}})],
        [ToolCall(None, "", {}), ToolResult(None, "", {})],
        id="tool-parts-without-keys",
    ),
    pytest.param(
        [
            {},
            {"content": None},
            {"content": {}},
            {"content": {"parts": "x"}},
            model("x", 1, None, text("")),
            {"actions": {"stateDelta": {}}},
            {"actions": []},
        ],
        [],
        id="missing-or-odd-keys",
    ),
    pytest.param(
        [model(text("Ok"), nodeInfo={"path": "a@1"}, brandNew={"x": 1}, partial=None)],
        [Text("Ok"), MessageEnd()],
        id="unknown-keys",
    ),
]


@pytest.mark.parametrize(("frames", "expected"), FRAME_CASES)
def test_frames(frames: list[Any], expected: list[AdkEvent]) -> None:
    turn = TurnEvents()
    events: list[AdkEvent] = []
    for frame in frames:
        if isinstance(frame, dict):
            frame = json.dumps(frame)
        if isinstance(frame, str):
            frame = ServerSentEvent(frame)
        events.extend(turn.parse(frame))
    assert events == expected
