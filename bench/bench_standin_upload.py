"""Peak memory of the local stand-in while it receives a 200 MB upload.

    .venv/bin/python bench/bench_standin_upload.py [--size-mb 200]

The stand-in runs in its own process (`python -m skill.standin`); this process
uploads one file with NemoClient.upload_file. Both processes' resident memory is
sampled from /proc every 5 ms during the upload (the stand-in's VmHWM too). Printed:
the increase over each side's resident memory before the upload. Target: < 50 MB on
either side. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import structlog

from skill.common.config import Settings, Timings
from skill.wire.attribution import Attribution
from skill.wire.client import NemoClient

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
TARGET_MB = 50


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class Sampler(threading.Thread):
    """The highest VmRSS of each pid while running."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak = pids, dict.fromkeys(pids, 0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], status_kb(pid, "VmRSS"))
            time.sleep(0.005)


async def main(size_mb: int) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "skill.standin", "--port", "0", "--quiet",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    url = (await proc.stdout.readline()).decode().strip()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.mp4"
        with path.open("wb") as out:
            block = os.urandom(MB)
            for _ in range(size_mb):
                out.write(block)
        env = {"NEMO_API_URL": url, "NEMO_CONFIG_DIR": str(Path(tmp) / "config")}
        timings = Timings(upload_timeout=600)
        settings = replace(Settings.from_env(env), timings=timings)
        attribution = Attribution("bench", "0", "unknown")
        async with NemoClient(settings, attribution=attribution) as client:
            session = await client.create_session()
            await client.credits()  # warm both sides up before measuring
            me, server = os.getpid(), proc.pid
            before = {me: status_kb(me, "VmRSS"), server: status_kb(server, "VmRSS")}
            sampler = Sampler([me, server])
            sampler.start()
            started = time.monotonic()
            (uploaded,) = await client.upload_file(session.session_id, path)
            elapsed = time.monotonic() - started
            sampler.done.set()
            sampler.join()
        hwm = status_kb(server, "VmHWM")
    proc.terminate()
    await proc.wait()

    assert uploaded.raw.get("size") == size_mb * MB, uploaded.raw
    server_mb = (max(sampler.peak[server], hwm) - before[server]) / 1024
    client_mb = (sampler.peak[me] - before[me]) / 1024
    print(f"upload of {size_mb} MB to the stand-in: {elapsed:.2f} s "
          f"({size_mb / elapsed:.0f} MB/s)")  # fmt: skip
    print(f"stand-in process: RSS before {before[server] / 1024:.1f} MB, "
          f"peak increase {server_mb:.1f} MB (VmHWM {hwm / 1024:.1f} MB)")  # fmt: skip
    print(f"uploading client: RSS before {before[me] / 1024:.1f} MB, "
          f"peak increase {client_mb:.1f} MB")  # fmt: skip
    ok = server_mb < TARGET_MB and client_mb < TARGET_MB
    print(f"target: < {TARGET_MB} MB on either side: {'met' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    raise SystemExit(asyncio.run(main(parser.parse_args().size_mb)))
