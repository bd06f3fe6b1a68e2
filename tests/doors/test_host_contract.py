"""Every documented case of the host contract through the real CLI (`python -m skill`, one
process per call, as hosts run it), each stdout validated against skill/schema/turn.json:
each intent, each error code with its exit code, usage errors, SIGINT and SIGTERM (state
kept, `next` telling the host what to run), and a bug (in process). The schema's enums
are the table: a value no case produces fails here."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from skill.common import errors
from skill.conversation import contract, intents
from skill.conversation.outcome import EXIT_SIGTERM, exit_code
from skill.doors import cli as cli_module
from skill.standin import RunningStandin, start_standin
from skill.standin.render import SAMPLE_PHOTO
from tests.contract.test_endings import CASES as ENDINGS
from tests.doors.test_cli import FAST, Cli, closed_url, t
from tests.host_schema import check, one_object

SCHEMA = json.loads(contract.SCHEMA.read_text(encoding="utf-8"))
PROPS = SCHEMA["properties"]
CODES = PROPS["error"]["oneOf"][1]["properties"]["code"]["enum"]
GENERATE = ("say", "generate a 2-second video of a beach at sunset")


@dataclass(frozen=True)
class Case:
    id: str
    call: tuple[str, ...]
    intent: str | None
    code: str | None = None
    scenario: Mapping[str, Any] | None = field(default_factory=dict)  # None: no backend
    before: tuple[tuple[str, ...], ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


PHOTO = str(SAMPLE_PHOTO)
CASES = [
    Case("chat", ("say", "add a caption 'Hi' at 1s"), "chat"),
    Case("credits", ("say", "credits"), "credits"),
    Case("state", ("status",), "state"),
    Case("upload", ("say", "here is my photo", "--file", PHOTO), "upload"),
    Case("export", ("say", "export"), "export", before=(GENERATE,)),
    Case("new", ("new",), "new", scenario=None),
    Case("wait", ("wait",), "wait", scenario=None),
    Case("cancel", ("cancel",), "cancel", scenario=None),
    Case("jobs", ("jobs",), "jobs", scenario=None),
    Case("usage-missing-text", ("say",), None, "usage", scenario=None),
    Case("usage-unknown-command", ("frobnicate",), None, "usage", scenario=None),
    Case("usage-unknown-option", ("credits", "--bogus"), None, "usage", scenario=None),
    Case("input", ("say", "use this", "--file", "missing.jpg"), "upload", "input", None),
    Case("config", ("credits",), "credits", "config", None, env={"NEMO_API_URL": "ftp://x"}),
    Case("network", ("status",), "state", "network", None),
    Case("stream", ("say", "add a caption 'Hi' at 1s"), "chat", "stream",
         {"stream": {"error_frame": "2.x"}}),
    Case("render", ("export",), "export", "render", {"render": {"fail_next": 2}},
         before=(GENERATE,)),
    Case("download", ("export",), "export", "download",
         {"faults": [{"endpoint": "download", "status": 200, "code": 0, "times": 9}]},
         before=(GENERATE,)),
    Case("1001", ("credits",), "credits", "1001", env={"NEMO_TOKEN": "nmv_not_a_real_token"}),
    Case("1002", ("say", "show tracks"), "state", "1002", {"lose_session_after": 0, "faults": [
        {"endpoint": "create_session", "after": 1, "code": 1002}]}),
    Case("2001", GENERATE, "chat", "2001", {"starting_credits": 10}),
    Case("4001", ("upload", "{cdn}/files/notes"), "upload", "4001"),
    Case("4002", ("say", "上传这张照片", "--file", PHOTO), "upload", "4002",
         {"faults": [{"endpoint": "upload", "code": 4002}]}),
    Case("400", ("credits",), "credits", "400",
         {"faults": [{"endpoint": "anonymous_token", "status": 400, "times": 2}]}),
    Case("402", ("export",), "export", "402",
         {"faults": [{"endpoint": "render_submit", "status": 402}]}, before=(GENERATE,)),
    Case("429", ("credits",), "credits", "429",
         {"faults": [{"endpoint": "credits", "status": 429, "times": 2, "retry_after": 0.01}]}),
    Case("server", ("credits",), "credits", "server",
         {"faults": [{"endpoint": "credits", "status": 503, "times": 9}]}),
    Case("unexpected", ("credits",), "credits", "unexpected",
         {"faults": [{"endpoint": "credits", "status": 418}]}),
]  # fmt: skip
SEEN: dict[str, set[Any]] = {"intent": set(), "outcome": set(), "code": set()}


def _saw(doc: dict[str, Any]) -> None:
    SEEN["intent"].add(doc["intent"])
    SEEN["outcome"].add(doc["outcome"])
    SEEN["code"].add(doc["error"] and doc["error"]["code"])


async def _on(case: Case, tmp_path: Path) -> tuple[Cli, RunningStandin | None]:
    if case.scenario is None:
        return Cli(tmp_path, closed_url()), None
    scenario = {**FAST, "seed": 3, **case.scenario}
    sd = await start_standin(scenario=scenario, data_dir=tmp_path / "standin")
    return Cli(tmp_path, sd.api_url), sd


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_each_documented_case_prints_one_valid_object(case: Case, tmp_path: Path) -> None:
    cli, sd = await _on(case, tmp_path)
    try:
        for call in case.before:
            assert (await cli(*call, "--json")).code == 0
        cdn = sd.cdn_url if sd else ""
        run = await cli(*(a.format(cdn=cdn) for a in case.call), "--json", env=case.env)
    finally:
        if sd is not None:
            await sd.close()
    doc = run.doc
    _saw(doc)
    assert doc["intent"] == case.intent, doc
    assert (doc["error"] and doc["error"]["code"]) == case.code, doc
    assert run.code == exit_code(case.code), (run.code, run.stderr)
    assert doc["outcome"] == ("failed" if case.code else "replied")
    assert "Traceback" not in run.stderr
    if case.code == "usage":
        assert "usage:" in run.stderr  # argparse's own text is still there for people
    if case.id == "export":
        (path,) = doc["files"]
        (link,) = doc["links"]
        assert doc["replies"][-1] == t("export.link", url=link)
        assert Path(path).is_file()  # noqa: ASYNC240
    if case.code == "2001":
        (link,) = doc["links"]
        assert "/register?bind=" in link and link in doc["replies"][-1]
    if case.code == "1001":
        assert doc["replies"][-1] == t("error.token_expired", token_source="NEMO_TOKEN")
        assert "NEMO_TOKEN" in doc["replies"][-1] and "Unset" in doc["replies"][-1]


def _default_sigint() -> None:
    # A suite started in the background by a shell without job control inherits SIGINT
    # ignored, and so would the CLI (Python keeps an ignored SIGINT ignored): as a terminal's
    # Ctrl-C would find it, the CLI starts with the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _started(cli: Cli, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "skill", *args, env=cli.env, cwd=cli.folder,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=_default_sigint,
    )  # fmt: skip


async def _until(condition: Any, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


async def test_sigint_during_a_render_keeps_it_and_next_collects_it(tmp_path: Path) -> None:
    scenario = {**FAST, "seed": 3, "timing": {**FAST["timing"], "render_queue": 1.5}}
    async with await start_standin(scenario=scenario, data_dir=tmp_path / "sd") as sd:
        cli = Cli(tmp_path, sd.api_url)
        assert (await cli(*GENERATE, "--json")).code == 0
        proc = await _started(cli, "export", "--json")
        (name,) = (p.stem for p in (tmp_path / "config" / "conversations").glob("*.json"))
        store = cli.store(name)
        await _until(lambda: any(r.status == "submitted" for r in store.load().pending))
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        doc = one_object(out.decode())
        _saw(doc)
        assert proc.returncode == 130, (doc, err.decode())
        assert doc["error"]["code"] == "interrupted" and doc["intent"] == "export"
        assert doc["next"] == {"command": contract.RESUME}
        assert doc["replies"] == [t("error.interrupted", pending=True)]
        assert store.load().pending  # still there after the process ended
        collected = await cli(*contract.RESUME.split()[1:])
        assert collected.code == 0 and collected.doc["next"] is None
        (path,) = collected.doc["files"]
        assert Path(path).is_file()  # noqa: ASYNC240
        assert len(sd.world.renders) == 1  # collected, not rendered again


async def test_sigterm_during_a_chat_turn_is_one_object_exit_143(tmp_path: Path) -> None:
    scenario = {**FAST, "seed": 3, "timing": {**FAST["timing"], "generate": 30}}
    async with await start_standin(scenario=scenario, data_dir=tmp_path / "sd") as sd:
        cli = Cli(tmp_path, sd.api_url)
        proc = await _started(cli, *GENERATE, "--json")
        await _until(lambda: any(s.turns for s in sd.world.sessions.values()))
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    doc = one_object(out.decode())
    _saw(doc)
    assert proc.returncode == EXIT_SIGTERM, err.decode()
    assert doc["error"]["code"] == "interrupted" and doc["intent"] == "chat"
    assert doc["next"] is None and doc["replies"] == [t("error.interrupted", pending=False)]


def test_a_bug_is_one_object_exit_70_with_the_traceback_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setenv("NEMO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("NEMO_API_URL", closed_url())
    monkeypatch.setattr("skill.conversation.runtime.Runtime.command", broken)
    code = cli_module.main(["credits", "--json"])
    out, err = capsys.readouterr()
    doc = one_object(out)
    _saw(doc)
    assert code == 70 and doc["error"]["code"] == "internal" and doc["intent"] == "credits"
    assert doc["replies"] == [t("error.internal")]
    assert "ZeroDivisionError: a bug" in err and "Traceback" in err


def test_the_cases_cover_every_value_the_schema_lists() -> None:
    """Runs last in this file (pytest keeps file order): what the cases above produced, with
    the chat endings only a real ADK server produces (tests/contract/test_endings.py drives
    them through the same CLI and validates each object against the same schema)."""
    assert SEEN["intent"] == set(PROPS["intent"]["enum"])
    endings = {c.outcome for c in ENDINGS}
    assert SEEN["outcome"] | endings == set(PROPS["outcome"]["enum"])
    # a refusal's code is `refused`, a partial turn's `partial` (or the error that cut it)
    assert {"refused", "partial"} <= endings
    assert SEEN["code"] | {"refused", "partial"} == {*CODES, None}


# -- the schema and the code agree -------------------------------------------------------------


def _classes(cls: type[errors.NemoError]) -> list[type[errors.NemoError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _classes(sub))]


def test_every_error_kind_is_in_the_schema_and_has_an_exit_code_in_the_help() -> None:
    kinds = {c.kind for c in _classes(errors.NemoError)}
    assert kinds <= set(CODES)
    # raised by no exception: the door's (usage, interrupted), the runtime's (partial)
    assert set(CODES) - kinds == {"usage", "interrupted", "partial"}
    for code in CODES:
        assert f" {exit_code(code)} " in cli_module.EPILOG.replace("\n", " ")


def test_every_intent_is_in_the_schema() -> None:
    commands = {"new", "wait", "cancel", "jobs"}  # not routed: the command names itself
    assert {*intents.INTENTS, *commands, None} == set(PROPS["intent"]["enum"])


def test_the_outcomes_are_the_agreed_ones() -> None:
    agreed = ["replied", "edited", "asked", "partial", "refused", "failed", "running"]
    assert PROPS["outcome"]["enum"] == agreed


def test_a_made_up_value_does_not_validate() -> None:
    good = contract.failure(None, "usage", "x")
    check(good)
    for key, value in (("intent", "resume"), ("outcome", "done"), ("next", {"command": "rm"})):
        with pytest.raises(AssertionError):
            check({**good, key: value})
    with pytest.raises(AssertionError):
        check({**good, "error": {"code": "error", "message": "x"}})
    with pytest.raises(AssertionError):  # the error line must be one of the replies
        check({**good, "replies": ["something else"]})


def test_schema_prints_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_module.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == SCHEMA
    assert contract.SCHEMA.is_relative_to(Path(cli_module.__file__).parents[1])  # in the wheel
