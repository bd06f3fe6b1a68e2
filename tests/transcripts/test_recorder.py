"""Recording against the stand-in: scrubbed transcripts that replay, from code and the CLI."""

from __future__ import annotations

import asyncio
import stat
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from skill.common.config import Settings
from skill.common.errors import ConfigError
from skill.common.output import CollectedOutput
from skill.conversation.outcome import TurnOutcome
from skill.conversation.store import ConversationStore
from skill.standin import RunningStandin, start_standin
from skill.standin.render import SAMPLE_PHOTO
from skill.transcripts.format import Turn, load
from skill.transcripts.placeholders import find_secrets
from skill.transcripts.proxy import RecordingProxy
from skill.transcripts.recorder import Book, record_turn
from skill.transcripts.replay import replay
from tests.procenv import cli_env

FAST = {"seed": 3, "silent_edits": 0,
        "timing": {"generate": 0.05, "edit": 0.02, "heartbeat": 0.5, "frame_gap": 0,
                   "render_queue": 0.02}}  # fmt: skip
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(2000)


async def fake_render(draft: Mapping[str, Any], out_path: Path, **kw: Any) -> None:
    await asyncio.to_thread(out_path.write_bytes, VIDEO)


@pytest.fixture
async def standin() -> AsyncIterator[RunningStandin]:
    async with await start_standin(scenario=FAST, renderer=fake_render) as sd:
        yield sd


def _settings(standin: RunningStandin, config: Path) -> Settings:
    return Settings(standin.api_url, "https://web.example", config, skill_source="tests")


async def _record(path: Path, settings: Settings, *turns: Turn) -> list[TurnOutcome]:
    store = ConversationStore(settings.config_dir, "rec")
    out_dir = settings.config_dir.parent / "out"
    return [
        await record_turn(path, settings, store, CollectedOutput(), out_dir=out_dir, turn=turn)
        for turn in turns
    ]


async def test_a_recorded_export_replays_and_holds_no_secret(
    standin: RunningStandin, tmp_path: Path
) -> None:
    path = tmp_path / "corpus" / "export.yaml"
    settings = _settings(standin, tmp_path / "config")
    outcomes = await _record(
        path,
        settings,
        Turn("say", "upload this photo", (str(SAMPLE_PHOTO),)),
        Turn("say", "make a 2-second video from this photo"),
        Turn("say", "export"),
    )
    assert [o.intent for o in outcomes] == ["upload", "chat", "export"]
    assert all(o.error_code is None for o in outcomes)
    text = path.read_text(encoding="utf-8")
    assert not list(find_secrets(text))
    assert "<token-1>" in text and "<session-1>" in text and "<claim-token-1>" in text
    t = load(path)
    assert t.platform == "tests" and t.title == "export"
    assert (path.parent / t.turns[0].files[0]).resolve() == SAMPLE_PHOTO.resolve()
    download = next(e for e in t.turns[2].http if e.request.host)
    assert download.request.host == "<host-1>" and download.request.auth is None
    assert download.request.headers is None  # no attribution headers to another host
    assert download.response.file is not None and download.response.file.size == len(VIDEO)
    report = await replay(path)
    assert report.ok, "\n".join(report.differences)
    # the placeholder map stays in the config folder, private
    (state,) = (settings.config_dir / "recordings").iterdir()
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["export.yaml"]


async def test_a_transcript_begun_mid_conversation_starts_where_it_was(
    standin: RunningStandin, tmp_path: Path
) -> None:
    settings = _settings(standin, tmp_path / "config")
    await _record(tmp_path / "first.yaml", settings, Turn("say", "hello"))
    later = tmp_path / "later.yaml"
    await _record(later, settings, Turn("say", "what can you do?"), Turn("say", "credits"))
    t = load(later)
    assert t.start.token == "stored"
    assert t.start.conversation is not None
    assert t.start.conversation["session_id"] == "<session-1>"
    assert t.turns[0].http[0].request.path == "/api/state/nemo_agent/me/<session-1>/latest"
    report = await replay(later)
    assert report.ok, "\n".join(report.differences)


async def test_turns_cannot_be_added_from_another_config_folder(
    standin: RunningStandin, tmp_path: Path
) -> None:
    path = tmp_path / "t.yaml"
    await _record(path, _settings(standin, tmp_path / "one"), Turn("say", "credits"))
    (outcome,) = await _record(path, _settings(standin, tmp_path / "two"), Turn("say", "credits"))
    assert outcome.error_code == "config" and outcome.exit_code == 4
    assert outcome.error_message is not None
    assert "not recorded from this config folder" in outcome.error_message
    assert len(load(path).turns) == 1


def test_a_secret_the_scrubber_missed_stops_the_write(tmp_path: Path) -> None:
    settings = Settings("http://127.0.0.1:9", "https://web.example", tmp_path / "config")
    store = ConversationStore(settings.config_dir, "rec")
    path = tmp_path / "t.yaml"
    book = Book.open(path, settings, store, tmp_path / "out", _attribution())
    said = CollectedOutput(replies=["your header was Bearer abc"])
    with pytest.raises(ConfigError, match=r"line \d+ still holds a bearer token"):
        book.append(Turn("say", "hi"), [], RecordingProxy(settings.api_url), said,
                    TurnOutcome("chat"))  # fmt: skip
    assert not path.exists()


def _attribution() -> Any:
    from skill.wire.attribution import load_attribution

    return load_attribution(env={"SKILL_SOURCE": "tests"})


async def _cli(args: list[str], env: dict[str, str], stdin: str = "") -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "skill", *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_say_and_chat_record_from_the_command_line(
    standin: RunningStandin, tmp_path: Path
) -> None:
    env = cli_env()
    env |= {"NEMO_API_URL": standin.api_url, "NEMO_CONFIG_DIR": str(tmp_path / "config"),
            "NEMO_OUTPUT_DIR": str(tmp_path / "out"), "SKILL_SOURCE": "cli-test"}  # fmt: skip
    said = tmp_path / "said.yaml"
    for text in ("hello", "credits"):  # one process per turn, as agent hosts run it
        code, out = await _cli(["say", text, "--json", "--record", str(said)], env)
        assert code == 0, out
    chatted = tmp_path / "chatted.yaml"
    code, out = await _cli(["--conversation", "c2", "chat", "--record", str(chatted)], env,
                           stdin="credits\n")  # fmt: skip
    assert code == 0, out
    assert [(t.kind, t.text) for t in load(said).turns] == [("say", "hello"), ("say", "credits")]
    assert [(t.kind, t.text) for t in load(chatted).turns] == [
        ("command", "ready"), ("say", "credits")
    ]  # fmt: skip
    code, out = await _cli(["replay", str(said), str(chatted)], env)
    assert code == 0, out
    assert "2 of 2 transcripts replay unchanged" in out
