"""A conversation's turns inside a long-lived process (the MCP server): one at a time.

    tool call ──▶ Lane.submit(work) ──▶ runs after the jobs before it, as its own task
        │
        └──▶ Lane.collect(bound, notify): progress notifications while jobs run; within
             the bound the outcome, else `running` (wait_for_turn collects it later)

A job belongs to the lane, not to the request that asked for it: a request that returns
`running`, or that the client cancels, leaves the job going. What a job says is delivered
once: each notification carries what no notification carried, each result what no result
carried. `cancel()` stops the running job (its stream is closed, which ends the agent's
run), drops the queued ones and says what had been done by then.

The lane lives in the server's process: a turn does not outlive the server itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from skill.common.errors import NemoError
from skill.common.output import CollectedOutput
from skill.conversation import templates, timeline
from skill.conversation.outcome import Outcome
from skill.conversation.runtime import Runtime, TurnOutcome

HEARTBEAT = 15.0  # seconds without news before a "still working" notification
PROGRESS_EVERY = 1.0  # at most one render/download progress notification a second
STATE_READ = 15.0  # how long a cancel waits to read what the turn had done

log = structlog.get_logger("nemo.lane")

Notify = Callable[[str], Awaitable[None]]
Work = Callable[[Runtime], Awaitable[TurnOutcome]]


@dataclass(eq=False)
class Job:
    intent: str
    lang: str
    out: CollectedOutput = field(default_factory=CollectedOutput)  # what a result carries
    feed: list[str] = field(default_factory=list)  # every fragment and line, for notifications
    task: asyncio.Task[TurnOutcome] | None = None
    outcome: str | None = None  # set when it ends
    result: TurnOutcome | None = None
    started: float | None = None
    before: Any = None  # the draft when it started: what a cancel compares with
    notified: int = 0
    progress: str | None = None  # the latest progress line, until notified

    @property
    def done(self) -> bool:
        return self.outcome is not None


class LiveOutput:
    """The runtime's Output: what the running job says goes into that job."""

    def __init__(self, lane: Lane | None = None) -> None:
        self.lane = lane
        self._last_progress = 0.0

    def _job(self, text: str) -> Job | None:
        job = self.lane.current if self.lane else None
        if job is not None and self.lane is not None and text:
            job.feed.append(text)
            self.lane.changed.set()
        return job

    def stream(self, fragment: str) -> None:
        if job := self._job(fragment):
            job.out.stream(fragment)

    def reply(self, line: str) -> None:
        if job := self._job(line):
            job.out.reply(line)

    def file(self, path: Path) -> None:
        if job := self._job(str(path)):
            job.out.file(path)

    def link(self, url: str) -> None:
        if job := self._job(url):
            job.out.link(url)

    def progress(self, what: str, done: float, total: float | None) -> None:
        job, now = self.lane.current if self.lane else None, time.monotonic()
        if job is None or self.lane is None or not total:
            return
        if now - self._last_progress < PROGRESS_EVERY and done < total:
            return
        self._last_progress = now
        percent = min(100, round(100 * done / total))
        job.progress = templates.render("mcp.progress", job.lang, what=what, percent=percent)
        self.lane.changed.set()


