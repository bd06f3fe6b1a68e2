"""Settings from the environment, checked: NEMO_TIMINGS (every wait), NEMO_WORKER_LINGER."""

from __future__ import annotations

import pytest

from skill.common.config import Settings, Timings
from skill.common.errors import ConfigError


def test_nemo_timings_sets_the_named_waits() -> None:
    env = {"NEMO_CONFIG_DIR": "/tmp/x",
           "NEMO_TIMINGS": '{"recovery_waits": [0.5, 1], "still_working_every": 30}'}  # fmt: skip
    t = Settings.from_env(env).timings
    assert t.recovery_waits == (0.5, 1.0) and t.still_working_every == 30
    assert t.turn_cap == Timings().turn_cap


@pytest.mark.parametrize(
    ("value", "problem"),
    [("{", "not JSON"), ('{"nap": 1}', "unknown field"), ('{"turn_cap": -1}', "seconds"),
     ('{"turn_cap": "long"}', "seconds"), ("[1]", "unknown field")],
)  # fmt: skip
def test_a_bad_nemo_timings_says_what_is_wrong(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Settings.from_env({"NEMO_CONFIG_DIR": "/tmp/x", "NEMO_TIMINGS": value})


@pytest.mark.parametrize(
    ("value", "linger"), [(None, 120.0), ("", 120.0), ("0", 0.0), (" 2.5 ", 2.5)]
)
def test_nemo_worker_linger_is_seconds(value: str | None, linger: float) -> None:
    env = {"NEMO_CONFIG_DIR": "/tmp/x"} | ({} if value is None else {"NEMO_WORKER_LINGER": value})
    assert Settings.from_env(env).worker_linger == linger


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_a_bad_nemo_worker_linger_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match=f"NEMO_WORKER_LINGER must be seconds.*{value!r}"):
        Settings.from_env({"NEMO_CONFIG_DIR": "/tmp/x", "NEMO_WORKER_LINGER": value})
