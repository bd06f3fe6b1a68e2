"""NemoVideo skill runtime: a deterministic replacement for a curl-recipe SKILL.md.

From Python (see README, "From Python"): `Skill` holds a process's settings and one
backend connection pool; `Skill.conversation(name)` gives a `Conversation` whose `say`,
`command` and `upload` return a `Result` with the fields of `say --json`.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skill.doors.api import Conversation, Result, Skill

__all__ = ["Conversation", "Result", "Skill"]


def __getattr__(name: str) -> Any:
    # Imported when asked for, so `nemo-video --help` pays for none of it.
    if name in __all__:
        from skill.doors import api

        return getattr(api, name)
    # importlib.metadata costs ~50 ms: only pay for it when the version is asked for.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("nemo-video-skill")
        except PackageNotFoundError:  # pragma: no cover - a bare checkout
            return "0.0.0"
    raise AttributeError(name)
