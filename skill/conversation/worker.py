"""The conversation's worker: the process that runs its turns, one at a time.

`say` queues a turn in the journal and starts a worker (detached, in a session of its
own: killing `say` or the host's shell never reaches it). The worker takes the turn
lock, then runs every queued turn in order through the ordinary `Runtime` (chat,
GUI-mapped actions, export, download), with an `Output` that writes each line into
the turn's record. It holds the chat stream open until the turn ends: closing it
early would abort the agent's run (ADK >= 2.2). When no turn is left it releases the
lock, looks once more (a `say` may have queued one meanwhile), then lingers: it waits
`NEMO_WORKER_LINGER` seconds (default 120) for its bell (skill/conversation/bell.py), so
the next message runs at once in a process that is ready, and exits when nobody rang.

A turn found `running` when the worker takes the lock belonged to a worker that died.
If its chat message had gone out (`submitted`), it is recovered by reading the state,
as after a dropped stream; it is never sent again. Otherwise it is run afresh.

SIGTERM (sent by `nemo-video cancel`) stops the running turn: its stream is closed
(which aborts the agent's run), the state is read, and the user is told what had been
done by then. An idle worker given SIGTERM exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

from skill.common.config import Settings, TokenStore
from skill.common.errors import NemoError
from skill.common.logs import get_logger
from skill.conversation import stores, templates
from skill.conversation.bell import Bell, ring
from skill.conversation.handoff import routed
from skill.conversation.intents import load_rules
from skill.conversation.outcome import TurnOutcome
from skill.conversation.runtime import Runtime
from skill.conversation.stop import cancel_until_done, report_stop
from skill.conversation.turns import (
    DONE,
    RUNNING,
    Entry,
    Journal,
    Progress,
    TurnBook,
    TurnJournal,
    TurnRecord,
)
from skill.wire.attribution import load_attribution
from skill.wire.client import NemoClient
from skill.wire.sse import ServerSentEvent

log = get_logger("nemo.worker")
PROGRESS_EVERY = 0.5  # seconds between progress writes (the last one always lands)
MAX_ATTEMPTS = 3  # workers a turn may outlive before it is given up
HANDOVER_WAIT = 5.0  # how long a new worker waits for the lock a probe may be holding


class JournalOutput:
    """An `Output` that appends to one turn's record in the journal."""

    def __init__(self, journal: TurnJournal, turn_id: str) -> None:
        self.journal, self.turn_id = journal, turn_id
        self._last_progress = 0.0

    def _add(self, entry: Entry) -> None:
        self.journal.update(lambda j: j.change(self.turn_id, lambda t: t.add(entry)))

    def stream(self, fragment: str) -> None:
        self._add(Entry("stream", fragment))

    def reply(self, line: str) -> None:
        self._add(Entry("reply", line))

    def file(self, path: Path) -> None:
        self._add(Entry("file", str(path)))

    def link(self, url: str) -> None:
        self._add(Entry("link", url))

    def progress(self, what: str, done: float, total: float | None) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_EVERY and (total is None or done < total):
            return
        self._last_progress = now
        value = Progress(what, float(done), None if total is None else float(total))
        self.journal.update(lambda j: j.change(self.turn_id, lambda t: replace(t, progress=value)))


class TurnClient(NemoClient):
    """The API client of a worker: notes in the journal that a chat message is going
    out *before* it goes, so a worker that dies mid-turn is never followed by a resend."""

    def __init__(self, settings: Settings, on_submit: Callable[[], None]) -> None:
        super().__init__(
            settings, attribution=load_attribution(), token_store=TokenStore(settings.config_dir)
        )
        self._on_submit = on_submit

    async def chat(self, session_id: str, text: str) -> AsyncIterator[ServerSentEvent]:
        self._on_submit()
        async for event in super().chat(session_id, text):
            yield event


def claim(journal: TurnJournal, pid: int) -> tuple[TurnRecord, bool] | None:
    """Mark the next turn running for `pid`: an orphan (its worker died) first, then the
    oldest queued one. Only the lock holder calls this. (turn, orphaned) or None."""
    found: list[tuple[TurnRecord, bool]] = []

    def change(j: Journal) -> Journal:
        orphan = j.active
        turn = orphan or (j.queued[0] if j.queued else None)
        if turn is None:
            return j
        started = turn.started_at or time.time()
        mine = replace(turn, status=RUNNING, worker_pid=pid, started_at=started,
                       attempts=turn.attempts + 1, intent=routed(turn))  # fmt: skip
        found.append((mine, orphan is not None))
        return j.with_turn(mine)

    journal.update(change)
    return found[0] if found else None


