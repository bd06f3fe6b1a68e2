"""Handing a turn to the conversation's worker, and collecting what it did.

    say ──▶ submit(): queue the message in the journal (or attach, see below) ──▶ worker
     │                                                                          (detached)
     └──▶ attach(): wait up to the bound; deliver what the worker wrote since the
          last delivery; the outcome once every turn in hand is done, else `running`

`wait` is `attach()` alone. Each entry is delivered once across every `say` and `wait`
(the journal counts what was shown, under its lock): nothing twice, nothing lost.

A message that arrives while a turn runs never starts a competing turn:
- a status question ("is it done?", 好了吗; routed to `wait` by `intents/routing.yaml`
  while busy) attaches like `wait`;
- a repeat of a message already in hand (a host retrying a killed `say`) attaches to it:
  the backend never sees it twice;
- anything else is queued; the worker sends it once the running turn ends.

When the journal has work but no live worker holds the turn lock (it died, or never
started), an idle worker is woken, or one is started: it recovers the interrupted turn
from the state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from skill.common.errors import NemoError
from skill.conversation import bell, templates
from skill.conversation.turns import (
    Entry,
    Journal,
    TurnBook,
    TurnRecord,
    new_turn,
)

NEXT = {"command": "nemo-video wait --json"}
POLL_FIRST, POLL_MAX = 0.02, 0.25


# -- submitting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    kind: str  # started | queued | status | repeat
    turn_id: str | None


def submit(
    book: TurnBook, name: str, command: str, text: str = "", files: Sequence[str] = (), *,
    out_dir: str, lang: str, intent: str, status_question: bool = False,
) -> Submitted:  # fmt: skip
    """Put the message in the journal (unless it only asks how the running turn is going)."""
    result: list[Submitted] = []

    def change(j: Journal) -> Journal:
        repeat = next((t for t in j.unsettled if t.same_message(command, text, files)), None)
        if repeat is not None:
            result.append(Submitted("repeat", repeat.id))
            return j
        if j.busy and status_question:
            result.append(Submitted("status", None))
            return j
        turn = new_turn(command, text, files, out_dir=out_dir, lang=lang, intent=intent)
        result.append(Submitted("queued" if j.busy else "started", turn.id))
        return j.with_turn(turn)

    book.journal(name).update(change)
    ensure_worker(book, name)
    return result[0]


def ensure_worker(book: TurnBook, name: str) -> bool:
    """When the journal has work and no live worker holds the lock: wake an idle worker
    (skill/conversation/bell.py), or start one when none listens."""
    if not book.journal(name).read().busy or book.lock(name).held():
        return False
    where = book.bell(name)
    if where is None or not bell.ring(where):
        spawn_worker(name)
    return True


def spawn_worker(name: str) -> None:
    """`nemo-video worker` for `name`, detached: its own session, no terminal, no pipes."""
    logs = Path(os.environ.get("NEMO_WORKER_LOG", os.devnull))
    with open(logs, "ab") as err:
        subprocess.Popen(
            [sys.executable, "-m", "skill", "--conversation", name, "worker"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True, close_fds=True, cwd=os.getcwd(),
        )  # fmt: skip


# -- collecting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What one `say`/`wait` call reports: new entries, and how things stand."""

    entries: tuple[Entry, ...]
    intent: str
    outcome: str  # the last finished turn's outcome, or `running`
    error: dict[str, object] | None = None
    exit_code: int = 0
    running_line: str | None = None
    nothing: bool = False  # there was no turn to report on
    turn_ids: tuple[str, ...] = field(default=(), compare=False)

    @property
    def running(self) -> bool:
        return self.outcome == "running"


