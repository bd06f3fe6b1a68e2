"""The doorbell of an idle worker: how a `say` reaches a worker that is already running.

A worker whose queue is empty does not exit at once: it lingers (`NEMO_WORKER_LINGER`
seconds, default 120) listening on a FIFO next to the conversation's journal,
`<config>/turns/<name>.<digest>.bell` (the digest: see below). A caller that queued a
turn rings it: one byte, written without blocking. When a worker listens, the turn
starts at once in a process that has its imports done and its connections warm; when
none does (opening the FIFO for writing fails with ENXIO: no reader), the caller starts
a worker as before.

A worker runs turns with the environment it was started with (NEMO_API_URL, NEMO_TOKEN,
NEMO_TIMINGS, … and the folder relative paths are read from), so the bell's name carries
a digest of them: a caller whose environment differs rings a bell nobody listens at, and
starts a worker of its own. A worker removes its bell when it exits.

The bell only wakes: the turn lock still decides who runs the turn, so a ring that wakes
two lingering workers, or races a worker just started, runs the turn once. The FIFO is
local: on another machine (a shared PostgreSQL store) nobody hears it, and that
machine's caller starts its own worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
from pathlib import Path


def _tuned(path: Path) -> Path:
    """`path` with a digest of what a worker inherits from its starter."""
    seen = sorted((k, v) for k, v in os.environ.items() if k.startswith(("NEMO_", "SKILL_")))
    digest = hashlib.sha256(repr((seen, os.getcwd(), sys.executable)).encode()).hexdigest()
    return path.with_name(f"{path.stem}.{digest[:12]}{path.suffix}")


def ring(path: Path) -> bool:
    """Wake a worker listening at `path` (for this environment); False when none listens."""
    try:
        fd = os.open(_tuned(path), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader; ENOENT: never made
        return False
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        with contextlib.suppress(BlockingIOError):  # full: already rung, often enough
            os.write(fd, b"!")
        return True
    finally:
        os.close(fd)


class Bell:
    """A listening end: `await bell.wait(seconds)` returns True once rung, False at the
    timeout. Opened read-write, so the FIFO never reads as closed between rings."""

    def __init__(self, path: Path) -> None:
        self.path = _tuned(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkfifo(self.path, 0o600)
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        self._inode = os.fstat(self._fd).st_ino

    async def wait(self, timeout: float) -> bool:
        import asyncio  # here: `ring` is all a `say` needs, and it runs no event loop

        if self._drain():
            return True
        if timeout <= 0:
            return False
        loop = asyncio.get_running_loop()
        rung = asyncio.Event()
        loop.add_reader(self._fd, rung.set)
        try:
            await asyncio.wait_for(rung.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            loop.remove_reader(self._fd)
        self._drain()
        return True

    def _drain(self) -> bool:
        got = False
        with contextlib.suppress(BlockingIOError):
            while os.read(self._fd, 512):
                got = True
        return got

    def close(self) -> None:
        """Stop listening and remove the bell, unless it is another one by now."""
        os.close(self._fd)
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()
