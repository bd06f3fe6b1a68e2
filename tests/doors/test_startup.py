"""What a call imports: `--help`, `classify` and a `say` that a lingering worker runs load
only what they need. (No timing here: bench/bench_cli.py measures start-up.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.procenv import cli_env

HEAVY = frozenset({"aiohttp", "jinja2", "yaml", "structlog", "asyncpg", "mcp", "asyncio"})
# Runs the CLI's main() in this interpreter, then writes which HEAVY modules it loaded.
PROBE = """
import json, sys
from skill.doors.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "loaded": sorted({m.partition(".")[0] for m in sys.modules})}, f)
"""


def imported(args: list[str], env: Mapping[str, str], cwd: Path) -> set[str]:
    """The heavy modules `nemo-video ARGS` loads (it must exit 0)."""
    report = cwd / "probe.json"
    subprocess.run([sys.executable, "-c", PROBE, str(report), *args], env=dict(env), cwd=cwd,
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    doc = json.loads(report.read_text())
    assert doc["code"] in (0, None), doc
    return set(doc["loaded"]) & HEAVY


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["--help"], set()),
        (["say", "--help"], set()),
        (["classify", "add lo-fi music"], {"yaml"}),  # the routing table is YAML
        (["schema"], set()),
    ],
)
def test_a_call_loads_only_what_it_needs(
    args: list[str], allowed: set[str], tmp_path: Path
) -> None:
    env = cli_env(NEMO_CONFIG_DIR=str(tmp_path / "config"))
    assert imported(args, env, tmp_path) <= allowed
