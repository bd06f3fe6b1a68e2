"""Throughput of skill.wire.sse.SSEDecoder against httpx-sse and sseclient-py, bytes to events.

Run: .venv/bin/python bench/bench_sse.py [--mb 20] [--runs 5]

The stream (~20 MB in memory) repeats the ADK captures in tests/fixtures/adk-wire/ and
mixes in frames with Chinese text, heartbeats (empty `data:`) and proxy comments. Every
parser gets the same chunks (1-16 KiB, fixed seed) and does the whole job: UTF-8 decoding,
line splitting and event parsing. Figures are the best of N runs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from httpx._decoders import TextDecoder
from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
from httpx_sse._decoders import SSELineDecoder
from sseclient import SSEClient

OURS = "skill.wire.sse"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skill.wire.sse import SSEDecoder  # noqa: E402

CAPTURES = ROOT / "tests" / "fixtures" / "adk-wire"
CHINESE = "好的，正在把片段裁剪到五秒。背景音乐已添加，标题是「城市之光」。"


def build_stream(target_bytes: int) -> bytes:
    captures = [p.read_bytes() for p in sorted(CAPTURES.glob("*.sse"))]
    zh = {"content": {"parts": [{"text": CHINESE}], "role": "model"}, "partial": True}
    extras = [
        b"data: " + json.dumps(zh, ensure_ascii=False).encode() + b"\n\n",
        b"data:\n\n",  # heartbeat
        b": keep-alive from a proxy\n\n",
    ]
    parts: list[bytes] = []
    size = 0
    i = 0
    while size < target_bytes:
        block = captures[i % len(captures)] + extras[i % len(extras)]
        parts.append(block)
        size += len(block)
        i += 1
    return b"".join(parts)


def chunked(stream: bytes, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    chunks, pos = [], 0
    while pos < len(stream):
        n = rng.randint(1024, 16 * 1024)
        chunks.append(stream[pos : pos + n])
        pos += n
    return chunks


def ours(chunks: list[bytes]) -> list[str]:
    decoder = SSEDecoder(max_event_bytes=1 << 20)
    out: list[str] = []
    for chunk in chunks:
        out.extend(e.data for e in decoder.feed(chunk))
    out.extend(e.data for e in decoder.close())
    return out


def httpx_sse(chunks: list[bytes]) -> list[str]:
    # What httpx_sse.EventSource.iter_sse does over httpx's Response.iter_text().
    text_decoder, line_decoder, decoder = TextDecoder(), SSELineDecoder(), HttpxSSEDecoder()
    out: list[str] = []

    def lines(text: str) -> None:
        for line in line_decoder.decode(text):
            sse = decoder.decode(line.rstrip("\n"))
            if sse is not None:
                out.append(sse.data)

    for chunk in chunks:
        text = text_decoder.decode(chunk)
        if text:
            lines(text)
    tail = text_decoder.flush()
    if tail:
        lines(tail)
    for line in line_decoder.flush():
        sse = decoder.decode(line.rstrip("\n"))
        if sse is not None:
            out.append(sse.data)
    return out


def sseclient_py(chunks: list[bytes]) -> list[str]:
    return [e.data for e in SSEClient(iter(chunks)).events()]


def best_time(parse: Callable[[list[bytes]], list[str]], chunks: list[bytes], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        parse(chunks)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="stream size in MB")
    parser.add_argument("--runs", type=int, default=5, help="runs per parser (best counts)")
    args = parser.parse_args()

    stream = build_stream(int(args.mb * 1_000_000))
    chunks = chunked(stream)
    peers: dict[str, Callable[[list[bytes]], list[str]]] = {
        OURS: ours,
        "httpx-sse": httpx_sse,
        "sseclient-py": sseclient_py,
    }
    reference = ours(chunks)
    for name, parse in peers.items():
        if parse(chunks) != reference:
            print(f"WARNING: {name} does not produce the same events as skill.wire.sse")

    mb = len(stream) / 1_000_000
    print(
        f"stream: {mb:.1f} MB, {len(chunks)} chunks, {len(reference)} events, best of {args.runs}"
    )
    print(f"{'parser':<14}{'MB/s':>10}{'events/s':>14}{'speed vs ours':>15}")
    times = {name: best_time(parse, chunks, args.runs) for name, parse in peers.items()}
    for name, seconds in times.items():
        ratio = times[OURS] / seconds
        print(f"{name:<14}{mb / seconds:>10.1f}{len(reference) / seconds:>14.0f}{ratio:>14.2f}x")
    fastest_peer = min(seconds for name, seconds in times.items() if name != "skill.wire.sse")
    verdict = "at least as fast as" if times[OURS] <= fastest_peer else "SLOWER than"
    print(f"{OURS} is {verdict} the fastest peer ({fastest_peer / times[OURS]:.2f}x)")


if __name__ == "__main__":
    main()
