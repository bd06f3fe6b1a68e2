"""`nemo-video mcp` driven by the MCP SDK's own client, as a subprocess, against the stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from skill.conversation import templates
from skill.conversation.turns_file import FileTurnBook
from skill.standin import RunningStandin, start_standin
from skill.standin.probe import probe
from tests.host_schema import check
from tests.procenv import cli_env

SLOW = {"timing": {"heartbeat": 0.05, "generate": 1.0, "edit": 0.02, "frame_gap": 0.01,
                   "render_queue": 0.02},
        "silent_edits": 1.0, "seed": 3, "starting_credits": 1000}  # fmt: skip
TOOLS = {"send_message", "wait_for_turn", "cancel", "get_credits", "get_timeline", "upload",
         "export", "new_project"}  # fmt: skip
OUTCOMES = ["replied", "edited", "asked", "partial", "refused", "failed", "running"]


def t(key: str, lang: str = "en", **ctx: Any) -> str:
    return templates.render(key, lang, **ctx)


def still_working(line: str) -> bool:
    """A running line (skill/conversation/handoff.py): "⏳ Still working…", "⏳ Rendering…"."""
    return line.startswith("⏳")


class Session:
    """One MCP client session: every call's result and progress messages, in order."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.notes: list[str] = []  # every progress message, all calls
        self.replies: list[str] = []  # every reply line of every result (running lines aside)

    async def call(self, tool: str, **args: Any) -> dict[str, Any]:
        async def progress(_p: float, _total: float | None, message: str | None) -> None:
            assert message
            self.notes.append(message)

        result = await self.client.call_tool(tool, args, progress_callback=progress)
        doc = check(result.structured_content)  # the CLI's contract (skill/schema/turn.json)
        assert set(doc) == {"intent", "outcome", "replies", "files", "links", "error", "next"}
        assert doc["outcome"] in OUTCOMES
        assert result.is_error == (doc["outcome"] == "failed")
        assert doc["next"] == ({"tool": "wait_for_turn"} if doc["outcome"] == "running" else None)
        assert "Traceback" not in str(result.content)
        self.replies += [r for r in doc["replies"] if not still_working(r)]
        return doc

    async def until_done(self, tool: str, **args: Any) -> dict[str, Any]:
        """Call `tool`, then wait_for_turn while the outcome is `running`."""
        doc = await self.call(tool, **args)
        for _ in range(60):
            if doc["outcome"] != "running":
                return doc
            doc = await self.call("wait_for_turn")
        raise AssertionError("still running after 60 waits")


def running(pid: int) -> bool:
    """Alive, and not a zombie its parent (the server) has yet to reap."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def server_env(folder: Path, api_url: str) -> dict[str, str]:
    env = cli_env()
    del env["NEMO_WORKER_LINGER"]  # the server's own default: its workers exit when idle
    return env | {"NEMO_API_URL": api_url, "NEMO_WEB_URL": "https://web.example",
                  "NEMO_CONFIG_DIR": str(folder / "config"),
                  "NEMO_OUTPUT_DIR": str(folder / "out")}  # fmt: skip


@pytest.fixture
async def standin(tmp_path: Path) -> AsyncIterator[RunningStandin]:
    async with await start_standin(scenario=SLOW, data_dir=tmp_path / "standin") as sd:
        yield sd


@contextlib.asynccontextmanager
async def connect(folder: Path, standin: RunningStandin, *extra: str) -> AsyncIterator[Session]:
    """`nemo-video mcp` on stdio, started by the SDK's client (in the test's own task)."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "skill", "mcp", "--wait", "0.5", "--heartbeat", "0.2", *extra],
        env=server_env(folder, standin.api_url), cwd=str(folder),
    )  # fmt: skip
    async with Client(params) as client:
        yield Session(client)


