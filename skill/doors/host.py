"""The commands a host runs for turns that outlive it: `say` and `export` (handed to the
conversation's worker), `wait`, `cancel`, `jobs`, and the hidden `worker` itself.

Each returns within its bound (`--wait SECONDS`, default 90 or NEMO_WAIT; `forever`
for a terminal user) with the outcome, or `"outcome": "running"`, a line saying how it
is going, and `"next": {"command": "nemo-video wait --json"}` for the host.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from skill.common.config import Settings, TokenStore
from skill.common.errors import APIError, NemoError
from skill.common.output import CollectedOutput, Output
from skill.conversation import handoff, stores, templates
from skill.conversation.handoff import NEXT, Delivery
from skill.conversation.store import ConversationStore
from skill.conversation.turns import Entry, Journal, TurnBook, TurnRecord

CANCEL_WAIT = 30.0  # how long `cancel` waits for the worker to stop and report


def run(args: argparse.Namespace, settings: Settings, store: ConversationStore, out_dir: Path,
        json_mode: bool) -> int:  # fmt: skip
    book = stores.turn_book(settings)
    name = store.name
    if args.command == "worker":
        import asyncio

        from skill.conversation import worker  # the runtime: only the worker needs it

        return asyncio.run(worker.run(settings, book, name))
    if args.command == "jobs":
        return _print(jobs(settings, book), json_mode)
    if args.command == "cancel":
        return _print(cancel(settings, book, store, lang=_language(store)), json_mode)
    wait_s: float | None = args.wait
    if args.command == "wait":
        return _collect(book, name, wait_s, json_mode, intent="wait")
    if args.command == "export":
        command = "resume" if args.resume else "export"
        lang = _language(store)
        sub = handoff.submit(book, name, command, out_dir=str(out_dir), lang=lang,
                             intent="export")  # fmt: skip
        return _collect(book, name, wait_s, json_mode, intent="export", sub=sub, lang=lang)
    return _say(args, settings, book, store, out_dir, wait_s, json_mode)


def _say(args: argparse.Namespace, settings: Settings, book: TurnBook,
         store: ConversationStore, out_dir: Path, wait_s: float | None, json_mode: bool,
         ) -> int:  # fmt: skip
    text: str = args.text
    lang = templates.detect_language(text) if text.strip() else _language(store)
    intent, sub = hand_over(book, store.name, text, args.file, out_dir=out_dir, lang=lang)
    if sub is None:
        return _print(cancel(settings, book, store, lang=lang), json_mode)
    return _collect(book, store.name, wait_s, json_mode, intent=intent, sub=sub, lang=lang,
                    text=text)  # fmt: skip


def hand_over(book: TurnBook, name: str, text: str, files: Sequence[Path], *,
              out_dir: Path, lang: str) -> tuple[str, handoff.Submitted | None]:  # fmt: skip
    """Give one message to the conversation's worker as `say` does: its intent, and how it
    was taken (None: it asks to stop the running turn, so the caller cancels instead).

    Only while a turn runs is the message routed here (a stop, a status question, or a
    message to queue); otherwise the worker routes it, and the intent is "" until then."""
    intent = while_busy = ""
    if book.journal(name).read().busy:
        from skill.conversation.intents import classify

        try:
            while_busy = classify(text, files, busy=True).intent  # cancel | wait | the rest
            intent = classify(text, files).intent
        except NemoError:
            while_busy = intent = "chat"  # the worker's turn reports the problem
    if while_busy == "cancel":
        return intent, None
    sub = handoff.submit(
        book, name, "say", text, [str(f) for f in files], out_dir=str(out_dir),
        lang=lang, intent=intent, status_question=while_busy == "wait",
    )  # fmt: skip
    return intent, sub


def _collect(book: TurnBook, name: str, wait_s: float | None, json_mode: bool, *,
             intent: str, sub: handoff.Submitted | None = None, lang: str = "en",
             text: str = "") -> int:  # fmt: skip
    prefix: list[str] = []
    if sub is not None and sub.kind == "queued":
        prefix.append(templates.render("turns.queued", lang, text=text or sub.turn_id))
    if json_mode:

        def emit(d: Delivery) -> None:
            print(json.dumps(document(d, prefix), ensure_ascii=False), flush=True)

        delivery = handoff.attach(book, name, wait_s, emit=emit, intent=intent)
        return 0 if delivery.running else delivery.exit_code
    from skill.doors.terminal import TerminalOutput

    term = TerminalOutput()
    for line in prefix:
        term.reply(line)

    def show(d: Delivery) -> None:
        replay(d.entries, term)
        if d.running_line:
            term.reply(d.running_line)

    delivery = handoff.attach(book, name, wait_s, emit=show, partial=show, intent=intent)
    term.close()
    return 0 if delivery.running else delivery.exit_code


def replay(entries: tuple[Entry, ...], out: Output) -> None:
    for e in entries:
        if e.kind == "stream":
            out.stream(e.text)
        elif e.kind == "file":
            out.file(Path(e.text))
        elif e.kind == "link":
            out.link(e.text)
        else:
            out.reply(e.text)


def document(d: Delivery, prefix: Sequence[str] = ()) -> dict[str, Any]:
    """The one JSON object of a `say`/`wait` call."""
    out = CollectedOutput()
    for line in prefix:
        out.reply(line)
    replay(d.entries, out)
    if d.running_line:
        out.reply(d.running_line)
    return out.as_json(d.intent, d.error, outcome=d.outcome, next_=NEXT if d.running else None)


def _language(store: ConversationStore) -> str:
    try:
        return store.load().language
    except NemoError:  # an unreadable conversation: the worker's turn says so
        return templates.DEFAULT_LANG


def _print(doc: dict[str, Any], json_mode: bool) -> int:
    if json_mode:
        print(json.dumps(doc, ensure_ascii=False), flush=True)
    else:
        for line in doc["replies"]:
            print(line, flush=True)
    return 0


# -- cancel -------------------------------------------------------------------------------


def cancel(settings: Settings, book: TurnBook, store: ConversationStore, *,
           lang: str) -> dict[str, Any]:  # fmt: skip
    """Stop the running turn, drop the queued ones, cancel pending renders; say what was done."""
    journal, lock = book.journal(store.name), book.lock(store.name)
    found: dict[str, Any] = {}

    def mark(j: Journal) -> Journal:
        found["dropped"], found["active"] = j.queued, j.active
        j = j.without([t.id for t in j.queued])
        if j.active is not None:
            j = j.change(j.active.id, lambda t: replace(t, cancel=True))
        return j

    journal.update(mark)
    out = CollectedOutput()
    active: TurnRecord | None = found["active"]
    if active is not None:
        lang = active.lang
        pid = lock.holder()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if _await_stop(book, store.name, active.id):
            _take(journal, active.id, out)
        else:
            out.reply(templates.render("turns.cancel_pending", lang))
    import asyncio

    for line in asyncio.run(_cancel_renders(settings, store, lang)):
        out.reply(line)
    dropped: tuple[TurnRecord, ...] = found["dropped"]
    if dropped:
        texts = ", ".join(templates.quote(t.text or t.command, lang) for t in dropped)
        out.reply(templates.render("turns.dropped", lang, texts=texts))
    if not out.replies:
        out.reply(templates.render("turns.cancel_nothing", lang))
    return out.as_json("cancel", None, outcome="replied")


def _await_stop(book: TurnBook, name: str, turn_id: str) -> bool:
    deadline = time.monotonic() + CANCEL_WAIT
    checked = time.monotonic()
    while time.monotonic() < deadline:
        turn = book.journal(name).read().turn(turn_id)
        if turn is None or turn.finished:
            return True
        if time.monotonic() - checked > 1.0:  # died before it could stop: a new one reports
            handoff.ensure_worker(book, name)
            checked = time.monotonic()
        time.sleep(0.05)
    return False


def _take(journal: Any, turn_id: str, out: CollectedOutput) -> None:
    """Deliver one finished turn's unshown entries to `out`."""

    def change(j: Journal) -> Journal:
        turn = j.turn(turn_id)
        if turn is None:
            return j
        replay(turn.entries[turn.shown :], out)
        return j.change(turn_id, lambda t: replace(t, shown=len(t.entries), reported=True))

    journal.update(change)


