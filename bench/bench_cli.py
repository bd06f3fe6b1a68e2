"""CLI startup: what one `nemo-video` call costs an agent host that runs it per turn.

Run: .venv/bin/python bench/bench_cli.py [--runs 10]

Prints medians of N runs: `nemo-video --help`, `python -c "import skill.doors.cli"`, the bare
interpreter, and `nemo-video say "credits" --json` against a local stand-in started here
(token already cached, as on every turn after the first; .pyc files written): warm — the
conversation's worker lingers from the call before, so `say` rings it — and cold
(NEMO_WORKER_LINGER=0: every `say` starts a worker, as before workers lingered). The warm
call is split into process start + imports (the same modules imported by a process that
does nothing else) and the turn itself measured inside one process (perf_counter around
`skill.doors.cli.main` after its imports, median of N runs; never a difference of two
medians). `say` is printed as a ratio to the bare-import anchor of the same run
(`python -c "import aiohttp, yaml, jinja2, structlog"`). Then the 10 heaviest imports of a
warm `say` (`-X importtime`): the libraries the skill's own modules import, each with its
cumulative time and who imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PY = sys.executable
SCRIPT = Path(PY).parent / "nemo-video"  # the installed entry point
ANCHOR = "import aiohttp, yaml, jinja2, structlog"
# Imports the CLI, then times one call of its main (stdout discarded) and prints milliseconds.
_TURN = (
    "import io, sys, time, contextlib\n"
    "from skill.doors.cli import main\n"
    "buf = io.StringIO()\n"
    "t = time.perf_counter()\n"
    "with contextlib.redirect_stdout(buf):\n"
    "    rc = main(sys.argv[1:])\n"
    "ms = (time.perf_counter() - t) * 1000\n"
    "assert rc == 0, rc\n"
    "print(f'{ms:.3f}')\n"
)
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def median_ms(one: Callable[[], float], runs: int) -> float:
    """Median of `runs` calls of `one` (ms each), after one warm-up call that warms the page
    cache and writes .pyc files."""
    one()
    return statistics.median(one() for _ in range(runs))


def wall(cmd: Sequence[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of the whole process `cmd`, in ms."""

    def once() -> float:
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        return (time.perf_counter() - start) * 1000

    return median_ms(once, runs)


def turn(args: Sequence[str], env: dict[str, str], runs: int) -> float:
    """Median in-process time of one `main(args)` call, in ms: the CLI's own import is
    excluded, the imports main() makes for the routed intent are not."""

    def once() -> float:
        out = subprocess.run([PY, "-c", _TURN, *args], env=env, check=True, capture_output=True,
                             text=True)  # fmt: skip
        return float(out.stdout.strip().splitlines()[-1])

    return median_ms(once, runs)


def stop_workers(config: Path) -> None:
    """SIGTERM every worker the journals name (idle ones exit at once)."""
    for journal in (config / "turns").glob("*.json"):
        for t in json.loads(journal.read_text()).get("turns", []):
            with contextlib.suppress(OSError, TypeError):
                os.kill(t.get("worker_pid"), signal.SIGTERM)


def import_tree(stderr: str) -> list[tuple[str, int, str]]:
    """(module, cumulative µs, importer) for each library a `skill` module imports itself."""
    nodes: list[tuple[int, str, int]] = []  # depth, name, cumulative, in -X importtime order
    for m in _LINE.finditer(stderr):
        nodes.append((len(m.group(3)) // 2, m.group(4), int(m.group(2))))
    found: list[tuple[str, int, str]] = []
    # A module's imports are printed before it, one level deeper: walk backwards with a stack.
    stack: list[tuple[int, str]] = []
    for depth, name, cumulative in reversed(nodes):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else "(top level)"
        if not name.startswith("skill") and (not stack or parent.startswith("skill")):
            found.append((name, cumulative, parent))
        stack.append((depth, name))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per figure (median counts)")
    runs = parser.parse_args().runs

    with tempfile.TemporaryDirectory(prefix="nemo-bench-cli-") as tmp:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NEMO_", "SKILL_")) and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["NEMO_WORKER_LINGER"] = "600"  # the whole run: every `say` after the first is warm
        standin = subprocess.Popen(
            [PY, "-m", "skill", "standin", "--quiet", "--data-dir", str(Path(tmp) / "standin")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        try:
            assert standin.stdout is not None
            api_url = standin.stdout.readline().strip()
            env |= {"NEMO_API_URL": api_url, "NEMO_CONFIG_DIR": str(Path(tmp) / "config")}
            say = [PY, "-m", "skill", "say", "credits", "--json"]
            subprocess.run(say, env=env, check=True, capture_output=True)  # token, client id

            traced = subprocess.run(
                [PY, "-X", "importtime", *say[1:]], env=env, check=True, capture_output=True,
                text=True,
            )  # fmt: skip
            loaded = [m.group(4) for m in _LINE.finditer(traced.stderr) if not m.group(3)]
            imports_only = [PY, "-c", "import " + ", ".join(dict.fromkeys(loaded))]

            entry = [str(SCRIPT)] if SCRIPT.exists() else [PY, "-m", "skill"]
            help_ms = wall([*entry, "--help"], env, runs)
            cli_ms = wall([PY, "-c", "import skill.doors.cli"], env, runs)
            bare_ms = wall([PY, "-c", "pass"], env, runs)
            say_ms = wall(say, env, runs)
            cold_ms = wall(say, env | {"NEMO_WORKER_LINGER": "0"}, runs)
            start_ms = wall(imports_only, env, runs)
            anchor_ms = wall([PY, "-c", ANCHOR], env, runs)
            turn_ms = turn(say[3:], env, runs)
        finally:
            standin.terminate()
            standin.wait(10)
            stop_workers(Path(tmp) / "config")

    print(f"medians of {runs} runs (ms)")
    print(f"  nemo-video --help                     {help_ms:7.1f}")
    print(f'  python -c "import skill.doors.cli"          {cli_ms:7.1f}')
    print(f'  python -c "pass" (the interpreter)    {bare_ms:7.1f}')
    print(f'  nemo-video say "credits" --json       {say_ms:7.1f}  (stand-in on loopback; '
          "warm: the worker lingers)")  # fmt: skip
    print(f"    process start + its {len(set(loaded)):3d} imports    {start_ms:7.1f}"
          f"  ({start_ms / say_ms:.0%})")  # fmt: skip
    print(f"    main() in-process (+ lazy imports)  {turn_ms:7.1f}")
    print(f"    cold (NEMO_WORKER_LINGER=0)         {cold_ms:7.1f}  (a worker started per call)")
    print(f'  anchor: python -c "{ANCHOR}"  {anchor_ms:7.1f}')
    print(f"  say / anchor                          {say_ms / anchor_ms:7.2f}x")
    print("10 heaviest imports of a warm say (cumulative, -X importtime, one run):")
    heaviest = sorted(import_tree(traced.stderr), key=lambda x: -x[1])[:10]
    for name, cumulative, parent in heaviest:
        print(f"  {cumulative / 1000:7.1f} ms  {name:<28} imported by {parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
