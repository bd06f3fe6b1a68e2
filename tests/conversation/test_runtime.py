"""The conversation runtime against the local stand-in, in-process: every intent in both
languages, every error code, GUI phrases, silent and broken streams, and a conversation
that outlives its process. Expected lines are rendered from `prompts/`, never typed here.

Each turn runs in a fresh `Runtime` with a fresh client, as one `nemo-video say` process
would; only the config folder (token, conversation) carries over.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from skill.common.config import Settings, Timings, TokenStore
from skill.common.output import CollectedOutput
from skill.conversation import templates
from skill.conversation.intents import classify
from skill.conversation.outcome import Outcome, TurnOutcome
from skill.conversation.runtime import Runtime
from skill.conversation.store import ConversationStore
from skill.standin import RunningStandin, start_standin
from skill.standin.probe import probe
from skill.standin.render import SAMPLE_PHOTO
from skill.standin.store import SessionRecord
from skill.wire.attribution import load_attribution
from skill.wire.client import NemoClient
from skill.wire.protocol import ACCEPTED_EXTENSIONS, RENDER_COMPLETED
from skill.wire.sse import ServerSentEvent
from tests.standin.conftest import merged

WEB = "https://web.example"
TIMINGS = replace(
    Timings(),
    request_timeout=5.0,
    render_poll_first=0.05,
    render_poll_max=0.2,
    render_deadline=60.0,
    recovery_waits=(0.05,) * 5,
    still_working_every=30.0,
    heartbeat_only_timeout=30.0,
    turn_cap=60.0,
    rate_limit_wait=0.01,
    retry_base=0.01,
)
STANDIN: dict[str, Any] = {
    "starting_credits": 1000,
    "silent_edits": 0,
    "timing": {"heartbeat": 0.05, "generate": 0.05, "edit": 0.02, "frame_gap": 0,
               "render_queue": 0.02, "stall_max": 5},
}  # fmt: skip
# A small project: 4 s of the stand-in's synthetic footage at 320x180 and a title.
DRAFT: dict[str, Any] = {
    "d": 4000,
    "m": {"w": 320, "h": 180, "fps": 15, "ratio": "16:9"},
    "t": [
        {"tt": 0, "m": {"name": "Video"}, "sg": [
            {"s": 0, "d": 4000, "m": {"name": "beach", "kind": "synthetic", "seed": 3}}]},
        {"tt": 7, "m": {"name": "Title"}, "sg": [
            {"s": 0, "d": 1000, "m": {"text": "Hello", "size": 24}}]},
    ],
}  # fmt: skip
GUI_WORDS = re.compile(r"click|button|panel|drag|\btap\b|点击|按钮|面板|拖", re.IGNORECASE)
MARKER = {"en": "(local simulation)", "zh": "（本地模拟）"}
SHOW = {"en": "show tracks", "zh": "查看轨道"}


def t(key: str, lang: str = "en", **ctx: Any) -> str:
    return templates.render(key, lang, **ctx)


def item(lang: str, role: str, *, start: int, end: int, text: str | None = None,
         name: str | None = None, volume: int | None = None) -> dict[str, str]:  # fmt: skip
    """A timeline entry as `timeline.summary` and the `change_*` lines receive it."""
    what = t("timeline.what", lang, text=text, name=name, n=1)
    return {
        "label": t(f"timeline.role_{role}", lang, track=None),
        "what": what,
        "item": t("timeline.item", lang, what=what, start_ms=start, end_ms=end, volume=volume),
    }


def draft_summary(lang: str) -> str:
    entries = [
        item(lang, "video", start=0, end=4000, name="beach"),
        item(lang, "title", start=0, end=1000, text="Hello"),
    ]
    return t("timeline.summary", lang, count=2, entries=entries)


async def fake_renderer(draft: Mapping[str, Any], out_path: Path, **_: Any) -> None:
    """Stands in for ffmpeg where the MP4's content does not matter (but its `ftyp` box
    does: the runtime checks the file's signature)."""
    head = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00"
    await asyncio.to_thread(out_path.write_bytes, head + json.dumps(draft).encode())


