"""Turn outcomes: every way a real ADK turn ends, decided in one place, told as it happened.

The frames are written as google-adk 2.13's API server writes them (`run_agent_sse`:
`Event.model_dump(exclude_none=True, by_alias=True)`, then `pydantic_core.to_json`; the
last-resort error frame with `json.dumps`): see tests/contract/ for the same endings
produced by a real ADK server.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from skill.common.errors import NemoError, StreamDropped
from skill.conversation.outcome import Ending, Outcome, decide, outcome_of_error
from skill.wire.events import AgentFailure
from skill.wire.sse import ServerSentEvent, SSEDecoder

from .test_chat import (
    DRAFT_TITLED,
    DRAFT_VIDEO,
    FAST,
    HEARTBEAT,
    Backend,
    frames,
    run,
    t,
)

TAIL = {
    "invocationId": "e-1",
    "author": "nemo_agent",
    "actions": {"stateDelta": {}, "artifactDelta": {}, "requestedAuthConfigs": {},
                "requestedToolConfirmations": {}},
    "nodeInfo": {"path": "nemo_agent@1"},
}  # fmt: skip
_ids = iter(range(10**6))


def ev(**kw: Any) -> ServerSentEvent:
    body = {**kw, **TAIL, "id": kw.pop("id", f"ev-{next(_ids)}"), "timestamp": 1795542066.1}
    return ServerSentEvent(json.dumps(body, separators=(",", ":")))


def say(text: str, finish: str = "STOP", **kw: Any) -> ServerSentEvent:
    return ev(content={"parts": [{"text": text}], "role": "model"}, finishReason=finish, **kw)


def call(name: str, call_id: str, **kw: Any) -> ServerSentEvent:
    part = {"functionCall": {"id": call_id, "args": {}, "name": name}}
    return ev(content={"parts": [part], "role": "model"}, finishReason="STOP", **kw)


def answer(name: str, call_id: str, delta: dict[str, Any] | None = None) -> ServerSentEvent:
    part = {"functionResponse": {"id": call_id, "name": name, "response": {"status": "ok"}}}
    body = {"content": {"parts": [part], "role": "user"}}
    sse = ev(**body)
    if delta:
        doc = json.loads(sse.data)
        doc["actions"]["stateDelta"] = delta
        sse = ServerSentEvent(json.dumps(doc, separators=(",", ":")))
    return sse


def ended(code: str, message: str | None = None, **kw: Any) -> ServerSentEvent:
    """A final event carrying ADK's errorCode (LlmResponse.create / _model_call.py)."""
    return ev(errorCode=code, **({"errorMessage": message} if message else {}), **kw)


def echo(kind: str = "ValueError", message: str = "boom") -> ServerSentEvent:
    """The API server's last frame when the run raised (json.dumps defaults)."""
    details = {"error_type": kind, "error_message": message, "timestamp": 1795542066.2}
    return ServerSentEvent(json.dumps({"error": f"{kind}: {message}", "error_details": details}))


TITLE_ADDED = [call("add_text", "c1"), answer("add_text", "c1", {"draft": DRAFT_TITLED})]
NO_CONTENT = ended(
    "MODEL_RETURNED_NO_CONTENT", "The model returned no content.", finishReason="STOP",
    content={"role": "model", "parts": []},
)  # fmt: skip
TITLE_LINE = 'Title added: "Paradise Found" (0-3s)'
PARTIAL = "chat.partial"


def partial(reason: str, changed: bool = True) -> str:
    return t(PARTIAL, reason=t(reason), changed=changed)


