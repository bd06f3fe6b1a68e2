"""`nemo-video` as agent hosts run it: one process per command, against a stand-in.

`say --json` (and the other --json commands) must print exactly one JSON object on
stdout, whatever happens; exit codes follow the CLI's epilog.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from skill.conversation import templates
from skill.conversation.store import ConversationStore
from skill.doors.cli import EPILOG
from skill.standin import RunningStandin, start_standin
from skill.standin.probe import probe
from skill.standin.render import SAMPLE_PHOTO
from skill.transcripts.format import load
from tests.host_schema import one_object
from tests.procenv import cli_env

WEB = "https://web.example"
FAST = {"timing": {"heartbeat": 0.05, "generate": 0.05, "edit": 0.02, "frame_gap": 0,
                   "render_queue": 0.02}, "silent_edits": 0}  # fmt: skip


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def doc(self) -> dict[str, Any]:
        """The one JSON object stdout must hold, valid against the shipped schema."""
        return one_object(self.stdout)


class Cli:
    """Runs `python -m skill ...` with a config folder of its own."""

    def __init__(self, folder: Path, api_url: str) -> None:
        self.folder = folder
        self.env = cli_env()
        self.env |= {"NEMO_API_URL": api_url, "NEMO_WEB_URL": WEB,
                     "NEMO_CONFIG_DIR": str(folder / "config"),
                     "NEMO_OUTPUT_DIR": str(folder / "out")}  # fmt: skip

    async def __call__(self, *args: str, env: Mapping[str, str] = (), cwd: Path | None = None,
                       stdin: bytes | None = None) -> Run:  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "skill", *args, env=self.env | dict(env),
            cwd=cwd or self.folder, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
        assert proc.returncode is not None
        return Run(proc.returncode, out.decode(), err.decode())

    def store(self, name: str) -> ConversationStore:
        return ConversationStore(self.folder / "config", name)


def t(key: str, lang: str = "en", **ctx: Any) -> str:
    return templates.render(key, lang, **ctx)


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
async def standin(tmp_path: Path) -> AsyncIterator[RunningStandin]:
    scenario = {**FAST, "seed": 3}  # the agent's words for the CLI's one generation
    async with await start_standin(scenario=scenario, data_dir=tmp_path / "standin") as sd:
        yield sd


@pytest.fixture
def cli(tmp_path: Path, standin: RunningStandin) -> Cli:
    return Cli(tmp_path, standin.api_url)


@pytest.fixture
def offline(tmp_path: Path) -> Cli:
    """A CLI whose backend is a closed port: anything that reaches the network fails."""
    return Cli(tmp_path, closed_url())


def balance(standin: RunningStandin, lang: str = "en") -> str:
    (account,) = standin.world.accounts.values()
    return t("turn.credits", lang, available=account.available, frozen=account.frozen,
             total=account.available + account.frozen)  # fmt: skip


# -- help and the command line ----------------------------------------------------------------


async def test_help_documents_every_command_and_the_exit_codes(offline: Cli) -> None:
    run = await offline("--help")
    assert run.code == 0 and run.stderr == ""
    for command in ("say", "chat", "credits", "status", "upload", "export", "new", "classify",
                    "standin"):  # fmt: skip
        assert command in run.stdout
    assert EPILOG.split("exit codes:")[1].strip() in run.stdout


async def test_the_installed_script_starts(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "nemo-video"
    proc = await asyncio.create_subprocess_exec(
        str(script), "--help", stdout=asyncio.subprocess.PIPE, cwd=tmp_path
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and b"nemo-video" in out


async def test_standin_has_its_own_help(offline: Cli) -> None:
    run = await offline("standin", "--help")
    assert run.code == 0 and "--scenario" in run.stdout and "stand-in" in run.stdout


@pytest.mark.parametrize(
    "args", [(), ("say",), ("frobnicate",), ("say", "hi", "--bogus"), ("credits", "extra")],
    ids=["no-command", "say-without-text", "unknown-command", "unknown-option", "extra-arg"],
)  # fmt: skip
async def test_a_bad_command_line_exits_2(offline: Cli, args: tuple[str, ...]) -> None:
    run = await offline(*args)
    assert run.code == 2 and "usage:" in run.stdout + run.stderr


# -- classify: routing without the network ----------------------------------------------------

CLASSIFY = [
    (["export"], "export", "export"),
    (["导出"], "export", "export"),
    (["how many credits do I have?"], "credits", "own-balance-question"),
    (["show tracks"], "state", "state"),
    (["don't export yet"], "chat", "negation"),
    (["add lo-fi music"], "chat", "edit"),
    (["here", "--file", "photo.jpg"], "upload", "upload-file"),
    (["use https://example.com/a.png for a 5s video"], "upload", "upload-media-url"),
]


@pytest.mark.parametrize(("args", "intent", "rule"), CLASSIFY, ids=[c[2] + "-" + c[0][0][:9]
                                                                    for c in CLASSIFY])  # fmt: skip
async def test_classify_prints_the_intent_and_with_debug_the_rule(
    offline: Cli, args: list[str], intent: str, rule: str
) -> None:
    plain = await offline("classify", *args)
    assert (plain.code, plain.stdout, plain.stderr) == (0, intent + "\n", "")
    debug = await offline("classify", *args, "--debug")
    assert debug.stdout == intent + "\n"
    assert f"rule: {rule}\n" in debug.stderr
    if rule == "upload-media-url":
        assert "url: https://example.com/a.png" in debug.stderr
        assert "instruction: use" in debug.stderr and "for a 5s video" in debug.stderr
    assert not (offline.folder / "config").exists()  # no settings, no token, no network


async def test_classify_explain_prints_rule_clause_runner_up_and_typos(offline: Cli) -> None:
    run = await offline("classify", "--explain", "is it finished? then exoprt it")
    assert run.code == 0 and run.stderr == ""
    assert run.stdout.splitlines() == [
        "export",
        "rule: export (in 'export it')",
        "runner-up: question (chat)",
        "clauses: 'is it finished?' | 'export it'",
        "typo: 'exoprt' read as 'export'",
    ]


# -- exit codes and the one JSON object ---------------------------------------------------------


async def test_say_json_is_one_object_with_the_turns_lines(
    cli: Cli, standin: RunningStandin
) -> None:
    run = await cli("say", "credits", "--json")
    assert run.code == 0, run.stderr
    assert run.doc == {"intent": "credits", "outcome": "replied", "replies": [balance(standin)],
                       "files": [], "links": [], "error": None, "next": None}  # fmt: skip


async def test_say_without_json_prints_the_lines(cli: Cli, standin: RunningStandin) -> None:
    run = await cli("say", "积分")
    assert (run.code, run.stdout) == (0, balance(standin, "zh") + "\n")


async def test_exit_1_a_backend_error(tmp_path: Path) -> None:
    async with await start_standin(scenario={**FAST, "starting_credits": 10}) as sd:
        cli = Cli(tmp_path, sd.api_url)
        run = await cli("say", "generate a 2-second video of a cat", "--json")
        client_id = (tmp_path / "config" / "client_id").read_text().strip()
    assert run.code == 1
    line = t("error.out_of_credits", register_url=f"{WEB}/register?bind={client_id}")
    assert run.doc["error"] == {"code": "2001", "message": line}
    assert run.doc["replies"][-1] == line and run.doc["intent"] == "chat"
    assert run.doc["outcome"] == "failed"  # out of credits before any tool ran


async def test_exit_1_an_unreachable_backend(offline: Cli) -> None:
    run = await offline("status", "--json")
    assert run.code == 1
    assert run.doc["error"] == {"code": "network", "message": t("error.transport")}


@pytest.mark.parametrize(
    "args",
    [("say", "use this", "--file", "missing.jpg"), ("upload", "missing.jpg")],
    ids=["say-file", "upload"],
)
async def test_exit_3_unusable_input_before_any_network_call(
    offline: Cli, args: tuple[str, ...]
) -> None:
    run = await offline(*args, "--json")
    line = t("upload.not_found", path="missing.jpg")
    assert run.code == 3
    assert run.doc == {"intent": "upload", "outcome": "failed", "replies": [line], "files": [],
                       "links": [], "error": {"code": "input", "message": line},
                       "next": None}  # fmt: skip
    assert not (offline.folder / "config" / "token.json").exists()


@pytest.mark.parametrize(
    ("command", "env", "conversation"),
    [(("say", "积分"), {"NEMO_API_URL": "ftp://example.com"}, None),
     (("credits",), {"NEMO_CONVERSATION": "not a name"}, None),
     (("export",), {"NEMO_CONVERSATION": "broken"}, "[1, 2"),
     (("say", "积分"), {"NEMO_CONVERSATION": "broken"}, '{"name": "broken", "pending": [1]}'),
     (("upload", str(SAMPLE_PHOTO)), {"NEMO_CONVERSATION": "broken"}, "{")],
    ids=["bad-api-url", "bad-conversation-name", "conversation-not-json",
         "conversation-not-a-conversation", "upload-conversation-not-json"],
)  # fmt: skip
async def test_exit_4_a_configuration_problem_is_still_one_json_object(
    offline: Cli, command: tuple[str, ...], env: dict[str, str], conversation: str | None
) -> None:
    if conversation is not None:
        path = offline.folder / "config" / "conversations" / "broken.json"
        path.parent.mkdir(parents=True)
        path.write_text(conversation)
    run = await offline(*command, "--json", env=env)
    assert run.code == 4, run.stderr
    doc = run.doc
    assert doc["error"]["code"] == "config" and doc["replies"] == [doc["error"]["message"]]
    assert doc["intent"] == {"say": "credits"}.get(command[0], command[0])
    assert "Traceback" not in run.stderr
    if command[0] == "say":
        assert any("\u4e00" <= c <= "\u9fff" for c in doc["replies"][0])  # in the user's language


async def test_new_recovers_from_a_broken_conversation_file(offline: Cli) -> None:
    path = offline.folder / "config" / "conversations" / "broken.json"
    path.parent.mkdir(parents=True)
    path.write_text("[1, 2")
    run = await offline("new", env={"NEMO_CONVERSATION": "broken"})
    assert (run.code, run.stdout) == (0, t("turn.new_project") + "\n"), run.stderr
    assert offline.store("broken").load().session_id is None


# -- each command, end to end ------------------------------------------------------------------


async def test_status_new_and_the_conversation_of_the_working_folder(
    cli: Cli, standin: RunningStandin, tmp_path: Path
) -> None:
    first = await cli("status", "--json")
    assert first.code == 0
    assert first.doc["replies"] == [t("turn.connected"), t("timeline.empty")]
    again = await cli("status", "--json")
    assert again.doc["replies"] == [t("timeline.empty")] and len(standin.world.sessions) == 1

    elsewhere = tmp_path / "another-project"
    elsewhere.mkdir()
    other = await cli("status", "--json", cwd=elsewhere)  # another folder, another project
    assert other.doc["replies"][0] == t("turn.connected") and len(standin.world.sessions) == 2
    named = await cli("--conversation", "named", "status", "--json")
    assert named.doc["replies"][0] == t("turn.connected") and len(standin.world.sessions) == 3

    new = await cli("new")
    assert (new.code, new.stdout) == (0, t("turn.new_project") + "\n")
    fresh = await cli("status", "--json")
    assert fresh.doc["replies"] == [t("turn.connected"), t("timeline.empty")]
    assert len(standin.world.sessions) == 4
    assert len(standin.world.tokens) == 1  # one token for every process


async def test_credits_upload_and_a_real_export(cli: Cli, standin: RunningStandin) -> None:
    credits = await cli("credits", "--json")
    assert credits.doc["intent"] == "credits" and credits.doc["replies"] == [balance(standin)]

    url = f"{standin.cdn_url}/media/sample/{SAMPLE_PHOTO.name}"
    upload = await cli("upload", str(SAMPLE_PHOTO), url, "--json")
    assert upload.code == 0, upload.stderr
    uploaded = t("turn.uploaded", name=SAMPLE_PHOTO.name, count=1)
    assert upload.doc["intent"] == "upload"
    assert upload.doc["replies"][1:] == [uploaded, uploaded, t("turn.uploaded_next")]
    (session,) = standin.world.sessions.values()
    assert len(session.media) == 2

    nothing = await cli("export", "--resume", "--json")
    assert nothing.doc["replies"] == [t("turn.nothing_pending")]

    made = await cli("say", "generate a 2-second video from this photo", "--json")
    assert made.code == 0 and session.turns == 1, made.stdout
    assert made.doc["files"] == []  # (seed 3: the agent does not say "click Export" here)
    export = await cli("export", "--json")
    assert export.code == 0, export.stderr
    doc = export.doc
    assert doc["intent"] == "export" and doc["error"] is None
    (path,) = (Path(f) for f in doc["files"])
    assert path.parent == cli.folder / "out"
    info = probe(path)
    assert info.video_codec == "h264" and info.duration == pytest.approx(2.0, abs=0.2)
    (link,) = doc["links"]
    assert link.startswith(f"{WEB}/workspace/claim?ct=clm_")


# -- say --stdin: the message verbatim, whatever it holds ---------------------------------------

NASTY = (
    'add a title saying "it\'s $(rm -rf ~) and `whoami`" !! $HOME \\n',
    "second line: 🎬✨ 加字幕“你好” 'single' \"double\" \\ backslash",
)


async def test_say_stdin_takes_the_message_verbatim_through_the_heredoc_skill_md_shows(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "was-run"
    message = "\n".join(NASTY) + f" $(touch {marker}) `touch {marker}`"
    record = tmp_path / "t.yaml"
    async with await start_standin(scenario={**FAST, "seed": 3}, data_dir=tmp_path / "sd") as sd:
        cli = Cli(tmp_path, sd.api_url)
        bin_dir = str(Path(sys.executable).parent)
        script = (f"nemo-video say --stdin --json --record {record} <<'NEMO_MESSAGE'\n"
                  f"{message}\nNEMO_MESSAGE\n")  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", script, env=cli.env | {"PATH": bin_dir + os.pathsep + cli.env["PATH"]},
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        doc = one_object(out.decode())
        assert doc["intent"] == "chat" and doc["error"] is None
        (turn,) = load(record).turns  # what the runtime was given, as recorded
        assert turn.text == message.replace(str(tmp_path), "<here>")  # the recorder scrubs it
        assert not marker.exists()  # nothing in the message ran
        plain = await cli("say", "--stdin", "--json", stdin=message.encode())
        assert plain.code == 0 and plain.doc["intent"] == "chat", plain.stderr


async def test_say_stdin_that_is_not_utf8_is_an_input_error(offline: Cli) -> None:
    run = await offline("say", "--stdin", "--json", stdin=b"caf\xe9")
    assert run.code == 3
    assert run.doc["error"] == {"code": "input", "message": t("turn.stdin_not_utf8")}


@pytest.mark.parametrize(
    "args", [("say", "--stdin", "hi"), ("say",)], ids=["both", "neither"]
)  # fmt: skip
async def test_say_needs_text_or_stdin_exactly_once(offline: Cli, args: tuple[str, ...]) -> None:
    run = await offline(*args, "--json")
    assert run.code == 2 and run.doc["error"]["code"] == "usage"
