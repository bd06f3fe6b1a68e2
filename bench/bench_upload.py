"""Peak memory of a large upload: NemoClient.upload_file must stream, not load, the file.

    .venv/bin/python bench/bench_upload.py [--size-mb 200]

A loopback aiohttp server in a separate process (so only the client is measured)
streams the multipart body to disk and answers the upload envelope. The client
process's resident memory is sampled from /proc every few milliseconds during the
upload (ru_maxrss where /proc is missing), and Python's own allocations are traced
with tracemalloc. Target: the upload adds < 50 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skill.common.config import Settings, Timings
from skill.common.logs import configure_logging
from skill.wire.client import NemoClient
from skill.wire.protocol import upload_path

MB = 1024 * 1024
SESSION = "bench-session"
TARGET_MB = 50


def serve(ready: multiprocessing.Queue[int], folder: str) -> None:
    """The server process: write each uploaded part to disk, answer with its size."""
    from aiohttp import web

    async def upload(request: web.Request) -> web.Response:
        reader = await request.multipart()
        part = await reader.next()
        assert part is not None
        size = 0
        fh = await asyncio.to_thread(open, os.path.join(folder, "received.bin"), "wb")
        try:
            while chunk := await part.read_chunk(1 << 18):
                await asyncio.to_thread(fh.write, chunk)
                size += len(chunk)
        finally:
            fh.close()
        files = [{"name": part.filename, "url": "file://received.bin", "size": size}]
        return web.json_response({"code": 0, "data": {"files": files}})

    async def main() -> None:
        app = web.Application(client_max_size=0)
        app.router.add_post(upload_path(SESSION), upload)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return max_rss_bytes()


def max_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_bytes()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.005):
            self.peak = max(self.peak, rss_bytes())


async def upload(api: str, config: Path, source: Path) -> tuple[int, float, int]:
    settings = Settings(api, "http://web", config, env_token="nmv_bench_token", timings=Timings())
    calls = 0

    def progress(sent: int, total: int) -> None:
        nonlocal calls
        calls += 1

    async with NemoClient(settings) as client:
        started = time.perf_counter()
        (result,) = await client.upload_file(SESSION, source, progress)
        elapsed = time.perf_counter() - started
    return int(result.raw["size"]), elapsed, calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    size = parser.parse_args().size_mb * MB
    with tempfile.TemporaryDirectory(prefix="nemo-bench-") as tmp:
        folder = Path(tmp)
        source = folder / "big.mp4"
        with source.open("wb") as fh:  # sparse: the size is real, the disk cost is not
            fh.truncate(size)
        server_dir = folder / "server"
        server_dir.mkdir()
        ctx = multiprocessing.get_context("spawn")
        ready: multiprocessing.Queue[int] = ctx.Queue()
        server = ctx.Process(target=serve, args=(ready, str(server_dir)), daemon=True)
        server.start()
        try:
            api = f"http://127.0.0.1:{ready.get(timeout=30)}"
            configure_logging(folder / "cfg")  # the client's log lines go to a file
            baseline, peak_before = rss_bytes(), max_rss_bytes()
            sampler = Sampler()
            sampler.start()
            tracemalloc.start()
            received, elapsed, calls = asyncio.run(upload(api, folder / "cfg", source))
            traced_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            sampler.done.set()
            sampler.join()
            peak_after = max_rss_bytes()
        finally:
            server.terminate()
            server.join()
    added = (sampler.peak - baseline) / MB
    print(f"upload size          {size / MB:.0f} MB (server received {received / MB:.1f} MB)")
    rate = size / MB / elapsed
    print(f"elapsed              {elapsed:.2f} s  ({rate:.0f} MB/s, {calls} progress calls)")
    print(f"RSS baseline         {baseline / MB:.1f} MB")
    print(f"RSS peak (sampled)   {sampler.peak / MB:.1f} MB  -> added {added:.1f} MB")
    print(f"ru_maxrss            {peak_before / MB:.1f} -> {peak_after / MB:.1f} MB")
    print(f"tracemalloc peak     {traced_peak / MB:.2f} MB of Python allocations")
    ok = received == size and added < TARGET_MB
    print(f"target < {TARGET_MB} MB added: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
