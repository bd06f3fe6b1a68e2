"""A turn, start to finish: route the message, run its flow, say what happened.

    route (intents) ─┬─ credits ─ balance lines
                     ├─ state ─── timeline summary
                     ├─ upload ── local checks → upload → (instruction? → chat)
                     ├─ export ── render → poll → download → link
                     └─ chat ──── stream → GUI actions (export/state/credits) → hints

Every turn but an export first collects renders a previous process left behind (an
export asks the render journal itself, so it never delivers one render and then submits
another). A lost backend session (1002) is replaced once and the call retried, but for
a chat turn only the steps before its post: a message is posted at most once. Every
error ends as one line from `prompts/`, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from skill.common.config import Settings, TokenStore
from skill.common.errors import (
    ConfigError,
    InputError,
    NemoError,
    OutOfCredits,
    PlanRequired,
    SessionNotFound,
    SessionRefused,
    UnsupportedFileType,
)
from skill.common.logs import get_logger
from skill.common.output import Output
from skill.conversation import attachments, intents, media, templates, timeline
from skill.conversation import export as export_flow
from skill.conversation.chat import ChatTurn
from skill.conversation.outcome import Outcome, TurnOutcome, outcome_of_error
from skill.conversation.store import Conversation, ConversationStore
from skill.wire.attribution import load_attribution
from skill.wire.client import NemoClient
from skill.wire.protocol import ACCEPTED_EXTENSIONS, MAX_UPLOAD_BYTES

log = get_logger("nemo.runtime")
T = TypeVar("T")


class Runtime:
    def __init__(
        self,
        settings: Settings,
        client: NemoClient,
        store: ConversationStore,
        output: Output,
        *,
        out_dir: Path,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings, self.client, self.store, self.out = settings, client, store, output
        self.out_dir, self.sleep = out_dir, sleep
        try:
            self.lang = store.load().language
        except ConfigError:  # an unreadable conversation file: every entry point says so
            self.lang = templates.DEFAULT_LANG

    # -- entry points -------------------------------------------------------------------

    async def turn(self, text: str, files: Sequence[Path] = ()) -> TurnOutcome:
        """One user message, with any attached files."""
        if text.strip():
            self.lang = templates.detect_language(text)
        intent = "chat"
        try:
            if not text.strip() and not files:
                raise InputError("an empty message", key="turn.empty_message")
            text, typed = attachments.extract(text)  # a path typed in the message is a file
            files = [*files, *(f for f in typed if f not in files)]
            route = intents.classify(text, files)
            intent = route.intent
            if intent == "upload":
                checked = [media.check_upload(p) for p in files]  # before any network call
                if not checked and not route.urls:
                    self._say("upload.nothing")
                    return TurnOutcome(intent)
                await self._collect_pending()
                await self._upload([c.path for c in checked], route.urls)
                if route.instruction:
                    return replace(await self._chat(route.instruction), intent=intent)
                self._say("turn.uploaded_next")
            else:
                if intent != "export":  # export asks the render journal itself
                    await self._collect_pending()
                return replace(await self._run(intent, text), intent=intent)
        except NemoError as exc:
            return self._failed(intent, exc)
        return TurnOutcome(intent)

    async def command(self, intent: str) -> TurnOutcome:
        """A direct command (`credits`, `status`, `export`, `resume`), no routing."""
        reported = "export" if intent == "resume" else intent  # `export --resume` exports
        try:
            if intent == "ready":
                await self._session(announce=False)
                await self._collect_pending()
                self._say("turn.ready")
            elif intent == "resume":
                results = await self._collect_pending(wait=True)
                if not results:
                    self._say("turn.nothing_pending")
            else:
                if intent != "export":  # export asks the render journal itself
                    await self._collect_pending()
                return replace(await self._run(intent, ""), intent=intent)
        except NemoError as exc:
            return self._failed(reported, exc)
        return TurnOutcome(reported)

    async def upload(self, items: Sequence[str]) -> TurnOutcome:
        """`nemo-video upload PATH|URL...`."""
        try:
            urls = [i for i in items if i.startswith(("http://", "https://"))]
            paths = [Path(i).expanduser() for i in items if i not in urls]  # noqa: ASYNC240
            checked = [media.check_upload(p) for p in paths]
            await self._upload([c.path for c in checked], urls)
            self._say("turn.uploaded_next")
        except NemoError as exc:
            return self._failed("upload", exc)
        return TurnOutcome("upload")

    async def recover(self, intent: str, before_draft: dict[str, Any] | None) -> TurnOutcome:
        """A turn whose chat message went out from a process that died: the state tells
        what it did (the message is never sent again)."""
        try:
            conv = await self._session(announce=False)
            assert conv.session_id
            turn = ChatTurn(
                self.client, conv.session_id, lang=self.lang, output=self.out,
                timings=self.settings.timings, sleep=self.sleep,
            )  # fmt: skip
            result = await turn.recover(before_draft)
        except NemoError as exc:
            return self._failed(intent, exc)
        if result.draft is not None:
            await self.store.aupdate(lambda c: replace(c, draft=result.draft))
        return TurnOutcome(intent, outcome=result.outcome)

    # -- flows --------------------------------------------------------------------------

    async def _run(self, intent: str, text: str) -> TurnOutcome:
        if intent == "credits":
            await self._credits()
        elif intent == "state":
            await self._state()
        elif intent == "export":
            await self._export()
        else:
            return await self._chat(text)
        return TurnOutcome(intent)

    async def _credits(self) -> None:
        c = await self.client.credits()
        self._say("turn.credits", available=c.available, frozen=c.frozen, total=c.total)

    async def _state(self) -> None:
        state = await self._with_session(lambda sid: self.client.state(sid))
        await self.store.aupdate(lambda conv: replace(conv, draft=state.draft))
        self.out.reply(timeline.summarize(timeline.parse_draft(state.draft), self.lang))

    async def _export(self) -> None:
        await self._with_session(  # export() reads the session from the store
            lambda _sid: export_flow.export(
                self.client, self.store, out_dir=self.out_dir, lang=self.lang, output=self.out,
                timings=self.settings.timings, web_url=self.settings.web_url, sleep=self.sleep,
            )
        )  # fmt: skip

    async def _upload(self, paths: Sequence[Path], urls: Sequence[str]) -> None:
        for path in paths:
            label = self._t("turn.uploading", name=path.name)
            sent = await self._with_session(
                lambda sid, p=path, lb=label: self.client.upload_file(  # type: ignore[misc]
                    sid, p, progress=lambda done, total: self.out.progress(lb, done, total)
                )
            )
            self._say("turn.uploaded", name=path.name, count=len(sent))
        for url in urls:
            await self._with_session(lambda sid, u=url: self.client.upload_url(sid, u))  # type: ignore[misc]
            self._say("turn.uploaded", name=url.rsplit("/", 1)[-1] or url, count=1)

    async def _chat(self, text: str) -> TurnOutcome:
        """One message, taken by the backend at most once. A lost session (1002) is
        replaced once and only the steps before the stream are retried: the state read,
        and a post the backend *refused* (SessionRefused: ADK's 404 instead of a stream,
        so nothing ran, like a 429). Once a stream has begun nothing is ever re-sent;
        a failure after it is recovered by reading state (ChatTurn)."""
        try:
            conv, before = await self._before_chat()
        except SessionNotFound:
            conv, before = await self._before_chat(renew=True)
        try:
            result = await self._turn(conv).run(text, before)
        except SessionRefused:
            conv, before = await self._before_chat(renew=True)
            try:
                result = await self._turn(conv).run(text, before)
            except SessionRefused as exc:  # a brand-new session refused too: say so
                raise SessionRefused(exc.message, key="chat.session_lost_unsent") from None
        if result.draft is not None:
            await self.store.aupdate(lambda c: replace(c, draft=result.draft))
        if result.outcome is Outcome.PARTIAL:
            if result.error is None:
                return TurnOutcome("chat", "partial", result.note, Outcome.PARTIAL)
            line = self.error_line(result.error)  # e.g. out of credits half-way
            self.out.reply(line)
            return TurnOutcome("chat", result.error.kind, line, Outcome.PARTIAL)
        try:
            for action in result.actions:  # each at most once (ChatTurn dedupes them)
                await self._gui_action(action)
        except NemoError as exc:  # the chat's work is done: never a reason to re-send it
            failed = self._failed("chat", exc)
            return replace(failed, outcome=Outcome.PARTIAL)
        for hint in result.hints:
            self._say(hint)
        return TurnOutcome("chat", outcome=result.outcome)

    def _turn(self, conv: Conversation) -> ChatTurn:
        assert conv.session_id
        return ChatTurn(
            self.client, conv.session_id, lang=self.lang, output=self.out,
            timings=self.settings.timings, sleep=self.sleep,
        )  # fmt: skip

    async def _before_chat(
        self, *, renew: bool = False
    ) -> tuple[Conversation, dict[str, Any] | None]:
        """The session and the draft before the turn (for its diff); nothing is sent yet."""
        conv = await self._session(renew=renew)
        assert conv.session_id
        try:
            return conv, (await self.client.state(conv.session_id)).draft
        except SessionNotFound:
            raise  # the caller opens a new session and tries once more
        except NemoError as exc:  # the last draft seen stands in for the diff's "before"
            log.warning("chat.state_before_unreadable", error=type(exc).__name__)
            return conv, conv.draft

    async def _gui_action(self, action: str) -> None:
        """What the agent told the user to click, done for them."""
        if action == "export":
            draft = (await self.store.aload()).draft
            if timeline.parse_draft(draft).ready:
                await self._export()
        elif action == "state":
            await self._state()
        elif action == "credits":
            await self._credits()

    async def _collect_pending(self, *, wait: bool = False) -> list[export_flow.ExportResult]:
        if not (await self.store.aload()).pending:
            return []
        return await export_flow.resume(
            self.client, self.store, lang=self.lang, output=self.out,
            timings=self.settings.timings, web_url=self.settings.web_url, sleep=self.sleep,
            wait=wait,
        )  # fmt: skip

    # -- session ------------------------------------------------------------------------

    async def _session(self, *, renew: bool = False, announce: bool = True) -> Conversation:
        conv = await self.store.aload()
        fresh = conv.session_id and conv.api_url == self.settings.api_url and not renew
        if fresh:
            return conv
        session = await self.client.create_session(self.lang)
        conv = await self.store.aupdate(
            lambda c: replace(
                c, api_url=self.settings.api_url, session_id=session.session_id,
                task_id=session.task_id, language=self.lang, draft=None,
            )
        )  # fmt: skip
        if announce:
            self._say("turn.session_renewed" if renew else "turn.connected")
        return conv

    async def _with_session(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run a session-scoped call; a session the backend lost is replaced once."""
        conv = await self._session()
        assert conv.session_id
        try:
            return await call(conv.session_id)
        except SessionNotFound:
            conv = await self._session(renew=True)
            assert conv.session_id
            return await call(conv.session_id)

    # -- lines --------------------------------------------------------------------------

    def _t(self, key: str, **ctx: Any) -> str:
        return templates.render(key, self.lang, **ctx)

    def _say(self, key: str, **ctx: Any) -> None:
        self.out.reply(self._t(key, **ctx))

    def _failed(self, intent: str, exc: NemoError) -> TurnOutcome:
        log.info("turn.failed", intent=intent, error=type(exc).__name__, detail=exc.message)
        line = self.error_line(exc)
        self.out.reply(line)
        if isinstance(exc, (OutOfCredits, PlanRequired)) and self.client.is_anonymous:
            self.out.link(self._register_url())  # the line carries it; links repeat it
        outcome = outcome_of_error(exc)
        if outcome is Outcome.RUNNING:  # a render still going: nothing went wrong
            return TurnOutcome(intent, outcome=outcome)
        return TurnOutcome(intent, exc.kind, line, outcome)

    def _register_url(self) -> str:
        return f"{self.settings.web_url}/register?bind={self.client.client_id}"

    def error_line(self, exc: NemoError) -> str:
        ctx: dict[str, Any] = {"detail": exc.message, **exc.details}
        key = exc.key
        if isinstance(exc, (OutOfCredits, PlanRequired)) and self.client.is_anonymous:
            ctx["register_url"] = self._register_url()
            if isinstance(exc, PlanRequired):  # "register to unlock export": a plan matter
                key = "error.plan_required_anonymous"
        elif isinstance(exc, OutOfCredits):
            key = "error.out_of_credits_registered"
        elif isinstance(exc, UnsupportedFileType):
            ctx["accepted"] = ", ".join(ACCEPTED_EXTENSIONS)
        ctx.setdefault("limit_mb", MAX_UPLOAD_BYTES // (1024 * 1024))
        try:
            return templates.render(key, self.lang, **ctx)
        except ConfigError:
            log.warning("turn.template_missing", key=key)
            return templates.render("error.generic", self.lang, **ctx)


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, store: ConversationStore, output: Output, *, out_dir: Path
) -> AsyncIterator[Runtime]:
    """A runtime with a client attributed from SKILL.md and the persisted token."""
    client = NemoClient(
        settings, attribution=load_attribution(), token_store=TokenStore(settings.config_dir)
    )
    async with client:
        yield Runtime(settings, client, store, output, out_dir=out_dir)
