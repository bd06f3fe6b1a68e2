"""The stand-in's world, in memory: tokens, accounts, sessions, media on disk, renders.

Like the cloud: a token lives 7 days; a client id holds one live anonymous token at a
time (asking again while it lives is 429; once it has expired, the same client id gets
a new one), and one IP gets about 10 tokens per 7 days. Credits belong to the account
of a client id, so a renewed token keeps the balance. Nothing survives a restart: a
token from an earlier run is unknown (1001) and the runtime simply gets a new one.

What it keeps is bounded (the scenario's `keep`): a session no call named for
`keep.session_idle` seconds of the world's clock is forgotten, and so is the least
recently used one beyond `keep.sessions`; the next call naming a forgotten session gets
1002, as for a lost one. Uploaded files beyond `keep.uploads` are deleted oldest first,
and a forgotten session's uploads go with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from skill.wire import protocol as p

from .envelope import Failure
from .scenario import FaultBook, Scenario

SAMPLE_MEDIA = Path(__file__).resolve().parent / "media"
SAMPLE_MUSIC = "sample-music.m4a"
KINDS = {
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "webp"), "image"),
    **dict.fromkeys(("mp4", "mov", "avi", "webm", "mkv"), "video"),
    **dict.fromkeys(("mp3", "wav", "m4a", "aac"), "audio"),
}
WEEK = p.TOKEN_LIFETIME_S


@dataclass
class Account:
    client_id: str
    available: int
    frozen: int = 0


@dataclass
class Token:
    value: str
    client_id: str
    expires_at: float


@dataclass
class Media:
    id: str
    name: str
    path: Path
    kind: str
    size: int
    url: str
    session_id: str = ""

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "type": self.kind,
            "size": self.size,
        }


@dataclass
class SessionRecord:
    task_id: str
    session_id: str
    client_id: str
    language: str
    state: dict[str, Any]
    media: list[Media] = field(default_factory=list)
    turns: int = 0
    used_at: float = 0.0  # when a call last named it (the world's clock)


@dataclass
class RenderJob:
    id: str
    session_id: str
    client_id: str
    draft: dict[str, Any]
    status: str = p.RENDER_PENDING
    progress: float = 0.0
    path: Path | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = None


class World:
    def __init__(
        self,
        scenario: Scenario,
        data_dir: Path,
        clock: Callable[[], float],
        max_upload: int = p.MAX_UPLOAD_BYTES,
    ) -> None:
        self.scenario = scenario
        self.max_upload = max_upload
        self.faults = FaultBook(scenario)
        self.data_dir = data_dir
        self.clock = clock
        self.cdn_url = ""  # set once the CDN listener is bound
        self.tokens: dict[str, Token] = {}
        self.accounts: dict[str, Account] = {}
        self.sessions: OrderedDict[str, SessionRecord] = OrderedDict()  # least recently used first
        self.media: dict[str, Media] = {}  # oldest first
        self.renders: dict[str, RenderJob] = {}
        self.claims: dict[str, str] = {}
        self.submissions: list[tuple[str, str]] = []  # (session id, text) of every chat turn
        self.calls: Counter[str] = Counter()  # requests per route name, faulted ones included
        self.cdn_requests: list[dict[str, str]] = []  # the headers of each CDN render download
        self._live: dict[str, Token] = {}  # client id -> its latest token
        self._grants: dict[str, list[float]] = {}  # IP -> when tokens were issued
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- tokens ------------------------------------------------------------------------

    def issue_token(self, client_id: str, ip: str) -> tuple[Token, Account]:
        now = self.clock()
        held = self._live.get(client_id)
        if held is not None and held.expires_at > now:
            raise Failure(
                "Rate limited: this client id already has a starter token (one per client id "
                "per 7 days). Keep using the token you were given.",
                status=429,
            )
        recent = [t for t in self._grants.get(ip, []) if t > now - WEEK]
        if len(recent) >= self.scenario.anonymous_per_ip:
            raise Failure("Rate limited: too many starter tokens from this address.", status=429)
        self._grants[ip] = [*recent, now]
        token = Token(f"nmv_usr_{secrets.token_hex(16)}", client_id, now + WEEK)
        self.tokens[token.value] = self._live[client_id] = token
        account = self.accounts.setdefault(
            client_id, Account(client_id, self.scenario.starting_credits)
        )
        return token, account

    def authenticate(self, authorization: str | None) -> Account:
        scheme, _, value = (authorization or "").partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise Failure("Token invalid: send Authorization: Bearer <token>.", code=1001)
        if token.expires_at <= self.clock():
            raise Failure("Token expired.", code=1001)
        if self.faults.token_expires_now():
            token.expires_at = self.clock()
            raise Failure("Token expired.", code=1001)
        return self.accounts[token.client_id]

    # -- sessions ----------------------------------------------------------------------

    def new_session(self, account: Account, language: str) -> SessionRecord:
        sid = str(uuid.uuid4())
        state: dict[str, Any] = {
            "draft": None,
            "video_infos": [],
            "generated_media": [],
            "canvas_config": {"width": 1920, "height": 1080, "ratio": "16:9"},
            "timeline_version": 0,
        }
        now = self.clock()
        record = SessionRecord(
            f"task_{uuid.uuid4().hex[:20]}", sid, account.client_id, language, state, used_at=now
        )
        self.sessions[sid] = record
        self._prune_sessions(now)
        return record

    def find_session(self, session_id: str, account: Account) -> SessionRecord | None:
        record = self.sessions.get(session_id)
        if record is None or record.client_id != account.client_id:
            return None
        now = self.clock()
        if self.faults.session_lost_now() or self._idle(record, now):
            self.forget_session(session_id)
            return None
        record.used_at = now
        self.sessions.move_to_end(session_id)
        return record

    def forget_session(self, session_id: str) -> None:
        """Drop a session and delete its uploads."""
        record = self.sessions.pop(session_id, None)
        for media in record.media if record else ():
            self._delete_media(media.id)

    def _idle(self, record: SessionRecord, now: float) -> bool:
        return now - record.used_at > self.scenario.keep.session_idle

    def _prune_sessions(self, now: float) -> None:
        while self.sessions:
            sid, oldest = next(iter(self.sessions.items()))
            if len(self.sessions) <= self.scenario.keep.sessions and not self._idle(oldest, now):
                return
            self.forget_session(sid)

    def session(self, session_id: str, account: Account) -> SessionRecord:
        record = self.find_session(session_id, account)
        if record is None:
            raise Failure(f"Session not found: {session_id}", code=1002)
        return record

    # -- credits -----------------------------------------------------------------------

    @staticmethod
    def balance(account: Account) -> dict[str, int]:
        return {
            "available": account.available,
            "frozen": account.frozen,
            "total": account.available + account.frozen,
        }

    # -- media -------------------------------------------------------------------------

    def new_media_path(self, name: str) -> tuple[str, Path]:
        media_id = uuid.uuid4().hex[:16]
        folder = self.data_dir / "media" / media_id
        folder.mkdir(parents=True, exist_ok=True)
        return media_id, folder / safe_name(name)

    def add_media(self, session: SessionRecord, media_id: str, path: Path, name: str) -> Media:
        kind = KINDS[extension(name)]
        url = f"{self.cdn_url}/media/{media_id}/{quote(path.name)}"
        media = Media(media_id, name, path, kind, path.stat().st_size, url, session.session_id)
        self.media[media_id] = media
        session.media.append(media)
        session.state["video_infos"] = [*session.state["video_infos"], media.info()]
        while len(self.media) > self.scenario.keep.uploads:
            self._delete_media(next(iter(self.media)))
        return media

    def _delete_media(self, media_id: str) -> None:
        """Forget an upload and delete its file; its URL answers 404 from now on."""
        media = self.media.pop(media_id, None)
        if media is None:
            return
        owner = self.sessions.get(media.session_id)
        if owner is not None:
            owner.media = [m for m in owner.media if m.id != media_id]
        shutil.rmtree(media.path.parent, ignore_errors=True)

    def sample_music_url(self) -> str:
        return f"{self.cdn_url}/media/sample/{SAMPLE_MUSIC}"

    def resolve(self, url: str) -> Path | None:
        """The local file behind a CDN URL, or None (another host, or nothing there)."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.cdn_url:
            return None
        segments = [unquote(s) for s in parts.path.split("/") if s]
        found: Path | None = None
        if len(segments) == 3 and segments[0] == "media":
            if segments[1] == "sample":
                found = SAMPLE_MEDIA / safe_name(segments[2])
            elif segments[1] in self.media:
                found = self.media[segments[1]].path
        elif len(segments) == 2 and segments[0] == "renders":
            job = self.renders.get(segments[1].removesuffix(".mp4"))
            found = job.path if job is not None and job.status == p.RENDER_COMPLETED else None
        return found if found is not None and found.is_file() else None

    # -- background work ---------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run work that outlives its request (a chat turn, a render) until close()."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def safe_name(name: str) -> str:
    """A file name that stays inside its folder."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    return "".join(c if c.isalnum() or c in "._- " else "_" for c in base)[:120] or "file"