async def test_the_tools_have_typed_schemas_and_one_line_descriptions(
    tmp_path: Path, standin: RunningStandin
) -> None:
    async with connect(tmp_path, standin) as session:
        tools = {tool.name: tool for tool in (await session.client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and "\n" not in tool.description
        assert tool.output_schema is not None
        assert tool.output_schema["properties"]["outcome"]["enum"] == OUTCOMES
    send = tools["send_message"].input_schema
    assert send["required"] == ["text"]
    assert send["properties"]["text"]["type"] == "string"
    assert {"type": "array", "items": {"type": "string"}} in send["properties"]["files"]["anyOf"]
    upload = tools["upload"].input_schema
    assert upload["required"] == ["paths_or_urls"]
    assert upload["properties"]["paths_or_urls"]["minItems"] == 1
    assert {"const": "1080p", "type": "string"} in tools["export"].input_schema["properties"][
        "resolution"]["anyOf"]  # fmt: skip
    assert tools["get_credits"].annotations and tools["get_credits"].annotations.read_only_hint


async def test_a_whole_conversation(tmp_path: Path, standin: RunningStandin) -> None:
    async with connect(tmp_path, standin) as session:
        await conversation(tmp_path, session, standin)
        book = FileTurnBook(tmp_path / "config")
        pids = {t.worker_pid for name in book.names() for t in book.journal(name).read().turns}
        assert pids - {None}
        for _ in range(100):  # idle, the server's workers exit (they would linger 120 s)
            if not any(pid and running(pid) for pid in pids):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"workers {pids} still there")


async def conversation(tmp_path: Path, session: Session, standin: RunningStandin) -> None:
    # generate: slower than the bound, so `running`, then wait_for_turn collects it
    first = await session.call("send_message", text="generate a 2-second video of a beach")
    assert first["outcome"] == "running" and first["next"] == {"tool": "wait_for_turn"}
    made = await session.until_done("wait_for_turn")
    assert made["outcome"] == "replied" and made["intent"] == "chat"
    (world_session,) = standin.world.sessions.values()
    agent = [r for r in session.replies if "(local simulation)" in r]
    assert agent, session.replies
    assert all(session.replies.count(line) == 1 for line in agent)  # the text came once
    # ... and each line was notified, in order, before its result
    notes = "".join(n for n in session.notes if not still_working(n)).replace(" ", "")
    at = [notes.find(r.replace(" ", "")) for r in session.replies]
    assert -1 not in at and at == sorted(at), "\n".join(
        ["REPLIES", *session.replies, "NOTES", *session.notes]
    )
    assert any(still_working(n) for n in session.notes)

    # a silent edit: the runtime says what changed
    edit = await session.until_done("send_message", text='add a title "Hello" at the start')
    assert edit["outcome"] == "edited", edit  # silent: the runtime says what changed
    assert any("Hello" in line for line in edit["replies"]), edit

    timeline = await session.until_done("get_timeline")
    assert timeline["intent"] == "state" and any("Hello" in r for r in timeline["replies"])

    credits = await session.until_done("get_credits")
    (account,) = standin.world.accounts.values()
    assert credits["replies"] == [t("turn.credits", available=account.available,
                                    frozen=account.frozen,
                                    total=account.available + account.frozen)]  # fmt: skip

    exported = await session.until_done("export")
    assert exported["outcome"] == "replied" and exported["error"] is None, exported
    (path,) = (Path(f) for f in exported["files"])
    assert path.parent == tmp_path / "out" and probe(path).video_codec == "h264"

    # an error is a tool result with the user-facing line
    bad = await session.call("upload", paths_or_urls=[str(tmp_path / "missing.jpg")])
    assert bad["outcome"] == "failed" and bad["error"]["code"] == "input"
    assert bad["error"]["message"] in bad["replies"]

    # a slow turn, cancelled: its stream is closed and nothing is left running
    slow = await session.call("send_message", text="generate a 2-second video of a cat")
    assert slow["outcome"] == "running"
    while world_session.turns < 3:  # until the worker has sent it: a running turn, not a queued one
        assert (await session.call("wait_for_turn"))["outcome"] == "running"
    stopped = await session.call("cancel")
    assert t("turns.cancelled") in stopped["replies"], stopped
    after = await session.call("wait_for_turn")
    assert after["replies"] == [t("turns.nothing_running")]
    assert world_session.turns == 3  # one chat submission per message, none re-sent


async def test_a_turn_outlives_the_server(tmp_path: Path, standin: RunningStandin) -> None:
    """The worker owns the turn: a server that exits mid-turn loses nothing; the next one
    (same conversation) collects it, and the message was sent once."""
    args = ("--conversation", "shared")
    async with connect(tmp_path, standin, *args) as first:
        started = await first.call("send_message", text="generate a 2-second video of a fox")
        assert started["outcome"] == "running"
    async with connect(tmp_path, standin, *args) as second:
        done = await second.until_done("wait_for_turn")
    assert done["outcome"] == "replied", done
    lines = first.replies + second.replies
    assert any("fox" in line for line in lines if "(local simulation)" in line), lines
    (world_session,) = standin.world.sessions.values()
    assert world_session.turns == 1


async def test_an_unreadable_journal_is_a_failed_result(
    tmp_path: Path, standin: RunningStandin
) -> None:
    journal = tmp_path / "config" / "turns" / "broken.json"
    journal.parent.mkdir(parents=True)
    journal.write_text("[1, 2")
    async with connect(tmp_path, standin, "--conversation", "broken") as session:
        doc = await session.call("send_message", text="generate a video of a cat")
        credits = await session.call("get_credits")  # not a turn: still answered
    assert doc["outcome"] == "failed" and doc["error"]["code"] == "config", doc
    assert str(journal) in doc["error"]["message"] and doc["replies"] == [doc["error"]["message"]]
    assert credits["outcome"] == "replied"
    assert journal.read_text() == "[1, 2"  # left as it was


async def test_http_serves_the_same_tools(tmp_path: Path, standin: RunningStandin) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "skill", "mcp", "--http", str(port),
        env=server_env(tmp_path, standin.api_url), cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(100):  # until it listens
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            result = await client.call_tool("get_credits", {})
            assert result.structured_content
            assert result.structured_content["intent"] == "credits"
            assert "💳" in result.structured_content["replies"][0]
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.parametrize(
    ("code", "args", "line"),
    [
        ("import sys; sys.modules['mcp'] = None", ["mcp"], t("mcp.not_installed")),
        ("", ["mcp", "--http", "nope"], t("mcp.bad_listen", value="nope")),
    ],
)
def test_mcp_says_what_is_wrong(code: str, args: list[str], line: str) -> None:
    script = f"{code}\nfrom skill.doors.cli import main\nraise SystemExit(main({args!r}))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=60)  # fmt: skip
    assert done.returncode in (2, 4) and done.stderr.strip() == line
    assert done.stdout == ""
