"""The chat flow against a scripted backend: text once, tools hidden, never silent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from skill.common.config import Timings
from skill.common.errors import ConfigError, OutOfCredits, StreamDropped
from skill.common.output import CollectedOutput
from skill.conversation import templates
from skill.conversation.chat import ChatTurn, load_phrases
from skill.wire.protocol import SessionState
from skill.wire.sse import ServerSentEvent, SSEDecoder

WIRE = Path(__file__).parents[1] / "fixtures" / "adk-wire"
FAST = replace(Timings(), still_working_every=60.0, heartbeat_only_timeout=60.0, turn_cap=60.0)

VIDEO = {"tt": 0, "sg": [{"s": 0, "d": 15000, "m": {"name": "beach at sunset", "kind": "image"}}]}
TITLE = {"tt": 7, "sg": [{"s": 0, "d": 3000, "m": {"text": "Paradise Found"}}]}
DRAFT_VIDEO = {"d": 15000, "t": [VIDEO]}
DRAFT_TITLED = {"d": 15000, "t": [VIDEO, TITLE]}


def frames(name: str) -> list[ServerSentEvent]:
    return SSEDecoder().feed((WIRE / name).read_bytes())


def event(**kw: Any) -> ServerSentEvent:
    base = {"author": "nemo_agent", "invocationId": "e-1", "actions": {"stateDelta": {}}}
    return ServerSentEvent(json.dumps({**base, **kw}))


def text(t: str, partial: bool | None = None) -> ServerSentEvent:
    extra = {} if partial is None else {"partial": partial}
    return event(content={"role": "model", "parts": [{"text": t}]}, **extra)


def tool(name: str, delta: dict[str, Any] | None = None) -> list[ServerSentEvent]:
    call = event(content={"role": "model", "parts": [{"functionCall": {"name": name, "args": {}}}]})
    resp = event(
        content={"role": "user", "parts": [{"functionResponse": {"name": name, "response": {}}}]},
        actions={"stateDelta": delta or {}},
    )
    return [call, resp]


HEARTBEAT = ServerSentEvent("")


class Backend:
    """Scripted /run_sse and /state: items are events, exceptions to raise, or pauses."""

    def __init__(self, script: Sequence[object], states: Sequence[dict[str, Any] | None]) -> None:
        self.script, self.states, self.chats, self.state_reads = list(script), list(states), 0, 0

    async def chat(self, session_id: str, text: str) -> AsyncIterator[ServerSentEvent]:
        self.chats += 1
        for item in self.script:
            if isinstance(item, (int, float)):
                await asyncio.sleep(item)
            elif isinstance(item, BaseException):
                raise item
            else:
                assert isinstance(item, ServerSentEvent)
                yield item

    async def state(self, session_id: str) -> SessionState:
        draft = self.states[min(self.state_reads, len(self.states) - 1)]
        self.state_reads += 1
        return SessionState(draft=draft)


async def run(
    backend: Backend,
    before: dict[str, Any] | None = None,
    *,
    timings: Timings = FAST,
    lang: str = "en",
    sleeps: list[float] | None = None,
) -> tuple[CollectedOutput, Any]:
    out = CollectedOutput()

    async def fake_sleep(seconds: float) -> None:
        (sleeps if sleeps is not None else []).append(seconds)

    turn = ChatTurn(backend, "sid", lang=lang, output=out, timings=timings, sleep=fake_sleep)
    result = await turn.run("hello", before)
    return out, result


def t(key: str, lang: str = "en", **ctx: Any) -> str:
    return templates.render(key, lang, **ctx)


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("adk-2.13-streaming.sse", "Sure, trimming the clip now. Done! Clip c1 is now 5s long."),
        (
            "adk-1.39-streaming-legacy.sse",
            "Sure, trimming the clip now. Done! Clip c1 is now 5s long.",
        ),
        ("adk-2.13-nonstreaming.sse", "Done! Clip c1 is now 5s long."),
    ],
)
async def test_real_captures_show_text_once_and_hide_tools(capture: str, expected: str) -> None:
    out, result = await run(Backend(frames(capture), [DRAFT_VIDEO]), DRAFT_VIDEO)
    assert out.replies == [expected]
    assert result.shown_text


async def test_silent_turn_reports_what_changed() -> None:
    script = tool("add_title", {"timeline_version": 2})
    out, result = await run(Backend(script, [DRAFT_TITLED]), DRAFT_VIDEO)
    assert not result.shown_text
    assert len(out.replies) == 1
    assert "Paradise Found" in out.replies[0]
    assert "0-3s" in out.replies[0]


async def test_silent_turn_without_change_still_says_something() -> None:
    out, _ = await run(Backend(tool("noop"), [DRAFT_VIDEO]), DRAFT_VIDEO)
    assert out.replies == [t("chat.no_change")]


async def test_still_working_after_silence_then_the_reply() -> None:
    timings = replace(FAST, still_working_every=0.05)
    out, _ = await run(Backend([HEARTBEAT, 0.13, text("All done.")], [DRAFT_VIDEO]), DRAFT_VIDEO,
                       timings=timings)  # fmt: skip
    assert out.replies[0] == t("chat.still_working")
    assert out.replies[-1] == "All done."
    assert out.replies.count(t("chat.still_working")) >= 2


async def test_heartbeats_only_times_out_and_recovers_without_resending() -> None:
    timings = replace(FAST, heartbeat_only_timeout=0.1, still_working_every=30)
    backend = Backend([HEARTBEAT, 0.03] * 50, [DRAFT_VIDEO])
    sleeps: list[float] = []
    out = CollectedOutput()

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    turn = ChatTurn(backend, "sid", lang="en", output=out, timings=timings, sleep=fake_sleep)
    with pytest.raises(StreamDropped) as failed:  # the turn fails: hosts see an error
        await turn.run("hello", DRAFT_VIDEO)
    assert failed.value.key == "chat.recovery_failed"
    assert backend.chats == 1
    assert out.replies == [t("chat.recovering_timeout")]
    assert sleeps == [30.0, 60.0, 60.0, 60.0, 60.0]
    assert backend.state_reads == 5


async def test_a_sentence_cut_off_by_the_drop_is_not_shown() -> None:
    backend = Backend([text("Adding a title. Then the", partial=True), StreamDropped("reset")],
                      [DRAFT_VIDEO, DRAFT_TITLED])  # fmt: skip
    out, _ = await run(backend, DRAFT_VIDEO)
    assert out.replies[0] == "Adding a title."
    assert not any("Then the" in r for r in out.replies)


async def test_dropped_stream_is_recovered_from_state() -> None:
    backend = Backend([text("Adding a title", partial=True), StreamDropped("reset")],
                      [DRAFT_VIDEO, DRAFT_TITLED])  # fmt: skip
    sleeps: list[float] = []
    out, result = await run(backend, DRAFT_VIDEO, sleeps=sleeps)
    assert backend.chats == 1
    assert sleeps == [30.0, 60.0]
    assert result.recovered
    assert out.replies[0] == t("chat.recovering_dropped")  # the cut-off fragment is dropped
    assert t("chat.recovered") in out.replies
    assert any("Paradise Found" in r for r in out.replies)


async def test_turn_cap() -> None:
    timings = replace(FAST, turn_cap=0.1, still_working_every=30)
    backend = Backend([text("Working", partial=True), 5.0], [DRAFT_VIDEO])
    out = CollectedOutput()

    async def no_sleep(seconds: float) -> None:
        pass

    turn = ChatTurn(backend, "sid", lang="en", output=out, timings=timings, sleep=no_sleep)
    with pytest.raises(StreamDropped):
        await turn.run("hello", DRAFT_VIDEO)
    assert out.replies == [t("chat.recovering_timeout")]


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        ("Added the title. I encountered a temporary issue.", ["Added the title."]),
        ("Done. I encountered a temporary issue. Please try again.", ["Done."]),
        ("标题已添加。我遇到了临时问题。", ["标题已添加。"]),
    ],
)
async def test_trailing_temporary_issue_is_dropped_after_a_good_turn(
    said: str, shown: list[str]
) -> None:
    out, _ = await run(Backend([text(said)], [DRAFT_VIDEO]), DRAFT_VIDEO)
    assert out.replies == shown


async def test_gui_instruction_becomes_an_action() -> None:
    out, result = await run(
        Backend([text("Your video is ready. Click the Export button to download it.")],
                [DRAFT_VIDEO]),
        DRAFT_VIDEO,
    )  # fmt: skip
    assert out.replies == ["Your video is ready."]
    assert result.actions == ("export",)


async def test_out_of_credits_error_frame() -> None:
    frame = event(errorCode="2001", errorMessage="insufficient credits")
    with pytest.raises(OutOfCredits):
        await run(Backend([frame], [DRAFT_VIDEO]), DRAFT_VIDEO)


async def test_two_stage_generation_is_reported_as_it_happens() -> None:
    script = [
        *tool("generate_video", {"draft": DRAFT_VIDEO}),
        *tool("add_title", {"draft": DRAFT_TITLED}),
        text("Your video is ready with a title."),
    ]
    out, _ = await run(Backend(script, [DRAFT_TITLED]), None)
    assert out.replies[0] == t("chat.raw_ready")
    assert out.replies[1] == "Your video is ready with a title."
    assert out.replies[2] == t("chat.all_tracks")
    assert "Paradise Found" in out.replies[3]


async def test_chinese_turn_lines_follow_the_language() -> None:
    out, _ = await run(Backend(tool("noop"), [DRAFT_VIDEO]), DRAFT_VIDEO, lang="zh")
    assert out.replies == [t("chat.no_change", "zh")]


async def test_text_before_an_error_frame_is_still_shown() -> None:
    out = CollectedOutput()
    backend = Backend([text("Starting the edit."), event(errorCode="2001", errorMessage="no")],
                      [DRAFT_VIDEO])  # fmt: skip
    turn = ChatTurn(backend, "sid", lang="en", output=out, timings=FAST)
    with pytest.raises(OutOfCredits):
        await turn.run("hello", DRAFT_VIDEO)
    assert out.replies == ["Starting the edit."]


async def test_two_agent_messages_are_not_glued_together() -> None:
    script = [text("Finished, export it when you like."), text("I encountered a temporary issue.")]
    out, _ = await run(Backend(script, [DRAFT_VIDEO]), DRAFT_VIDEO)
    assert out.replies == ["Finished, export it when you like."]


@pytest.mark.parametrize(
    ("yaml_text", "where"),
    [
        (
            "temporary_issue: ['(']\nsentence_end: 'x'\nquestion_end: 'x'\n",
            ":1: temporary_issue[0]",
        ),
        ("temporary_issue: []\nquestion_end: 'x'\n", ":1: (top): missing key 'sentence_end'"),
        (
            "temporary_issue: []\nsentence_end: 'x'\nquestion_end: 'x'\nextra: 1\n",
            ":4: extra: unknown key",
        ),
    ],
)
def test_broken_chat_phrases_name_file_line_and_key(
    tmp_path: Path, yaml_text: str, where: str
) -> None:
    path = tmp_path / "chat.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_phrases(path)
    assert f"{path}{where}" in caught.value.message
