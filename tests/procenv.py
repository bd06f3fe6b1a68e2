"""The environment of the CLI processes the tests start."""

from __future__ import annotations

import os


def cli_env(**settings: str) -> dict[str, str]:
    """This process's environment without the user's NEMO_/SKILL_ settings, plus `settings`.

    Workers exit as soon as they are idle (NEMO_WORKER_LINGER=0): hundreds of tests start
    one each, and lingering ones would pile up. Tests of lingering pass their own value."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEMO_", "SKILL_"))}
    return env | {"NEMO_WORKER_LINGER": "0"} | settings
