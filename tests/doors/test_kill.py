"""kill -9 of a real `nemo-video export` while it renders or downloads, then `export` again.

The render journal is written before the submit and the download's name before its
`.part` opens, so whatever instant the process dies at, the next export collects the
same render: never a second render, never a leftover `.part`, the MP4 delivered once.
Offsets are measured from the backend's side: after it received the submit (render),
or once the `.part` on disk holds a given share of the file (download).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from skill.standin import RunningStandin, start_standin

from .harness import FAST, FTYP, Project, draft, merged, mp4_renderer

SIZE = 640_000  # ten 64 KiB writes by the stand-in's throttled download
RATE = 1_600_000  # bytes per second: a download takes ~0.4 s
RENDER_OFFSETS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9]  # s after the submit
DOWNLOAD_SHARES = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]  # of the file on disk
EXPORT = ("export", "--json")


async def until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def kill(proc: asyncio.subprocess.Process) -> None:
    os.kill(proc.pid, signal.SIGKILL)


def renders_of(standin: RunningStandin, sid: str) -> int:
    return sum(1 for job in standin.world.renders.values() if job.session_id == sid)


def part_size(project: Project) -> int:
    parts = project.files("*.part")
    return max((p.stat().st_size for p in parts), default=0)


async def deliver(project: Project, standin: RunningStandin, sid: str) -> dict[str, object]:
    """`export` after the kill: exit 0, one render in all, one MP4, no .part."""
    run = await project.run(*EXPORT)
    assert run.code == 0, (run.stdout, run.stderr[-2000:])
    (mp4,) = project.files("*.mp4")
    assert run.doc["files"] == [str(mp4)]
    assert mp4.stat().st_size == SIZE and mp4.read_bytes()[: len(FTYP)] == FTYP
    assert project.files("*.part") == []
    assert renders_of(standin, sid) == 1
    assert project.store.load().pending == ()
    return run.doc


@pytest.fixture
async def standin(tmp_path: Path) -> object:
    gate = asyncio.Event()
    scenario = merged(FAST, {"render": {"download_rate": RATE}})
    renderer = mp4_renderer(SIZE, gate)
    async with await start_standin(
        scenario=scenario, data_dir=tmp_path / "standin", renderer=renderer
    ) as running:
        running.gate = gate  # type: ignore[attr-defined]
        yield running


async def killed_while_rendering(project: Project, standin: RunningStandin, offset: float) -> None:
    gate: asyncio.Event = standin.gate  # type: ignore[attr-defined]
    gate.clear()
    before = standin.world.calls["render_submit"]
    proc = await project.start(*EXPORT)
    await until(lambda: standin.world.calls["render_submit"] > before)
    await asyncio.sleep(offset)
    kill(proc)
    await proc.wait()
    gate.set()  # the render finishes on the server while nobody waits for it


@pytest.mark.parametrize("phase", ["render", "download"])
async def test_kill_9_then_export_renders_once_and_leaves_nothing(
    tmp_path: Path, standin: RunningStandin, phase: str
) -> None:
    figures = {"runs": 0, "second_renders": 0, "parts_left_by_kill": 0, "delivered_once": 0}
    points = RENDER_OFFSETS if phase == "render" else DOWNLOAD_SHARES
    for i, point in enumerate(points):
        project = Project(tmp_path / f"{phase}-{i}", standin.api_url, name=f"{phase}-{i}")
        sid = project.seed(standin, draft(i + (100 if phase == "download" else 0)))
        if phase == "render":
            await killed_while_rendering(project, standin, point)
        else:
            await killed_while_rendering(project, standin, 0.0)
            proc = await project.start(*EXPORT)  # collects the render, starts the download
            await until(lambda pr=project, sh=point: part_size(pr) >= sh * SIZE)  # type: ignore[misc]
            kill(proc)
            await proc.wait()
            figures["parts_left_by_kill"] += len(project.files("*.part"))
            assert project.files("*.mp4") == []
        await deliver(project, standin, sid)
        figures["runs"] += 1
        figures["second_renders"] += renders_of(standin, sid) - 1
        figures["delivered_once"] += len(project.files("*.mp4")) == 1
    print(f"kill -9 during {phase}: {figures}")
    assert figures == {"runs": 10, "second_renders": 0, "delivered_once": 10,
                       "parts_left_by_kill": figures["parts_left_by_kill"]}  # fmt: skip
    if phase == "download":
        assert figures["parts_left_by_kill"] == 10  # each kill did leave one, cleaned after
