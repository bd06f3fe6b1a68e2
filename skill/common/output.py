"""Where a turn's words, files and links go.

Flows never print. They hand finished lines (already rendered from `prompts/`) to an
`Output`: the terminal prints them as they come, `say --json` collects them into one
object, tests collect them to compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Output(Protocol):
    def stream(self, fragment: str) -> None:
        """A piece of the agent's reply as it arrives; consecutive pieces form one reply."""

    def reply(self, line: str) -> None:
        """A whole line for the user (ends any reply being streamed)."""

    def progress(self, what: str, done: float, total: float | None) -> None:
        """Upload, render or download progress; `what` is a rendered label."""

    def file(self, path: Path) -> None:
        """A file delivered to the user's disk."""

    def link(self, url: str) -> None:
        """A link for the user's browser."""


@dataclass
class CollectedOutput:
    """Collects a turn: what `say --json` prints and what tests compare."""

    replies: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    progress_events: list[tuple[str, float, float | None]] = field(default_factory=list)
    _streaming: bool = False

    def stream(self, fragment: str) -> None:
        if self._streaming and self.replies:
            self.replies[-1] += fragment
        else:
            self.replies.append(fragment)
            self._streaming = True

    def reply(self, line: str) -> None:
        self._streaming = False
        self.replies.append(line)

    def progress(self, what: str, done: float, total: float | None) -> None:
        self.progress_events.append((what, done, total))

    def file(self, path: Path) -> None:
        self._streaming = False
        self.files.append(path)

    def link(self, url: str) -> None:
        self._streaming = False
        self.links.append(url)

    def as_json(
        self,
        intent: str,
        error: dict[str, Any] | None,
        outcome: str = "replied",
        *,
        next_: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "intent": intent,
            "outcome": outcome,
            "replies": [r.strip() for r in self.replies if r.strip()],
            "files": [str(p) for p in self.files],
            "links": list(self.links),
            "error": error,
            "next": next_,  # what the host runs next (`running`): never in `replies`
        }
