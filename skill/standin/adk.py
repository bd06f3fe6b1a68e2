"""ADK events as an ADK API server writes them on `/run_sse`, byte for byte.

Each event is one `data: <json>\\n\\n` frame: the JSON is compact (`","`, `":"`),
not ASCII-escaped, with camelCase keys in the order of `reference/adk-wire/`:

    modelVersion, content, partial, finishReason, usageMetadata, invocationId, author,
    actions{stateDelta, artifactDelta, requestedAuthConfigs, requestedToolConfirmations},
    nodeInfo (2.x), longRunningToolIds (events with a function call), id, timestamp

Streaming sends a model call's text as `partial: true` deltas (the last one, or the
function-call delta after them, carries finishReason and usageMetadata), then one
`partial: false` aggregate repeating the whole text with the calls. ADK 2.13 gives the
deltas and the aggregate of one model call the same id; 1.39 gives every event its own
id, has no nodeInfo, and leaves modelVersion off the aggregate. Without streaming each
model call is one whole event with no `partial` key. Function responses come as one
`role: user` event carrying the state change in `actions.stateDelta`.

`modelVersion` says "standin-rules": these events are simulated, and say so.

Errors mid-stream: 1.x one `{"error": "..."}` frame; 2.x, when the run raises, an event
whose `errorCode` is the exception's type name and `errorMessage` its text, then the API
server's own last frame, written with `json.dumps` defaults (`", "`, ASCII):
`{"error": "<Type>: <msg>", "error_details": {"error_type", "error_message", "timestamp"}}`
(google/adk/cli/api_server.py, `run_agent_sse`; seen on a real 2.13 server by
tests/contract/). A model call that ends without content is one event carrying
`finishReason` and `errorCode` (`LlmResponse.create`), `MODEL_RETURNED_NO_CONTENT` with
empty parts for a STOP with nothing in it (`_model_call.py`); a blocked prompt carries
`errorCode` only.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MODEL_VERSION = "standin-rules"
AUTHOR = "nemo_agent"
NODE_INFO = {"path": "nemo_agent@1"}
CHUNK_CHARS = 24
NO_CONTENT = "MODEL_RETURNED_NO_CONTENT"
NO_CONTENT_MESSAGE = "The model returned no content (finish_reason=STOP with empty parts)."
HEARTBEATS = {"empty": b"data:\n\n", "comment": b": ping\n\n"}

Event = dict[str, Any]


def frame(event: Mapping[str, Any]) -> bytes:
    """One SSE frame for one event, as ADK's API server writes it."""
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return b"data: " + body.encode() + b"\n\n"


def heartbeat(style: str) -> bytes:
    return HEARTBEATS.get(style) or frame({"type": "heartbeat"})


def error_frames(
    shape: str, kind: str, message: str, event: Event | None, now: float | None = None
) -> list[bytes]:
    """The frames ADK writes when the run raises `kind` mid-stream (`event`: 2.x's
    errorCode event, then the API server's echo)."""
    if shape == "1.x" or event is None:
        return [b"data: " + json.dumps({"error": message}).encode() + b"\n\n"]
    details = {"error_type": kind, "error_message": message, "timestamp": now or time.time()}
    echo = {"error": f"{kind}: {message}", "error_details": details}
    return [frame(event), b"data: " + json.dumps(echo).encode() + b"\n\n"]


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    args: dict[str, Any]


def new_call(name: str, args: dict[str, Any]) -> Call:
    return Call(f"adk-{uuid.uuid4()}", name, args)


