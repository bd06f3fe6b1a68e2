"""Files the runtime keeps: atomic writes, private modes, JSON documents.

Nothing is ever half-written: data goes to a temporary file in the same folder,
is flushed and fsynced, then renamed over the target. Secrets get mode 0600 from
the moment the temporary file is created.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def json_bytes(doc: Any) -> bytes:
    """A JSON document as the runtime's files hold it."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def write_json(path: Path, doc: Any, *, mode: int = 0o644) -> None:
    atomic_write(path, json_bytes(doc), mode=mode)


def read_json(path: Path) -> Any:
    """The JSON document at `path`, or None when there is no file. Bad JSON names the file."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse_json(text, path)


def parse_json(text: bytes, path: Path) -> Any:
    """A file's bytes as JSON. Bad JSON names the file."""
    try:
        return json.loads(text.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}. "
            "Delete the file to start afresh.",
            path=str(path),
        ) from None


@contextlib.contextmanager
def locked(lock: Path, path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive flock on the file `lock` (0600, created if missing) for a
    read-modify-write of `path`, waiting up to `timeout` s; a lock that stays taken is a
    ConfigError saying to try again (never a traceback). The lock dies with its
    descriptor, so a killed holder never blocks anyone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not flock_within(fd, timeout):
            raise ConfigError(
                f"{path} stayed locked by another nemo-video process. Try again in a moment.",
                key="error.conversation_locked",
            )
        yield
    finally:
        os.close(fd)  # closing drops the flock


def flock_within(fd: int, timeout: float, poll: float = 0.01) -> bool:
    """Take an exclusive flock on `fd`, trying every `poll` s for up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)


def flock_held(path: Path) -> bool:
    """True while a live process holds an exclusive flock on `path`; False when it is absent
    or free. The probe's shared lock goes with its descriptor, and probes never block
    one another."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
