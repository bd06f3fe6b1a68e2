"""Export delivery: how late the MP4 reaches the disk after the render finished, and how
many status requests each render costs — the default plan (`polling.estimate`) beside the
old growing schedule (`polling.growth`: 2 s, ×1.5, up to 30 s) in the same run.

.venv/bin/python bench/bench_poll.py [--runs 5] [--long 60]

Each run exports the same draft twice at once, one per plan, against one stand-in:
- short: the stand-in's real ffmpeg renderer, a 15 s 1080p draft (a few seconds' work);
- long: a paced renderer (no CPU) that takes `--long` seconds ± 30 % per run at an
  uneven pace (progress ±5 % off a straight line, 1 s of warm-up at 0 %), then hands
  over a real MP4 rendered once at start-up — a stand-in for a real backend's long render.
done→disk is from the renderer's return (the job turns `completed` then) to `export()`
returning with the MP4 on disk and the browser link fetched.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from skill.common.config import Settings, Timings
from skill.common.logs import configure_logging
from skill.common.output import CollectedOutput
from skill.conversation import export as ex
from skill.conversation import polling
from skill.conversation.store import ConversationStore
from skill.standin.render import render_draft
from skill.standin.server import RunningStandin, start_standin
from skill.wire.client import NemoClient
from skill.wire.protocol import RenderJob

DRAFT = {
    "d": 15000,
    "m": {"w": 1920, "h": 1080, "fps": 30},
    "t": [{"tt": 0, "sg": [{"s": 0, "d": 15000, "m": {"kind": "synthetic", "seed": 1}}]}],
}
PLANS: dict[str, polling.Plan] = {"today (growth)": polling.growth, "estimate": polling.estimate}
MANY = {"anonymous_per_ip": 100_000}  # every conversation here gets its own token
Progress = Callable[[float], None] | None


class Counting(NemoClient):
    polls = 0

    async def render_status(self, render_id: str) -> RenderJob:
        self.polls += 1
        return await super().render_status(render_id)


class Renderers:
    """The stand-in's renderer: real ffmpeg, or paced; records when each job finished."""

    def __init__(self, sample: Path, long_s: float) -> None:
        self.sample, self.long_s, self.paced = sample, long_s, False
        self.done_at: dict[str, float] = {}  # out file name -> when the renderer returned
        self.run = 0

    async def __call__(
        self, draft: Mapping[str, Any], out_path: Path, *, progress: Progress = None, **kw: Any
    ) -> None:
        if self.paced:
            await self._paced(out_path, progress, draft.get("bench_seconds", self.long_s))
        else:
            await render_draft(draft, out_path, progress=progress, **kw)
        self.done_at[out_path.stem] = time.time()

    async def _paced(self, out_path: Path, progress: Progress, seconds: float) -> None:
        start = time.monotonic()
        await asyncio.sleep(1.0)  # warm-up, still at 0 %
        while (x := (time.monotonic() - start - 1.0) / (seconds - 1.0)) < 1.0:
            if progress:
                progress(x + 0.05 * math.sin(6 * math.pi * x))
            await asyncio.sleep(0.25)
        shutil.copyfile(self.sample, out_path)


async def one(sd: RunningStandin, root: Path, plan: polling.Plan, draft: dict[str, Any],
              renderers: Renderers, nth: int) -> tuple[float, int]:  # fmt: skip
    await asyncio.sleep(0.005 * nth)  # render ids are `render_<ms>`: one per millisecond
    config = root / f"config-{nth}-{time.monotonic_ns()}"
    env = {"NEMO_API_URL": sd.api_url, "NEMO_CONFIG_DIR": str(config)}
    settings = Settings.from_env(env)
    async with Counting(settings) as client:
        session = await client.create_session("en")
        sd.world.sessions[session.session_id].state["draft"] = draft
        store = ConversationStore(config, "bench")
        store.update(lambda c: replace(c, api_url=sd.api_url, session_id=session.session_id,
                                       task_id=session.task_id))  # fmt: skip
        result = await ex.export(
            client, store, out_dir=config / "out", lang="en", output=CollectedOutput(),
            timings=Timings(), web_url=settings.web_url, plan=plan,
        )  # fmt: skip
        delivered = time.time()
    return delivered - renderers.done_at[result.render_id], client.polls


async def kind(sd: RunningStandin, root: Path, renderers: Renderers, runs: int, long: bool
               ) -> dict[str, list[tuple[float, int]]]:  # fmt: skip
    renderers.paced = long
    figures: dict[str, list[tuple[float, int]]] = {name: [] for name in PLANS}

    async def pair(i: int) -> None:
        seconds = renderers.long_s * (0.7 + 0.6 * i / max(runs - 1, 1))
        draft = {**DRAFT, "bench_seconds": seconds}
        got = await asyncio.gather(
            *(one(sd, root, p, draft, renderers, 2 * i + k) for k, p in enumerate(PLANS.values()))
        )
        for name, figure in zip(PLANS, got, strict=True):
            figures[name].append(figure)

    if long:  # paced renders cost no CPU: all runs at once
        await asyncio.gather(*(pair(i) for i in range(runs)))
    else:  # real ffmpeg: one pair at a time
        for i in range(runs):
            await pair(i)
    return figures


def report(label: str, figures: dict[str, list[tuple[float, int]]]) -> None:
    print(label)
    for name, rows in figures.items():
        late = [r[0] for r in rows]
        polls = [r[1] for r in rows]
        print(f"  {name:<16} done→disk median {statistics.median(late):5.2f} s"
              f" (max {max(late):5.2f} s)   polls/render median {statistics.median(polls):4.1f}"
              f" (max {max(polls)})")  # fmt: skip


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="renders per plan and kind")
    parser.add_argument("--long", type=float, default=60.0, help="long render length, s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nemo-bench-poll-") as tmp:
        root = Path(tmp)
        configure_logging(root / "config")  # the clients' log lines go to a file, not here
        sample = root / "sample.mp4"
        small = {**DRAFT, "m": {"w": 320, "h": 180, "fps": 15}}
        await render_draft(small, sample, resolve=lambda _: None)
        renderers = Renderers(sample, args.long)
        standin = start_standin(renderer=renderers, data_dir=root / "standin", scenario=MANY)
        async with await standin as sd:
            short = await kind(sd, root, renderers, args.runs, long=False)
            long = await kind(sd, root, renderers, args.runs, long=True)
    print(f"{args.runs} renders per plan and kind, both plans at once per run (s)")
    report("short: real ffmpeg, 15 s 1080p draft", short)
    report(f"long: paced, {args.long:.0f} s ± 30 %, uneven", long)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