class Tap:
    """The runtime's client, recording what the agent said in each turn's stream."""

    def __init__(self, client: NemoClient, said: list[str]) -> None:
        self._client, self._said = client, said

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def chat(self, session_id: str, text: str) -> AsyncIterator[ServerSentEvent]:
        parts: list[str] = []
        try:
            async for sse in self._client.chat(session_id, text):
                with contextlib.suppress(ValueError, AttributeError, TypeError):
                    event = json.loads(sse.data)
                    content = event.get("content") or {}
                    if content.get("role") == "model" and event.get("partial") is not True:
                        parts += [p["text"] for p in content.get("parts", []) if "text" in p]
                yield sse
        finally:
            self._said.append(" ".join(parts))


class Project:
    """One stand-in, one config folder, one conversation."""

    def __init__(self, standin: RunningStandin | None, folder: Path, *,
                 api_url: str = "", env: Mapping[str, str] = ()) -> None:  # fmt: skip
        self.standin, self.folder = standin, folder
        api_url = api_url or (standin.api_url if standin else "")
        base = {"NEMO_API_URL": api_url, "NEMO_WEB_URL": WEB,
                "NEMO_CONFIG_DIR": str(folder / "config"), **dict(env)}  # fmt: skip
        self.settings = replace(Settings.from_env(base), timings=TIMINGS)
        self.store = ConversationStore(self.settings.config_dir, "test")
        self.out_dir = folder / "out"
        self.said: list[str] = []  # the agent's words, one entry per chat stream

    @property
    def world(self) -> Any:
        assert self.standin is not None
        return self.standin.world

    @property
    def session(self) -> SessionRecord:
        sid = self.store.load().session_id
        assert sid is not None
        record: SessionRecord = self.world.sessions[sid]
        return record

    @contextlib.asynccontextmanager
    async def runtime(self, out: CollectedOutput, timings: Timings | None = None,
                      ) -> AsyncIterator[Runtime]:  # fmt: skip
        settings = replace(self.settings, timings=timings or TIMINGS)
        client = NemoClient(
            settings, attribution=load_attribution(), token_store=TokenStore(settings.config_dir)
        )
        async with client:
            tap = Tap(client, self.said)
            yield Runtime(settings, tap, self.store, out, out_dir=self.out_dir)  # type: ignore[arg-type]

    async def turn(self, text: str, files: Sequence[Path] = (), *, timings: Timings | None = None,
                   ) -> tuple[CollectedOutput, TurnOutcome]:  # fmt: skip
        out = CollectedOutput()
        async with self.runtime(out, timings) as rt:
            return out, await rt.turn(text, files)

    async def command(self, name: str) -> tuple[CollectedOutput, TurnOutcome]:
        out = CollectedOutput()
        async with self.runtime(out) as rt:
            return out, await rt.command(name)

    async def ready(self) -> SessionRecord:
        """A session (made through the runtime) whose draft is DRAFT."""
        _, outcome = await self.command("ready")
        assert outcome.error_code is None, outcome
        record = self.session
        record.state["draft"] = copy.deepcopy(DRAFT)
        return record

    def balance_line(self, lang: str) -> str:
        (account,) = self.world.accounts.values()
        total = account.available + account.frozen
        return t("turn.credits", lang, available=account.available, frozen=account.frozen,
                 total=total)  # fmt: skip


Make = Callable[..., Awaitable[Project]]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    """make(scenario=None, renderer=fake, env=(), **start_standin kw): a project on a stand-in."""
    started: list[RunningStandin] = []

    async def _make(scenario: Mapping[str, Any] | None = None, *, renderer: Any = fake_renderer,
                    env: Mapping[str, str] = (), **kw: Any) -> Project:  # fmt: skip
        n = len(started)
        standin = await start_standin(
            scenario=merged(STANDIN, scenario or {}), renderer=renderer,
            data_dir=tmp_path / f"standin-{n}", **kw,
        )  # fmt: skip
        started.append(standin)
        return Project(standin, tmp_path / f"project-{n}", env=env)

    yield _make
    for standin in started:
        await standin.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- every intent rule, in English and Chinese ----------------------------------------------


