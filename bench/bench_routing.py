"""Routing speed: what `classify()` costs per message once the rules are loaded.

Run: .venv/bin/python bench/bench_routing.py [--rounds 20]

Routes every message of the labelled corpus (tests/intents/, both parts) `rounds` times
and prints the mean and the 99th percentile in microseconds, beside an anchor measured
in the same run on the same messages: one search of a small precompiled regex (what the
cheapest possible router would cost). Also the one-off start-up: reading and compiling
intents/routing.yaml. Target: under 1 ms per message after start-up (exit 1 if not).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skill.conversation import intents  # noqa: E402

TARGET_US = 1000.0


def messages() -> list[tuple[str, list[Path]]]:
    out = []
    for name in ("tuning.yaml", "holdout.yaml"):
        doc = yaml.safe_load((ROOT / "tests" / "intents" / name).read_text(encoding="utf-8"))
        for items in doc.values():
            for item in items:
                if isinstance(item, str):
                    out.append((item, []))
                else:
                    out.append((item.get("text") or "", [Path(f) for f in item.get("files", [])]))
    return out


def per_message(
    call: Callable[[str, list[Path]], object], corpus: list[tuple[str, list[Path]]], rounds: int
) -> tuple[float, float]:
    """Mean and 99th percentile of one call in microseconds (a warm-up round first)."""
    times = []
    for i in range(rounds + 1):
        for text, files in corpus:
            start = time.perf_counter()
            call(text, files)
            if i:
                times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    return sum(times) / len(times), times[int(len(times) * 0.99)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the corpus")
    rounds = parser.parse_args().rounds
    corpus = messages()

    start = time.perf_counter()
    rules = intents.load_rules(ROOT / "intents" / "routing.yaml")
    startup_ms = (time.perf_counter() - start) * 1000

    anchor_re = re.compile(r"\b(?:export|download|credits|status|upload)\b", re.IGNORECASE)
    anchor = per_message(lambda t, f: anchor_re.search(t), corpus, rounds)
    route = per_message(lambda t, f: intents.classify(t, f, rules=rules), corpus, rounds)

    print(f"messages: {len(corpus)} x {rounds} rounds")
    print(f"start-up (read + compile routing.yaml): {startup_ms:8.1f} ms")
    for name, (mean, p99) in (("anchor: one regex search", anchor), ("classify()", route)):
        print(f"{name:39} mean {mean:7.1f} us  p99 {p99:7.1f} us")
    print(f"classify / anchor: {route[0] / anchor[0]:.0f}x; target mean < {TARGET_US:.0f} us: "
          + ("met" if route[0] < TARGET_US else "MISSED"))  # fmt: skip
    return 0 if route[0] < TARGET_US else 1


if __name__ == "__main__":
    raise SystemExit(main())
