"""One chat turn: stream the agent's reply and never leave the user in silence.

The agent's text is shown once, a sentence at a time, after GUI-speak is taken out
(`gui.translate`); its tool calls stay hidden. Around the stream run three clocks:
"still working" after `still_working_every` of silence, a timeout after
`heartbeat_only_timeout` with nothing but heartbeats, and the turn's hard cap.

A turn that ends without text reads the state and says what changed. A stream that
breaks is never re-sent (it would duplicate work and charge twice): the state is
read on a schedule (30 s, then 60 s, five reads) until a change shows, and the
user is told what happened either way.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from skill.common.config import Timings
from skill.common.errors import (
    AgentError,
    APIError,
    HeartbeatTimeout,
    NemoError,
    Refused,
    RequestTimeout,
    StreamDropped,
    StreamError,
    TransportError,
    TurnTimeout,
    UnexpectedResponse,
    error_for,
)
from skill.common.logs import get_logger
from skill.common.output import Output
from skill.common.resources import data_path
from skill.conversation import gui, templates, timeline
from skill.conversation.datafile import compile_any, read_yaml
from skill.conversation.outcome import REFUSALS, Ledger, Outcome, decide, reason_key
from skill.wire.events import (
    AdkEvent,
    AgentFailure,
    Malformed,
    MessageEnd,
    StateChange,
    Text,
    ToolCall,
    ToolResult,
    TurnEvents,
)
from skill.wire.protocol import SessionState
from skill.wire.sse import ServerSentEvent

log = get_logger("nemo.chat")

_END = object()


class ChatClient(Protocol):
    def chat(self, session_id: str, text: str) -> AsyncIterator[ServerSentEvent]: ...

    async def state(self, session_id: str) -> SessionState: ...


@dataclass(frozen=True)
class Phrases:
    temporary_issue: re.Pattern[str]
    sentence_end: re.Pattern[str]
    question_end: re.Pattern[str]


@cache
def load_phrases(path: Path | None = None) -> Phrases:
    """intents/chat.yaml, validated like the other data files (file, line and key named)."""
    root, top = read_yaml(path or data_path("intents", "chat.yaml"))
    fields = top.fields(root, ("temporary_issue", "sentence_end", "question_end"))
    issues, at = fields["temporary_issue"]
    end, end_at = fields["sentence_end"]
    question, question_at = fields["question_end"]
    return Phrases(
        compile_any([(item.text(p), item) for p, item in at.items(issues)]),
        compile_any([(end_at.text(end), end_at)]),
        compile_any([(question_at.text(question), question_at)]),
    )


@dataclass(frozen=True)
class ChatResult:
    shown_text: bool
    actions: tuple[str, ...]  # GUI actions the agent asked the user to do: export/state/credits
    hints: tuple[str, ...]  # template keys telling the user what to say instead
    draft: dict[str, Any] | None  # the draft after the turn, when it could be read
    recovered: bool = False
    outcome: Outcome = Outcome.REPLIED
    note: str | None = None  # partial: the line saying what did not finish
    error: NemoError | None = None  # partial: a backend error to tell after the note


class ChatTurn:
    def __init__(
        self,
        client: ChatClient,
        session_id: str,
        *,
        lang: str,
        output: Output,
        timings: Timings,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        phrases: Phrases | None = None,
    ) -> None:
        self.client, self.sid, self.lang, self.out = client, session_id, lang, output
        self.timings, self.sleep, self.clock = timings, sleep, clock
        self.phrases = phrases or load_phrases()
        self._pending = ""  # streamed text not yet cut into a whole sentence
        self._held: list[str] = []  # a "temporary issue" message, held back in case it is last
        self._holding = False  # inside that message: its next sentences are held with it
        self._shown = False
        self._open = ""  # the last character of the agent's reply still open on the output
        self._actions: list[str] = []
        self._hints: list[str] = []
        self._raw_ready_told = False
        self._last_said = 0.0
        self._asking = False  # the agent's last message asks the user something
        self._ledger, self._parser = Ledger(), TurnEvents()

    async def run(self, text: str, before_draft: Mapping[str, Any] | None) -> ChatResult:
        """Stream the turn to its end and say how it ended; raise when nothing happened
        (failed) or a filter refused it, return the result otherwise."""
        before = timeline.parse_draft(before_draft)
        self._ledger, self._parser = Ledger(), TurnEvents()
        try:
            await self._stream(text, before)
        except APIError:  # before any stream began (HTTP status or envelope code)
            self._flush(whole=True)
            raise
        except (StreamError, RequestTimeout) as exc:
            # The message reached the backend and may still be at work: never re-send.
            log.warning("chat.stream_broken", error=type(exc).__name__)
            self._flush(whole=False)
            self._pending = ""  # a sentence cut off mid-way says nothing useful
            return await self._recover(before_draft, exc)
        self._flush(whole=True)
        state = await self._read_state()
        draft = state.draft if state else None
        after = timeline.parse_draft(draft) if state else None
        changes = timeline.diff(before, after) if after is not None else ()
        ending = self._ledger.ending(
            said=self._shown, asked=self._asking, valid=self._parser.valid > 0,
            broken=False, changed=bool(changes),
        )  # fmt: skip
        outcome = decide(ending)
        log.info("chat.outcome", outcome=outcome.value, code=ending.failure and ending.failure.code)
        failure = _agent_error(ending.failure) if ending.failure else None
        if outcome in (Outcome.FAILED, Outcome.REFUSED):
            raise failure if failure is not None else _nothing_done(ending.valid)
        note = None
        if outcome is Outcome.PARTIAL:
            self._say(*timeline.describe_changes(changes, self.lang))
            reason = self._t(reason_key(ending))
            note = self._t("chat.partial", reason=reason, changed=bool(changes))
            self._say(note)
            failure = failure if isinstance(failure, APIError) else None
        elif outcome in (Outcome.EDITED, Outcome.RUNNING):
            if changes:
                self._say(*timeline.describe_changes(changes, self.lang))
            elif self._held and not self._shown:
                for sentence in self._held:
                    self._show(sentence)
            elif not self._shown and outcome is Outcome.EDITED:
                key = "chat.no_change" if after is not None else "chat.done_unverified"
                self._say(self._t(key))
        if outcome is Outcome.RUNNING:
            self._say(self._t("chat.running"))
        if after is not None and not before.ready and after.ready and outcome.ok:
            self._say(self._t("chat.all_tracks"), timeline.summarize(after, self.lang))
            self._actions = [a for a in self._actions if a != "state"]  # shown just now
        actions = tuple(self._actions) if outcome.ok else ()
        return ChatResult(
            self._shown, actions, tuple(self._hints), draft, outcome=outcome, note=note,
            error=failure,
        )  # fmt: skip

    async def recover(self, before_draft: Mapping[str, Any] | None) -> ChatResult:
        """The process reading this turn's stream died: never re-send, watch the state."""
        return await self._recover(before_draft, StreamDropped("the stream's reader died"))

    # -- the stream -------------------------------------------------------------------

    async def _stream(self, text: str, before: timeline.Timeline) -> None:
        queue: asyncio.Queue[object] = asyncio.Queue()
        pump = asyncio.create_task(self._pump(text, queue))
        t = self.timings
        start = last_event = self._last_said = self.clock()
        try:
            while True:
                now = self.clock()
                due = min(
                    self._last_said + t.still_working_every,
                    last_event + t.heartbeat_only_timeout,
                    start + t.turn_cap,
                )
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=max(0.0, due - now))
                except asyncio.TimeoutError:
                    now = self.clock()
                    if now >= start + t.turn_cap:
                        raise TurnTimeout(f"turn exceeded {t.turn_cap:.0f}s") from None
                    if now >= last_event + t.heartbeat_only_timeout:
                        raise HeartbeatTimeout(
                            f"only heartbeats for {t.heartbeat_only_timeout:.0f}s"
                        ) from None
                    self._say(self._t("chat.still_working"))
                    continue
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, ServerSentEvent)
                for event in self._parser.parse(item):
                    self._ledger.note(event)
                    if self._handle(event, before):
                        last_event = self.clock()
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    async def _pump(self, text: str, queue: asyncio.Queue[object]) -> None:
        try:
            async for sse in self.client.chat(self.sid, text):
                await queue.put(sse)
            await queue.put(_END)
        except Exception as exc:  # handed to the reader, which raises it in the turn's task
            await queue.put(exc)

    def _handle(self, event: AdkEvent, before: timeline.Timeline) -> bool:
        """React to one ADK event; True when it was real work, not a heartbeat.

        A failure is only noted (by the ledger): the stream is read to its end, since
        ADK >= 2.2 cancels the agent's run when the client disconnects."""
        if isinstance(event, Text):
            self._pending += event.text
            self._flush(whole=False)
            return True
        if isinstance(event, (MessageEnd, StateChange, ToolCall, ToolResult)):
            self._flush(whole=True)  # the agent's message so far is complete
            self._holding = False
            if not isinstance(event, MessageEnd):
                self._asking = False  # work after a question: it was not the last word
            if isinstance(event, StateChange):
                self._maybe_raw_ready(event.delta, before)
            return True
        if isinstance(event, AgentFailure):
            self._flush(whole=True)
            log.warning("chat.agent_failure", code=event.code, detail=event.message[:200])
            return True
        if isinstance(event, Malformed):
            log.warning("chat.malformed_frame", preview=event.preview)
        return False

    def _maybe_raw_ready(self, delta: Mapping[str, Any], before: timeline.Timeline) -> None:
        if self._raw_ready_told or before.ready or "draft" not in delta:
            return
        if any(
            tr.kind == "video" and tr.segments for tr in timeline.parse_draft(delta["draft"]).tracks
        ):
            self._raw_ready_told = True
            self._say(self._t("chat.raw_ready"))

    # -- text -------------------------------------------------------------------------

    def _flush(self, *, whole: bool) -> None:
        """Show every whole sentence streamed so far; `whole`: the rest is complete too."""
        parts = self.phrases.sentence_end.split(self._pending)
        self._pending = "" if whole else parts.pop()
        for sentence in (p.strip() for p in parts):
            if sentence:
                self._sentence(sentence)

    def _sentence(self, sentence: str) -> None:
        if self._holding or self.phrases.temporary_issue.search(sentence):
            self._held.append(sentence)  # "…a temporary issue. Please try again." goes whole
            self._holding = True
            return
        held, self._held = self._held, []
        for earlier in held:
            self._show(earlier)
        self._show(sentence)

    def _show(self, sentence: str) -> None:
        tr = gui.translate(sentence)
        self._actions += [a for a in tr.actions if a not in self._actions]
        self._hints += [h for h in tr.hints if h not in self._hints]
        text = tr.text.strip()
        if text:
            joined = self._open and not (_is_cjk(self._open) or _is_cjk(text[:1]))
            self.out.stream(" " + text if joined else text)
            self._shown, self._open = True, text[-1]
            self._asking = self._asking or bool(self.phrases.question_end.search(text))
            self._last_said = self.clock()

    def _say(self, *lines: str) -> None:
        for line in lines:
            self.out.reply(line)
        self._open = ""
        self._last_said = self.clock()

    def _t(self, key: str, **ctx: Any) -> str:
        return templates.render(key, self.lang, **ctx)

    # -- after a broken stream ----------------------------------------------------------

    async def _read_state(self) -> SessionState | None:
        try:
            return await self.client.state(self.sid)
        except (TransportError, APIError) as exc:  # the turn's outcome stands without it
            log.warning("chat.state_unreadable", error=type(exc).__name__)
            return None

    async def _recover(self, before_draft: Mapping[str, Any] | None, exc: Exception) -> ChatResult:
        """Never re-send: watch the state until the turn's work shows. Raise StreamDropped
        (chat.recovery_failed offers a retry) only when no tool was seen at work."""
        reason = "timeout" if isinstance(exc, (TurnTimeout, HeartbeatTimeout)) else "dropped"
        self._say(self._t(f"chat.recovering_{reason}"))
        before = timeline.parse_draft(before_draft)
        for wait in self.timings.recovery_waits:
            await self.sleep(wait)
            state = await self._read_state()
            if state is None or state.draft == before_draft or state.draft is None:
                continue
            after = timeline.parse_draft(state.draft)
            lines = timeline.describe_changes(timeline.diff(before, after), self.lang)
            self._say(self._t("chat.recovered"), *(lines or [timeline.summarize(after, self.lang)]))
            return self._broken(state.draft, changed=True)
        if self._ledger.worked:  # tools were at work: a retry could repeat paid work
            return self._broken(None, changed=False)
        raise StreamDropped(
            f"{type(exc).__name__}; no change after {len(self.timings.recovery_waits)} state reads",
            key="chat.recovery_failed",
        )

    def _broken(self, draft: dict[str, Any] | None, *, changed: bool) -> ChatResult:
        ending = self._ledger.ending(
            said=self._shown, asked=False, valid=True, broken=True, changed=changed
        )
        outcome = decide(ending)  # partial: work was seen, or the state changed
        note = self._t("chat.partial", reason=self._t(reason_key(ending)), changed=changed)
        self._say(note)
        return ChatResult(True, (), (), draft, recovered=True, outcome=outcome, note=note)


def _agent_error(event: AgentFailure) -> NemoError:
    code = event.code or ""
    digits = re.sub(r"\D", "", code)
    mapped = error_for(200, {"code": int(digits), "message": event.message}) if digits else None
    if mapped is not None and not isinstance(mapped, UnexpectedResponse):
        return mapped  # a backend code in the frame, e.g. 2001 out of credits
    detail = f"agent error {code}: {event.message}".strip()
    if code.upper() in REFUSALS:
        key = "error.refused_recitation" if "RECITATION" in code.upper() else None
        return Refused(detail, key=key, agent_code=code)
    return AgentError(detail, agent_code=code or None)


def _nothing_done(valid: bool) -> StreamError:
    if valid:
        return AgentError("no text and no tool at work in the turn", key="chat.nothing_done")
    return StreamError("the reply carried no valid ADK event", key="chat.no_stream")


def _is_cjk(ch: str) -> bool:
    return bool(ch) and ("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
