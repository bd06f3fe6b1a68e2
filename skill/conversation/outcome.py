"""How a turn ended: one typed outcome, decided here and nowhere else.

    replied   the agent answered in text
    edited    tools ran and the agent said nothing after them, or ended with no content
              (ADK's MODEL_RETURNED_NO_CONTENT): the state diff tells what changed
    asked     the agent's last message is a question: the user answers it
    partial   the agent failed, or the stream broke, after some tools ran: what changed
              is done, the rest is not; never re-send (that would repeat paid work)
    refused   a content filter (SAFETY, PROHIBITED_CONTENT, BLOCKLIST, RECITATION, ...)
              stopped the agent before any tool ran: say what to change
    failed    nothing happened: an error before any tool ran, a request error, or a
              stream with no valid event and no change in the state; safe to retry
    running   a long-running tool (the event's `longRunningToolIds`) is still going

Position decides (docs/protocol.md, "How a real ADK turn ends"): `Ledger` reads a
turn's events in order (the first failure, the tools at work, calls still open) and
`decide()` maps the resulting `Ending` to an `Outcome`: an error after a tool's call or
response means that work may be done, so it is never `failed` (never "safe to retry").
The codes are ADK's: `LlmResponse.create`
(google/adk/models/llm_response.py) copies a candidate's `finish_reason` into
`error_code` when the candidate has no content, and a prompt's `block_reason` when
there is no candidate; `_model_call.py` sets `MODEL_RETURNED_NO_CONTENT` on a STOP
with no meaningful content. The values are google-genai's `FinishReason` and
`BlockedReason` enums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from skill.common.errors import Refused, RenderDeadline
from skill.wire.events import (
    AdkEvent,
    AgentFailure,
    LongRunning,
    StateChange,
    ToolCall,
    ToolResult,
)


class Outcome(str, Enum):
    REPLIED = "replied"
    EDITED = "edited"
    ASKED = "asked"
    PARTIAL = "partial"
    REFUSED = "refused"
    FAILED = "failed"
    RUNNING = "running"

    @property
    def ok(self) -> bool:
        """The turn did what it could: exit 0."""
        return self in (Outcome.REPLIED, Outcome.EDITED, Outcome.ASKED, Outcome.RUNNING)


# The model returned nothing to say: after tools, the seed's "silent edit".
NO_CONTENT = frozenset({"MODEL_RETURNED_NO_CONTENT", "STOP"})
# A content filter: FinishReason SAFETY, RECITATION, LANGUAGE, BLOCKLIST, PROHIBITED_CONTENT,
# SPII, IMAGE_*; BlockedReason SAFETY, BLOCKLIST, PROHIBITED_CONTENT, IMAGE_SAFETY,
# MODEL_ARMOR, JAILBREAK.
REFUSALS = frozenset(
    {
        "SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
        "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR",
        "JAILBREAK",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Ending:
    """What one chat turn's stream showed, by position."""

    said: bool = False  # the agent's text reached the user
    asked: bool = False  # its last message is a question
    worked: bool = False  # a tool was called or answered, or the state changed
    failure: AgentFailure | None = None  # the first failure the stream reported
    open_calls: tuple[str, ...] = ()  # function calls that got no response
    running: tuple[str, ...] = ()  # long-running tool ids that got no response
    valid: bool = True  # at least one valid ADK event came
    broken: bool = False  # the stream dropped or stalled before its end
    changed: bool = False  # the draft differs from before the turn


def decide(e: Ending) -> Outcome:
    """The one mapping from how a turn ended to its outcome."""
    done = e.worked or e.changed  # ADK ends the run at a failure: work seen came before it
    if e.failure is not None:
        code = (e.failure.code or "").upper()
        if code in NO_CONTENT:
            if done:
                return Outcome.EDITED
            return Outcome.REPLIED if e.said else Outcome.FAILED
        if done:
            return Outcome.PARTIAL
        return Outcome.REFUSED if code in REFUSALS else Outcome.FAILED
    if e.broken or not e.valid:
        return Outcome.PARTIAL if done else Outcome.FAILED
    if e.running:
        return Outcome.RUNNING
    if e.open_calls:
        return Outcome.PARTIAL  # a tool was called and never answered: it may have started
    if e.asked:
        return Outcome.ASKED
    if e.said:
        return Outcome.REPLIED
    return Outcome.EDITED if done else Outcome.FAILED