def attach(
    book: TurnBook,
    name: str,
    wait_s: float | None,
    *,
    emit: Callable[[Delivery], None],
    partial: Callable[[Delivery], None] | None = None,
    intent: str = "wait",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Wait up to `wait_s` seconds (None: until done) for every turn in hand to finish.

    `emit` is called once, inside the journal's update, with what this call reports: it
    prints; the entries count as shown only once it has returned. `partial` (the terminal)
    receives entries as they come."""
    journal = book.journal(name)
    deadline = None if wait_s is None else clock() + wait_s
    delay, checked = POLL_FIRST, clock()
    while True:
        snapshot = journal.read()
        done = all(t.finished for t in snapshot.unsettled)
        late = deadline is not None and clock() >= deadline
        if done or late:
            return _deliver(journal_update=journal.update, emit=emit, intent=intent, final=True)
        if partial is not None and any(t.shown < len(t.entries) for t in snapshot.unsettled):
            _deliver(journal_update=journal.update, emit=partial, intent=intent, final=False)
        if clock() - checked >= 1.0:  # a worker that died leaves its lock free
            ensure_worker(book, name)
            checked = clock()
        pause = delay if deadline is None else max(0.0, min(delay, deadline - clock()))
        sleep(pause)
        delay = min(delay * 1.5, POLL_MAX)


def _deliver(
    *, journal_update: Callable[[Callable[[Journal], Journal]], Journal],
    emit: Callable[[Delivery], None], intent: str, final: bool,
) -> Delivery:  # fmt: skip
    out: list[Delivery] = []

    def change(j: Journal) -> Journal:
        turns = j.unsettled
        entries = tuple(e for t in turns for e in t.entries[t.shown :])
        if not final:
            delivery = Delivery(entries, intent, "running")
        elif not turns:  # (a `say` whose turn another call reported acts as a `wait`)
            line = templates.render("turns.nothing_running", _lang(j))
            delivery = Delivery((Entry("reply", line),), intent or "wait", "replied", nothing=True)
        elif all(t.finished for t in turns):
            last = turns[-1]
            delivery = Delivery(
                entries, routed(last), last.outcome or "replied", last.error, last.exit_code,
                turn_ids=tuple(t.id for t in turns),
            )  # fmt: skip
        else:
            now = next(t for t in turns if not t.finished)
            delivery = Delivery(entries, routed(now), "running", running_line=running_line(now))
        emit(delivery)
        out.append(delivery)
        for t in turns:  # a partial delivery never settles a turn: its outcome is still due
            j = j.change(
                t.id, lambda r: replace(r, shown=len(r.entries), reported=final and r.finished)
            )
        return j.trimmed(j)

    journal_update(change)
    return out[0]


def routed(turn: TurnRecord) -> str:
    """The turn's intent: as recorded, else routed now (a message handed over while the
    conversation was idle is routed by the worker that runs it)."""
    if turn.intent:
        return turn.intent
    from skill.conversation import attachments
    from skill.conversation.intents import classify

    try:  # as Runtime.turn routes it: a path typed in the message is a file
        text, typed = attachments.extract(turn.text)
        return classify(text, [*(Path(f) for f in turn.files), *typed]).intent
    except NemoError:
        return "chat"  # the turn itself reports the problem


def _lang(j: Journal) -> str:
    return j.turns[-1].lang if j.turns else templates.DEFAULT_LANG


def running_line(turn: TurnRecord, now: float | None = None) -> str:
    """⏳ what is going on, in the user's language: how long so far, render progress."""
    start = turn.started_at or turn.queued_at
    minutes, seconds = divmod(int(max(0.0, (now or time.time()) - start)), 60)
    ctx = {"minutes": minutes, "seconds": seconds}
    progress = turn.progress
    if turn.started_at is None:
        return templates.render("turns.starting", turn.lang, **ctx)
    if progress is not None and progress.fraction is not None:
        pct = round(100 * progress.fraction)
        return templates.render("turns.running_progress", turn.lang, what=progress.what,
                                percent=pct, **ctx)  # fmt: skip
    return templates.render("turns.running", turn.lang, **ctx)