class Lane:
    """One conversation's jobs, run one after another on one runtime."""

    def __init__(self, runtime: Runtime, *, heartbeat: float = HEARTBEAT) -> None:
        self.runtime, self.heartbeat = runtime, heartbeat
        self.jobs: list[Job] = []  # not yet fully delivered
        self.current: Job | None = None
        self.changed = asyncio.Event()

    @property
    def busy(self) -> bool:
        return any(not j.done for j in self.jobs)

    def submit(self, intent: str, lang: str, work: Work) -> bool:
        """Queue `work`; it starts once the jobs before it end. True when it has to wait."""
        before = [j.task for j in self.jobs if j.task is not None and not j.done]
        job = Job(intent, lang)
        job.task = asyncio.get_running_loop().create_task(self._run(job, work, before))
        self.jobs.append(job)
        return bool(before)

    async def _run(
        self, job: Job, work: Work, before: list[asyncio.Task[TurnOutcome]]
    ) -> TurnOutcome:
        if before:
            await asyncio.wait(before)
        self.current, job.started = job, time.time()
        self.runtime.lang = job.lang
        with contextlib.suppress(NemoError):
            job.before = self.runtime.store.load().draft
        try:
            job.result = await work(self.runtime)
            job.outcome = job.result.kind.value
            return job.result
        except asyncio.CancelledError:
            job.result = TurnOutcome(job.intent, outcome=Outcome.PARTIAL)
            job.outcome = job.result.kind.value
            raise
        except Exception:  # a bug, not a user's problem: one line, never a traceback
            log.exception("lane.job_crashed", intent=job.intent)
            line = templates.render("error.generic", job.lang)
            job.out.reply(line)
            job.result = TurnOutcome(job.intent, "error", line)
            job.outcome = job.result.kind.value
            return job.result
        finally:
            self.current = None
            self.changed.set()

    async def collect(self, bound: float, notify: Notify) -> dict[str, Any]:
        """Wait up to `bound` seconds for every job in hand; the one result object."""
        loop = asyncio.get_running_loop()
        deadline = quiet_since = loop.time()
        deadline += bound
        while True:
            self.changed.clear()
            if await self._notify(notify):
                quiet_since = loop.time()
            remaining = deadline - loop.time()
            if not self.busy or remaining <= 0:
                break
            if loop.time() - quiet_since >= self.heartbeat:
                await notify(self.running_line())
                quiet_since = loop.time()
            wake = min(remaining, self.heartbeat - (loop.time() - quiet_since))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), max(wake, 0.0))
        await self._notify(notify)
        return self._deliver()

    async def _notify(self, notify: Notify) -> bool:
        sent = False
        for job in self.jobs:
            while job.notified < len(job.feed):
                job.notified += 1
                await notify(job.feed[job.notified - 1])
                sent = True
            if job.progress:
                line, job.progress = job.progress, None
                await notify(line)
                sent = True
        return sent

    def _deliver(self, intent: str | None = None, tail: tuple[str, ...] = ()) -> dict[str, Any]:
        """Everything not yet delivered, as one object; finished jobs leave the lane."""
        out = CollectedOutput()
        for job in self.jobs:
            out.replies += job.out.replies
            out.files += job.out.files
            out.links += job.out.links
            job.out = CollectedOutput()
        running = next((j for j in self.jobs if not j.done), None)
        finished = [j for j in self.jobs if j.done]
        self.jobs = [j for j in self.jobs if not j.done]
        for line in tail:
            out.reply(line)
        if running is not None:
            out.reply(self.running_line())
            doc = out.as_json(intent or running.intent, None, Outcome.RUNNING.value)
            return {**doc, "next": {"tool": "wait_for_turn"}}
        if not finished:
            out.reply(templates.render("mcp.nothing_running", self.runtime.lang))
            return {**out.as_json(intent or "wait", None), "next": None}
        last = finished[-1]
        error = last.result.error_json() if last.result else None
        doc = out.as_json(intent or last.intent, error, last.outcome or Outcome.REPLIED.value)
        # a render that outlived its deadline: the next export collects it
        return {**doc, "next": {"tool": "export"} if last.outcome == "running" else None}

    def running_line(self) -> str:
        job = next((j for j in self.jobs if not j.done), None)
        lang = job.lang if job else self.runtime.lang
        started = job.started if job and job.started else time.time()
        minutes, seconds = divmod(int(time.time() - started), 60)
        return templates.render("mcp.still_working", lang, minutes=minutes, seconds=seconds)

    async def cancel(self) -> dict[str, Any]:
        """Stop the running job, drop the queued ones; say what was done by then."""
        running = self.current
        queued = [j for j in self.jobs if not j.done and j is not running]
        lang = running.lang if running else self.runtime.lang
        stopping = [j for j in [running, *queued] if j is not None and j.task is not None]
        if not stopping:
            return self._deliver("cancel")  # says nothing is running, with anything undelivered
        for job in stopping:
            job.task.cancel()  # type: ignore[union-attr]
        await asyncio.wait([j.task for j in stopping if j.task is not None])
        for job in queued:  # never started: nothing of theirs reached the backend
            job.result = TurnOutcome(job.intent, outcome=Outcome.PARTIAL)
            job.outcome = job.result.kind.value
        lines = [templates.render("mcp.cancelled", lang)]
        if running is not None:
            lines += await self._done_by_then(running)
        if queued:
            lines.append(templates.render("mcp.cancelled_queued", lang, count=len(queued)))
        if self.runtime.store.load().pending:
            lines.append(templates.render("mcp.render_kept", lang))
        return self._deliver("cancel", tuple(lines))

    async def _done_by_then(self, job: Job) -> list[str]:
        conv = self.runtime.store.load()
        if not conv.session_id:
            return [templates.render("mcp.cancelled_nothing", job.lang)]
        try:
            state = await asyncio.wait_for(self.runtime.client.state(conv.session_id), STATE_READ)
        except (NemoError, TimeoutError):
            return [templates.render("mcp.cancelled_unknown", job.lang)]
        changes = timeline.diff(timeline.parse_draft(job.before), timeline.parse_draft(state.draft))
        lines = timeline.describe_changes(changes, job.lang)
        if not lines:
            return [templates.render("mcp.cancelled_nothing", job.lang)]
        return [templates.render("mcp.cancelled_done", job.lang), *lines]
