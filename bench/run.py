"""`make bench`: run every `bench/bench_*.py` in turn, at its default size, and print what
each prints. Exits non-zero when any bench failed (after running the rest).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for bench in sorted(HERE.glob("bench_*.py")):
        print(f"== {bench.name}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(bench)], cwd=HERE.parent)
        print(f"   ({bench.name}: {time.perf_counter() - start:.1f} s, exit {done.returncode})\n",
              flush=True)  # fmt: skip
        if done.returncode:
            failed.append(bench.name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