def finish(journal: TurnJournal, turn_id: str, result: TurnOutcome) -> None:
    def change(t: TurnRecord) -> TurnRecord:
        return replace(
            t, status=DONE, ended_at=time.time(), outcome=result.kind.value,
            intent=result.intent or t.intent,  # as the runtime routed it
            error=result.error_json(),
            exit_code=result.exit_code, progress=None,
        )  # fmt: skip

    journal.update(lambda j: j.change(turn_id, change))


async def run(settings: Settings, book: TurnBook, name: str) -> int:
    """The worker's life: take the lock, run turns until none is left, linger, exit."""
    lock, journal = book.lock(name), book.journal(name)
    current: list[asyncio.Future[TurnOutcome]] = []
    loop = asyncio.get_running_loop()
    stops: set[asyncio.Task[None]] = set()  # kept referenced until they are done

    where = book.bell(name) if settings.worker_linger > 0 else None
    listening: Bell | None = None
    stopping: list[bool] = []

    def stop() -> None:
        if not current:  # idle: leave
            stopping.append(True)
            if where is not None:
                ring(where)
        for f in current:
            task = loop.create_task(cancel_until_done(f))
            stops.add(task)
            task.add_done_callback(stops.discard)

    loop.add_signal_handler(signal.SIGTERM, stop)
    try:
        if not lock.acquire(HANDOVER_WAIT):
            return 0  # another worker runs this conversation's turns
        if where is not None:  # listening before the lock is let go: no ring is lost
            listening = Bell(where)
        with contextlib.suppress(NemoError):  # read now, not under the journal's lock in claim()
            load_rules()
        while True:
            claimed = claim(journal, os.getpid())
            if claimed is None:
                lock.release()
                if journal.read().busy and lock.acquire(1.0):
                    continue  # a turn was queued while we were letting go
                if listening is None or not await listening.wait(settings.worker_linger):
                    return 0
                if stopping or not lock.acquire(HANDOVER_WAIT):
                    return 0  # stopped, or a worker started meanwhile has the turn
                continue
            turn, orphaned = claimed
            if turn.attempts > MAX_ATTEMPTS:  # its workers keep dying: give up on it, say so
                line = templates.render("error.generic", turn.lang)
                JournalOutput(journal, turn.id).reply(line)
                finish(journal, turn.id, TurnOutcome(turn.intent, "error", line))
                continue
            await _run_turn(settings, journal, name, turn, orphaned, current)
    finally:
        lock.release()
        loop.remove_signal_handler(signal.SIGTERM)
        if listening is not None:
            listening.close()


async def _run_turn(
    settings: Settings,
    journal: TurnJournal,
    name: str,
    turn: TurnRecord,
    orphaned: bool,
    current: list[asyncio.Future[TurnOutcome]],
) -> None:
    store = stores.conversation_store(settings, name)
    if not orphaned:
        before = None
        with contextlib.suppress(NemoError):  # unreadable: the turn itself says so
            before = store.load().draft
        journal.update(lambda j: j.change(turn.id, lambda t: replace(t, before_draft=before)))
        turn = replace(turn, before_draft=before)
    out = JournalOutput(journal, turn.id)

    def submitted() -> None:
        journal.update(lambda j: j.change(turn.id, lambda t: replace(t, submitted=True)))

    async with TurnClient(settings, submitted) as client:
        rt = Runtime(settings, client, store, out, out_dir=Path(turn.out_dir or "."))
        rt.lang = turn.lang
        task = asyncio.ensure_future(_dispatch(rt, turn, orphaned))
        current.append(task)
        try:
            result = await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            now = journal.read().turn(turn.id) or turn  # `submitted` was set meanwhile
            result = await report_stop(rt, turn.intent, turn.before_draft, sent=now.submitted)
        except Exception as exc:  # a bug must end the turn, or every call would restart it
            log.exception("worker.turn_crashed", turn=turn.id, error=type(exc).__name__)
            line = templates.render("error.generic", turn.lang)
            out.reply(line)
            result = TurnOutcome(turn.intent, "error", line)
        finally:
            current.clear()
    log.info("worker.turn_done", turn=turn.id, outcome=result.kind.value, orphaned=orphaned)
    finish(journal, turn.id, result)


async def _dispatch(rt: Runtime, turn: TurnRecord, orphaned: bool) -> TurnOutcome:
    if turn.cancel:  # asked to stop before this worker took the turn
        raise asyncio.CancelledError
    if orphaned and turn.submitted:
        return await _recover(rt, turn)
    if turn.command == "say":
        return await rt.turn(turn.text, [Path(f) for f in turn.files])
    return await rt.command(turn.command)  # export | resume


async def _recover(rt: Runtime, turn: TurnRecord) -> TurnOutcome:
    """The worker that sent this turn's message died: the state tells what it did."""
    return await rt.recover(turn.intent, turn.before_draft)
