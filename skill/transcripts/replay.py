"""Replay: play a transcript's user turns through the real runtime against a loopback
server that answers with the recorded responses, and report every difference.

Each transcript gets a fresh config folder and export folder (seeded from its `start`),
SKILL_SOURCE set to its `platform`, and an API listener plus one listener per `<host-N>`.
Requests are matched in recorded order, turn by turn; each one is compared field by
field (skill/transcripts/capture.py) and answered with the recorded response, its placeholders
given values of this replay. A request the recording does not have is answered 409.

Rules that keep a replay independent of timing:
- Sleeps (render polls, recovery waits, rate-limit waits, back-off) take no time.
- Waits measured on the clock (still working, heartbeat-only, turn cap, stream idle)
  are scaled so that `still_working_every` lasts REPLAY_PERIOD, and the recorded pauses
  inside event streams by the same factor: a "Still working" line comes back where it was.
- Render-status polls (GET /api/render/proxy/lambda/<id>) recorded one after another
  form a group: its answers are served in order, the last one repeated if the runtime
  asks more often (up to MAX_EXTRA_POLLS), and the rest skipped without a difference if
  it moves on sooner.
- When a request does not match the next recorded one but matches a later one of the
  turn, the ones between are reported as not made; a request matching none is extra.
"""

from __future__ import annotations

import asyncio
import difflib
import re
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from skill.common.config import Settings, StoredToken, Timings, TokenStore
from skill.common.errors import ConfigError
from skill.common.output import CollectedOutput
from skill.common.storage import write_json
from skill.conversation import contract
from skill.conversation.outcome import TurnOutcome
from skill.conversation.runtime import Runtime
from skill.conversation.store import ConversationStore
from skill.transcripts.capture import (
    request_differences,
    request_record,
    served_body,
    served_headers,
    served_stream,
)
from skill.transcripts.driver import drive
from skill.transcripts.format import (
    Exchange,
    Line,
    Pattern,
    Request,
    Response,
    Transcript,
    Turn,
    load,
)
from skill.transcripts.placeholders import Placeholders
from skill.wire.attribution import load_attribution
from skill.wire.client import NemoClient

REPLAY_PERIOD = 0.5  # seconds that `still_working_every` lasts in a replay
POLL_PATH = "/api/render/proxy/lambda/"
MAX_SHOWN = 60  # difference lines printed per transcript
DROP_GRACE = 0.05  # seconds between a broken stream's last bytes and the break
MAX_EXTRA_POLLS = 50  # a runtime polling on past this is stuck: answered 409


@dataclass(frozen=True)
class Report:
    path: Path
    differences: tuple[str, ...]
    seconds: float
    objects: tuple[dict[str, Any], ...] = ()  # each turn's `--json` object, as say would print

    @property
    def ok(self) -> bool:
        return not self.differences


def replay_timings(recorded: Mapping[str, float | list[float]]) -> tuple[Timings, float]:
    """The recording's Timings with the clock-measured waits scaled; and the factor."""
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items()
    }
    base = replace(Timings(), **values)
    scale = REPLAY_PERIOD / base.still_working_every
    return replace(
        base,
        still_working_every=REPLAY_PERIOD,
        heartbeat_only_timeout=base.heartbeat_only_timeout * scale,
        turn_cap=base.turn_cap * scale,
        stream_idle_timeout=base.stream_idle_timeout * scale,
    ), scale


async def replay(path: Path) -> Report:
    started = time.monotonic()
    try:
        t = load(path)
        text = path.read_text(encoding="utf-8")  # noqa: ASYNC240 (small, local)
    except ConfigError as exc:
        return Report(path, (exc.message,), 0.0)
    base = path.parent.absolute()
    attribution = load_attribution(env={"SKILL_SOURCE": t.platform})
    timings, scale = replay_timings(t.timings)
    marks = Placeholders()
    objects: list[dict[str, Any]] = []
    server = ReplayServer(
        t, marks, scale=scale, version=attribution.version, hold_cap=5.0 + 2 * timings.turn_cap
    )
    with tempfile.TemporaryDirectory(prefix="nemo-replay-") as tmp:
        config, out = Path(tmp) / "config", Path(tmp) / "out"
        await server.start(sorted(set(re.findall(r"<host-\d+>", text))))
        try:
            fixed = {str(out): "<out>", str(base): "<here>", str(config): "<config>"}
            for value, name in {**fixed, "sig=replay": "<signature>"}.items():
                marks.fix(value, name)
            env_token = _seed(t, marks, config)
            settings = Settings(
                api_url=marks.fill("<api>"), web_url=t.web_url, config_dir=config,
                env_token=env_token, skill_source=t.platform, output_dir=out, timings=timings,
            )  # fmt: skip
            store = ConversationStore(config, "replay")
            for number, turn in enumerate(t.turns, 1):
                server.begin(number, turn)
                user = replace(
                    turn, text=marks.fill(turn.text), files=tuple(marks.fill(f) for f in turn.files)
                )
                collected = CollectedOutput()
                client = NemoClient(
                    settings,
                    attribution=attribution,
                    token_store=TokenStore(config),
                    sleep=_no_wait,
                )
                async with client:
                    rt = Runtime(settings, client, store, collected, out_dir=out, sleep=_no_wait)
                    outcome = await drive(rt, user, base)
                server.end_turn()
                server.differences += chat_differences(number, turn, collected, outcome, marks, out)
                objects.append(
                    contract.document(outcome, collected, contract.next_step(outcome, store))
                )
        finally:
            await server.close()
    return Report(path, tuple(server.differences), time.monotonic() - started, tuple(objects))


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


