"""The turn journal and turn lock as files in the config folder (the default TurnBook).

    <config>/turns/<name>.json         the journal (written atomically, mode 0600)
    <config>/turns/<name>.json.lock    held for milliseconds around each update
    <config>/turns/<name>.worker       the turn lock: flock(2) by the worker, its pid inside

Both locks are flock(2) locks: the kernel drops them when the holding process dies,
however it dies (kill -9 included), so a dead worker never blocks the conversation.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from skill.common.errors import ConfigError
from skill.common.storage import flock_held, flock_within, locked, read_json, write_json
from skill.conversation.store import check_name
from skill.conversation.turns import Journal


class FileJournal:
    def __init__(self, folder: Path, name: str, *, lock_timeout: float = 10.0) -> None:
        self.name = check_name(name)
        self.path = folder / f"{name}.json"
        self._lock, self._lock_timeout = folder / f"{name}.json.lock", lock_timeout

    def read(self) -> Journal:
        doc = read_json(self.path)
        if doc is None:
            return Journal(self.name)
        try:
            return Journal.from_json(doc)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ConfigError(
                f"{self.path}: not a turn journal ({exc}). Delete it to start afresh.",
                path=str(self.path),
            ) from None

    def update(self, change: Callable[[Journal], Journal]) -> Journal:
        with locked(self._lock, self.path, self._lock_timeout):
            new = replace(change(self.read()), updated_at=time.time())
            write_json(self.path, new.to_json(), mode=0o600)
            return new


class FileTurnLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, timeout: float) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not flock_within(fd, timeout, poll=0.02):
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the flock

    def held(self) -> bool:
        if self._fd is not None:
            return True
        return flock_held(self.path)

    def holder(self) -> int | None:
        if not self.held():
            return None
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None


class FileTurnBook:
    """Journals and locks under `<config>/turns/`."""

    def __init__(self, config_dir: Path) -> None:
        self.folder = config_dir / "turns"

    def journal(self, name: str) -> FileJournal:
        return FileJournal(self.folder, name)

    def lock(self, name: str) -> FileTurnLock:
        return FileTurnLock(self.folder / f"{check_name(name)}.worker")

    def bell(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.bell"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json"))