@dataclass
class Ledger:
    """Notes a turn's events in order (make one per turn)."""

    worked: bool = False
    failure: AgentFailure | None = None
    calls: dict[str, None] = field(default_factory=dict)  # ordered set of open call ids
    long_running: dict[str, None] = field(default_factory=dict)

    def note(self, event: AdkEvent) -> None:
        if isinstance(event, ToolCall):
            self.worked = True
            if event.id:
                self.calls[event.id] = None
        elif isinstance(event, ToolResult):
            self.worked = True
            if event.id:
                self.calls.pop(event.id, None)
                self.long_running.pop(event.id, None)
        elif isinstance(event, StateChange):
            self.worked = True
        elif isinstance(event, LongRunning):
            self.long_running.update(dict.fromkeys(event.ids))
        elif isinstance(event, AgentFailure) and self.failure is None:
            self.failure = event

    def ending(
        self, *, said: bool, asked: bool, valid: bool, broken: bool, changed: bool
    ) -> Ending:
        running = tuple(i for i in self.long_running if i in self.calls)
        return Ending(
            said=said,
            asked=asked,
            worked=self.worked,
            failure=self.failure,
            open_calls=tuple(i for i in self.calls if i not in running),
            running=running,
            valid=valid,
            broken=broken,
            changed=changed,
        )


# Why a partial turn stopped: the template (prompts/*/chat.yaml) naming the reason.
_REASONS = {
    "MAX_TOKENS": "chat.reason_too_long",
    "MALFORMED_FUNCTION_CALL": "chat.reason_tool_call",
    "UNEXPECTED_TOOL_CALL": "chat.reason_tool_call",
    "TOO_MANY_TOOL_CALLS": "chat.reason_too_many_tools",
}


def reason_key(e: Ending) -> str:
    """The template key of why a partial turn did not finish."""
    if e.failure is not None:
        code = (e.failure.code or "").upper()
        if code in REFUSALS:
            return "chat.reason_filter"
        return _REASONS.get(code, "chat.reason_error")
    if e.broken or not e.valid:
        return "chat.reason_broken"
    return "chat.reason_unanswered"


def outcome_of_error(exc: BaseException) -> Outcome:
    """A turn that ended in an exception: refused by a filter, a render still going, or
    failed (a chat turn raises only when nothing was done: see ChatTurn.run)."""
    if isinstance(exc, Refused):
        return Outcome.REFUSED
    if isinstance(exc, RenderDeadline):
        return Outcome.RUNNING
    return Outcome.FAILED


# error.code → exit code; every other code (network, stream, render, backend codes) is 1.
EXIT_CODES = {"usage": 2, "input": 3, "config": 4, "interrupted": 130, "internal": 70}
EXIT_SIGTERM = 143


def exit_code(code: str | None) -> int:
    return 0 if code is None else EXIT_CODES.get(code, 1)


@dataclass(frozen=True)
class TurnOutcome:
    """What a turn ended as: its intent, its outcome (skill/conversation/outcome.py) and
    the error the user was told, if any. No outcome given: failed with an error, else replied."""

    intent: str
    error_code: str | None = None  # the error's `kind` (skill/common/errors.py)
    error_message: str | None = None
    outcome: Outcome | None = None

    def __post_init__(self) -> None:
        if self.outcome is None:
            chosen = Outcome.FAILED if self.error_code is not None else Outcome.REPLIED
            object.__setattr__(self, "outcome", chosen)

    @property
    def kind(self) -> Outcome:
        assert self.outcome is not None
        return self.outcome

    @property
    def exit_code(self) -> int:
        return 0 if self.kind.ok else max(exit_code(self.error_code), 1)

    def error_json(self) -> dict[str, Any] | None:
        if self.error_code is None:
            return None
        return {"code": self.error_code, "message": self.error_message}