class EventMaker:
    """Builds the events of one invocation (one chat turn)."""

    def __init__(
        self,
        *,
        version: str = "2.13",
        streaming: bool = True,
        clock: Callable[[], float] = time.time,
        prompt_tokens: int = 120,
    ) -> None:
        self.version, self.streaming, self.clock = version, streaming, clock
        self.prompt_tokens = prompt_tokens
        self.invocation_id = f"e-{uuid.uuid4()}"

    def model_call(
        self, text: str | None, calls: Sequence[Call] = (), *, long_running: bool = False
    ) -> list[Event]:
        """What one model call streams: its text and function calls (`long_running`:
        listed in `longRunningToolIds`, answered later)."""
        call_parts = [{"functionCall": {"id": c.id, "args": c.args, "name": c.name}} for c in calls]
        parts = ([{"text": text}] if text else []) + call_parts
        usage = self._usage(text or "", len(calls))
        shared = str(uuid.uuid4())
        ids = ([c.id for c in calls] if long_running else []) if calls else None
        if not self.streaming:
            return [self._model(parts, None, usage, ids, shared)]
        chunks = split_text(text) if text else []
        events = [
            self._model(
                [{"text": c}],
                True,
                usage if i == len(chunks) - 1 and not calls else None,
                None,
                shared,
            )
            for i, c in enumerate(chunks)
        ]
        if calls:
            events.append(self._model(call_parts, True, usage, ids, shared))
        events.append(self._model(parts, False, usage, ids, shared, aggregate=True))
        return events

    def tool_response(
        self, answers: Sequence[tuple[Call, Mapping[str, Any]]], state_delta: Mapping[str, Any]
    ) -> Event:
        parts = [
            {"functionResponse": {"id": c.id, "name": c.name, "response": dict(r)}}
            for c, r in answers
        ]
        return {"content": {"parts": parts, "role": "user"}} | self._tail(
            str(uuid.uuid4()), state_delta
        )

    def error_event(self, code: str, message: str) -> Event:
        head = {"errorCode": code, "errorMessage": message}
        return head | self._tail(str(uuid.uuid4()), {})

    def ended(self, finish: str | None, code: str, message: str | None = None) -> Event:
        """A model call with no content: its finish reason became the errorCode."""
        head: Event = {"modelVersion": MODEL_VERSION}
        if code == NO_CONTENT:
            head["content"] = {"parts": [], "role": "model"}
        if finish:
            head["finishReason"] = finish
        head["errorCode"] = code
        if message:
            head["errorMessage"] = message
        head["usageMetadata"] = self._usage("", 0)
        return head | self._tail(str(uuid.uuid4()), {})

    def usage_only(self) -> Event:
        """An event that carries nothing but token counts."""
        head = {"modelVersion": MODEL_VERSION, "usageMetadata": self._usage("", 0)}
        return head | self._tail(str(uuid.uuid4()), {})

    def padded(self, size: int) -> Event:
        """A valid event of about `size` bytes: a tool's long log."""
        event = self.tool_response([(new_call("render_log", {}), {"log": ""})], {})
        pad = max(size - len(frame(event)), 0)
        event["content"]["parts"][0]["functionResponse"]["response"]["log"] = "x" * pad
        return event

    def _model(
        self,
        parts: list[dict[str, Any]],
        partial: bool | None,
        usage: dict[str, int] | None,
        tool_ids: list[str] | None,
        shared_id: str,
        *,
        aggregate: bool = False,
    ) -> Event:
        event: Event = {}
        if not (aggregate and self.version == "1.39"):
            event["modelVersion"] = MODEL_VERSION
        event["content"] = {"parts": parts, "role": "model"}
        if partial is not None:
            event["partial"] = partial
        if usage is not None:
            event |= {"finishReason": "STOP", "usageMetadata": usage}
        event_id = shared_id if self.version != "1.39" else str(uuid.uuid4())
        return event | self._tail(event_id, {}, tool_ids)

    def _tail(
        self, event_id: str, delta: Mapping[str, Any], tool_ids: list[str] | None = None
    ) -> Event:
        """The keys every event ends with; `tool_ids`: the event's `longRunningToolIds`
        (only on events with a function call: empty unless a tool answers later)."""
        tail: Event = {
            "invocationId": self.invocation_id,
            "author": AUTHOR,
            "actions": {
                "stateDelta": dict(delta),
                "artifactDelta": {},
                "requestedAuthConfigs": {},
                "requestedToolConfirmations": {},
            },
        }
        if self.version != "1.39":
            tail["nodeInfo"] = dict(NODE_INFO)
        if tool_ids is not None:
            tail["longRunningToolIds"] = list(tool_ids)
        return tail | {"id": event_id, "timestamp": self.clock()}

    def _usage(self, text: str, calls: int) -> dict[str, int]:
        out = max(1, len(text) // 4) + 12 * calls
        return {
            "candidatesTokenCount": out,
            "promptTokenCount": self.prompt_tokens,
            "totalTokenCount": out + self.prompt_tokens,
        }


_TOKEN = re.compile(r"\S+\s*|\s+")


def split_text(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Deltas of about `size` characters, cut after a space when there is one."""
    pieces: list[str] = []
    for token in _TOKEN.findall(text):
        pieces += [token[i : i + size] for i in range(0, len(token), size)]
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + len(piece) <= size:
            chunks[-1] += piece
        else:
            chunks.append(piece)
    return chunks or [text]
