"""Every way a turn ends, against google-adk's real API server, through the real CLI.

Each case scripts the model's answers (agents/nemo_agent/agent.py), starts a project
whose draft holds a 10-second beach video, and runs `nemo-video say ... --json` as a host
would. The outcome, the exit code and the lines must be what the runtime promises: the
state diff whenever the draft changed, never "send it again" after a tool ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from skill.conversation import templates
from tests.host_schema import one_object

NEMO = Path(sys.executable).with_name("nemo-video")
BEACH = {"d": 10000, "t": [{"tt": 0, "m": {"name": "Video"},
                            "sg": [{"s": 0, "d": 10000, "m": {"name": "a beach"}}]}]}  # fmt: skip
MUSIC = {"calls": [{"name": "add_background_music", "args": {"name": "Lo-fi", "volume": 0.3}}]}
TITLE = {"calls": [{"name": "add_text", "args": {"text": "Golden Hour"}}]}
BGM_LINE = "BGM added: Lo-fi (0-10s, 30%)"
RETRY = ("safe to send", "safe to ask", "Say it again")


def t(key: str, **ctx: Any) -> str:
    return templates.render(key, "en", **ctx)


def partial(reason: str, changed: bool = True) -> str:
    return t("chat.partial", reason=t(reason), changed=changed)


@dataclass(frozen=True)
class Case:
    name: str
    steps: list[dict[str, Any]]
    outcome: str
    lines: list[str]  # the lines after "Connected", in order
    code: int = 0
    message: str = "add lo-fi bgm"


CASES = [
    Case("replied", [MUSIC, {"text": "Added lo-fi music at 30%."}], "replied",
         ["Added lo-fi music at 30%."]),
    Case("edited: tool, then MODEL_RETURNED_NO_CONTENT", [MUSIC, {"empty": True}], "edited",
         [BGM_LINE]),
    Case("edited: two tools, then no content", [MUSIC, TITLE, {"empty": True}], "edited",
         [BGM_LINE, 'Title added: "Golden Hour" (0-3s)']),
    Case("asked: a question with choices",
         [{"text": "Which style of music would you like: lo-fi, jazz or ambient?"}], "asked",
         ["Which style of music would you like: lo-fi, jazz or ambient?"]),
    Case("partial: tool, then MAX_TOKENS", [MUSIC, {"finish": "MAX_TOKENS"}], "partial",
         [BGM_LINE, partial("chat.reason_too_long")], 1),
    Case("partial: tool, then MALFORMED_FUNCTION_CALL",
         [MUSIC, {"finish": "MALFORMED_FUNCTION_CALL"}], "partial",
         [BGM_LINE, partial("chat.reason_tool_call")], 1),
    Case("partial: tool, then TOO_MANY_TOOL_CALLS", [MUSIC, {"finish": "TOO_MANY_TOOL_CALLS"}],
         "partial", [BGM_LINE, partial("chat.reason_too_many_tools")], 1),
    Case("partial: tool, then the model raises (errorCode event and echo)",
         [MUSIC, {"raise": "backend overloaded"}], "partial",
         [BGM_LINE, partial("chat.reason_error")], 1),
    Case("partial: a tool raises (a call with no response)",
         [{"calls": [{"name": "broken_tool", "args": {}}]}], "partial",
         [partial("chat.reason_error", changed=False)], 1),
    Case("refused: SAFETY before any tool", [{"finish": "SAFETY"}], "refused",
         [t("error.refused")], 1),
    Case("refused: the prompt blocked (PROHIBITED_CONTENT)", [{"block": "PROHIBITED_CONTENT"}],
         "refused", [t("error.refused")], 1),
    Case("refused: RECITATION", [{"finish": "RECITATION"}], "refused",
         [t("error.refused_recitation")], 1),
    Case("failed: the model raises before any tool", [{"raise": "backend overloaded"}],
         "failed", [t("error.agent")], 1),
    Case("failed: no content before any tool", [{"empty": True}], "failed",
         [t("error.agent")], 1),
    Case("running: a long-running tool", [{"calls": [{"name": "start_render", "args": {}}]}],
         "running", [t("chat.running")]),
    Case("replied: a slow answer (the stream stays open)",
         [{"delay": 1.5, "text": "Sorry for the wait: done."}], "replied",
         ["Sorry for the wait: done."]),
]  # fmt: skip


class Host:
    """Runs the CLI as an agent host does: one process per user message."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.folder = url, folder
        self.env = {
            **os.environ, "NEMO_API_URL": url, "NEMO_CONFIG_DIR": str(folder / "config"),
            "NEMO_OUTPUT_DIR": str(folder / "out"), "SKILL_SOURCE": "contract",
        }  # fmt: skip

    def script(self, steps: list[dict[str, Any]], draft: Any = BEACH) -> None:
        httpx.post(
            f"{self.url}/test/script", json={"steps": steps, "draft": draft}
        ).raise_for_status()

    def say(self, text: str) -> tuple[int, dict[str, Any]]:
        run = subprocess.run(
            [str(NEMO), "say", text, "--json"], cwd=self.folder, env=self.env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return run.returncode, one_object(run.stdout)  # valid against skill/schema/turn.json


@pytest.fixture
def host(adk_url: str, tmp_path: Path) -> Host:
    return Host(adk_url, tmp_path)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_ending_through_the_cli(host: Host, case: Case) -> None:
    host.script(case.steps)
    code, doc = host.say(case.message)
    assert (doc["outcome"], code) == (case.outcome, case.code), doc
    assert doc["replies"] == [t("turn.connected"), *case.lines]
    if case.code:
        assert doc["error"]["message"] == doc["replies"][-1]
    else:
        assert doc["error"] is None
    if case.outcome in ("edited", "partial", "running"):  # tools ran: never re-send
        assert not any(r in line for r in RETRY for line in doc["replies"]), doc


def test_generate_then_a_silent_edit(host: Host) -> None:
    """The issue's scenario: a beach video, then "add lo-fi bgm" answered with no content."""
    host.script(
        [{"calls": [{"name": "generate_video", "args": {"prompt": "a beach", "duration": 10}}]},
         {"text": "Here is your 10-second beach video."}, MUSIC, {"empty": True}],
        draft=None,
    )  # fmt: skip
    code, doc = host.say("generate a 10-second beach video")
    assert (code, doc["outcome"]) == (0, "replied"), doc
    assert "Here is your 10-second beach video." in doc["replies"]
    code, doc = host.say("add lo-fi bgm")
    assert (code, doc["outcome"], doc["replies"]) == (0, "edited", [BGM_LINE]), doc


def test_requests_carry_no_origin_since_adk_refuses_a_foreign_one(host: Host) -> None:
    """Every CLI run above got through ADK's _OriginCheckMiddleware, which lets a request
    without Origin pass and answers a foreign one with a 403 before anything runs."""
    host.script([{"text": "Hi."}])
    sid = httpx.post(f"{host.url}/api/tasks/me/with-session/nemo_agent").json()["data"]
    body = {"app_name": "nemo_agent", "user_id": "me", "session_id": sid["session_id"],
            "new_message": {"parts": [{"text": "hi"}]}}  # fmt: skip
    refused = httpx.post(
        f"{host.url}/run_sse", json=body, headers={"Origin": "https://evil.example"}
    )
    assert (refused.status_code, refused.text) == (403, "Forbidden: origin not allowed")
    code, doc = host.say("hi")
    assert (code, doc["outcome"]) == (0, "replied")
