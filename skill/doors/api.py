"""The in-process API: conversations from Python, without the CLI.

    async with skill.Skill() as nemo:                 # settings from the environment
        beach = nemo.conversation("beach")            # a named conversation
        result = await beach.say("make a 10-second beach video")
        result.outcome, result.replies, result.files  # what `say --json` prints

One `Skill` holds what a process needs once: the settings, SKILL.md's attribution, one
backend client (one HTTP connection pool, shared by every conversation) and the store
(files, or PostgreSQL with NEMO_STORE). A turn runs in this process, on the caller's
event loop, and holds the conversation's turn lock while it runs, so it never competes
with a CLI worker or another process on the same conversation (it waits for them, up to
`lock_wait`). Store reads before a turn run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from skill.common.config import Settings, TokenStore
from skill.common.errors import ConfigError
from skill.common.output import CollectedOutput
from skill.conversation import stores, templates
from skill.conversation.outcome import TurnOutcome
from skill.conversation.runtime import Runtime
from skill.conversation.store import check_name
from skill.wire.attribution import load_attribution
from skill.wire.client import NemoClient

COMMANDS = ("credits", "state", "export", "resume")


@dataclass(frozen=True)
class Result:
    """A turn's or command's outcome: the fields of `nemo-video say --json`."""

    intent: str
    outcome: str  # replied | edited | asked | partial | refused | failed | running
    replies: tuple[str, ...]
    files: tuple[Path, ...]
    links: tuple[str, ...]
    error: Mapping[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Result:
        return cls(
            doc["intent"], doc["outcome"], tuple(doc["replies"]),
            tuple(Path(f) for f in doc["files"]), tuple(doc["links"]), doc["error"],
        )  # fmt: skip


class Skill:
    """The per-process part: settings, attribution, one backend client, the store."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        out_dir: Path | None = None,
        lock_wait: float = 30.0,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.out_dir = out_dir or self.settings.output_dir or Path.cwd() / "nemovideo-exports"
        self.lock_wait = lock_wait
        self.book = stores.turn_book(self.settings)
        self.client = NemoClient(
            self.settings,
            attribution=load_attribution(),
            token_store=TokenStore(self.settings.config_dir),
        )
        self._conversations: dict[str, Conversation] = {}

    async def __aenter__(self) -> Skill:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.client.__aexit__(t, e, tb)

    def conversation(self, name: str) -> Conversation:
        """The named conversation (created on its first turn), one object per name."""
        check_name(name)
        if name not in self._conversations:
            self._conversations[name] = Conversation(self, name)
        return self._conversations[name]


class Conversation:
    """One conversation: turns and commands, one at a time."""

    def __init__(self, skill: Skill, name: str) -> None:
        self.skill, self.name = skill, name
        self.store = stores.conversation_store(skill.settings, name)
        self._busy = asyncio.Lock()

    async def say(self, text: str, files: Sequence[Path] = ()) -> Result:
        """One user message, routed as `nemo-video say` routes it."""
        return await self._run(lambda rt: rt.turn(text, files))

    async def command(self, name: str) -> Result:
        """`credits`, `state`, `export` or `resume`, without routing."""
        if name not in COMMANDS:
            raise ValueError(f"command must be one of {', '.join(COMMANDS)}, not {name!r}")
        return await self._run(lambda rt: rt.command(name))

    async def upload(self, items: Sequence[str]) -> Result:
        """Files (paths) or media URLs into the project."""
        return await self._run(lambda rt: rt.upload(items))

    async def _run(self, work: Callable[[Runtime], Awaitable[TurnOutcome]]) -> Result:
        skill, out = self.skill, CollectedOutput()
        async with self._busy:
            lock = skill.book.lock(self.name)

            def begin() -> Runtime:  # the lock and the store's first read: one thread hop
                if not lock.acquire(skill.lock_wait):
                    raise ConfigError(
                        f"{self.name}: another process runs this conversation's turn.",
                        key="error.conversation_locked",
                    )
                return Runtime(skill.settings, skill.client, self.store, out, out_dir=skill.out_dir)

            try:
                outcome = await work(await asyncio.to_thread(begin))
            except ConfigError as exc:  # a store that cannot be used: said like the CLI says it
                line = templates.render(exc.key, templates.DEFAULT_LANG, detail=exc.message)
                out.reply(line)
                return Result.of(out.as_json("chat", {"code": "config", "message": line}, "failed"))
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(lock.release)
        return Result.of(out.as_json(outcome.intent, outcome.error_json(), outcome.kind.value))
