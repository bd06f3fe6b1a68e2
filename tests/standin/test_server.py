"""Starting and stopping: in-process, and `python -m skill.standin` as a command."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from skill.common.errors import ConfigError
from skill.standin import start_standin

ROOT = Path(__file__).resolve().parents[2]


async def test_in_process_start_and_close_cleans_up() -> None:
    async with await start_standin() as standin:
        scratch = standin.world.data_dir
        assert scratch.is_dir()
        assert standin.api_url.startswith("http://127.0.0.1:")
        assert (
            standin.cdn_url.startswith("http://127.0.0.1:") and standin.cdn_url != standin.api_url
        )
        music = standin.cdn_url + "/media/sample/sample-music.m4a"
        async with aiohttp.ClientSession() as http, http.get(music) as resp:
            assert resp.status == 200 and len(await resp.read()) > 1000
    assert not scratch.exists()


async def test_only_loopback() -> None:
    with pytest.raises(ConfigError, match="only listens on loopback"):
        await start_standin("0.0.0.0")


async def test_a_bad_scenario_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'fault'"):
        await start_standin(scenario="fault: []", data_dir=tmp_path)


async def test_the_command_prints_its_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("starting_credits: 7\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "skill.standin",
        "--port",
        "0",
        "--scenario",
        str(scenario),
        "--quiet",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        token_url, headers = url + "/api/auth/anonymous-token", {"X-Client-Id": "cli"}
        async with aiohttp.ClientSession() as http, http.post(token_url, headers=headers) as resp:
            assert json.loads(await resp.read())["data"]["credits"] == 7
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    assert b"local stand-in" in err and b"NEMO_API_URL=" in err


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--scenario", "/nonexistent.yaml"], b"cannot read"), (["--host", "10.1.2.3"], b"loopback")],
)
async def test_the_command_explains_bad_input(args: list[str], words: bytes) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "skill.standin",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and out == b""
    assert words in err and b"Traceback" not in err