# (name, frames, drafts read after the turn, outcome, the lines the user reads)
ENDINGS: list[tuple[str, list[ServerSentEvent], list[Any], Outcome, list[str]]] = [
    ("text reply (2.13 non-streaming capture)", frames("adk-2.13-nonstreaming.sse"),
     [DRAFT_VIDEO], Outcome.REPLIED, ["Done! Clip c1 is now 5s long."]),
    ("streamed reply (2.13 capture)", frames("adk-2.13-streaming.sse"), [DRAFT_VIDEO],
     Outcome.REPLIED, ["Sure, trimming the clip now. Done! Clip c1 is now 5s long."]),
    ("tool, then MODEL_RETURNED_NO_CONTENT", [*TITLE_ADDED, NO_CONTENT], [DRAFT_TITLED],
     Outcome.EDITED, [TITLE_LINE]),
    ("text, tool, then no content", [say("Adding the title."), *TITLE_ADDED, NO_CONTENT],
     [DRAFT_TITLED], Outcome.EDITED, ["Adding the title.", TITLE_LINE]),
    ("tool, then nothing at all (silent edit)", TITLE_ADDED, [DRAFT_TITLED], Outcome.EDITED,
     [TITLE_LINE]),
    ("tool, then MAX_TOKENS", [*TITLE_ADDED, ended("MAX_TOKENS", finishReason="MAX_TOKENS")],
     [DRAFT_TITLED], Outcome.PARTIAL, [TITLE_LINE, partial("chat.reason_too_long")]),
    ("tool, then MALFORMED_FUNCTION_CALL",
     [*TITLE_ADDED, ended("MALFORMED_FUNCTION_CALL", finishReason="MALFORMED_FUNCTION_CALL")],
     [DRAFT_TITLED], Outcome.PARTIAL, [TITLE_LINE, partial("chat.reason_tool_call")]),
    ("tool, then TOO_MANY_TOOL_CALLS",
     [*TITLE_ADDED, ended("TOO_MANY_TOOL_CALLS", finishReason="TOO_MANY_TOOL_CALLS")],
     [DRAFT_TITLED], Outcome.PARTIAL, [TITLE_LINE, partial("chat.reason_too_many_tools")]),
    ("tool, then a text cut short by MAX_TOKENS (content and finishReason, no errorCode)",
     [*TITLE_ADDED, say("I also wanted to", "MAX_TOKENS")], [DRAFT_TITLED],
     Outcome.PARTIAL, ["I also wanted to", TITLE_LINE, partial("chat.reason_too_long")]),
    ("tool, then SAFETY", [*TITLE_ADDED, ended("SAFETY", finishReason="SAFETY")],
     [DRAFT_TITLED], Outcome.PARTIAL, [TITLE_LINE, partial("chat.reason_filter")]),
    ("SAFETY before any tool", [ended("SAFETY", finishReason="SAFETY")], [DRAFT_VIDEO],
     Outcome.REFUSED, [t("error.refused")]),
    ("PROHIBITED_CONTENT prompt block (no candidate)", [ended("PROHIBITED_CONTENT")],
     [DRAFT_VIDEO], Outcome.REFUSED, [t("error.refused")]),
    ("BLOCKLIST", [ended("BLOCKLIST", finishReason="BLOCKLIST")], [DRAFT_VIDEO],
     Outcome.REFUSED, [t("error.refused")]),
    ("RECITATION", [ended("RECITATION", finishReason="RECITATION")], [DRAFT_VIDEO],
     Outcome.REFUSED, [t("error.refused_recitation")]),
    ("MODEL_RETURNED_NO_CONTENT before any tool", [NO_CONTENT], [DRAFT_VIDEO],
     Outcome.FAILED, [t("error.agent")]),
    ("a question with choices",
     [say("Which aspect ratio would you like?\n- 16:9 (landscape)\n- 9:16 (vertical)")],
     [DRAFT_VIDEO], Outcome.ASKED,
     ["Which aspect ratio would you like? - 16:9 (landscape) - 9:16 (vertical)"]),
    ("a question answered by a tool is no longer the last word",
     [say("Shall I add a title?"), *TITLE_ADDED, say("Added it.")], [DRAFT_TITLED],
     Outcome.REPLIED, ["Shall I add a title? Added it."]),
    ("long-running tool still going",
     [call("generate_video", "c9", longRunningToolIds=["c9"])], [DRAFT_VIDEO],
     Outcome.RUNNING, [t("chat.running")]),
    ("long-running tool that answered", [call("generate_video", "c9", longRunningToolIds=["c9"]),
     answer("generate_video", "c9", {"draft": DRAFT_TITLED}), say("Done.")], [DRAFT_TITLED],
     Outcome.REPLIED, ["Done."]),
    ("a call with no response before the end", [call("add_text", "c1")], [DRAFT_VIDEO],
     Outcome.PARTIAL, [partial("chat.reason_unanswered", changed=False)]),
    ("1.x error frame before any tool", [ServerSentEvent('{"error": "boom"}')], [DRAFT_VIDEO],
     Outcome.FAILED, [t("error.agent")]),
    ("2.x error event and its echo before any tool", [ended("UNKNOWN_ERROR", "boom"), echo()],
     [DRAFT_VIDEO], Outcome.FAILED, [t("error.agent")]),
    ("the API server's error frame after a tool", [*TITLE_ADDED, echo()], [DRAFT_TITLED],
     Outcome.PARTIAL, [TITLE_LINE, partial("chat.reason_error")]),
    ("an error frame that is not JSON", [ServerSentEvent("{'error': 'Internal Server Error'")],
     [DRAFT_VIDEO], Outcome.FAILED, [t("error.agent")]),
    ("an 'Error: ...' text part", [say("Error: tool add_text failed: KeyError('t')")],
     [DRAFT_VIDEO], Outcome.FAILED, [t("error.agent")]),
    ("usageMetadata-only event, then text",
     [ev(usageMetadata={"promptTokenCount": 3, "totalTokenCount": 3}), say("Hi there.")],
     [DRAFT_VIDEO], Outcome.REPLIED, ["Hi there."]),
    ("the same event twice (same id, same bytes)", [say("Hello.", id="same")] * 2,
     [DRAFT_VIDEO], Outcome.REPLIED, ["Hello."]),
    ("an HTML body: no valid event, nothing changed", [], [DRAFT_VIDEO], Outcome.FAILED,
     [t("chat.no_stream")]),
    ("only broken frames, the state changed", [ServerSentEvent("<html>"), ServerSentEvent("{")],
     [DRAFT_TITLED], Outcome.PARTIAL, [TITLE_LINE, partial("chat.reason_broken")]),
    ("out of credits (2001) before any tool", [ended("2001", "insufficient credits"), echo()],
     [DRAFT_VIDEO], Outcome.FAILED, [t("error.out_of_credits", register_url="<link>")]),
    ("trailing temporary issue after a good turn",
     [*TITLE_ADDED, say("Added. I encountered a temporary issue.")], [DRAFT_TITLED],
     Outcome.REPLIED, ["Added."]),
]  # fmt: skip