def _seed(t: Transcript, marks: Placeholders, config: Path) -> str | None:
    """The config folder as the recording started; the NEMO_TOKEN value, if it had one."""
    if t.start.token == "stored":
        week = time.time() + 7 * 24 * 3600
        TokenStore(config).save(StoredToken(marks.fill("<token-1>"), week, ""))
    if t.start.conversation is not None:
        doc = {**marks.fill_doc(dict(t.start.conversation)), "name": "replay"}
        write_json(config / "conversations" / "replay.json", doc)
    return marks.fill("<token-1>") if t.start.token == "env" else None


class ReplayServer:
    def __init__(
        self,
        t: Transcript,
        marks: Placeholders,
        *,
        scale: float,
        version: str,
        hold_cap: float = 30.0,  # longest a stream the runtime gave up on is held open
    ) -> None:
        self.t, self.marks, self.scale, self.version = t, marks, scale, version
        self.hold_cap = hold_cap
        self.differences: list[str] = []
        self._runners: list[web.AppRunner] = []
        self._turn = Turn("command", "ready")
        self._number = self._cursor = self._repeats = 0

    async def start(self, hosts: Sequence[str]) -> None:
        for name in ("<api>", *hosts):
            self.marks.fix(await self._listen(None if name == "<api>" else name), name)

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    def begin(self, number: int, turn: Turn) -> None:
        self._number, self._turn, self._cursor, self._repeats = number, turn, 0, 0

    def end_turn(self) -> None:
        http = self._turn.http
        while self._cursor < len(http):
            if not self._in_group(self._cursor):
                self._not_made(self._cursor)
            self._cursor += 1

    async def _listen(self, host: str | None) -> str:
        app = web.Application(client_max_size=1024**3)

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, host)

        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    # -- matching ------------------------------------------------------------------------

    async def _handle(self, request: web.Request, host: str | None) -> web.StreamResponse:
        body = await request.read()
        actual = request_record(
            self.marks, method=request.method, host=host, path_qs=request.path_qs,
            headers=request.headers, body=body, version=self.version,
        )  # fmt: skip
        found = self.match(actual)
        if found is None:
            message = "replay: the transcript has no answer for this request"
            return web.json_response({"code": 409, "message": message}, status=409)
        index, exchange = found
        for problem in request_differences(exchange.request, actual, self.t.headers):
            self._note(f"request {index} ({exchange.request.target}): {problem}")
        return await self._serve(request, exchange.response)

    def match(self, actual: Request) -> tuple[int, Exchange] | None:
        """The recorded exchange (and its number in the turn) that answers `actual`; None
        for a request the turn does not have. Extra and skipped requests are noted."""
        http, i = self._turn.http, self._cursor
        repeat = i > 0 and _is_poll(http[i - 1].request) and _same(http[i - 1].request, actual)
        if repeat and (i >= len(http) or not _same(http[i].request, actual)):
            self._repeats += 1  # polled more often than recorded: the last answer again
            if self._repeats <= MAX_EXTRA_POLLS:
                return i, http[i - 1]
            self._note(f"request {i} polled over {MAX_EXTRA_POLLS} times more than recorded")
            return None
        later = [j for j in range(i, len(http)) if _same(http[j].request, actual)]
        if not later:
            self._note(f"an extra request the recording does not have: {actual.target}")
            return None
        for skipped in range(i, later[0]):
            if not self._in_group(skipped):
                self._not_made(skipped)
        self._cursor = later[0] + 1
        return later[0] + 1, http[later[0]]

    def _in_group(self, j: int) -> bool:
        """Exchange j repeats the poll before it: skipping it is no difference."""
        http = self._turn.http
        return j > 0 and _is_poll(http[j].request) and _same(http[j - 1].request, http[j].request)

    def _not_made(self, j: int) -> None:
        self._note(f"request {j + 1} not made: {self._turn.http[j].request.target}")

    def _note(self, text: str) -> None:
        self.differences.append(f"turn {self._number} ({self._turn.label}), {text}")

    # -- answering -----------------------------------------------------------------------

    async def _serve(self, request: web.Request, r: Response) -> web.StreamResponse:
        headers = served_headers(self.marks, r)
        if r.sse is None:
            if r.end == "drop":
                return _drop(request)
            return web.Response(status=r.status, headers=headers, body=served_body(self.marks, r))
        response = web.StreamResponse(status=r.status, headers=headers)
        await response.prepare(request)
        try:
            for item in served_stream(self.marks, r):
                if isinstance(item, float):
                    await asyncio.sleep(item * self.scale)
                else:
                    await response.write(item)
            if r.end == "drop":
                await asyncio.sleep(DROP_GRACE)  # what was sent arrives first, as when recorded
                return _drop(request)
            if r.end == "client":  # the runtime gave up on this stream: keep it open till then
                deadline = time.monotonic() + self.hold_cap
                while _open(request) and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                return response
            await response.write_eof()
        except ConnectionError:
            pass
        return response


