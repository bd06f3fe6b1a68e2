"""The export flow: draft → render job → MP4 on disk → browser link.

    export ── state (draft ready?) ── write pending ── submit ── poll ─┬─ completed ── download
                                                                      └─ failed ── one retry, new id

A render is written to the conversation as pending *before* it is submitted and
removed only once its MP4 is on disk, so a crash, Ctrl-C or deadline never orphans
it: `resume()` (run at the start of every turn, and by `nemo-video export --resume`)
picks it up from its recorded id and folder.

Decisions:
- The draft is read from the backend (the truth); when that read fails the export
  fails too: a backend that cannot answer the state read cannot take the render either,
  and a stored draft may be stale.
- A submit the backend rejected (any APIError, 402 included) removes the pending entry;
  a submit whose answer was lost (TransportError) keeps it as "submitting", and the next
  resume asks the backend about it (unknown → dropped quietly).
- `export()` while a render of the same session is still pending collects that render
  instead of submitting a second one.
- Polls start at `render_poll_first` and grow ×1.5 up to `render_poll_max` (the seed's
  30 s), until `render_deadline`; then the render is left running and kept pending.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import structlog

from skill.common.config import Settings, Timings
from skill.common.errors import (
    APIError,
    InputError,
    NemoError,
    RenderError,
    RenderFailed,
    TransportError,
)
from skill.common.output import Output
from skill.conversation import templates, timeline
from skill.conversation.store import Conversation, ConversationStore, PendingRender
from skill.wire import protocol
from skill.wire.protocol import ClaimToken, RenderJob, SessionState

log = structlog.get_logger("nemo.export")


class RenderLost(RenderError):
    """The backend no longer knows a render it had accepted."""

    key = "export.lost"


class RenderDeadline(RenderError):
    """The render outlived `render_deadline`; it keeps going and stays pending."""

    key = "export.deadline"


Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Draft = Mapping[str, Any]

GROWTH = 1.5  # each poll waits this much longer than the one before, up to render_poll_max
VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PART_STALE_S = 300.0  # a .part file untouched this long was left by a dead process


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
) -> ExportResult:
    """Render the conversation's draft and deliver the MP4 to `out_dir`."""
    flow = _Flow(client, store, lang, output, timings, web_url, sleep, clock)
    conv = store.load()
    if not conv.session_id:
        raise InputError("no backend session yet", key="export.no_session")
    waiting = [p for p in conv.pending if p.session_id == conv.session_id]
    if waiting:
        flow.say("export.resuming", count=len(waiting))
        delivered = []
        for entry in waiting:
            try:
                delivered.append(await flow.follow(entry, wait=True))
            except RenderLost as exc:  # gone on the server: render afresh below
                flow.say_error(exc)
        if found := [r for r in delivered if r is not None]:
            return found[-1]
    _check_folder(out_dir, "export.bad_folder")
    draft = (await client.state(conv.session_id)).draft
    store.update(lambda c: replace(c, draft=draft))
    if draft is None or not timeline.parse_draft(draft).ready:
        raise InputError("the draft has no track with segments", key="export.nothing_to_export")
    flow.say("export.starting")
    entry = await flow.submit(conv.session_id, draft, out_dir, attempt=1)
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
    results: list[ExportResult] = []
    for entry in store.load().pending:
        if wait:
            flow.say("export.resuming", count=1)
        try:
            result = await flow.follow(entry, wait=wait)
        except NemoError as exc:
            if wait:
                raise
            log.warning("export.collect_failed", render_id=entry.render_id, error=exc.message)
            if not isinstance(exc, TransportError):  # unreachable: kept, tried again next turn
                flow.say_error(exc)
            continue
        if result is not None:
            results.append(result)
    return results


def default_out_dir(settings: Settings, cwd: Path) -> Path:
    """NEMO_OUTPUT_DIR, else `nemovideo-exports/` in the working folder (`--out` wins over
    both; the caller handles it)."""
    return settings.output_dir or cwd / "nemovideo-exports"


def file_name(url: str, render_id: str, submitted_at: float) -> str:
    """A safe local name for the MP4: the server's file name reduced to [A-Za-z0-9._-]
    when it says something, else `nemovideo-<YYYYmmdd-HHMMSS>.mp4`."""
    raw = unquote(urlsplit(url).path).replace("\\", "/").rsplit("/", 1)[-1]
    stem, ext = os.path.splitext(raw)
    ext = ext.lower() if ext.lower() in VIDEO_EXTENSIONS else ".mp4"
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    safe = _UNSAFE.sub("-", ascii_stem).strip("-._")[:80].rstrip("-._")
    if not safe or safe.lower() == "download" or render_id in safe:
        stamp = datetime.fromtimestamp(submitted_at).strftime("%Y%m%d-%H%M%S")
        safe = f"nemovideo-{stamp}"
    return safe + ext