def photo_url(p: Project) -> str:
    assert p.standin is not None
    return f"{p.standin.cdn_url}/media/sample/{SAMPLE_PHOTO.name}"


INTENTS = [
    # rule, lang, message ({url}: a photo on the stand-in's CDN), attach the photo?, flow
    ("upload-file", "en", "here's my photo", True, "upload"),
    ("upload-file", "zh", "这是我的照片", True, "upload"),
    ("upload-file+instruction", "en", "add the title 'Beach' to it", True, "upload+chat"),
    ("upload-file+instruction", "zh", "给它加上标题“海滩”", True, "upload+chat"),
    ("upload-media-url", "en", "here is my photo {url}", False, "upload-url"),
    ("upload-media-url", "zh", "这是我的照片 {url}", False, "upload-url"),
    ("own-balance-question", "en", "how many credits do I have left?", False, "credits"),
    ("own-balance-question", "zh", "我还有多少积分？", False, "credits"),
    ("own-state-question", "en", "what's on my timeline?", False, "state"),
    ("own-state-question", "zh", "时间线上有什么？", False, "state"),
    ("negation", "en", "don't export it yet", False, "chat"),
    ("negation", "zh", "先不要导出", False, "chat"),
    ("question", "en", "how long does an export take?", False, "chat"),
    ("question", "zh", "导出是免费的吗？", False, "chat"),
    ("edit", "en", "add a caption 'Wow' and then export", False, "chat"),
    ("edit", "zh", "加上字幕“哇”然后导出", False, "chat"),
    ("export", "en", "export", False, "export"),
    ("export", "zh", "导出", False, "export"),
    ("credits", "en", "credits", False, "credits"),
    ("credits", "zh", "积分", False, "credits"),
    ("state", "en", "show tracks", False, "state"),
    ("state", "zh", "查看轨道", False, "state"),
    ("upload", "en", "upload", False, "upload-nothing"),
    ("upload", "zh", "上传", False, "upload-nothing"),
    ("chat", "en", "hello", False, "chat"),
    ("chat", "zh", "你好", False, "chat"),
]


@pytest.mark.parametrize(
    ("rule", "lang", "message", "attach", "flow"),
    INTENTS,
    ids=[f"{r}-{lang}" for r, lang, *_ in INTENTS],
)
async def test_each_intent_runs_its_flow(
    make: Make, rule: str, lang: str, message: str, attach: bool, flow: str
) -> None:
    p = await make()
    session = await p.ready()
    text, files = message.format(url=photo_url(p)), [SAMPLE_PHOTO] if attach else []
    assert classify(text, files).rule == rule.split("+")[0]
    out, outcome = await p.turn(text, files)

    assert outcome.error_code is None, out.replies
    assert outcome.intent == flow.split("+")[0].split("-")[0]
    uploaded = t("turn.uploaded", lang, name=SAMPLE_PHOTO.name, count=1)
    if flow == "upload":
        assert out.replies == [uploaded, t("turn.uploaded_next", lang)]
        assert [m.name for m in session.media] == [SAMPLE_PHOTO.name]
    elif flow == "upload-url":
        assert out.replies == [uploaded, t("turn.uploaded_next", lang)]
        (media,) = session.media
        assert media.path.read_bytes() == SAMPLE_PHOTO.read_bytes()
    elif flow == "upload+chat":
        assert out.replies[0] == uploaded
        assert out.replies[1].startswith(MARKER[lang])  # then the instruction, to the agent
        assert session.turns == 1 and len(session.media) == 1
    elif flow == "upload-nothing":
        assert out.replies == [t("upload.nothing", lang)]
    elif flow == "credits":
        assert out.replies == [p.balance_line(lang)]
    elif flow == "state":
        assert out.replies == [draft_summary(lang)]
    elif flow == "export":
        (path,) = out.files
        assert path.parent == p.out_dir and path.read_bytes()[4:8] == b"ftyp"
        (link,) = out.links
        assert link.startswith(f"{WEB}/workspace/claim?ct=clm_")
        size_mb = round(path.stat().st_size / 1e6, 1)
        assert out.replies == [
            t("export.starting", lang),
            t("export.done", lang, name=path.name, folder=str(path.parent), size_mb=size_mb),
            t("export.link", lang, url=link),
        ]
    else:
        assert flow == "chat"
        assert session.turns == 1  # the message went to the agent, exactly once
        assert out.replies[0].startswith(MARKER[lang])
        assert not out.files
    if flow not in ("chat", "upload+chat"):
        assert session.turns == 0


