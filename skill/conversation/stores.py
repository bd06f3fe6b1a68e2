"""Where conversations live: files in the config folder (the default), or PostgreSQL when
NEMO_STORE names a database (`postgresql://user@host/db`), shared by processes on many
machines. The one place that decides it; callers ask for a store or a turn book here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from skill.common.config import Settings
from skill.common.errors import ConfigError
from skill.conversation.store import ConversationStore
from skill.conversation.turns import TurnBook
from skill.conversation.turns_file import FileTurnBook

if TYPE_CHECKING:
    from skill.conversation.store_pg import PgStore

_SCHEMES = ("postgresql://", "postgres://")


def conversation_store(settings: Settings, name: str) -> ConversationStore:
    """The named conversation's store."""
    if not settings.store_url:
        return ConversationStore(settings.config_dir, name)
    return _database(settings.store_url).conversation(name)


def conversation_names(settings: Settings) -> list[str]:
    """Every stored conversation's name, in order."""
    if not settings.store_url:
        return sorted(p.stem for p in (settings.config_dir / "conversations").glob("*.json"))
    return _database(settings.store_url).conversation_names()


def turn_book(settings: Settings) -> TurnBook:
    """Turn journals and turn locks, by conversation."""
    if not settings.store_url:
        return FileTurnBook(settings.config_dir)
    return _database(settings.store_url, bells=settings.config_dir / "turns")


def _database(url: str, bells: Path | None = None) -> PgStore:
    if not url.startswith(_SCHEMES):
        raise ConfigError(
            "NEMO_STORE must be a PostgreSQL URL (postgresql://user@host/database), or unset "
            "for the file store.",
            key="error.store_url",
        )
    from skill.conversation.store_pg import PgStore

    return PgStore(url, bells)