async def turn_of(script: list[ServerSentEvent], states: list[Any]) -> tuple[Outcome, list[str]]:
    try:
        out, result = await run(Backend(script, states), DRAFT_VIDEO, timings=FAST)
    except NemoError as exc:
        return outcome_of_error(exc), [_line(exc)]
    return result.outcome, out.replies


def _line(exc: NemoError) -> str:
    ctx = {"register_url": "<link>", **exc.details}
    return t(exc.key, **ctx)


@pytest.mark.parametrize(
    ("frames_", "states", "outcome", "lines"),
    [e[1:] for e in ENDINGS],
    ids=[e[0] for e in ENDINGS],
)
async def test_each_real_ending_has_its_outcome_and_lines(
    frames_: list[ServerSentEvent], states: list[Any], outcome: Outcome, lines: list[str]
) -> None:
    got, replies = await turn_of(frames_, states)
    assert (got, replies) == (outcome, lines)
    if got is Outcome.PARTIAL or (got is Outcome.EDITED and states[-1] != DRAFT_VIDEO):
        assert TITLE_LINE in replies or partial("chat.reason_unanswered", False) in replies
    if got in (Outcome.PARTIAL, Outcome.EDITED, Outcome.RUNNING):  # tools ran: never re-send
        assert not any("safe to send" in r or "safe to ask" in r for r in replies)


def test_the_2x_echo_of_an_error_event_is_one_failure() -> None:
    body = (ended("UNKNOWN_ERROR", "boom").data, echo().data)
    sses = SSEDecoder().feed("".join(f"data: {b}\n\n" for b in body).encode())
    assert len(sses) == 2


