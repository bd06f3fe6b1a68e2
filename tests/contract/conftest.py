"""The contract suite's backend: google-adk's real API server (backend.py) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parent / "backend.py"
START_S = 60.0


@pytest.fixture(scope="session")
def adk_url() -> Iterator[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "ADK_DISABLE_TELEMETRY": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(BACKEND)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=env, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), f"the ADK backend did not start: {line!r}"
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        _wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_ready(url: str, proc: subprocess.Popen[str]) -> None:
    import httpx

    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the ADK backend exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/list-apps", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the ADK backend did not answer within {START_S:.0f} s")
