"""A conversation that outlives the process.

Agent hosts run one command per turn, so everything a later turn needs is kept in
`<config>/conversations/<name>.json`: the backend session, the last draft seen,
and the render journal: every render written down before it is submitted (`pending`,
until its MP4 is on disk) and the last deliveries by draft (`delivered`), so the
same draft is never rendered twice. The default name is
derived from the working folder (one conversation per project folder); `--conversation
NAME` or NEMO_CONVERSATION picks another.

Writers take a file lock (flock) for a read-modify-write (`update`), so two processes
on the same conversation never corrupt or overwrite each other's changes. The lock is
held for milliseconds, never across network calls. Every update is still an atomic,
fsynced write (skill/common/storage.py). A store remembers the last document it read or
wrote with its bytes: a load that reads the same bytes skips the parse.
Code on an event loop uses `aload`/`aupdate`, which do the same in a thread.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from skill.common.errors import ConfigError
from skill.common.storage import atomic_write, json_bytes, locked, parse_json

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEEP_DELIVERED = 20


@dataclass(frozen=True)
class PendingRender:
    """A render the backend may be working on; kept until its MP4 is on disk."""

    render_id: str
    session_id: str
    out_dir: str
    submitted_at: float
    attempt: int = 1
    status: str = "submitting"  # submitting | submitted | downloading
    draft_key: str = ""  # export.draft_key() of what it renders ("" in older files)
    dest: str = ""  # the file it is being saved as, written before the download opens


@dataclass(frozen=True)
class Delivered:
    """A render whose MP4 is on disk: what the same draft's next export hands back."""

    render_id: str
    session_id: str
    draft_key: str
    path: str
    size: int


@dataclass(frozen=True)
class Conversation:
    name: str
    api_url: str = ""
    session_id: str | None = None
    task_id: str | None = None
    language: str = "en"
    draft: dict[str, Any] | None = None
    pending: tuple[PendingRender, ...] = ()
    exports: tuple[str, ...] = ()
    delivered: tuple[Delivered, ...] = ()
    updated_at: float = field(default=0.0, compare=False)

    def with_pending(self, job: PendingRender) -> Conversation:
        others = tuple(p for p in self.pending if p.render_id != job.render_id)
        return replace(self, pending=(*others, job))

    def without_pending(self, render_id: str) -> Conversation:
        return replace(self, pending=tuple(p for p in self.pending if p.render_id != render_id))

    def with_delivered(self, entry: Delivered) -> Conversation:
        """Record a delivery (the newest per draft first; the last KEEP_DELIVERED kept)."""
        others = [d for d in self.delivered if d.draft_key != entry.draft_key]
        kept = (entry, *others)[:KEEP_DELIVERED]
        return replace(self, delivered=kept, exports=(*self.exports, entry.path))

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["pending"] = [asdict(p) for p in self.pending]
        doc["delivered"] = [asdict(d) for d in self.delivered]
        doc["exports"] = list(self.exports)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], path: Path) -> Conversation:
        try:
            pending = tuple(PendingRender(**p) for p in doc.get("pending") or ())
            delivered = tuple(Delivered(**d) for d in doc.get("delivered") or ())
            draft = doc.get("draft")
            return cls(
                name=str(doc["name"]),
                api_url=str(doc.get("api_url") or ""),
                session_id=doc.get("session_id"),
                task_id=doc.get("task_id"),
                language=str(doc.get("language") or "en"),
                draft=draft if isinstance(draft, dict) else None,
                pending=pending,
                delivered=delivered,
                exports=tuple(str(e) for e in doc.get("exports") or ()),
                updated_at=float(doc.get("updated_at") or 0.0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{path}: not a conversation file ({exc}). Delete it to start this project afresh.",
                path=str(path),
            ) from None


def default_name(cwd: Path) -> str:
    """One conversation per working folder: the folder's name plus a short hash of its path."""
    resolved = cwd.resolve()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", resolved.name).strip("-.")[:40] or "root"
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    return f"{slug}-{digest}"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"Conversation name {name!r} is not usable: use 1-64 letters, digits, '.', '_' or '-'.",
            key="error.conversation_name",
            name=name,
        )
    return name


class ConversationStore:
    """The conversation file and its lock."""

    def __init__(self, config_dir: Path, name: str, *, lock_timeout: float = 10.0) -> None:
        self.name = check_name(name)
        folder = config_dir / "conversations"
        self.path = folder / f"{name}.json"
        # 0600 like the conversation itself (the lock file says which conversations exist)
        self._lock_path, self._lock_timeout = folder / f"{name}.lock", lock_timeout
        self._seen: tuple[bytes, Conversation] | None = None  # the last file's bytes, parsed

    def load(self) -> Conversation:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return Conversation(name=self.name)
        if self._seen is not None and self._seen[0] == raw:
            return self._seen[1]
        doc = parse_json(raw, self.path)
        if not isinstance(doc, dict):
            raise ConfigError(f"{self.path}: expected a JSON object.", path=str(self.path))
        conv = Conversation.from_json(doc, self.path)
        self._seen = (raw, conv)
        return conv

    def update(self, change: Callable[[Conversation], Conversation]) -> Conversation:
        """Apply `change` to the stored conversation under the lock and save the result."""
        with locked(self._lock_path, self.path, self._lock_timeout):
            new = replace(change(self.load()), updated_at=time.time())
            raw = json_bytes(new.to_json())
            atomic_write(self.path, raw, mode=0o600)
            self._seen = (raw, new)
            return new

    async def aload(self) -> Conversation:
        """`load`, in a thread: for code on an event loop."""
        import asyncio  # not at the top: a `say` handed to a worker runs no event loop

        return await asyncio.to_thread(self.load)

    async def aupdate(self, change: Callable[[Conversation], Conversation]) -> Conversation:
        """`update`, in a thread: for code on an event loop (fsync never blocks the loop)."""
        import asyncio

        return await asyncio.to_thread(self.update, change)

    def reset(self, *, keep_pending: bool = True) -> Conversation:
        """Start a new project. Renders still running are kept so they can be collected."""

        def fresh(old: Conversation) -> Conversation:
            return Conversation(
                name=self.name,
                api_url=old.api_url,
                language=old.language,
                pending=old.pending if keep_pending else (),
                exports=old.exports,
                delivered=old.delivered,
            )

        return self.update(fresh)