def free_path(folder: Path, name: str, now: float) -> Path:
    """`folder/name`, or `name-2`, `name-3`… when taken by a file or a live download."""
    stem, ext = os.path.splitext(name)
    n = 1
    while True:
        path = folder / (name if n == 1 else f"{stem}-{n}{ext}")
        part = path.with_name(path.name + ".part")
        busy = part.exists() and now - part.stat().st_mtime < _PART_STALE_S
        if not path.exists() and not busy:
            return path
        n += 1


def _check_folder(folder: Path, key: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, "not writable")
    except OSError as exc:
        raise InputError(f"{folder}: {exc.strerror}", key=key, folder=str(folder)) from None


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

    def say(self, key: str, **ctx: Any) -> None:
        self.out.reply(templates.render(key, self.lang, **ctx))

    def say_error(self, exc: NemoError) -> None:
        try:
            self.say(exc.key, **exc.details)
        except NemoError:  # a key without a line here: say the render is kept
            self.say("export.kept")

    def _set_status(self, render_id: str, status: str) -> None:
        def change(c: Conversation) -> Conversation:
            jobs = (replace(p, status=status) if p.render_id == render_id else p for p in c.pending)
            return replace(c, pending=tuple(jobs))

        self.store.update(change)

    def _new_id(self, taken: set[str]) -> str:
        ms = int(self.clock() * 1000)
        while f"render_{ms}" in taken:
            ms += 1
        return f"render_{ms}"

    async def submit(
        self, session_id: str, draft: Draft, out_dir: Path, *, attempt: int, replaces: str = ""
    ) -> PendingRender:
        """Write the pending entry, then submit; the entry it replaces goes in the same write."""
        taken = {p.render_id for p in self.store.load().pending} | {replaces}
        entry = PendingRender(
            self._new_id(taken), session_id, str(out_dir), self.clock(), attempt, "submitting"
        )
        self.store.update(lambda c: c.with_pending(entry).without_pending(replaces))
        try:
            await self.client.submit_render(entry.render_id, session_id, draft)
        except APIError:  # refused (402, bad draft, ...): the backend has no job
            self.store.update(lambda c: c.without_pending(entry.render_id))
            raise
        self._set_status(entry.render_id, "submitted")
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
            if job.status != protocol.RENDER_FAILED:
                return await self._deliver(entry, job)
        except (TransportError, APIError):
            if wait:
                self.say("export.kept")
            raise
        log.warning("export.render_failed", render_id=entry.render_id, error=job.error)
        if entry.attempt >= 2:
            self.store.update(lambda c: c.without_pending(entry.render_id))
            raise RenderFailed(f"render failed twice: {job.error}", key="export.failed")
        self.say("export.retrying")
        if draft is None:
            draft = (await self.client.state(entry.session_id)).draft or {}
        out_dir, attempt = Path(entry.out_dir), entry.attempt + 1
        retry = await self.submit(
            entry.session_id, draft, out_dir, attempt=attempt, replaces=entry.render_id
        )
        return await self.follow(retry, wait=wait, check_now=False, draft=draft)

    async def _poll(self, entry: PendingRender, *, wait: bool, check_now: bool) -> RenderJob | None:
        t = self.timings
        deadline = self.clock() + t.render_deadline
        delay = t.render_poll_first
        label = templates.render("export.rendering", self.lang)
        rid = entry.render_id
        if not check_now:
            if not wait:
                return None
            await self.sleep(delay)
            delay = min(delay * GROWTH, t.render_poll_max)
        while True:
            try:
                job = await self.client.render_status(rid)
            except APIError as exc:
                if not _not_found(exc):
                    raise
                self.store.update(lambda c: c.without_pending(rid))
                log.warning("export.unknown_render", render_id=rid, was=entry.status)
                if entry.status == "submitting":  # the submit never reached the backend
                    return None
                raise RenderLost(f"the backend does not know {rid}") from None
            if entry.status == "submitting":  # its submit answer was lost, but it runs
                self._set_status(rid, "submitted")
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
            await self.sleep(min(delay, remaining))
            delay = min(delay * GROWTH, t.render_poll_max)

    async def _deliver(self, entry: PendingRender, job: RenderJob) -> ExportResult:
        fallback = protocol.render_download_path(entry.render_id)
        url = job.url or fallback
        self._set_status(entry.render_id, "downloading")
        folder = Path(entry.out_dir)
        _check_folder(folder, "export.cannot_save")
        dest = free_path(folder, file_name(url, entry.render_id, entry.submitted_at), time.time())
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
        except OSError as exc:
            raise InputError(
                f"{folder}: {exc.strerror}", key="export.cannot_save", folder=str(folder)
            ) from None
        conv = self.store.update(
            lambda c: replace(c.without_pending(entry.render_id), exports=(*c.exports, str(path)))
        )
        size = path.stat().st_size
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
        self.say("export.link")
        self.out.link(link)
        return link
