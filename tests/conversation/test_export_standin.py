"""The export flow against the local stand-in: real HTTP, real renders, a real killed process."""

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from skill.common.config import Settings, Timings
from skill.common.errors import PlanRequired
from skill.common.output import CollectedOutput
from skill.conversation import export as ex
from skill.conversation.store import ConversationStore
from skill.standin.probe import probe
from skill.standin.server import RunningStandin, start_standin
from skill.wire.attribution import Attribution
from skill.wire.client import NemoClient
from tests.host_schema import one_object

# A small, quick draft: 2 s of the stand-in's synthetic footage at 320x180, with a title.
DRAFT = {
    "d": 2000,
    "m": {"w": 320, "h": 180, "fps": 15},
    "t": [
        {"tt": 0, "m": {"name": "Video"}, "sg": [
            {"s": 0, "d": 2000, "m": {"name": "gradient", "kind": "synthetic", "seed": 3}}]},
        {"tt": 7, "m": {"name": "Title"}, "sg": [
            {"s": 0, "d": 1000, "m": {"text": "Hello", "size": 24}}]},
    ],
}  # fmt: skip
FAST = Timings(render_poll_first=0.05, render_poll_max=0.2, render_deadline=120.0)
QUICK = {"timing": {"render_queue": 0.05}}


async def project(sd: RunningStandin, config: Path, *, attribution: Attribution | None = None,
                  ) -> tuple[NemoClient, ConversationStore]:  # fmt: skip
    """A client on the stand-in and a conversation whose session holds DRAFT."""
    env = {"NEMO_API_URL": sd.api_url, "NEMO_CONFIG_DIR": str(config)}
    settings = replace(Settings.from_env(env), timings=FAST)
    client = NemoClient(settings, attribution=attribution)
    session = await client.create_session("en")
    sd.world.sessions[session.session_id].state["draft"] = DRAFT
    store = ConversationStore(config, "demo")
    store.update(
        lambda c: replace(c, api_url=sd.api_url, session_id=session.session_id,
                          task_id=session.task_id)
    )  # fmt: skip
    return client, store


@pytest.fixture
async def standin(request: pytest.FixtureRequest) -> AsyncIterator[RunningStandin]:
    scenario: Mapping[str, Any] = getattr(request, "param", QUICK)
    async with await start_standin(scenario=scenario) as sd:
        yield sd


@pytest.mark.parametrize(
    "standin",
    [QUICK, {**QUICK, "render": {"fail_next": 1}}, {**QUICK, "render": {"legacy_shape": True}}],
    ids=["plain", "fails-once", "legacy-shape"],
    indirect=True,
)
async def test_a_real_export_delivers_a_playable_mp4(
    standin: RunningStandin, tmp_path: Path
) -> None:
    client, store = await project(standin, tmp_path / "config")
    out = CollectedOutput()
    async with client:
        result = await ex.export(
            client, store, out_dir=tmp_path / "out", lang="en", output=out, timings=FAST,
            web_url="https://web.example",
        )  # fmt: skip
    info = probe(result.path)
    assert info.video_codec == "h264" and (info.width, info.height) == (320, 180)
    assert info.duration == pytest.approx(2.0, abs=0.2)
    assert result.size == result.path.stat().st_size > 0
    assert result.link is not None and result.link.startswith("https://web.example/workspace/claim")
    assert store.load().pending == () and out.files == [result.path]
    assert list((tmp_path / "out").iterdir()) == [result.path]


async def test_a_free_plan_refusal_leaves_nothing_pending(
    standin: RunningStandin, tmp_path: Path
) -> None:
    client, store = await project(standin, tmp_path / "config", attribution=Attribution("", "", ""))
    async with client:
        with pytest.raises(PlanRequired):
            await ex.export(
                client, store, out_dir=tmp_path / "out", lang="en", output=CollectedOutput(),
                timings=FAST, web_url="https://web.example",
            )  # fmt: skip
    assert store.load().pending == ()


async def cli(args: list[str], env: Mapping[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "skill", "--conversation", "demo", *args,
        env={**os.environ, **env}, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_a_killed_export_process_is_resumed_by_the_next_run(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def held_renderer(draft: Mapping[str, Any], out_path: Path, **kw: Any) -> None:
        await release.wait()  # the render stays "processing" until the first process is dead
        from skill.standin.render import render_draft

        await render_draft(draft, out_path, **kw)

    async with await start_standin(scenario=QUICK, renderer=held_renderer) as sd:
        config = tmp_path / "config"
        client, store = await project(sd, config)
        await client.ensure_token()  # stored in config/, so the child processes reuse it
        await client.close()
        env = {"NEMO_API_URL": sd.api_url, "NEMO_CONFIG_DIR": str(config),
               "NEMO_OUTPUT_DIR": str(tmp_path / "out")}  # fmt: skip

        first = await cli(["export"], env, tmp_path)
        deadline = time.monotonic() + 30
        while not any(p.status == "submitted" for p in store.load().pending):
            assert first.returncode is None, (await first.communicate())[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the export never recorded its render"
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        (pending,) = store.load().pending
        assert pending.render_id in sd.world.renders
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())

        release.set()
        second = await cli(["export", "--resume", "--json"], env, tmp_path)
        stdout, stderr = await asyncio.wait_for(second.communicate(), 120)
        assert second.returncode == 0, stderr.decode()[-2000:]
        doc = one_object(stdout.decode())  # valid against skill/schema/turn.json
        (path,) = (Path(f) for f in doc["files"])
        assert path.parent == tmp_path / "out" and probe(path).video_codec == "h264"
        assert doc["error"] is None and doc["links"]
        conv = store.load()
        assert conv.pending == () and conv.exports == (str(path),)
        assert len(sd.world.renders) == 1  # collected, not rendered a second time
