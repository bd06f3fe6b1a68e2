"""The terminal: printing a turn as it happens, and the interactive `chat` loop."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from skill.common.config import Settings
from skill.conversation.store import ConversationStore
from skill.conversation.templates import render


class TerminalOutput:
    """Prints replies as they stream; progress bars go to stderr when it is a terminal."""

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._mid_line = False
        self._bar = False

    def _end_bar(self) -> None:
        if self._bar:
            self.stderr.write("\n")
            self._bar = False

    def stream(self, fragment: str) -> None:
        self._end_bar()
        self.stdout.write(fragment)
        self.stdout.flush()
        self._mid_line = True

    def reply(self, line: str) -> None:
        self._end_bar()
        if self._mid_line:
            self.stdout.write("\n")
        self.stdout.write(line + "\n")
        self.stdout.flush()
        self._mid_line = False

    def progress(self, what: str, done: float, total: float | None) -> None:
        if not self.stderr.isatty():
            return
        if total:
            frac = max(0.0, min(1.0, done / total))
            bar = "#" * int(frac * 24)
            self.stderr.write(f"\r{what} [{bar:<24}] {frac:4.0%}")
        else:
            self.stderr.write(f"\r{what} {done / 1e6:.1f} MB")
        self.stderr.flush()
        self._bar = True

    def file(self, path: Path) -> None:
        self.reply(str(path))

    def link(self, url: str) -> None:
        self.reply(url)

    def close(self) -> None:
        self._end_bar()
        if self._mid_line:
            self.stdout.write("\n")
            self._mid_line = False


def interactive(
    settings: Settings, store: ConversationStore, out_dir: Path, *, record: Path | None = None
) -> int:
    """Read a line, run it as a turn, repeat. Ctrl-C stops the turn, Ctrl-D leaves.
    `record`: every turn is also appended to this transcript (skill/transcripts/recorder.py)."""
    from skill.conversation.runtime import open_runtime
    from skill.transcripts.format import Turn

    out = TerminalOutput()
    lang = store.load().language
    out.reply(render("turn.connecting", lang))

    async def ready() -> None:
        await run(Turn("command", "ready"))

    async def one(text: str) -> None:
        await run(Turn("say", text))

    async def run(turn: Turn) -> None:
        if record is not None:
            from skill.transcripts.recorder import record_turn

            await record_turn(record, settings, store, out, out_dir=out_dir, turn=turn)
            return
        async with open_runtime(settings, store, out, out_dir=out_dir) as rt:
            await (rt.turn(turn.text) if turn.kind == "say" else rt.command(turn.text))

    try:
        asyncio.run(ready())
    except KeyboardInterrupt:
        return 130
    while True:
        try:
            text = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            out.close()
            return 0
        if text in {"/quit", "/exit"}:
            return 0
        if not text:
            continue
        try:
            asyncio.run(one(text))
        except KeyboardInterrupt:
            out.reply(render("turn.interrupted", lang))
        out.close()
