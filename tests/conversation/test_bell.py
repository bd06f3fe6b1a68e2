"""The idle worker's bell: heard only by a listener of the same environment."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from skill.conversation.bell import Bell, ring


def test_nobody_listening_is_a_ring_not_heard(tmp_path: Path) -> None:
    assert ring(tmp_path / "c.bell") is False  # never made
    bell = Bell(tmp_path / "c.bell")
    bell.close()
    assert ring(tmp_path / "c.bell") is False  # its listener left, and removed it
    assert not list(tmp_path.iterdir())


async def test_a_ring_wakes_the_listener_once(tmp_path: Path) -> None:
    bell = Bell(tmp_path / "c.bell")
    try:
        assert await bell.wait(0.05) is False  # nobody rang: the timeout
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, ring, tmp_path / "c.bell")
        assert await bell.wait(5) is True
        assert ring(tmp_path / "c.bell") and ring(tmp_path / "c.bell")  # two rings, one wake
        assert await bell.wait(0) is True
        assert await bell.wait(0.05) is False
    finally:
        bell.close()


async def test_another_environment_rings_another_bell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bell = Bell(tmp_path / "c.bell")
    try:
        monkeypatch.setenv("NEMO_API_URL", "http://elsewhere.example")
        assert ring(tmp_path / "c.bell") is False
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("NEMO_API_URL")
        assert ring(tmp_path / "c.bell") is False  # another folder for relative paths
    finally:
        bell.close()


def test_a_bell_made_again_by_another_listener_is_left_to_it(tmp_path: Path) -> None:
    old = Bell(tmp_path / "c.bell")
    old.path.unlink()
    new = Bell(tmp_path / "c.bell")
    old.close()
    assert new.path.exists() and ring(tmp_path / "c.bell")
    new.close()


def test_a_plain_file_where_the_bell_goes_is_not_a_listener(tmp_path: Path) -> None:
    bell = Bell(tmp_path / "c.bell")
    path = bell.path
    bell.close()
    path.write_text("")
    os.chmod(path, 0o600)
    assert ring(tmp_path / "c.bell") is False
