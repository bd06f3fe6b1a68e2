"""Playing the user's side of a transcript turn on a runtime (recorder and replay alike).

A turn with `cancel_after: N` is stopped as `nemo-video cancel` stops it, once N lines
were shown: its task is cancelled (the stream closes) and the stop is reported from
the state (skill/conversation/stop.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from skill.common.output import Output
from skill.conversation.outcome import TurnOutcome
from skill.conversation.runtime import Runtime
from skill.transcripts.format import Turn


async def drive(rt: Runtime, turn: Turn, base: Path) -> TurnOutcome:
    """Play the user's side of `turn` on a runtime; attached paths are relative to `base`."""
    from skill.conversation.templates import render

    if turn.kind == "say" and turn.cancel_after is not None:
        return await _stopped_after(rt, turn, base)
    if turn.kind == "say":
        return await rt.turn(turn.text, [base / f for f in turn.files])
    if turn.text == "new":
        rt.store.reset()
        rt.out.reply(render("turn.new_project", rt.store.load().language))
        return TurnOutcome("new")
    return await rt.command(turn.text)


async def _stopped_after(rt: Runtime, turn: Turn, base: Path) -> TurnOutcome:
    """The turn, stopped as `nemo-video cancel` stops it once `cancel_after` lines showed:
    its task is cancelled (the stream closes), then the stop is reported from the state."""
    from skill.conversation.stop import cancel_until_done, report_stop

    assert turn.cancel_after is not None
    inner, gate = rt.out, _Gate(rt.out, turn.cancel_after)
    rt.out = gate
    before = rt.store.load().draft
    task = asyncio.ensure_future(rt.turn(turn.text, [base / f for f in turn.files]))
    reached = asyncio.ensure_future(gate.reached.wait())
    await asyncio.wait({task, reached}, return_when=asyncio.FIRST_COMPLETED)
    reached.cancel()
    rt.out = inner
    if task.done():
        return task.result()
    await cancel_until_done(task)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return await report_stop(rt, "chat", before, sent=True)


class _Gate:
    """An Output that passes everything on and says when `count` lines were shown."""

    def __init__(self, inner: Output, count: int) -> None:
        self.inner, self.left, self.reached = inner, count, asyncio.Event()

    def _line(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.reached.set()

    def stream(self, fragment: str) -> None:
        self.inner.stream(fragment)
        self._line()

    def reply(self, line: str) -> None:
        self.inner.reply(line)
        self._line()

    def progress(self, what: str, done: float, total: float | None) -> None:
        self.inner.progress(what, done, total)

    def file(self, path: Path) -> None:
        self.inner.file(path)

    def link(self, url: str) -> None:
        self.inner.link(url)
