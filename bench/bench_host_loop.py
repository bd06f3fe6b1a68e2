"""The host loop of SKILL.md against the stand-in's slow scenario (real-backend durations:
generation 200 s, edit 40 s, render 90 s), with real processes:

    nemo-video say "<message>" --json --wait W      # then, while outcome is running:
    nemo-video wait --json --wait W

Prints, per message, the calls made and the longest; in all: calls over the host's
bound, chat submissions per user message, renders, the MP4 on disk. The anchor, measured
in the same run, is the backend's own work (what the stand-in was told to take): the
loop's wall time should exceed it only by polling and process starts.

    python bench/bench_host_loop.py                      # scale 0.02: about 20 s
    python bench/bench_host_loop.py --scale 1 --wait 90  # the real durations (~10 min)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from skill.standin import start_standin

MESSAGES = ["generate a 10-second video of a beach", "add a title 'Hello' at the start"]


async def call(env: dict[str, str], cwd: Path, *args: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "skill", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return json.loads(out), time.monotonic() - started


async def main(scale: float, wait: float, bound: float) -> int:
    scenario = {"slow": True, "time_scale": scale, "starting_credits": 5000, "seed": 3,
                "silent_edits": 0, "abort_on_disconnect": True}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="nemo-bench-loop-") as tmp:
        folder = Path(tmp)
        async with await start_standin(scenario=scenario, data_dir=folder / "standin") as sd:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("NEMO_", "SKILL_"))}
            env |= {"NEMO_API_URL": sd.api_url, "NEMO_CONFIG_DIR": str(folder / "config"),
                    "NEMO_OUTPUT_DIR": str(folder / "out"),
                    "NEMO_CONVERSATION": "bench"}  # fmt: skip
            t = sd.world.scenario.timing
            anchor = t.generate + t.edit * 2 + 2 * (t.render_queue + t.render)  # gen + title
            start, durations, shown = time.monotonic(), [], []
            for message in MESSAGES:
                doc, took = await call(env, folder, "say", message, "--json", "--wait", str(wait))
                calls = [took]
                shown += doc["replies"]
                while doc["outcome"] == "running":
                    doc, took = await call(env, folder, "wait", "--json", "--wait", str(wait))
                    calls.append(took)
                    shown += doc["replies"]
                durations += calls
                if os.environ.get("BENCH_SHOW"):
                    print("\n".join(f"  | {r}" for r in shown))
                    shown.clear()
                print(f"{message!r}: {len(calls)} calls, longest {max(calls):.1f} s, "
                      f"outcome {doc['outcome']}")  # fmt: skip
            wall = time.monotonic() - start
            texts = [text for _sid, text in sd.world.submissions]
            mp4s = sorted((folder / "out").glob("*.mp4"))
    print(f"time scale {scale:g}: backend work {anchor:.1f} s (anchor), host loop {wall:.1f} s")
    print(f"calls {len(durations)}, longest {max(durations):.1f} s, "
          f"over {bound:g} s: {sum(d > bound for d in durations)}")  # fmt: skip
    print(f"chat submissions per user message: {[texts.count(m) for m in MESSAGES]}; "
          f"renders {len(sd.world.renders)}; MP4s on disk {len(mp4s)}")  # fmt: skip
    ok = texts == MESSAGES and len(mp4s) == len(sd.world.renders) and max(durations) <= bound
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--wait", type=float, default=None, help="default: 90 × scale, ≥ 1")
    parser.add_argument("--bound", type=float, default=None, help="default: wait + 10 s")
    a = parser.parse_args()
    w = a.wait if a.wait is not None else max(1.0, 90 * a.scale)
    raise SystemExit(asyncio.run(main(a.scale, w, a.bound if a.bound is not None else w + 10)))