def _same(a: Request, b: Request) -> bool:
    return (a.method, a.host, a.path) == (b.method, b.host, b.path)


def _is_poll(r: Request) -> bool:
    return r.method == "GET" and r.host is None and r.path.startswith(POLL_PATH)


def _open(request: web.Request) -> bool:
    return request.transport is not None and not request.transport.is_closing()


def _drop(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.close()
    return web.Response()


# -- the chat --------------------------------------------------------------------------


def chat_differences(
    number: int,
    turn: Turn,
    collected: CollectedOutput,
    outcome: TurnOutcome,
    marks: Placeholders,
    out: Path,
) -> list[str]:
    """The turn's chat lines and outcome against the recorded ones, as unified diffs."""
    where = f"turn {number} ({turn.label})"
    replies = [marks.scrub(r.strip()) for r in collected.replies if r.strip()]
    saved = [marks.scrub(_relative(p, out)) for p in collected.files]
    links = [marks.scrub(u) for u in collected.links]
    found: list[str] = []
    for name, recorded, actual in (
        ("replies", turn.replies, replies),
        ("saved", turn.saved, saved),
        ("links", turn.links, links),
    ):
        found += line_diff(f"{where}, {name}", recorded, actual)
    if turn.intent != outcome.intent:
        found.append(f"{where}, intent: recorded {turn.intent!r}, replay {outcome.intent!r}")
    if turn.outcome and turn.outcome != outcome.kind.value:
        found.append(f"{where}, outcome: recorded {turn.outcome!r}, replay {outcome.kind.value!r}")
    if turn.error != outcome.error_code:
        found.append(f"{where}, error: recorded {turn.error!r}, replay {outcome.error_code!r}")
    return found


def line_diff(where: str, recorded: Sequence[Line], actual: Sequence[str]) -> list[str]:
    """A unified diff (recorded → replay) of two lists of lines; a pattern that matches
    its replay line counts as that line."""
    shown: list[str] = []
    for i, line in enumerate(recorded):
        other = actual[i] if i < len(actual) else None
        if isinstance(line, Pattern):
            hit = other is not None and re.fullmatch(line.regex, other, re.DOTALL)
            shown.append(other if hit and other is not None else f"re: {line.regex}")
        else:
            shown.append(line)
    if shown == list(actual):
        return []
    flat = [s.replace("\n", " ⏎ ") for s in shown], [s.replace("\n", " ⏎ ") for s in actual]
    diff = difflib.unified_diff(*flat, "recorded", "replay", lineterm="", n=1)
    return [f"{where}:"] + ["    " + d for d in list(diff)[2:]]


def _relative(path: Path, folder: Path) -> str:
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return str(path)


# -- the command -----------------------------------------------------------------------


def main(files: Sequence[Path], *, verbose: bool = False) -> int:
    """`nemo-video replay FILE...`: OK or FAIL per file, with its differences."""
    import structlog

    if not verbose:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(50))
    started = time.monotonic()
    reports = [asyncio.run(replay(Path(f))) for f in files]
    for r in reports:
        print(f"{'OK  ' if r.ok else 'FAIL'} {r.path} ({r.seconds:.2f} s)")
        for line in r.differences[:MAX_SHOWN]:
            print("    " + line)
        if len(r.differences) > MAX_SHOWN:
            print(f"    ... and {len(r.differences) - MAX_SHOWN} more differences")
    failed = sum(not r.ok for r in reports)
    total = time.monotonic() - started
    print(f"{len(reports) - failed} of {len(reports)} transcripts replay unchanged ({total:.1f} s)")
    sys.stdout.flush()
    return 1 if failed else 0
