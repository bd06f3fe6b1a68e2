"""Files the runtime keeps: atomic writes, private modes, JSON documents.

Nothing is ever half-written: data goes to a temporary file in the same folder,
is flushed and fsynced, then renamed over the target. Secrets get mode 0600 from
the moment the temporary file is created.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from skill.common.errors import ConfigError


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, doc: Any, *, mode: int = 0o644) -> None:
    atomic_write(path, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode(), mode=mode)


def read_json(path: Path) -> Any:
    """The JSON document at `path`, or None when there is no file. Bad JSON names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}. "
            "Delete the file to start afresh.",
            path=str(path),
        ) from None


@contextlib.contextmanager
def locked(lock: FileLock, path: Path) -> Iterator[None]:
    """Hold `lock` for a read-modify-write of `path`; a lock that stays taken is a
    ConfigError saying to try again (never a traceback)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with lock:
            yield
    except Timeout:
        raise ConfigError(
            f"{path} stayed locked by another nemo-video process. Try again in a moment.",
            key="error.conversation_locked",
        ) from None
