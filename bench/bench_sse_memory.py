"""Peak memory of skill.wire.sse.SSEDecoder fed one huge chunk of blank lines.

Run: .venv/bin/python bench/bench_sse_memory.py [--mb 50]

A hostile or broken proxy can hand the decoder one enormous chunk; 50 MB of bare line
feeds once peaked at ~490 MB (a list entry per line). The decoder now splits a chunk into
lines a bounded slice at a time. Peak is traced allocation (tracemalloc) during `feed`,
beside the anchor: the chunk itself, which the caller already holds. Target: the
decoder's own peak stays under 10 MB whatever the chunk's size.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skill.wire.sse import SSEDecoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    chunk = b"\n" * (args.mb * 1_000_000) + b"data: end\n\n"
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    events = SSEDecoder().feed(chunk)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    assert [e.data for e in events] == ["end"]
    print(f"one chunk of {args.mb} MB of blank lines")
    print(f"  anchor (the chunk itself): {len(chunk) / 1e6:8.1f} MB")
    print(f"  decoder peak during feed:  {peak / 1e6:8.1f} MB")


if __name__ == "__main__":
    main()
