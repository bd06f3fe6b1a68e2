"""The in-process API as a user calls it: `import skill`, `async with skill.Skill()`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path

import pytest

import skill
from skill.common.config import Settings
from skill.common.errors import ConfigError
from skill.conversation.templates import render
from skill.standin import RunningStandin, start_standin
from tests.doors.test_cli import FAST, WEB, Cli


@pytest.fixture
async def standin(tmp_path: Path) -> AsyncIterator[RunningStandin]:
    scenario = {**FAST, "seed": 3, "starting_credits": 5000, "anonymous_per_ip": 1000}
    async with await start_standin(scenario=scenario, data_dir=tmp_path / "standin") as sd:
        yield sd


def settings(sd: RunningStandin, folder: Path) -> Settings:
    return Settings.from_env({"NEMO_API_URL": sd.api_url, "NEMO_WEB_URL": WEB,
                              "NEMO_CONFIG_DIR": str(folder / "config")})  # fmt: skip


def test_the_package_exports_the_api() -> None:
    assert set(skill.__all__) == {"Skill", "Conversation", "Result"}
    assert all(getattr(skill, name) for name in skill.__all__)


async def test_a_conversation_turn_and_command_from_python(
    standin: RunningStandin, tmp_path: Path
) -> None:
    async with skill.Skill(settings(standin, tmp_path), out_dir=tmp_path / "out") as nemo:
        beach = nemo.conversation("beach")
        made = await beach.say("generate a 10-second video of a beach")
        credits = await beach.command("credits")
        assert nemo.conversation("beach") is beach
    assert made.ok and made.intent == "chat" and made.outcome in ("replied", "edited")
    assert made.replies and credits.outcome == "replied" and credits.intent == "credits"
    # the same conversation, continued by the CLI: the same project, the same answer shape
    cli = Cli(tmp_path, standin.api_url)
    run = await cli("credits", "--json", env={"NEMO_CONVERSATION": "beach"})
    doc = run.doc
    assert set(asdict(credits)) == set(doc) - {"next"}
    assert (doc["intent"], doc["outcome"], doc["error"]) == ("credits", "replied", None)
    assert cli.store("beach").load().session_id is not None


async def test_many_conversations_share_one_client_at_once(
    standin: RunningStandin, tmp_path: Path
) -> None:
    async with skill.Skill(settings(standin, tmp_path), out_dir=tmp_path / "out") as nemo:
        names = [f"c{i}" for i in range(8)]
        results = await asyncio.gather(*(nemo.conversation(n).command("credits") for n in names))
        sessions = {nemo.conversation(n).store.load().session_id for n in names}
    assert all(r.ok for r in results) and len(standin.world.tokens) == 1  # one token, one pool
    assert sessions == {None}  # credits needs no session


async def test_a_bad_command_or_name_says_what_to_do(tmp_path: Path) -> None:
    nemo = skill.Skill(Settings.from_env({"NEMO_CONFIG_DIR": str(tmp_path)}))
    with pytest.raises(ValueError, match="credits, state, export, resume"):
        await nemo.conversation("x").command("fly")
    with pytest.raises(ConfigError, match="not usable"):
        nemo.conversation("no spaces allowed")


async def test_a_session_the_stand_in_let_expire_is_renewed_and_the_message_goes_once(
    tmp_path: Path,
) -> None:
    now = [1_000_000.0]
    scenario = {**FAST, "seed": 3, "keep": {"session_idle": 600}}
    async with (
        await start_standin(scenario=scenario, clock=lambda: now[0]) as sd,
        skill.Skill(settings(sd, tmp_path), out_dir=tmp_path / "out") as nemo,
    ):
        chat = nemo.conversation("idle")
        first = await chat.say("hello")
        old = chat.store.load().session_id
        now[0] += 601  # the stand-in's clock: the session sat idle past keep.session_idle
        again = await chat.say("hello")
        new = chat.store.load().session_id
        assert (first.outcome, again.outcome, again.error) == ("replied", "replied", None)
        assert again.replies[0] == render("turn.session_renewed", "en")
        assert new not in (None, old) and list(sd.world.sessions) == [new]
        assert [sid for sid, _ in sd.world.submissions] == [old, new]  # each message once