async def _cancel_renders(settings: Settings, store: ConversationStore, lang: str) -> list[str]:
    from skill.common.errors import RenderCancelled
    from skill.wire.attribution import load_attribution
    from skill.wire.client import NemoClient
    from skill.wire.protocol import RENDER_CANCELLED

    pending = store.load().pending
    if not pending:
        return []
    lines = []
    client = NemoClient(
        settings, attribution=load_attribution(), token_store=TokenStore(settings.config_dir)
    )
    async with client:
        for entry in pending:
            rid = entry.render_id
            try:
                job = await client.cancel_render(rid)
                cancelled = job.status == RENDER_CANCELLED
            except (APIError, NemoError):
                cancelled = False  # refused, unknown or unreachable: left to be collected
            if cancelled:
                store.update(lambda c, r=rid: c.without_pending(r))  # type: ignore[misc]
                lines.append(templates.render(RenderCancelled.key, lang, id=rid))
            else:
                lines.append(templates.render("turns.render_not_cancellable", lang, id=rid))
    return lines


# -- jobs ---------------------------------------------------------------------------------


def jobs(settings: Settings, book: TurnBook, lang: str = "en") -> dict[str, Any]:
    """Running turns, queued messages and pending renders, across conversations."""
    now = time.time()
    items: list[dict[str, Any]] = []
    lines: list[str] = []
    for name in book.names():
        for t in book.journal(name).read().turns:
            if t.finished:
                continue
            running = t.started_at is not None
            age = round(now - (t.started_at or t.queued_at))
            item = {"conversation": name, "kind": "running" if running else "queued",
                    "what": t.text or t.command, "age_s": age,
                    "worker_alive": book.lock(name).held()}  # fmt: skip
            ctx: dict[str, Any] = {"conversation": name, "what": t.text or t.command, "age": age}
            if t.progress is not None and t.progress.fraction is not None:
                item["progress"] = ctx["percent"] = round(100 * t.progress.fraction)
            items.append(item)
            lines.append(templates.render(f"turns.job_{item['kind']}", lang, **ctx))
    for name in stores.conversation_names(settings):
        try:
            conv = stores.conversation_store(settings, name).load()
        except NemoError:
            continue
        for p in conv.pending:
            age = round(now - p.submitted_at)
            items.append({"conversation": conv.name, "kind": "render", "what": p.render_id,
                          "status": p.status, "age_s": age})  # fmt: skip
            lines.append(templates.render("turns.job_render", lang, conversation=conv.name,
                                          id=p.render_id, status=p.status, age=age))  # fmt: skip
    if not lines:
        lines.append(templates.render("turns.jobs_none", lang))
    out = CollectedOutput(replies=lines)
    return out.as_json("jobs", None, outcome="replied") | {"jobs": items}
