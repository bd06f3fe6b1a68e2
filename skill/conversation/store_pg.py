"""Conversations in PostgreSQL, for processes on several machines that share them
(`NEMO_STORE=postgresql://…`; the file store stays the default).

    nemo_schema          one row: the schema version (created/migrated on first use)
    nemo_conversations   name → the conversation document (session, draft, pending renders)
    nemo_turns           (name, id) → one turn of the journal, in `seq` order
    nemo_turn_holders    name → pid and host of the worker holding the turn lock

- `PgConversationStore` is a `ConversationStore` (load/update/reset): `update` reads the
  row `FOR UPDATE`, so two processes never overwrite each other's changes.
- `PgJournal` is a `TurnJournal`: an update locks the conversation's row too, so journal
  and state changes of one conversation are serialised; `PgStore.update_both` writes a
  state change and the journal rows that describe it in one transaction.
- `PgTurnLock` is a `TurnLock`: a session-level advisory lock on a connection of its
  own, held while the worker runs turns. PostgreSQL drops it when that connection ends,
  so a killed holder (kill -9, a machine gone: with TCP keepalives) never blocks the
  conversation.

The interfaces are synchronous (the file store's), so the asyncpg pool runs on a loop
in a thread of its own (`_Portal`), one per process and database; a call waits for its
round trip, as a file update waits for its fsync.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from skill.common.errors import ConfigError
from skill.conversation.store import Conversation, ConversationStore, check_name
from skill.conversation.turns import Journal, TurnRecord

T = TypeVar("T")
SCHEMA_VERSION = 1
_MIGRATE_LOCK = 0x6E656D6F  # "nemo": one process migrates at a time
_MIGRATIONS = {
    1: """
    CREATE TABLE IF NOT EXISTS nemo_conversations (
        name text PRIMARY KEY,
        doc jsonb NOT NULL,
        updated_at double precision NOT NULL DEFAULT 0,
        journal_at double precision NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS nemo_turns (
        name text NOT NULL REFERENCES nemo_conversations(name) ON DELETE CASCADE,
        id text NOT NULL,
        seq integer NOT NULL,
        doc jsonb NOT NULL,
        PRIMARY KEY (name, id)
    );
    CREATE TABLE IF NOT EXISTS nemo_turn_holders (
        name text PRIMARY KEY,
        pid integer NOT NULL,
        host text NOT NULL,
        since double precision NOT NULL
    );
    """,
}
_CALL_TIMEOUT_S = 30.0


def _asyncpg() -> Any:
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(
            "NEMO_STORE names a PostgreSQL database, but asyncpg is not installed: "
            "pip install 'nemo-video-skill[postgresql]', or unset NEMO_STORE.",
            key="error.store_driver",
        ) from None
    return asyncpg


class _Portal:
    """An event loop in a daemon thread holding the pool; sync callers wait on it."""

    _open: ClassVar[dict[str, _Portal]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="nemo-pg", daemon=True).start()
        self.pool: Any = self.call(self._start())

    @classmethod
    def of(cls, dsn: str) -> _Portal:
        with cls._guard:
            if dsn not in cls._open:
                cls._open[dsn] = cls(dsn)
            return cls._open[dsn]

    @classmethod
    def close_all(cls) -> None:
        """Close every pool (before the server goes away: tests)."""
        with cls._guard:
            for portal in cls._open.values():
                portal.call(portal.pool.close())
                portal.loop.call_soon_threadsafe(portal.loop.stop)
            cls._open.clear()

    def call(self, work: Coroutine[Any, Any, T], timeout: float = _CALL_TIMEOUT_S) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise ConfigError(
                f"The PostgreSQL store did not answer within {timeout:.0f} s. Check NEMO_STORE.",
                key="error.store_unreachable",
            ) from None
        except (OSError, _asyncpg().PostgresError) as exc:
            raise ConfigError(
                f"The PostgreSQL store failed: {exc}. Check NEMO_STORE and the server.",
                key="error.store_unreachable",
            ) from None

    async def _start(self) -> Any:
        asyncpg = _asyncpg()
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4, init=_codecs)
        async with pool.acquire() as con, con.transaction():
            await con.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK)
            await con.execute("CREATE TABLE IF NOT EXISTS nemo_schema (version integer NOT NULL)")
            version = await con.fetchval("SELECT max(version) FROM nemo_schema") or 0
            for step in range(version + 1, SCHEMA_VERSION + 1):
                await con.execute(_MIGRATIONS[step])
                await con.execute("INSERT INTO nemo_schema (version) VALUES ($1)", step)
        return pool

    async def connect(self) -> Any:
        con = await _asyncpg().connect(self.dsn)
        await _codecs(con)
        return con


async def _codecs(con: Any) -> None:
    await con.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def lock_key(name: str) -> int:
    """The advisory lock's 64-bit key for a conversation."""
    return int.from_bytes(hashlib.sha256(f"nemo:{name}".encode()).digest()[:8], "big", signed=True)


class PgStore:
    """One database: conversation stores, journals and locks by name (a TurnBook)."""

    def __init__(self, dsn: str, bells: Path | None = None) -> None:
        self.dsn = dsn
        self.portal = _Portal.of(dsn)
        self.bells = bells  # this machine's folder for idle workers' bells (a local thing)

    def conversation(self, name: str) -> PgConversationStore:
        return PgConversationStore(self, name)

    def journal(self, name: str) -> PgJournal:
        return PgJournal(self, check_name(name))

    def lock(self, name: str) -> PgTurnLock:
        return PgTurnLock(self, check_name(name))

    def bell(self, name: str) -> Path | None:
        return None if self.bells is None else self.bells / f"{check_name(name)}.bell"

    def names(self) -> list[str]:
        rows = self.portal.call(self._fetch("SELECT DISTINCT name FROM nemo_turns ORDER BY 1"))
        return [r["name"] for r in rows]

    def conversation_names(self) -> list[str]:
        rows = self.portal.call(self._fetch("SELECT name FROM nemo_conversations ORDER BY 1"))
        return [r["name"] for r in rows]

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self.portal.pool.acquire() as con:
            return list(await con.fetch(sql, *args))

    def update_both(
        self,
        name: str,
        state: Callable[[Conversation], Conversation],
        journal: Callable[[Journal], Journal],
    ) -> tuple[Conversation, Journal]:
        """A state change and the journal rows that describe it, in one transaction."""
        return self.portal.call(self._update(name, state, journal))

    async def _update(
        self,
        name: str,
        state: Callable[[Conversation], Conversation] | None,
        journal: Callable[[Journal], Journal] | None,
    ) -> tuple[Conversation, Journal]:
        async with self.portal.pool.acquire() as con, con.transaction():
            await con.execute(
                "INSERT INTO nemo_conversations (name, doc) VALUES ($1, $2) "
                "ON CONFLICT (name) DO NOTHING",
                name, {"name": name},
            )  # fmt: skip
            row = await con.fetchrow(
                "SELECT doc, journal_at FROM nemo_conversations WHERE name = $1 FOR UPDATE", name
            )
            conv = _conversation(name, row["doc"])
            turns = await _turns(con, name, row["journal_at"])
            now = time.time()
            if state is not None:
                conv = replace(state(conv), updated_at=now)
                await con.execute(
                    "UPDATE nemo_conversations SET doc = $2, updated_at = $3 WHERE name = $1",
                    name, conv.to_json(), now,
                )  # fmt: skip
            if journal is not None:
                turns = replace(journal(turns), updated_at=now)
                await _write_turns(con, name, turns)
            return conv, turns


def _conversation(name: str, doc: Any) -> Conversation:
    if not isinstance(doc, dict) or "name" not in doc:
        return Conversation(name=name)
    return Conversation.from_json(doc, Path(f"nemo_conversations/{name}"))


async def _turns(con: Any, name: str, journal_at: float) -> Journal:
    rows = await con.fetch("SELECT doc FROM nemo_turns WHERE name = $1 ORDER BY seq", name)
    try:
        turns = tuple(TurnRecord.from_json(r["doc"]) for r in rows)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ConfigError(
            f"nemo_turns: a turn of {name!r} is unreadable ({exc}). Delete its rows.",
            path=f"nemo_turns/{name}",
        ) from None
    return Journal(name, turns, journal_at)


async def _write_turns(con: Any, name: str, journal: Journal) -> None:
    ids = [t.id for t in journal.turns]
    await con.execute("DELETE FROM nemo_turns WHERE name = $1 AND id <> ALL($2::text[])", name, ids)
    await con.executemany(
        "INSERT INTO nemo_turns (name, id, seq, doc) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (name, id) DO UPDATE SET seq = EXCLUDED.seq, doc = EXCLUDED.doc",
        [(name, t.id, i, t.to_json()) for i, t in enumerate(journal.turns)],
    )
    await con.execute(
        "UPDATE nemo_conversations SET journal_at = $2 WHERE name = $1", name, journal.updated_at
    )


class PgConversationStore(ConversationStore):
    """The conversation's row; same interface and semantics as the file store."""

    def __init__(self, db: PgStore, name: str) -> None:  # no file, no file lock
        self.name, self.db = check_name(name), db
        self.path = Path(f"nemo_conversations/{name}")  # named in messages only

    def load(self) -> Conversation:
        rows = self.db.portal.call(
            self.db._fetch("SELECT doc FROM nemo_conversations WHERE name = $1", self.name)
        )
        return _conversation(self.name, rows[0]["doc"] if rows else None)

    def update(self, change: Callable[[Conversation], Conversation]) -> Conversation:
        return self.db.portal.call(self.db._update(self.name, change, None))[0]


class PgJournal:
    def __init__(self, db: PgStore, name: str) -> None:
        self.db, self.name = db, name

    def read(self) -> Journal:
        async def read() -> Journal:
            async with self.db.portal.pool.acquire() as con:
                at = await con.fetchval(
                    "SELECT journal_at FROM nemo_conversations WHERE name = $1", self.name
                )
                return await _turns(con, self.name, at or 0.0)

        return self.db.portal.call(read())

    def update(self, change: Callable[[Journal], Journal]) -> Journal:
        return self.db.portal.call(self.db._update(self.name, None, change))[1]


class PgTurnLock:
    """A session advisory lock on a connection of its own (dropped with the connection)."""

    def __init__(self, db: PgStore, name: str) -> None:
        self.db, self.name, self.key = db, name, lock_key(name)
        self._con: Any = None

    def acquire(self, timeout: float) -> bool:
        if self._con is not None:
            return True
        return self.db.portal.call(self._acquire(timeout), timeout + _CALL_TIMEOUT_S)

    async def _acquire(self, timeout: float) -> bool:
        con = await self.db.portal.connect()
        deadline = time.monotonic() + timeout
        while not await con.fetchval("SELECT pg_try_advisory_lock($1)", self.key):
            if time.monotonic() >= deadline:
                await con.close()
                return False
            await asyncio.sleep(0.05)
        await con.execute(
            "INSERT INTO nemo_turn_holders (name, pid, host, since) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (name) DO UPDATE SET pid = $2, host = $3, since = $4",
            self.name, os.getpid(), socket.gethostname(), time.time(),
        )  # fmt: skip
        self._con = con
        return True

    def release(self) -> None:
        if self._con is None:
            return
        con, self._con = self._con, None
        self.db.portal.call(con.close())  # closing the session drops its advisory lock

    def held(self) -> bool:
        return self._con is not None or self._probe()[0]

    def holder(self) -> int | None:
        return os.getpid() if self._con is not None else self._probe()[1]

    def _probe(self) -> tuple[bool, int | None]:
        """Whether a live session holds the lock (pg_locks), and the pid it recorded."""
        classid, objid = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        rows = self.db.portal.call(
            self.db._fetch(
                "SELECT h.pid FROM pg_locks l LEFT JOIN nemo_turn_holders h ON h.name = $3 "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid "
                "AND l.objid = $2::bigint::oid AND l.objsubid = 1",
                classid, objid, self.name,
            )
        )  # fmt: skip
        if not rows:
            return False, None
        return True, (int(rows[0]["pid"]) if rows[0]["pid"] is not None else None)
