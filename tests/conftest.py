"""Workers started from this process (the in-process API, the MCP relay) exit as soon as
they are idle, as those started by tests.procenv.cli_env do. Each test starts with no
render id given out (ids are unique per process; the tests' clocks are made up)."""

import os

import pytest

from skill.conversation import journal

os.environ.setdefault("NEMO_WORKER_LINGER", "0")


@pytest.fixture(autouse=True)
def _no_render_id_given_out() -> None:
    journal._last_ms = 0