async def test_a_real_export_is_a_playable_mp4(make: Make) -> None:
    p = await make(renderer=None)  # the stand-in's ffmpeg renderer
    await p.ready()
    out, outcome = await p.turn("export 1080p MP4")
    assert outcome == TurnOutcome("export")
    (path,) = out.files
    info = probe(path)
    assert (info.width, info.height, info.video_codec) == (320, 180, "h264")
    assert info.duration == pytest.approx(4.0, abs=0.2)
    assert p.store.load().exports == (str(path),) and p.store.load().pending == ()


# -- every error code of the contract -------------------------------------------------------

ERRORS = [
    # id, scenario, message, attach the photo?, template key, error code, context
    ("2001-frame", {"starting_credits": 40}, "add a caption 'Hi' at 1s", False,
     "error.out_of_credits", "2001", {}),
    ("2001-envelope", {"starting_credits": 40, "credits_error": "envelope"},
     "给视频加上字幕“嗨”", False, "error.out_of_credits", "2001", {}),
    ("2001-any-call", {"faults": [{"endpoint": "credits", "code": 2001}]}, "credits", False,
     "error.out_of_credits", "2001", {}),
    ("402", {"faults": [{"endpoint": "render_submit", "status": 402}]}, "export", False,
     "error.plan_required_anonymous", "402", {}),
    ("4001", {}, "upload {cdn}/files/notes", False, "error.unsupported_file_type", "4001",
     {"accepted": ", ".join(ACCEPTED_EXTENSIONS)}),
    ("4002", {"faults": [{"endpoint": "upload", "code": 4002}]}, "上传这张照片", True,
     "error.file_too_large", "4002", {}),
    ("429-twice", {"faults": [{"endpoint": "credits", "status": 429, "times": 2}]}, "credits",
     False, "error.rate_limited", "429", {"waited": 1}),  # 0.01 s waited: "1 second"
    ("5xx", {"faults": [{"endpoint": "state", "status": 503, "times": 9}]}, "show tracks",
     False, "error.server", "server", {}),
    ("1002-twice", {"lose_session_after": 0, "faults": [
        {"endpoint": "create_session", "after": 1, "code": 1002}]}, "show tracks", False,
     "error.session_not_found", "1002", {}),
    ("agent-2.x", {"stream": {"error_frame": "2.x"}}, "add a caption 'Hi' at 1s", False,
     "error.agent", "stream", {}),
    ("agent-1.x", {"stream": {"error_frame": "1.x"}}, "加上字幕“嗨”", False,
     "error.agent", "stream", {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("scenario", "message", "attach", "key", "code", "ctx"),
    [e[1:] for e in ERRORS],
    ids=[e[0] for e in ERRORS],
)
async def test_each_error_code_reads_as_its_line(
    make: Make, scenario: dict[str, Any], message: str, attach: bool, key: str, code: str,
    ctx: dict[str, Any],
) -> None:  # fmt: skip
    p = await make(scenario)
    await p.ready()
    assert p.standin is not None
    lang = templates.detect_language(message)
    text = message.format(cdn=p.standin.cdn_url)
    out, outcome = await p.turn(text, [SAMPLE_PHOTO] if attach else [])

    if key in ("error.out_of_credits", "error.plan_required_anonymous"):
        client_id = p.settings.client_id()
        ctx = {"register_url": f"{WEB}/register?bind={client_id}"}
        assert f"?bind={client_id}" in out.replies[-1]
        assert out.links == [ctx["register_url"]]  # the line carries it; links repeat it
    expected = t(key, lang, **ctx)
    assert out.replies[-1] == expected
    assert (outcome.error_code, outcome.error_message) == (code, expected)
    assert outcome.exit_code == 1
    assert not out.files
    if code == "402":  # "register to unlock export": an account matter, not credits
        assert "account" in expected and "not credits" in expected
        assert expected != t("error.out_of_credits", lang, **ctx)
        assert p.store.load().pending == ()


async def test_out_of_credits_for_a_registered_user_says_top_up(make: Make) -> None:
    p0 = await make({"starting_credits": 40})
    token, _ = p0.world.issue_token("registered-user", "127.0.0.1")
    p = Project(p0.standin, p0.folder / "registered", env={"NEMO_TOKEN": token.value})
    await p.ready()
    out, outcome = await p.turn("add a caption 'Hi' at 1s")
    assert out.replies[-1] == t("error.out_of_credits_registered")
    assert "register" not in out.replies[-1] and outcome.error_code == "2001"


async def test_402_for_a_registered_user_is_a_plan_matter(make: Make) -> None:
    p0 = await make({"faults": [{"endpoint": "render_submit", "status": 402}]})
    token, _ = p0.world.issue_token("registered-user", "127.0.0.1")
    p = Project(p0.standin, p0.folder / "registered", env={"NEMO_TOKEN": token.value})
    await p.ready()
    out, outcome = await p.turn("export")
    assert out.replies[-1] == t("error.plan_required")
    assert "register" not in out.replies[-1] and outcome.error_code == "402"


async def test_export_in_a_lost_session_opens_a_new_one_and_says_it_is_empty(make: Make) -> None:
    p = await make({"lose_session_after": 0})
    await p.ready()
    out, outcome = await p.turn("export")
    assert out.replies == [t("turn.session_renewed"), t("export.nothing_to_export")]
    assert (outcome.error_code, outcome.exit_code) == ("input", 3)
    assert len(p.world.sessions) == 1 and p.world.renders == {}


RECOVERED = [
    # id, scenario, message, what shows it was handled
    ("1001-reacquired", {"expire_token_after": 1}, "credits", "two-tokens"),
    ("1002-new-session", {"lose_session_after": 0}, "show tracks", "renewed"),
    ("1002-new-session-chat", {"lose_session_after": 0}, "add a caption 'Hi' at 1s", "renewed"),
    ("429-waits-once", {"faults": [{"endpoint": "credits", "status": 429}]}, "积分", "credits"),
    ("429-retry-after", {"faults": [{"endpoint": "state", "status": 429, "retry_after": 0.02}]},
     "show tracks", "state"),
    # (the conversation's first call asks for the token: the 400 comes while it gets ready)
    ("400-new-client-id", {"faults": [{"endpoint": "anonymous_token", "status": 400}]},
     "credits", "client-id"),
    ("5xx-read-retried", {"faults": [{"endpoint": "credits", "status": 500, "times": 2}]},
     "credits", "credits"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("scenario", "message", "check"), [r[1:] for r in RECOVERED], ids=[r[0] for r in RECOVERED]
)
async def test_recoverable_errors_are_handled_without_bothering_the_user(
    make: Make, scenario: dict[str, Any], message: str, check: str
) -> None:
    p = await make(scenario)
    await p.ready()
    lang = templates.detect_language(message)
    old_sid = p.store.load().session_id
    out, outcome = await p.turn(message)

    assert outcome.error_code is None, out.replies
    if check == "two-tokens":
        assert len(p.world.tokens) == 2 and len(p.world.accounts) == 1  # same client id
        assert out.replies == [p.balance_line(lang)]
    elif check == "renewed":
        assert p.store.load().session_id != old_sid
        assert out.replies[0] == t("turn.session_renewed", lang)
        assert len(out.replies) > 1  # and the turn went on in the new session
    elif check == "client-id":
        assert list(p.world.accounts) == [p.settings.client_id()]  # the new id was kept
        assert out.replies == [p.balance_line(lang)]
    elif check == "credits":
        assert out.replies == [p.balance_line(lang)]
    else:
        assert out.replies == [draft_summary(lang)]


# -- GUI phrases ------------------------------------------------------------------------------

CONVERSATIONS = {
    "en": ["generate a 4-second video of a cat", "add calm music", "add a caption 'Meow' at 1s",
           "trim it to 3 seconds", "add effects", "how do I export?",
           "how much does a video cost?", "set the volume to 50%"],
    "zh": ["生成一段4秒的猫视频", "加上轻松的背景音乐", "在第1秒添加字幕“喵”", "剪到3秒",
           "添加特效", "怎么导出？", "生成一个视频要多少积分？", "音量调到50%"],
}  # fmt: skip
SEEDS = {"en": 1, "zh": 3}  # seeds with which the agent says each phrase of SAID at least once
SPACED = re.compile(r"[。！？] ")  # a space between Chinese sentences
# What the agent's GUI-speak must turn into (protocol.md, "GUI translation").
SAID = {
    "export": re.compile(r"click(?: the)? export|hit export|点击(?:右上角的)?导出", re.I),
    "state": re.compile(r"open the timeline panel|打开时间线面板", re.I),
    "drag": re.compile(r"\bdrag\b|拖拽", re.I),
    "credits": re.compile(r"account page|billing page|账户页面", re.I),
}


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_gui_phrases_become_actions_and_never_reach_the_user(make: Make, lang: str) -> None:
    p = await make({"seed": SEEDS[lang]})
    seen: set[str] = set()
    for message in CONVERSATIONS[lang]:
        p.said.clear()
        out, outcome = await p.turn(message)
        assert outcome.error_code is None, out.replies
        said = " ".join(p.said)
        for reply in out.replies:
            assert not GUI_WORDS.search(reply), (said, reply)
            assert reply == reply.lstrip() and not SPACED.search(reply), reply
        found = {what for what, pattern in SAID.items() if pattern.search(said)}
        seen |= found
        delivered = bool(out.files)
        assert delivered == ("export" in found), (said, out.replies)
        if "state" in found:
            summary = (await p.turn(SHOW[lang]))[0].replies[0]
            assert out.replies.count(summary) == 1, out.replies
        if "drag" in found:
            assert t("gui.hint_drag", lang) in out.replies
        if "credits" in found:
            assert p.balance_line(lang) in out.replies
    assert seen == set(SAID)  # the seed makes the agent say each of them at least once


# -- the stream: silence, stalls, breaks, bad frames -------------------------------------------

CAPTION = "add a caption 'Meow' at 1s for 2 seconds"


def caption_added(lang: str = "en") -> str:
    return t("timeline.change_added", lang, **item(lang, "caption", start=1000, end=3000,
                                                     text="Meow"))  # fmt: skip


async def test_a_silent_edit_says_what_changed(make: Make) -> None:
    p = await make({"silent_edits": 1})
    session = await p.ready()
    out, outcome = await p.turn(CAPTION)
    assert outcome.error_code is None
    assert out.replies == [caption_added()]
    assert session.turns == 1 and p.said == [""]  # the agent really said nothing


async def test_heartbeats_only_says_still_working_then_times_out_and_checks(make: Make) -> None:
    p = await make({"stream": {"stall": True, "times": 1}})
    session = await p.ready()
    timings = replace(TIMINGS, still_working_every=0.1, heartbeat_only_timeout=0.6)
    out, outcome = await p.turn(CAPTION, timings=timings)
    assert outcome.error_code == "stream"  # the host learns the turn did not go through
    working = t("chat.still_working")
    assert out.replies[0] == working and out.replies.count(working) >= 2
    assert out.replies[-2:] == [t("chat.recovering_timeout"), t("chat.recovery_failed")]
    assert session.turns == 1  # never re-sent


@pytest.mark.parametrize(
    "fault", [{"drop_after_events": 2}, {"oversized_frame_bytes": 1_100_000}],
    ids=["dropped", "oversized-frame"],
)  # fmt: skip
async def test_a_broken_stream_is_recovered_from_the_state_without_resending(
    make: Make, fault: dict[str, Any]
) -> None:
    p = await make({"stream": {"times": 1, **fault}})
    session = await p.ready()
    timings = replace(TIMINGS, recovery_waits=(0.1,) * 5)
    out, outcome = await p.turn(CAPTION, timings=timings)
    assert (outcome.kind, outcome.error_code) == (Outcome.PARTIAL, "partial")
    start = out.replies.index(t("chat.recovering_dropped"))
    partial = t("chat.partial", reason=t("chat.reason_broken"), changed=True)
    assert out.replies[start + 1 :] == [t("chat.recovered"), caption_added(), partial]
    assert session.turns == 1  # the chat POST was made exactly once
    (account,) = p.world.accounts.values()
    assert account.available == 1000 - 50  # charged once


@pytest.mark.parametrize(
    "fault", [{"malformed_frame": True}, {"trailing_issue": True}],
    ids=["malformed-frame-skipped", "trailing-issue-dropped"],
)  # fmt: skip
@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_harmless_stream_oddities_leave_a_normal_turn(
    make: Make, fault: dict[str, Any], lang: str
) -> None:
    p = await make({"stream": fault})
    await p.ready()
    message = CAPTION if lang == "en" else "在第1秒添加字幕“喵”"
    out, outcome = await p.turn(message)
    assert outcome.error_code is None
    assert out.replies[0].startswith(MARKER[lang])
    assert ("Meow" if lang == "en" else "喵") in out.replies[0]
    issue = re.compile(r"temporary issue|临时问题", re.I)
    assert not any(issue.search(r) for r in out.replies)
    if "trailing_issue" in fault:
        assert issue.search(p.said[0])  # it was said, and dropped


# -- a conversation that outlives the process -------------------------------------------------


async def test_turns_share_the_session_and_the_token_through_the_config_folder(
    make: Make,
) -> None:
    p = await make()
    await p.ready()
    sid = p.store.load().session_id
    await p.turn("add a caption 'Meow' at 1s for 2 seconds")
    out, _ = await p.turn("show tracks")
    assert p.store.load().session_id == sid and len(p.world.sessions) == 1
    assert len(p.world.tokens) == 1  # every "process" reused the stored token
    assert caption_added().split(": ", 1)[1] in out.replies[0]


async def test_new_starts_a_fresh_session_and_keeps_the_old_one_alone(make: Make) -> None:
    p = await make()
    await p.ready()
    old = p.store.load().session_id
    p.store.reset()  # `nemo-video new`
    out, _ = await p.turn("show tracks")
    assert out.replies == [t("turn.connected"), t("timeline.empty")]
    assert p.store.load().session_id not in (None, old) and len(p.world.sessions) == 2


async def test_a_render_left_pending_is_collected_at_the_next_turn(make: Make) -> None:
    release, rendered = asyncio.Event(), asyncio.Event()

    async def held_renderer(draft: Mapping[str, Any], out_path: Path, **kw: Any) -> None:
        await release.wait()
        await fake_renderer(draft, out_path)
        rendered.set()  # the job is marked completed before this task next yields

    p = await make(renderer=held_renderer)
    await p.ready()
    out, outcome = await p.turn("export", timings=replace(TIMINGS, render_deadline=0.0))
    assert (outcome.kind, outcome.error_code, outcome.exit_code) == (Outcome.RUNNING, None, 0)
    assert out.replies[-1] == t("export.deadline", minutes=1) and not out.files
    (pending,) = p.store.load().pending

    out, _ = await p.turn("credits")  # still rendering: asked once, not waited for
    assert out.replies == [t("export.still_rendering"), p.balance_line("en")]
    release.set()
    await rendered.wait()
    assert p.world.renders[pending.render_id].status == RENDER_COMPLETED
    out, outcome = await p.turn("credits")
    assert outcome.error_code is None
    (path,) = out.files
    assert out.replies[-1] == p.balance_line("en") and out.links
    assert p.store.load().pending == () and p.store.load().exports == (str(path),)


# -- checks before any network call ------------------------------------------------------------


def bad_file(tmp: Path, kind: str) -> tuple[Path, str, dict[str, Any]]:
    accepted = ", ".join(ACCEPTED_EXTENSIONS)
    if kind == "not_found":
        path = tmp / "missing.jpg"
        return path, "upload.not_found", {"path": str(path)}
    if kind == "is_directory":
        path = tmp / "folder.jpg"
        path.mkdir()
        return path, "upload.is_directory", {"path": str(path)}
    if kind == "empty":
        path = tmp / "empty.png"
        path.touch()
        return path, "upload.empty", {"path": str(path)}
    if kind == "bad_extension":
        path = tmp / "notes.txt"
        path.write_text("hello")
        return path, "upload.bad_extension", {"name": path.name, "extension": "txt",
                                               "accepted": accepted}  # fmt: skip
    path = tmp / "clip.mp4"
    path.write_text("this is not a video")
    return path, "upload.unrecognised", {"name": path.name, "extension": "mp4",
                                         "accepted": accepted}  # fmt: skip


@pytest.mark.parametrize("kind", ["not_found", "is_directory", "empty", "bad_extension",
                                  "unrecognised"])  # fmt: skip
@pytest.mark.parametrize("how", ["say-en", "say-zh", "upload-command"])
async def test_upload_checks_come_before_any_network_call(
    tmp_path: Path, kind: str, how: str
) -> None:
    p = Project(None, tmp_path, api_url=f"http://127.0.0.1:{closed_port()}")
    path, key, ctx = bad_file(tmp_path, kind)
    lang = "zh" if how == "say-zh" else "en"
    out = CollectedOutput()
    async with p.runtime(out) as rt:
        if how == "upload-command":
            outcome = await rt.upload([str(path)])
        else:
            outcome = await rt.turn("用这个做视频" if lang == "zh" else "use this", [path])
    assert out.replies == [t(key, lang, **ctx)]
    assert (outcome.intent, outcome.error_code, outcome.exit_code) == ("upload", "input", 3)
    assert not (p.settings.config_dir / "token.json").exists()  # no token was even asked for


async def test_an_unreachable_backend_is_one_line(tmp_path: Path) -> None:
    p = Project(None, tmp_path, api_url=f"http://127.0.0.1:{closed_port()}")
    out, outcome = await p.turn("积分")
    assert out.replies == [t("error.transport", "zh")]
    assert (outcome.error_code, outcome.exit_code) == ("network", 1)


@pytest.mark.parametrize("text", ["", "  \n "])
async def test_an_empty_message_is_refused_before_any_network_call(
    tmp_path: Path, text: str
) -> None:
    p = Project(None, tmp_path, api_url=f"http://127.0.0.1:{closed_port()}")
    out, outcome = await p.turn(text)
    assert out.replies == [t("turn.empty_message")]
    assert (outcome.error_code, outcome.exit_code) == ("input", 3)
    assert not (p.settings.config_dir / "token.json").exists()
