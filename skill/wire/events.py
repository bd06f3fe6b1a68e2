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
- `LongRunning`: the ids an event lists in `longRunningToolIds` (tools that answer later).
- `AgentFailure`: `{"error": ...}` (ADK 1.x, and the API server's last frame when the run
  raised: `{"error": "<Type>: <msg>", "error_details": {...}}`, google/adk/cli/api_server.py
  `run_agent_sse`), an event with `errorCode`/`errorMessage` (`LlmResponse.error_code`,
  beside `content` and `finishReason` or alone), whose `{"error": ...}` echo is then not
  reported again; a non-partial event whose `finishReason` is not STOP; a frame that is not
  JSON but reads as an error; an agent text part that is itself an "Error: ..." line.
- `Malformed`: a frame that is not a JSON object; parsing goes on.

The same frame twice (same `id`, same bytes) is read once. Partial deltas and their
aggregate share an id in ADK 2.13 but differ in content, so an id alone never drops an
event. `valid` counts the ADK events read (heartbeats and malformed frames excluded).
Unknown keys are ignored and missing ones tolerated everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from skill.wire.sse import ServerSentEvent

_PREVIEW_CHARS = 80
_HEARTBEAT = "heartbeat"
_FINISHED = frozenset({"STOP", "FINISH_REASON_UNSPECIFIED"})  # a finishReason that is no failure
_ERROR_TEXT = re.compile(r"\s*error\s*:", re.IGNORECASE)  # "Error: ...", a failure as text


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
class LongRunning:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class AgentFailure:
    code: str | None
    message: str


@dataclass(frozen=True)
class Malformed:
    preview: str


AdkEvent: TypeAlias = (
    Text
    | MessageEnd
    | ToolCall
    | ToolResult
    | StateChange
    | LongRunning
    | Heartbeat
    | AgentFailure
    | Malformed
)


class TurnEvents:
    """Reads the frames of one chat turn, in order; make a new one per turn."""

    def __init__(self) -> None:
        self._streamed = ""  # text of the partial events since the last aggregate
        self._shown = 0  # how much of it was emitted (the rest may be an "Error:" line)
        self._echo_due = False  # an errorCode event came: its {"error": ...} echo follows
        self._seen: set[str] = set()  # frames with an id already read, byte for byte
        self.valid = 0  # ADK events read so far

    def parse(self, sse: ServerSentEvent) -> list[AdkEvent]:
        if sse.event == _HEARTBEAT or not sse.data.strip():
            return [Heartbeat()]
        try:
            frame = json.loads(sse.data)
        except (ValueError, RecursionError):
            frame = None
        if not isinstance(frame, dict):
            preview = sse.data.strip()[:_PREVIEW_CHARS]
            if frame is None and re.search(r"\berror\b", preview, re.IGNORECASE):
                return [AgentFailure(None, preview)]  # an error frame whose data is not JSON
            return [Malformed(preview)]
        if _is_heartbeat(frame):
            return [Heartbeat()]
        if isinstance(frame.get("id"), str):
            if sse.data in self._seen:
                return []  # an exact repeat of a frame already read
            self._seen.add(sse.data)
        self.valid += 1
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
        failed_as_text = None
        if from_agent:
            for item in self._text(parts, partial):
                if isinstance(item, AgentFailure):
                    failed_as_text = item
                else:
                    out.append(item)
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
        long_running = frame.get("longRunningToolIds")
        if isinstance(long_running, list) and long_running:
            out.append(LongRunning(tuple(str(i) for i in long_running)))
        code, message = frame.get("errorCode"), frame.get("errorMessage")
        finish = frame.get("finishReason")
        if code is None and not partial and isinstance(finish, str) and finish not in _FINISHED:
            code = finish  # cut short with content: MAX_TOKENS, SAFETY, MALFORMED_FUNCTION_CALL
        if code is not None or message:
            code = None if code is None else str(code)
            out.append(AgentFailure(code, str(message or code)))
            self._echo_due = True
        elif failed_as_text is not None:
            out.append(failed_as_text)
        return out

    def _text(self, parts: list[dict[str, Any]], partial: bool) -> list[AdkEvent]:
        """Text to show, and a failure when the agent's whole message is an "Error: ..." line.

        Deltas that may still turn out to be such a line are held until they show
        what they are, so an error text is never half-shown."""
        texts = [
            p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")
        ]
        if partial:
            self._streamed += "".join(texts)
            if _may_be_error(self._streamed):
                return []
            new, self._shown = self._streamed[self._shown :], len(self._streamed)
            return [Text(new)] if new else []
        if not parts:  # not an aggregate: nothing to show, nothing to reset
            return []
        whole, shown = "".join(texts), self._streamed[: self._shown]
        self._streamed, self._shown = "", 0
        if not shown and _ERROR_TEXT.match(whole):
            return [AgentFailure(None, whole.strip()[:_PREVIEW_CHARS])]
        # deltas worded differently from their aggregate already showed this answer
        new = whole[len(shown) :] if whole.startswith(shown) else ""
        end: list[AdkEvent] = [MessageEnd()] if whole else []
        return [Text(new), *end] if new else end


def _may_be_error(text: str) -> bool:
    start = text.lstrip().lower()
    return "error:".startswith(start) or _ERROR_TEXT.match(text) is not None


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
