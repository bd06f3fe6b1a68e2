"""The host contract: the one JSON object every `--json` command prints.

    {"intent", "outcome", "replies", "files", "links", "error": {code, message} | null,
     "next": {"command"} | null}

`skill/schema/turn.json` is its JSON Schema, shipped in the package (`nemo-video schema`
prints it); the tests validate every object the CLI and the transcript replay produce
against it. This module builds the object and decides `next` (what the host runs next,
never shown to the user); an error code's exit code is skill/conversation/outcome.py's.

One rule for hosts: show `replies`, nothing else, as text. An error's line is already the
last reply (`error.message` repeats it for programs); a link's line already carries its
URL (`links` repeats the URLs for hosts that render buttons).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skill.common.errors import ConfigError

if TYPE_CHECKING:
    from skill.common.output import CollectedOutput
    from skill.conversation.outcome import TurnOutcome
    from skill.conversation.store import ConversationStore

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "turn.json"
RESUME = "nemo-video export --resume --json"


def next_step(outcome: TurnOutcome, store: ConversationStore | None) -> dict[str, str] | None:
    """What the host runs next: collect a render that is still going, else nothing."""
    if store is None:
        return None
    with contextlib.suppress(ConfigError):  # an unreadable conversation: nothing to collect
        if store.load().pending:
            return {"command": RESUME}
    return None


def document(
    outcome: TurnOutcome, collected: CollectedOutput, next_: dict[str, str] | None
) -> dict[str, Any]:
    """The object for a turn that ran (its lines collected)."""
    error = None
    if outcome.error_code is not None:
        error = {"code": outcome.error_code, "message": outcome.error_message}
    return {
        "intent": outcome.intent,
        "outcome": outcome.kind.value,
        "replies": [r.strip() for r in collected.replies if r.strip()],
        "files": [str(p) for p in collected.files],
        "links": list(collected.links),
        "error": error,
        "next": next_,
    }


def failure(
    intent: str | None, code: str, line: str, next_: dict[str, str] | None = None
) -> dict[str, Any]:
    """The object for a command that could not run as a turn (bad command line, bad
    setup, interrupted, a bug): its one line is the reply and the error's message."""
    return {
        "intent": intent,
        "outcome": "failed",
        "replies": [line],
        "files": [],
        "links": [],
        "error": {"code": code, "message": line},
        "next": next_,
    }
