"""Recording: `nemo-video say --record FILE` and `chat --record FILE`.

Each recorded turn runs the real runtime with its client pointed at a recording proxy
(skill/transcripts/proxy.py) in front of the configured backend, then appends the turn to FILE:
what the user said, every exchange, the chat lines and the outcome, with secrets and
run-specific values replaced by placeholders (skill/transcripts/placeholders.py). One process per
turn builds one transcript: the map from real values to placeholders is kept between
turns in `<config>/recordings/` (mode 0600), never beside the transcript.

A new FILE notes how the conversation starts (a stored or NEMO_TOKEN token, the
conversation's session and draft), so a replay can start from the same place. File
names with a time stamp (`nemovideo-YYYYmmdd-HHMMSS.mp4`) become patterns. A
transcript that still holds something like a secret is not written (ConfigError).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from skill.common.config import Settings, Timings, TokenStore
from skill.common.errors import ConfigError
from skill.common.output import CollectedOutput, Output
from skill.common.storage import atomic_write, read_json, write_json
from skill.conversation.outcome import TurnOutcome
from skill.conversation.runtime import Runtime
from skill.conversation.store import ConversationStore
from skill.transcripts.capture import request_record, response_record
from skill.transcripts.driver import drive
from skill.transcripts.format import Exchange, Line, Pattern, Start, Transcript, Turn, load
from skill.transcripts.placeholders import Placeholders, find_secrets
from skill.transcripts.proxy import Raw, RecordingProxy, origin
from skill.transcripts.writer import dump
from skill.wire.attribution import Attribution, load_attribution
from skill.wire.client import NemoClient

STAMPED = r"nemovideo-\d{8}-\d{6}(?:-\d+)?"  # a time stamp, and -2 when it was taken
_REGEX_SPECIAL = re.compile(r"([.^$*+?{}\[\]\\|()])")


async def record_turn(
    path: Path,
    settings: Settings,
    store: ConversationStore,
    output: Output,
    *,
    out_dir: Path,
    turn: Turn,
    title: str = "",
    about: str = "",
) -> TurnOutcome:
    """Run `turn` (its attachments as given, relative to the working folder) on the
    runtime and append it to the transcript at `path`; `title`/`about` for a new file.
    A transcript that cannot be opened fails the turn ("config") before it runs; one that
    cannot be appended after the turn ran is said on `output`, and the turn's outcome
    stands (a delivered export is not turned into a failure)."""
    attribution = load_attribution(env={"SKILL_SOURCE": settings.skill_source or ""})
    try:
        book = Book.open(path, settings, store, out_dir, attribution, title=title, about=about)
    except ConfigError as exc:
        return _unrecorded(output, "chat" if turn.kind == "say" else turn.text, exc)
    turn = replace(turn, files=tuple(book.relative(f) for f in turn.files))
    collected = CollectedOutput()
    proxy = RecordingProxy(settings.api_url, leave=(settings.web_url,), seed=str(book.path))
    try:
        client = NemoClient(
            replace(settings, api_url=await proxy.start()),
            attribution=attribution,
            token_store=TokenStore(settings.config_dir),
        )
        async with client:
            rt = Runtime(settings, client, store, _Tee(output, collected), out_dir=out_dir)
            outcome = await drive(rt, turn, book.base)
    finally:
        exchanges = await proxy.close()
    try:
        book.append(turn, exchanges, proxy, collected, outcome)
    except ConfigError as exc:  # the turn itself stands (an export stays delivered): say so
        output.reply(exc.message)
    return outcome


def _unrecorded(output: Output, intent: str, exc: ConfigError) -> TurnOutcome:
    output.reply(exc.message)
    return TurnOutcome(intent, "config", exc.message)


@dataclass
class Book:
    """The transcript being written and the placeholder map that goes with it."""

    path: Path
    transcript: Transcript
    marks: Placeholders
    state: Path
    out_dir: Path
    attribution: Attribution

    @property
    def base(self) -> Path:
        return self.path.parent.absolute()

    @classmethod
    def open(
        cls,
        path: Path,
        settings: Settings,
        store: ConversationStore,
        out_dir: Path,
        attribution: Attribution,
        *,
        title: str = "",
        about: str = "",
    ) -> Book:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)  # attachments are found through it
        digest = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:16]
        state = settings.config_dir / "recordings" / f"{digest}.json"
        if path.exists():
            pairs = read_json(state)
            if not isinstance(pairs, dict):
                raise ConfigError(
                    f"{path}: this transcript was not recorded from this config folder (its "
                    "placeholder map is missing), so turns cannot be added to it. Record into "
                    "a new file.",
                    path=str(path),
                )
            marks, transcript = Placeholders(pairs), load(path)
        else:
            marks = Placeholders()
            transcript = Transcript(
                title=title or path.stem,
                about=about,
                recorded=f"nemo-video --record, against {_where(settings.api_url)}",
                platform=attribution.platform,
                web_url=settings.web_url,
                timings=_changed_timings(settings.timings),
            )
        book = cls(path, transcript, marks, state, Path(out_dir).absolute(), attribution)
        book._fix(settings)
        if not path.exists():
            book.transcript = replace(transcript, start=book._start(settings, store))
        return book

    def _fix(self, settings: Settings) -> None:
        self.marks.fix(origin(settings.api_url), "<api>")
        self.marks.fix(str(self.out_dir), "<out>")
        self.marks.fix(str(self.base), "<here>")
        self.marks.fix(str(settings.config_dir.absolute()), "<config>")

    def _start(self, settings: Settings, store: ConversationStore) -> Start:
        token = "none"
        if settings.env_token:
            token = "env"
            self.marks.name(settings.env_token, "token")
        else:
            stored = TokenStore(settings.config_dir).load()
            if stored is not None and stored.valid():
                token = "stored"
                self.marks.name(stored.token, "token")
        conv = store.load()
        if not (conv.session_id or conv.draft or conv.pending):
            return Start(token)
        doc = conv.to_json()
        for key in ("name", "updated_at", "exports"):
            doc.pop(key, None)
        return Start(token, self.marks.scrub_doc(doc))

    def relative(self, item: str | Path) -> str:
        """An attachment's path relative to the transcript's folder (URLs stay)."""
        text = str(item)
        if text.startswith(("http://", "https://")):
            return text
        return Path(os.path.relpath(Path(text).absolute(), self.base)).as_posix()

    def append(
        self,
        turn: Turn,
        raws: list[Raw],
        proxy: RecordingProxy,
        collected: CollectedOutput,
        outcome: TurnOutcome,
    ) -> None:
        m = self.marks
        for upstream, ours in proxy.listeners.items():
            m.fix(ours, "<api>" if upstream == proxy.api else m.name(upstream, "host"))
        turn = replace(turn, text=m.scrub(turn.text), files=tuple(m.scrub(f) for f in turn.files))
        exchanges = [self._exchange(raw, proxy.api) for raw in raws]
        t = self.transcript
        first = [e.request.headers or {} for e in exchanges if not e.request.host]
        headers = t.headers or (first[0] if first else {})
        exchanges = [
            replace(e, request=replace(e.request, headers=None))
            if e.request.headers == (headers if e.request.host is None else {})
            else e
            for e in exchanges
        ]
        replies = [r.strip() for r in collected.replies if r.strip()]
        saved = [_relative_to(p, self.out_dir) for p in collected.files]
        done = replace(
            turn,
            http=tuple(exchanges),
            replies=tuple(self._line(r) for r in replies),
            saved=tuple(self._line(s) for s in saved),
            links=tuple(self._line(u) for u in collected.links),
            intent=outcome.intent,
            outcome=outcome.kind.value,
            error=outcome.error_code,
        )
        self.transcript = replace(t, headers=dict(headers or {}), turns=(*t.turns, done))
        text = dump(self.transcript)
        for line, what, found in find_secrets(text):
            raise ConfigError(
                f"{self.path}: not written: line {line} still holds {what} ({found[:12]}...). "
                "Report this as a bug of the recorder.",
                path=str(self.path),
            )
        atomic_write(self.path, text.encode())
        write_json(self.state, m.pairs(), mode=0o600)

    def _exchange(self, raw: Raw, api: str) -> Exchange:
        m = self.marks
        host = None if raw.upstream == api else m.name(raw.upstream, "host")
        request = request_record(
            m, method=raw.method, host=host, path_qs=raw.path_qs, headers=raw.headers,
            body=raw.body, version=self.attribution.version,
        )  # fmt: skip
        response = response_record(
            m, status=raw.status, headers=raw.response_headers, body=raw.response_body,
            chunks=raw.chunks, started=raw.started, end=raw.end, now=raw.wall,
        )  # fmt: skip
        return Exchange(request, response)

    def _line(self, text: str) -> Line:
        """A chat line as kept: scrubbed, a pattern when it names a stamped file."""
        text = self.marks.scrub(text)
        if not re.search(STAMPED, text):
            return text
        return Pattern(
            STAMPED.join(_REGEX_SPECIAL.sub(r"\\\1", p) for p in re.split(STAMPED, text))
        )


def _relative_to(path: Path, folder: Path) -> str:
    try:
        return Path(path).absolute().relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def _where(api_url: str) -> str:
    host = origin(api_url)
    return "a local stand-in" if re.search(r"//(127\.0\.0\.1|localhost|\[::1\])", host) else host


def _changed_timings(timings: Timings) -> dict[str, float | list[float]]:
    default = asdict(Timings())
    changed = {k: v for k, v in asdict(timings).items() if v != default[k]}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in changed.items()}


class _Tee:
    """Hands every line to the user's output and keeps a copy for the transcript."""

    def __init__(self, output: Output, copy: CollectedOutput) -> None:
        self._outputs: tuple[Output, ...] = (output, copy)

    def stream(self, fragment: str) -> None:
        for o in self._outputs:
            o.stream(fragment)

    def reply(self, line: str) -> None:
        for o in self._outputs:
            o.reply(line)

    def progress(self, what: str, done: float, total: float | None) -> None:
        for o in self._outputs:
            o.progress(what, done, total)

    def file(self, path: Path) -> None:
        for o in self._outputs:
            o.file(path)

    def link(self, url: str) -> None:
        for o in self._outputs:
            o.link(url)
