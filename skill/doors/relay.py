"""What the MCP server does for each tool: turns through the conversation's worker,
commands on a runtime of its own.

    send_message, export ──▶ handoff.submit ──▶ the conversation's worker (detached)
    wait_for_turn ─────────▶ handoff.attach: within the bound the outcome, else `running`
    cancel ────────────────▶ host.cancel: stops the turn, drops queued ones, cancels renders
    get_credits, get_timeline, upload, new_project ──▶ this process's runtime, at once

Turns are the long-turns machinery (skill/conversation/handoff.py): one at a time per
conversation, across this server and any `nemo-video say` on the same conversation; a
turn outlives the request, and the server too. While a request waits, every entry the
worker writes (the agent's text as it streams, each line), render and download progress
and a "still working" heartbeat go out as progress notifications; the result carries
each entry once (the journal counts what was delivered). A request the client cancels
leaves its delivery for the next result, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skill.common.config import Settings, TokenStore
from skill.common.errors import ConfigError, InputError, NemoError
from skill.common.logs import get_logger
from skill.common.output import CollectedOutput
from skill.conversation import handoff, stores, templates
from skill.conversation.handoff import Delivery
from skill.conversation.outcome import TurnOutcome
from skill.conversation.runtime import Runtime
from skill.conversation.store import ConversationStore
from skill.doors import host
from skill.wire.attribution import load_attribution
from skill.wire.client import NemoClient

log = get_logger("nemo.relay")

WAIT = {"tool": "wait_for_turn"}
POLL = 0.2  # how often a waiting request looks at progress
HEARTBEAT = 15.0  # seconds without news before a "still working" notification

Notify = Callable[[str], Awaitable[None]]


class Feed:
    """Progress notifications in order, put from any thread, sent by one task."""

    def __init__(self, loop: asyncio.AbstractEventLoop, notify: Notify) -> None:
        self.loop, self.notify = loop, notify
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.last = time.monotonic()  # when the last one was put

    def put(self, message: str) -> None:
        self.last = time.monotonic()
        self.loop.call_soon_threadsafe(self.queue.put_nowait, message)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)

    async def send(self) -> None:
        while (message := await self.queue.get()) is not None:
            await self.notify(message)


@dataclass
class Conversation:
    name: str
    runtime: Runtime | None = None  # for the direct commands, opened on first use
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)  # one direct command at a time
    undelivered: list[dict[str, Any]] = field(default_factory=list)  # cancelled requests'


class Relay:
    """The server's conversations, by client session."""

    def __init__(
        self, settings: Settings, out_dir: Path, *, name: str | None = None,
        wait: float = 45.0, heartbeat: float = HEARTBEAT,
    ) -> None:  # fmt: skip
        self.settings, self.out_dir, self.name = settings, out_dir, name
        self.wait, self.heartbeat = wait, heartbeat
        self.book = stores.turn_book(settings)
        self.sessions: dict[str, str] = {}  # client session -> conversation name
        self.conversations: dict[str, Conversation] = {}
        self.stack = contextlib.AsyncExitStack()

    def conversation(self, session_key: str) -> Conversation:
        name = self.name or self.sessions.setdefault(session_key, f"mcp-{uuid.uuid4().hex[:8]}")
        return self.conversations.setdefault(name, Conversation(name))

    def store(self, conv: Conversation) -> ConversationStore:
        return stores.conversation_store(self.settings, conv.name)

    def language(self, conv: Conversation, text: str = "") -> str:
        if text.strip():
            return templates.detect_language(text)
        try:
            return self.store(conv).load().language
        except NemoError:
            return templates.DEFAULT_LANG

    # -- turns ----------------------------------------------------------------------------

    async def say(self, conv: Conversation, text: str, files: Sequence[str], notify: Notify,
                  ) -> dict[str, Any]:  # fmt: skip
        """One user message, handed to the conversation's worker exactly as `say` does."""
        lang = self.language(conv, text)
        paths = [Path(f).expanduser() for f in files]  # noqa: ASYNC240 - no I/O
        take = functools.partial(host.hand_over, self.book, conv.name, text, paths,
                                 out_dir=self.out_dir, lang=lang)  # fmt: skip
        intent, sub = await asyncio.to_thread(take)
        if sub is None:  # "stop": the running turn is cancelled instead
            return await self.cancel(conv)
        queued = sub.kind == "queued"
        prefix = [templates.render("turns.queued", lang, text=text)] if queued else []
        return await self.collect(conv, intent, notify, prefix)

    async def export(self, conv: Conversation, notify: Notify) -> dict[str, Any]:
        lang = self.language(conv)
        submit = functools.partial(
            handoff.submit, self.book, conv.name, "export", out_dir=str(self.out_dir),
            lang=lang, intent="export",
        )  # fmt: skip
        await asyncio.to_thread(submit)
        return await self.collect(conv, "export", notify)

    async def collect(self, conv: Conversation, intent: str, notify: Notify,
                      prefix: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
        """Attach to the conversation's turns up to the bound, notifying as they go."""
        loop = asyncio.get_running_loop()
        feed = Feed(loop, notify)
        seen, final = CollectedOutput(), []
        for line in prefix:
            seen.reply(line)
            feed.put(line)

        def partial(d: Delivery) -> None:  # in attach's thread: entries as they come
            host.replay(d.entries, seen)
            for entry in d.entries:
                feed.put(entry.text)

        def emit(d: Delivery) -> None:  # in attach's thread, once: the rest and the outcome
            partial(d)
            final.append(d)

        attach = functools.partial(handoff.attach, self.book, conv.name, self.wait,
                                   emit=emit, partial=partial, intent=intent)  # fmt: skip
        attached = loop.run_in_executor(None, attach)
        sending = asyncio.ensure_future(feed.send())
        watching = asyncio.ensure_future(self._watch(conv, feed))
        try:
            await asyncio.shield(attached)
        except asyncio.CancelledError:  # the client gave up: what it missed comes next time
            attached.add_done_callback(lambda _f: conv.undelivered.append(document(seen, final[0])))
            raise
        finally:
            watching.cancel()
            feed.close()
        await sending  # every notification goes out before the result
        return merged([*self._take_undelivered(conv), document(seen, final[0])])

    def _take_undelivered(self, conv: Conversation) -> list[dict[str, Any]]:
        docs, conv.undelivered = conv.undelivered, []
        return docs

    async def _watch(self, conv: Conversation, feed: Feed) -> None:
        """Render/download progress as it changes, and "still working" when all is quiet."""
        last = ""
        while True:
            await asyncio.sleep(POLL)
            journal = await asyncio.to_thread(self.book.journal(conv.name).read)
            active = journal.active
            progress = active.progress if active else None
            fraction = progress.fraction if progress else None
            if active is not None and progress is not None and fraction is not None:
                percent = min(100, round(100 * fraction))
                line = templates.render("mcp.progress", active.lang, what=progress.what,
                                        percent=percent)  # fmt: skip
                if line != last:
                    feed.put(line)
                    last = line
                    continue
            if active is not None and time.monotonic() - feed.last >= self.heartbeat:
                feed.put(handoff.running_line(active))

    async def cancel(self, conv: Conversation) -> dict[str, Any]:
        lang = self.language(conv)
        stop = functools.partial(host.cancel, self.settings, self.book, self.store(conv), lang=lang)
        doc = await asyncio.to_thread(stop)
        return merged([*self._take_undelivered(conv), doc])

    # -- direct commands ------------------------------------------------------------------

    async def command(self, conv: Conversation, run: Callable[[Runtime], Awaitable[TurnOutcome]],
                      ) -> dict[str, Any]:  # fmt: skip
        """A command that is not a turn (credits, timeline, upload, new), on this process's
        runtime whose backend connection stays open."""
        async with conv.busy:
            if conv.runtime is None:
                client = NemoClient(self.settings, attribution=load_attribution(),
                                    token_store=TokenStore(self.settings.config_dir))  # fmt: skip
                await self.stack.enter_async_context(client)
                conv.runtime = Runtime(self.settings, client, self.store(conv),
                                       CollectedOutput(), out_dir=self.out_dir)  # fmt: skip
            rt = conv.runtime
            rt.out = out = CollectedOutput()
            with contextlib.suppress(NemoError):
                rt.lang = self.store(conv).load().language
            outcome = await run(rt)
            return out.as_json(outcome.intent, outcome.error_json(), outcome.kind.value)


async def guarded(intent: str, lang: str, work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """`work`'s object; a problem outside the runtime's own handling (an unreadable journal,
    a bug) becomes a failed one with its user-facing line, never a stack trace."""
    try:
        return await work
    except NemoError as exc:
        log.info("relay.failed", intent=intent, error=type(exc).__name__, detail=exc.message)
        code = "config" if isinstance(exc, ConfigError) else "input" if isinstance(
            exc, InputError) else "error"  # fmt: skip
        try:
            line = templates.render(exc.key, lang, detail=exc.message, **exc.details)
        except NemoError:
            line = templates.render("error.generic", lang)
    except Exception:  # a bug: logged with its traceback, the user gets one line
        log.exception("relay.crashed", intent=intent)
        code, line = "error", templates.render("error.generic", lang)
    out = CollectedOutput()
    out.reply(line)
    return {**out.as_json(intent, {"code": code, "message": line}, "failed"), "next": None}


async def new_project(rt: Runtime) -> TurnOutcome:
    """`nemo-video new`: a fresh project (renders still running are kept)."""
    rt.store.reset()
    rt.out.reply(templates.render("turn.new_project", rt.lang))
    return TurnOutcome("new")


def document(seen: CollectedOutput, d: Delivery) -> dict[str, Any]:
    """The object for one attach: everything it delivered, how things stand."""
    if d.running_line:
        seen.reply(d.running_line)
    return seen.as_json(d.intent, d.error, d.outcome)


def merged(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several deliveries as one object: every line in order, the last one's outcome."""
    out = CollectedOutput()
    for doc in docs:
        out.replies += doc["replies"]
        out.files += [Path(f) for f in doc["files"]]
        out.links += doc["links"]
    last = docs[-1]
    doc = out.as_json(last["intent"], last["error"], last["outcome"])
    return {**doc, "next": WAIT if last["outcome"] == "running" else None}