DECISIONS = [
    (Ending(said=True), Outcome.REPLIED),
    (Ending(said=True, asked=True), Outcome.ASKED),
    (Ending(worked=True, changed=True), Outcome.EDITED),
    (Ending(changed=True), Outcome.EDITED),  # a change seen only in the state
    (Ending(), Outcome.FAILED),
    (Ending(valid=False), Outcome.FAILED),
    (Ending(valid=False, changed=True), Outcome.PARTIAL),
    (Ending(broken=True, worked=True), Outcome.PARTIAL),
    (Ending(broken=True), Outcome.FAILED),
    (Ending(worked=True, running=("c1",)), Outcome.RUNNING),
    (Ending(worked=True, open_calls=("c1",)), Outcome.PARTIAL),
    (Ending(failure=AgentFailure("SAFETY", "x")), Outcome.REFUSED),
    (Ending(failure=AgentFailure("SAFETY", "x"), worked=True), Outcome.PARTIAL),
    (Ending(failure=AgentFailure("MODEL_RETURNED_NO_CONTENT", "x"), worked=True),
     Outcome.EDITED),
    (Ending(failure=AgentFailure("MODEL_RETURNED_NO_CONTENT", "x"), said=True), Outcome.REPLIED),
    (Ending(failure=AgentFailure(None, "x"), worked=True), Outcome.PARTIAL),
    (Ending(failure=AgentFailure(None, "x")), Outcome.FAILED),
]  # fmt: skip


@pytest.mark.parametrize(("ending", "outcome"), DECISIONS)
def test_decide(ending: Ending, outcome: Outcome) -> None:
    assert decide(ending) is outcome
    assert outcome.ok is (outcome in {"replied", "edited", "asked", "running"})


class Counting(Backend):
    """A backend that notes whether the runtime read its stream to the end."""

    exhausted = False

    async def chat(self, session_id: str, text: str) -> Any:
        async for sse in super().chat(session_id, text):
            yield sse
        self.exhausted = True


async def test_an_error_mid_stream_never_disconnects_early() -> None:
    """ADK >= 2.2 cancels the run when the client goes: the stream is read to its end."""
    backend = Counting([*TITLE_ADDED, ended("RuntimeError", "boom"), echo()], [DRAFT_TITLED])
    _, result = await run(backend, DRAFT_VIDEO, timings=FAST)
    assert backend.exhausted and result.outcome is Outcome.PARTIAL


async def test_alternatives_offered_in_gui_words_run_each_action_once() -> None:
    said = (
        "Your video is ready! Click Export to download it, or open the timeline panel to "
        "preview it. You can also hit the Export button later."
    )
    out, result = await run(Backend([say(said)], [DRAFT_VIDEO]), DRAFT_VIDEO, timings=FAST)
    assert out.replies == ["Your video is ready!"]
    assert result.actions == ("export", "state")  # each once, in the order offered
    gui_words = ("click", "button", "panel", "hit ")
    assert not any(w in r.lower() for w in gui_words for r in out.replies)


STALL = replace(FAST, heartbeat_only_timeout=0.05, recovery_waits=(0.0,) * 5)


@pytest.mark.parametrize(
    ("states", "changed"), [([DRAFT_VIDEO, DRAFT_TITLED], True), ([DRAFT_VIDEO], False)],
    ids=["state-changed", "state-unchanged"],
)  # fmt: skip
async def test_a_stall_after_tools_is_partial_never_a_retry(
    states: list[Any], changed: bool
) -> None:
    script = [*TITLE_ADDED, HEARTBEAT, 1.0]  # tools ran, then heartbeats only
    out, result = await run(Backend(script, states), DRAFT_VIDEO, timings=STALL)
    assert result.outcome is Outcome.PARTIAL
    assert out.replies[-1] == partial("chat.reason_broken", changed=changed)
    assert (TITLE_LINE in out.replies) is changed
    assert t("chat.recovery_failed") not in out.replies


async def test_a_stall_before_any_tool_with_no_change_is_failed() -> None:
    with pytest.raises(StreamDropped):
        await run(Backend([HEARTBEAT, 1.0], [DRAFT_VIDEO]), DRAFT_VIDEO, timings=STALL)
