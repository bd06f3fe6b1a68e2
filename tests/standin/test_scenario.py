"""Scenario files: what loads, what is refused (naming file and key), and fault counting."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill.common.errors import ConfigError
from skill.standin.scenario import (
    Fault,
    FaultBook,
    Scenario,
    StreamFaults,
    load_scenario,
)

FULL = """
seed: 7
delay_ms: 5
starting_credits: 250
anonymous_per_ip: 3
silent_edits: 0.5
adk: "1.39"
streaming: false
credits_error: envelope
expire_token_after: 3
lose_session_after: 2
faults:
  - {endpoint: credits, status: 500, times: 2}
  - {endpoint: upload, code: 4002, after: 1, retry_after: 1.5, message: nope}
stream:
  times: 1
  drop_after_events: 4
  stall: true
  malformed_frame: true
  oversized_frame_bytes: 2000000
  error_frame: "1.x"
  error_after_events: 2
  trailing_issue: true
  ending: no_content
  heartbeat: comment
render: {fail_next: 1, legacy_shape: true}
timing: {heartbeat: 1, generate: 2.5}
"""


def test_every_key_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(FULL)
    s = load_scenario(path)
    assert (s.seed, s.delay_ms, s.starting_credits, s.anonymous_per_ip) == (7, 5, 250, 3)
    assert (s.silent_edits, s.adk, s.streaming, s.credits_error) == (0.5, "1.39", False, "envelope")
    assert (s.expire_token_after, s.lose_session_after) == (3, 2)
    assert s.faults == (
        Fault("credits", status=500, times=2),
        Fault("upload", code=4002, after=1, retry_after=1.5, message="nope"),
    )
    assert s.stream == StreamFaults(
        1, 4, True, True, 2000000, "1.x", 2, True, "no_content", "comment"
    )
    assert (s.render.fail_next, s.render.legacy_shape) == (1, True)
    assert (s.timing.heartbeat, s.timing.generate, s.timing.edit) == (1.0, 2.5, 0.8)


def test_empty_and_missing_scenarios_are_the_defaults() -> None:
    assert load_scenario(None) == load_scenario("") == load_scenario({}) == Scenario()


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("sede: 1", "sede", "unknown key 'sede'"),
        ("stream: {drop_afterevents: 2}", "stream.drop_afterevents", "unknown key"),
        ("faults: [{endpoint: credits, stauts: 500}]", "faults[0].stauts", "unknown key"),
        ("faults: [{endpoint: billing}]", "faults[0].endpoint", "choose one of"),
        ("faults: [{status: 500}]", None, "needs endpoint"),
        ("faults: {endpoint: credits}", "faults", "must be a list"),
        ("seed: seven", "seed", "must be an integer"),
        ("streaming: 1", "streaming", "must be true or false"),
        ("delay_ms: -5", "delay_ms", "must not be negative"),
        ("adk: '3.0'", "adk", "choose one of 2.13, 1.39"),
        ("stream: {error_frame: 3.x}", "stream.error_frame", "choose one of"),
        ("timing: fast", "timing", "must be a mapping"),
        ("timing: {heartbeat: 0}", "timing.heartbeat", "more than 0"),
        ("keep: {sessions: 0}", "keep.sessions", "at least 1"),
        ("keep: {session_idle: soon}", "keep.session_idle", "must be a number"),
        ("[1, 2]", "", "must be a mapping"),
    ],
)
def test_bad_scenarios_name_the_file_and_key(
    tmp_path: Path, text: str, key: str | None, words: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert str(path) in err.value.message
    assert words in err.value.message
    if key:
        assert key in err.value.message


def test_unreadable_and_invalid_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("faults: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_scenario(tmp_path / "broken.yaml")


def test_faults_fire_after_their_skips_for_their_times() -> None:
    book = FaultBook(
        load_scenario({"faults": [{"endpoint": "state", "code": 1002, "after": 1, "times": 2}]})
    )
    seen = [book.take("state") for _ in range(5)]
    assert [f.code if f else None for f in seen] == [None, 1002, 1002, None, None]
    assert book.take("credits") is None


def test_token_and_session_loss_happen_once_after_their_count() -> None:
    book = FaultBook(Scenario(expire_token_after=2, lose_session_after=0))
    assert [book.token_expires_now() for _ in range(5)] == [False, False, True, False, False]
    assert [book.session_lost_now() for _ in range(3)] == [True, False, False]


def test_stream_faults_run_out_after_their_turns_but_keep_the_heartbeat_style() -> None:
    book = FaultBook(load_scenario({"stream": {"times": 1, "stall": True, "heartbeat": "event"}}))
    assert book.take_stream().stall
    later = book.take_stream()
    assert not later.stall and later.heartbeat == "event"
    forever = FaultBook(load_scenario({"stream": {"malformed_frame": True}}))
    assert all(forever.take_stream().malformed_frame for _ in range(3))


def test_render_failures_count_down() -> None:
    book = FaultBook(load_scenario({"render": {"fail_next": 2}}))
    assert [book.take_render_failure() for _ in range(3)] == [True, True, False]


def test_slow_takes_the_real_backends_durations_and_time_scale_shrinks_them() -> None:
    real = load_scenario({"slow": True})
    assert (real.timing.generate, real.timing.edit, real.timing.render) == (200.0, 40.0, 90.0)
    kept = load_scenario({"slow": True, "timing": {"render": 30}})
    assert kept.timing.render == 30.0 and kept.timing.generate == 200.0
    fast = load_scenario({"slow": True, "time_scale": 0.01})
    assert fast.timing.generate == pytest.approx(2.0) and fast.timing.heartbeat == 0.02


def test_keep_bounds_load_and_time_scale_shrinks_the_idle_limit() -> None:
    s = load_scenario("keep: {session_idle: 600, sessions: 5, uploads: 7}\ntime_scale: 0.5")
    assert (s.keep.session_idle, s.keep.sessions, s.keep.uploads) == (300.0, 5, 7)
