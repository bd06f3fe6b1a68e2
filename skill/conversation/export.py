"""The export flow: draft → render job → MP4 on disk → browser link.

    export ── state (draft ready?) ── journal ─┬─ delivered, file on disk ── hand it back
                                               ├─ pending, same draft ────── collect it
                                               └─ neither ── write pending ── submit ── poll ─┐
                      download ── verified .part ── rename ── delivered ◄── completed ◄──────┘

The render journal (see `journal`) is the single source of truth: an entry is written
*before* its submit and turns into a delivery, keyed by a hash of the draft and the
output options, only once the MP4 is on disk. So a crash, Ctrl-C, kill -9 or deadline
never orphans a render nor submits a second one: the next `export` of the same draft
collects the pending render or hands back the MP4 already delivered. `resume()` (run at
the start of every other turn, and by `nemo-video export --resume`) collects whatever
is pending, into the folder each was meant for.

Decisions:
- The draft is read from the backend (the truth); when that read fails the export
  fails too: a backend that cannot answer the state read cannot take the render either,
  and a stored draft may be stale.
- A submit the backend rejected (any APIError, 402 included) removes the pending entry;
  a submit whose answer was lost (TransportError) keeps it as "submitting", and the next
  resume asks the backend about it (unknown → dropped quietly).
- The file's name is written to the entry before its download opens it, so a killed
  download's `.part` is found and removed by the next export, which reuses the name; a
  name that exists already was renamed into place whole (only a verified file is).
- A download that fails (not a video, cut short twice, no file) keeps the render pending.
- When to poll is `polling`'s (just after the finish the render's pace predicts), until
  `render_deadline`; then the render is left running and kept pending.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from skill.common.config import Timings
from skill.common.errors import (
    APIError,
    InputError,
    NemoError,
    RenderCancelled,
    RenderDeadline,
    RenderFailed,
    RenderLost,
    RenderWithoutFile,
    TransportError,
)
from skill.common.logs import get_logger
from skill.common.output import Output
from skill.conversation import journal, polling, templates, timeline
from skill.conversation.outputs import check_folder, file_name, free_path
from skill.conversation.store import Conversation, ConversationStore, Delivered, PendingRender
from skill.wire import protocol
from skill.wire.protocol import ClaimToken, RenderJob, SessionState

log = get_logger("nemo.export")


Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Draft = Mapping[str, Any]

_NO_FILE = (404, 409, 410)  # a download answer that means "there is no file"


class RenderClient(Protocol):
    """What the export flow needs from `client.NemoClient`."""

    async def state(self, session_id: str) -> SessionState: ...

    async def submit_render(self, render_id: str, session_id: str, draft: Draft) -> RenderJob: ...

    async def render_status(self, render_id: str) -> RenderJob: ...

    async def download(
        self, url: str, dest: Path, progress: Callable[[int, int | None], None] | None = None
    ) -> Path: ...

    async def claim_token(self, task_id: str, session_id: str) -> ClaimToken: ...


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size: int
    render_id: str
    link: str | None


async def export(
    client: RenderClient,
    store: ConversationStore,
    *,
    out_dir: Path,
    lang: str,
    output: Output,
    timings: Timings,
    web_url: str,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.time,
    plan: polling.Plan = polling.estimate,
) -> ExportResult:
    """Deliver the conversation's draft as an MP4 in `out_dir`, rendering it only when the
    journal has neither a delivery nor a pending render of the same draft."""
    flow = _Flow(client, store, lang, output, timings, web_url, sleep, clock, plan)
    conv = await store.aload()
    if not conv.session_id:
        raise InputError("no backend session yet", key="export.no_session")
    sid = conv.session_id
    check_folder(out_dir, "export.bad_folder")
    journal.clear_leftovers(conv)
    draft = (await client.state(sid)).draft
    conv = await store.aupdate(lambda c: replace(c, draft=draft))
    if draft is None or not timeline.parse_draft(draft).ready:
        raise InputError("the draft has no track with segments", key="export.nothing_to_export")
    key = journal.draft_key(draft)
    if done := journal.delivered(conv, key):
        return await flow.hand_back(conv, done)
    same = journal.same_draft(conv, key, sid)
    for entry in [p for p in conv.pending if p not in same]:  # other drafts: ask once
        await flow.collect(entry)
    if same:
        flow.say("export.resuming", count=len(same))
        for entry in same:
            try:
                if result := await flow.follow(entry, wait=True, draft=draft):
                    return result
            except RenderLost as exc:  # gone on the server: render afresh below
                flow.say_error(exc)
    flow.say("export.starting")
    entry = await flow.submit(sid, draft, out_dir, attempt=1, key=key)
    result = await flow.follow(entry, wait=True, check_now=False, draft=draft)
    assert result is not None  # with wait=True follow delivers or raises
    return result


async def resume(
    client: RenderClient,
    store: ConversationStore,
    *,
    lang: str,
    output: Output,
    timings: Timings,
    web_url: str,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.time,
    wait: bool = True,
) -> list[ExportResult]:
    """Collect every pending render of the conversation into the folder it was meant for.

    wait=True (`export --resume`): poll each until delivered; errors are raised.
    wait=False (start of a turn): ask each once, deliver the finished ones, and say which
    are still rendering; an error becomes a line, never a failed turn.
    """
    flow = _Flow(client, store, lang, output, timings, web_url, sleep, clock)
    conv = await store.aload()
    journal.clear_leftovers(conv)
    results: list[ExportResult] = []
    for entry in conv.pending:
        if wait:
            flow.say("export.resuming", count=1)
            result = await flow.follow(entry, wait=True)
        else:
            result = await flow.collect(entry)
        if result is not None:
            results.append(result)
    return results


def _not_found(exc: APIError) -> bool:
    return exc.status == 404 or exc.code == 404


@dataclass
class _Flow:
    """One export or resume: the client, the conversation, and where lines go."""

    client: RenderClient
    store: ConversationStore
    lang: str
    out: Output
    timings: Timings
    web_url: str
    sleep: Sleep
    clock: Clock
    plan: polling.Plan = polling.estimate

    def say(self, key: str, **ctx: Any) -> None:
        self.out.reply(templates.render(key, self.lang, **ctx))

    def say_error(self, exc: NemoError) -> None:
        try:
            self.say(exc.key, **exc.details)
        except NemoError:  # a key without a line here: say the render is kept
            self.say("export.kept")

    async def _set_status(self, render_id: str, status: str, **more: Any) -> None:
        def change(c: Conversation) -> Conversation:
            jobs = (
                replace(p, status=status, **more) if p.render_id == render_id else p
                for p in c.pending
            )
            return replace(c, pending=tuple(jobs))

        await self.store.aupdate(change)

    async def collect(self, entry: PendingRender) -> ExportResult | None:
        """Ask once and deliver when finished; an error becomes a line (kept when the
        backend is unreachable: tried again next turn), never a failed turn."""
        try:
            return await self.follow(entry, wait=False)
        except NemoError as exc:
            log.warning("export.collect_failed", render_id=entry.render_id, error=exc.message)
            if not isinstance(exc, TransportError):
                self.say_error(exc)
            return None

    async def hand_back(self, conv: Conversation, done: Delivered) -> ExportResult:
        """The draft is unchanged since `done` was delivered: its MP4, no new render."""
        path = Path(done.path)
        log.info("export.unchanged", render_id=done.render_id)
        self.out.file(path)
        self.say(
            "export.unchanged", name=path.name, folder=str(path.parent),
            size_mb=round(done.size / 1e6, 1),
        )  # fmt: skip
        link = await self._link(conv, done.session_id)
        return ExportResult(path, done.size, done.render_id, link)

    async def submit(
        self,
        session_id: str,
        draft: Draft,
        out_dir: Path,
        *,
        attempt: int,
        key: str,
        replaces: str = "",
    ) -> PendingRender:
        """Write the pending entry, then submit; the entry it replaces goes in the same write."""
        taken = {p.render_id for p in (await self.store.aload()).pending} | {replaces}
        rid = journal.new_render_id(self.clock(), taken)
        entry = PendingRender(rid, session_id, str(out_dir), self.clock(), attempt, draft_key=key)
        await self.store.aupdate(lambda c: c.with_pending(entry).without_pending(replaces))
        try:
            await self.client.submit_render(entry.render_id, session_id, draft)
        except APIError:  # refused (402, bad draft, ...): the backend has no job
            await self.store.aupdate(lambda c: c.without_pending(entry.render_id))
            raise
        await self._set_status(entry.render_id, "submitted")
        log.info("export.submitted", render_id=entry.render_id, attempt=attempt)
        return replace(entry, status="submitted")

    async def follow(
        self,
        entry: PendingRender,
        *,
        wait: bool,
        check_now: bool = True,
        draft: Draft | None = None,
    ) -> ExportResult | None:
        """Poll `entry` to its end and deliver it; None when still running and not waiting."""
        try:
            job = await self._poll(entry, wait=wait, check_now=check_now)
            if job is None:
                return None
            if job.status == protocol.RENDER_CANCELLED:  # `nemo-video cancel`: never again
                await self.store.aupdate(lambda c: c.without_pending(entry.render_id))
                raise RenderCancelled(f"{entry.render_id} was cancelled", id=entry.render_id)
            if job.status != protocol.RENDER_FAILED:
                return await self._deliver(entry, job)
        except (TransportError, APIError):
            if wait:
                self.say("export.kept")
            raise
        log.warning("export.render_failed", render_id=entry.render_id, error=job.error)
        if entry.attempt >= 2:
            await self.store.aupdate(lambda c: c.without_pending(entry.render_id))
            raise RenderFailed(f"render failed twice: {job.error}", key="export.failed")
        self.say("export.retrying")
        if draft is None:
            draft = (await self.client.state(entry.session_id)).draft or {}
        out_dir, attempt = Path(entry.out_dir), entry.attempt + 1
        key = journal.draft_key(draft)
        retry = await self.submit(
            entry.session_id, draft, out_dir, attempt=attempt, key=key, replaces=entry.render_id
        )
        return await self.follow(retry, wait=wait, check_now=False, draft=draft)

    async def _poll(self, entry: PendingRender, *, wait: bool, check_now: bool) -> RenderJob | None:
        t = self.timings
        deadline = self.clock() + t.render_deadline
        schedule = self.plan(entry.submitted_at, t)
        until = deadline if wait else 0.0  # 429s are waited out only while waiting at all
        label = templates.render("export.rendering", self.lang)
        rid = entry.render_id
        if not check_now:
            if not wait:
                return None
            await self.sleep(schedule.first())
        while True:
            try:
                ask = lambda: self.client.render_status(rid)  # noqa: E731
                job = await polling.ask(ask, schedule, self.sleep, self.clock, until)
            except APIError as exc:
                if not _not_found(exc):
                    raise
                await self.store.aupdate(lambda c: c.without_pending(rid))
                log.warning("export.unknown_render", render_id=rid, was=entry.status)
                if entry.status == "submitting":  # the submit never reached the backend
                    return None
                raise RenderLost(f"the backend does not know {rid}") from None
            if entry.status == "submitting":  # its submit answer was lost, but it runs
                await self._set_status(rid, "submitted")
                entry = replace(entry, status="submitted")
            self.out.progress(label, job.progress or 0.0, 1.0)
            if job.done:
                return job
            if not wait:
                self.say("export.still_rendering")
                return None
            remaining = deadline - self.clock()
            if remaining <= 0:
                minutes = max(1, round(t.render_deadline / 60))
                raise RenderDeadline(f"{rid} still running", minutes=minutes)
            await self.sleep(min(schedule.after(job.progress, self.clock()), remaining))

    async def _deliver(self, entry: PendingRender, job: RenderJob) -> ExportResult:
        folder = Path(entry.out_dir)
        if journal.file_size(entry.dest) is not None:  # renamed whole; journal update lost
            return await self._delivered(entry, Path(entry.dest))
        fallback = protocol.render_download_path(entry.render_id)
        url = job.url or fallback
        check_folder(folder, "export.cannot_save")
        dest = Path(entry.dest) if entry.dest else None
        if dest is None or not dest.parent.samefile(folder):
            dest = free_path(folder, file_name(url, entry.render_id, entry.submitted_at))
        await self._set_status(entry.render_id, "downloading", dest=str(dest))  # before the .part
        label = templates.render("export.downloading", self.lang, name=dest.name)

        def progress(done: int, total: int | None) -> None:
            self.out.progress(label, done, total)

        try:
            try:
                path = await self.client.download(url, dest, progress)
            except APIError as exc:  # e.g. a signed URL that expired before a late resume
                if url == fallback:
                    raise
                log.warning("export.url_refused", render_id=entry.render_id, error=exc.message)
                path = await self.client.download(fallback, dest, progress)
        except APIError as exc:
            if exc.status in _NO_FILE or exc.code in _NO_FILE:
                raise RenderWithoutFile(f"{entry.render_id}: {exc.message}") from None
            raise
        except OSError as exc:
            raise InputError(
                f"{folder}: {exc.strerror}", key="export.cannot_save", folder=str(folder)
            ) from None
        return await self._delivered(entry, path)

    async def _delivered(self, entry: PendingRender, path: Path) -> ExportResult:
        size = journal.file_size(str(path)) or 0
        done = Delivered(entry.render_id, entry.session_id, entry.draft_key, str(path), size)
        conv = await self.store.aupdate(
            lambda c: c.without_pending(entry.render_id).with_delivered(done)
        )
        log.info("export.delivered", render_id=entry.render_id, bytes=size)
        self.out.file(path)
        self.say(
            "export.done", name=path.name, folder=str(path.parent), size_mb=round(size / 1e6, 1)
        )
        link = await self._link(conv, entry.session_id)
        return ExportResult(path, size, entry.render_id, link)

    async def _link(self, conv: Conversation, session_id: str) -> str | None:
        """The browser link through a claim token; skipped (logged) when it cannot be had."""
        if not conv.task_id or conv.session_id != session_id:
            return None
        try:
            claim = await self.client.claim_token(conv.task_id, session_id)
        except NemoError as exc:
            log.warning("export.no_claim_token", error=type(exc).__name__)
            return None
        link = protocol.claim_link(self.web_url, claim.token)
        self.say("export.link", url=link)
        self.out.link(link)
        return link
