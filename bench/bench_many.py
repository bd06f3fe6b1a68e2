"""Many conversations in one process: 10, 100, 500 and 1,000 at once against one stand-in.

    .venv/bin/python bench/bench_many.py [--levels 10,100,500,1000] [--profile FILE]

The stand-in runs in its own process (`python -m skill.standin`, a scenario with one
anonymous token per conversation allowed); this process runs every conversation through
the in-process API (`skill.Skill`, one client and connection pool), each doing one chat
turn ("hello": the stand-in's greeting, a short streamed reply) then `credits`, all
started at once. Printed per level: turns/s (chat turns and commands), p50/p99 of the
chat turn, errors, peak RSS and CPU seconds of this process and of the stand-in — the
stand-in's CPU is the anchor, measured in the same run. Peak RSS is reset before each
level (/proc/PID/clear_refs), so it is the level's own. Linux only (/proc).

Targets (issue 16): at 500, p50 chat turn ≤ 2× the p50 at 10, the client's CPU below
the stand-in's, zero errors, client RSS ≤ 100 MB. Exit 1 when one is missed.
`--profile FILE` writes a cProfile of the client's 500 level (`python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

import skill
from skill.common.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "anonymous_per_ip: 100000\nseed: 1\n"
TICK = os.sysconf("SC_CLK_TCK")
RSS_TARGET_MB = 100


@dataclass(frozen=True)
class Level:
    n: int
    wall: float
    chat: list[float]
    errors: int
    client_cpu: float
    client_mb: float
    standin_cpu: float
    standin_mb: float

    @property
    def p50(self) -> float:
        return statistics.median(self.chat)

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.chat, n=100)[98] if len(self.chat) > 1 else self.chat[0]


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise KeyError("VmHWM")


def reset_hwm(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS


async def one(nemo: skill.Skill, name: str) -> tuple[float | None, int]:
    conv = nemo.conversation(name)
    started = time.perf_counter()
    said = await conv.say("hello")
    took = time.perf_counter() - started
    credits = await conv.command("credits")
    errors = (not said.ok) + (not credits.ok)
    return (took if said.ok else None), errors


async def level(n: int, url: str, standin: int, folder: Path, profile: Path | None) -> Level:
    env = {"NEMO_API_URL": url, "NEMO_CONFIG_DIR": str(folder / f"config-{n}")}
    settings = Settings.from_env(env)
    async with skill.Skill(settings, out_dir=folder / "out") as nemo:
        await one(nemo, "warm-up")  # the token, imports, the pool: not part of the level
        for pid in (os.getpid(), standin):
            reset_hwm(pid)
        cpu0, scpu0 = own_cpu(), cpu_of(standin)
        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        started = time.perf_counter()
        got = await asyncio.gather(*(one(nemo, f"c{n}-{i}") for i in range(n)))
        wall = time.perf_counter() - started
        if prof and profile:
            prof.disable()
            prof.dump_stats(profile)
        cpu, scpu = own_cpu() - cpu0, cpu_of(standin) - scpu0
    chat = [t for t, _ in got if t is not None] or [float("nan")]
    return Level(n, wall, chat, sum(e for _, e in got), cpu, hwm_mb(os.getpid()), scpu,
                 hwm_mb(standin))  # fmt: skip


async def main(levels: list[int], profile: Path | None) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    with tempfile.TemporaryDirectory(prefix="nemo-bench-many-") as tmp:
        folder = Path(tmp)
        (folder / "scenario.yaml").write_text(SCENARIO)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "skill.standin", "--quiet",
            "--scenario", str(folder / "scenario.yaml"), "--data-dir", str(folder / "standin"),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        url = (await proc.stdout.readline()).decode().strip()
        try:
            rows = [await level(n, url, proc.pid, folder, profile if n == 500 else None)
                    for n in levels]  # fmt: skip
        finally:
            proc.terminate()
            await proc.wait()
    print("one chat turn ('hello') + credits per conversation, all at once; "
          "CPU and peak RSS per level, the stand-in's CPU is the anchor")  # fmt: skip
    print(
        f"{'convs':>6} {'turns/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        f" {'client CPU s':>12} {'stand-in CPU s':>14} {'client MB':>9} {'stand-in MB':>11}"
    )
    for r in rows:
        print(f"{r.n:>6} {2 * r.n / r.wall:>8.0f} {r.p50 * 1000:>8.0f} {r.p99 * 1000:>8.0f}"
              f" {r.errors:>6} {r.client_cpu:>12.2f} {r.standin_cpu:>14.2f}"
              f" {r.client_mb:>9.1f} {r.standin_mb:>11.1f}")  # fmt: skip
    by = {r.n: r for r in rows}
    if 500 not in by:
        return 0
    at, base = by[500], by.get(10)
    checks = {
        "p50 at 500 ≤ 2× p50 at 10": base is None or at.p50 <= 2 * base.p50,
        "client CPU < stand-in CPU at 500": at.client_cpu < at.standin_cpu,
        "zero errors": all(r.errors == 0 for r in rows),
        f"client RSS ≤ {RSS_TARGET_MB} MB at 500": at.client_mb <= RSS_TARGET_MB,
    }
    for what, ok in checks.items():
        print(f"target: {what}: {'met' if ok else 'NOT MET'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,100,500,1000")
    parser.add_argument("--profile", type=Path, default=None)
    a = parser.parse_args()
    raise SystemExit(asyncio.run(main([int(x) for x in a.levels.split(",")], a.profile)))
