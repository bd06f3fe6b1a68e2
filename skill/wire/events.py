"""What a chat turn's ADK frames mean: text to show, tool activity, state, failures.

Each `/run_sse` frame carries one ADK `Event` as JSON (docs/protocol.md, "The chat
stream"). `TurnEvents.parse()` turns each frame into zero or more typed events:

- `Text`: agent text to show, exactly once. Streaming sends `partial: true` deltas and
  then one aggregate (`partial: false`, or no `partial` key in ADK 1.x) that repeats the
  whole text; only what the deltas did not already show is emitted. Never keyed on event
  ids, which are not stable across ADK versions. Thought parts and user-role text skipped.
- `ToolCall` / `ToolResult`: `functionCall` parts of non-partial events (a streamed call
  comes again in its aggregate) and `functionResponse` parts.
- `MessageEnd`: after an aggregate with text: the agent's message is complete, so text
  that follows starts a new one (and is not glued to the last sentence).
- `StateChange`: a non-empty `actions.stateDelta`.
- `Heartbeat`: a blank frame, or a JSON heartbeat object.
- `AgentFailure`: `{"error": ...}` (ADK 1.x), or an event with `errorCode`/`errorMessage`
  (ADK 2.x), whose `{"error": ..., "error_details": ...}` echo is then not reported again.
- `Malformed`: a frame that is not a JSON object; parsing goes on.

Unknown keys are ignored and missing ones tolerated everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from skill.wire.sse import ServerSentEvent

_PREVIEW_CHARS = 80
_HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class MessageEnd:
    """The agent finished one message (its aggregate came): what follows is a new one."""


@dataclass(frozen=True)
class ToolCall:
    id: str | None
    name: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class ToolResult:
    id: str | None
    name: str
    response: Mapping[str, Any]


@dataclass(frozen=True)
class StateChange:
    delta: Mapping[str, Any]


@dataclass(frozen=True)
class Heartbeat:
    pass


@dataclass(frozen=True)
class AgentFailure:
    code: str | None
    message: str


@dataclass(frozen=True)
class Malformed:
    preview: str


AdkEvent: TypeAlias = (
    Text | MessageEnd | ToolCall | ToolResult | StateChange | Heartbeat | AgentFailure | Malformed
)


class TurnEvents:
    """Reads the frames of one chat turn, in order; make a new one per turn."""

    def __init__(self) -> None:
        self._streamed = ""  # text shown from partial events since the last aggregate
        self._echo_due = False  # an errorCode event came: its {"error": ...} echo follows

    def parse(self, sse: ServerSentEvent) -> list[AdkEvent]:
        if sse.event == _HEARTBEAT or not sse.data.strip():
            return [Heartbeat()]
        try:
            frame = json.loads(sse.data)
        except (ValueError, RecursionError):
            frame = None
        if not isinstance(frame, dict):
            return [Malformed(sse.data[:_PREVIEW_CHARS])]
        if _is_heartbeat(frame):
            return [Heartbeat()]
        if frame.get("error") and frame.get("errorCode") is None:
            if self._echo_due:  # ADK 2.x repeats the errorCode event as a final frame
                self._echo_due = False
                return []
            return [AgentFailure(None, str(frame["error"]))]

        partial = frame.get("partial") is True
        content = frame.get("content")
        content = content if isinstance(content, dict) else {}
        parts = content.get("parts")
        parts = [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
        from_agent = content.get("role") != "user"

        out: list[AdkEvent] = []
        if from_agent:
            out.extend(self._text(parts, partial))
        for part in parts:
            call = part.get("functionCall")
            if isinstance(call, dict) and not partial:
                out.append(ToolCall(_str(call.get("id")), _name(call), _map(call.get("args"))))
            result = part.get("functionResponse")
            if isinstance(result, dict):
                response = _map(result.get("response"))
                out.append(ToolResult(_str(result.get("id")), _name(result), response))
        actions = frame.get("actions")
        delta = actions.get("stateDelta") if isinstance(actions, dict) else None
        if isinstance(delta, dict) and delta:
            out.append(StateChange(delta))
        code, message = frame.get("errorCode"), frame.get("errorMessage")
        if code is not None or message:
            code = None if code is None else str(code)
            out.append(AgentFailure(code, str(message or code)))
            self._echo_due = True
        return out

    def _text(self, parts: list[dict[str, Any]], partial: bool) -> list[AdkEvent]:
        texts = [
            p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")
        ]
        if partial:
            self._streamed += "".join(texts)
            return [Text(t) for t in texts if t]
        if not parts:  # not an aggregate: nothing to show, nothing to reset
            return []
        whole, streamed = "".join(texts), self._streamed
        self._streamed = ""
        if not streamed:
            new = whole
        elif whole.startswith(streamed):
            new = whole[len(streamed) :]
        else:  # the deltas already showed this answer, worded differently: don't repeat it
            new = ""
        end: list[AdkEvent] = [MessageEnd()] if whole else []
        return [Text(new), *end] if new else end


def _is_heartbeat(frame: dict[str, Any]) -> bool:
    return (
        _HEARTBEAT in frame or frame.get("type") == _HEARTBEAT or frame.get("event") == _HEARTBEAT
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _name(part: dict[str, Any]) -> str:
    name = part.get("name")
    return name if isinstance(name, str) else ""


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
