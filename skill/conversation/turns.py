"""A conversation's turns, kept where every process can see them: the turn journal.

A turn belongs to the conversation, not to the process that was asked for it. `say`
writes the message into the journal as a queued turn; the conversation's worker
process (one at a time, by the turn lock) runs it and writes what the user should see
into the same record as it happens; `say` and `wait` read the record and show each
entry once (`shown` counts what was delivered).

    queued ──▶ running ──▶ done (outcome, error, exit code)
                  │
                  └─ the worker died: the next worker finds it running with no lock
                     holder, and recovers it (reads the state; never re-sends a chat
                     message that went out: `submitted`)

Two interfaces, so the storage can change without the machinery noticing:

- `TurnJournal`: read the journal; change it atomically (`update`).
- `TurnLock`: the conversation's one-turn-at-a-time lock, released when its holder
  dies (a file lock here; a PostgreSQL advisory lock works the same way).

`TurnBook` hands both out by conversation name and lists the names.
`skill.conversation.turns_file` is the default implementation (files in the config
folder).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

QUEUED, RUNNING, DONE = "queued", "running", "done"
KEEP_FINISHED = 10  # delivered turns kept for `jobs` and for a host's late retry


@dataclass(frozen=True)
class Entry:
    """One thing the user sees, in order: `stream` (a piece of the agent's reply),
    `reply` (a whole line), `file` (a path delivered) or `link` (a URL)."""

    kind: str
    text: str

    def to_json(self) -> list[str]:
        return [self.kind, self.text]


@dataclass(frozen=True)
class Progress:
    """The latest upload, render or download progress of a turn (not kept as entries)."""

    what: str
    done: float
    total: float | None

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


@dataclass(frozen=True)
class TurnRecord:
    id: str
    command: str  # say | export | resume
    text: str = ""
    files: tuple[str, ...] = ()
    out_dir: str = ""
    lang: str = "en"
    intent: str = "chat"
    status: str = QUEUED
    queued_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    worker_pid: int | None = None
    attempts: int = 0  # workers that took it (more than one: an earlier one died)
    submitted: bool = False  # the chat message went out: never send it again
    cancel: bool = False  # `nemo-video cancel` asked the worker to stop
    before_draft: dict[str, Any] | None = None  # the draft when the turn started
    entries: tuple[Entry, ...] = ()
    shown: int = 0  # entries already delivered to the host
    progress: Progress | None = None
    outcome: str | None = None
    error: dict[str, Any] | None = None
    exit_code: int = 0
    reported: bool = False  # the outcome was delivered

    @property
    def finished(self) -> bool:
        return self.status == DONE

    @property
    def settled(self) -> bool:
        """Finished and its outcome delivered: nothing more to show."""
        return self.status == DONE and self.reported

    def same_message(self, command: str, text: str, files: Sequence[str]) -> bool:
        mine = (self.command, self.text.strip(), self.files)
        return mine == (command, text.strip(), tuple(files))

    def add(self, *entries: Entry) -> TurnRecord:
        return replace(self, entries=(*self.entries, *entries))

    def to_json(self) -> dict[str, Any]:
        doc = {k: getattr(self, k) for k in self.__dataclass_fields__}
        doc["files"] = list(self.files)
        doc["entries"] = [e.to_json() for e in self.entries]
        doc["progress"] = None if self.progress is None else [
            self.progress.what, self.progress.done, self.progress.total
        ]  # fmt: skip
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TurnRecord:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        known["files"] = tuple(str(f) for f in doc.get("files") or ())
        known["entries"] = tuple(Entry(str(k), str(t)) for k, t in doc.get("entries") or ())
        prog = doc.get("progress")
        if prog:
            total = None if prog[2] is None else float(prog[2])
            known["progress"] = Progress(str(prog[0]), float(prog[1]), total)
        return cls(**known)


def new_turn(command: str, text: str = "", files: Sequence[str] = (), **kw: Any) -> TurnRecord:
    turn_id = f"turn_{int(time.time() * 1000)}_{uuid.uuid4().hex[:6]}"
    return TurnRecord(turn_id, command, text, tuple(files), queued_at=time.time(), **kw)


@dataclass(frozen=True)
class Journal:
    """Every turn of one conversation that is queued, running, or finished recently."""

    name: str
    turns: tuple[TurnRecord, ...] = ()
    updated_at: float = field(default=0.0, compare=False)

    @property
    def unsettled(self) -> tuple[TurnRecord, ...]:
        return tuple(t for t in self.turns if not t.settled)

    @property
    def active(self) -> TurnRecord | None:
        """The turn being run, if any."""
        return next((t for t in self.turns if t.status == RUNNING), None)

    @property
    def queued(self) -> tuple[TurnRecord, ...]:
        return tuple(t for t in self.turns if t.status == QUEUED)

    @property
    def busy(self) -> bool:
        """A turn is running or waiting to run."""
        return any(not t.finished for t in self.turns)

    def turn(self, turn_id: str) -> TurnRecord | None:
        return next((t for t in self.turns if t.id == turn_id), None)

    def with_turn(self, turn: TurnRecord) -> Journal:
        """`turn` replacing the record of the same id, or appended."""
        if self.turn(turn.id) is None:
            return self.trimmed(replace(self, turns=(*self.turns, turn)))
        return replace(self, turns=tuple(turn if t.id == turn.id else t for t in self.turns))

    def change(self, turn_id: str, fn: Callable[[TurnRecord], TurnRecord]) -> Journal:
        return replace(self, turns=tuple(fn(t) if t.id == turn_id else t for t in self.turns))

    def without(self, ids: Sequence[str]) -> Journal:
        return replace(self, turns=tuple(t for t in self.turns if t.id not in ids))

    def trimmed(self, journal: Journal) -> Journal:
        settled = [t for t in journal.turns if t.settled]
        drop = {t.id for t in settled[: max(0, len(settled) - KEEP_FINISHED)]}
        return journal.without(list(drop)) if drop else journal

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "turns": [t.to_json() for t in self.turns],
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Journal:
        turns = tuple(TurnRecord.from_json(t) for t in doc.get("turns") or ())
        return cls(str(doc["name"]), turns, float(doc.get("updated_at") or 0.0))


class TurnJournal(Protocol):
    """One conversation's journal. `update` is atomic against every other process:
    it reads the latest journal, applies `change` and stores the result before any
    other update can read it. `change` may be called with side effects that must
    happen at most once per stored result (printing what it delivers)."""

    def read(self) -> Journal: ...

    def update(self, change: Callable[[Journal], Journal]) -> Journal: ...


class TurnLock(Protocol):
    """One turn at a time per conversation. Held by the worker while it runs turns;
    released when the holder ends or dies (never left behind by a killed process)."""

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting up to `timeout` seconds; False when another holds it."""

    def release(self) -> None: ...

    def held(self) -> bool:
        """Some live process holds the lock (a worker is at work)."""

    def holder(self) -> int | None:
        """The pid of the live holder, when known."""


class TurnBook(Protocol):
    """Where journals and locks live."""

    def journal(self, name: str) -> TurnJournal: ...

    def lock(self, name: str) -> TurnLock: ...

    def bell(self, name: str) -> Path | None:
        """Where an idle worker of this machine listens (skill/conversation/bell.py);
        None: nowhere, every turn starts a worker."""
        ...

    def names(self) -> list[str]:
        """Every conversation that has a journal."""
