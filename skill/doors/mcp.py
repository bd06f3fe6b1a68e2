"""`nemo-video mcp`: the skill as an MCP server, on stdio or (--http) streamable HTTP.

Built on the official `mcp` SDK (the `mcp` extra). Every tool returns the object `say
--json` prints — `intent`, `outcome`, `replies`, `files`, `links`, `error`, `next` — as
structured content and as JSON text; a failed one is a tool result with `isError` and the
same user-facing line, never a stack trace. Exported MP4s are returned as paths, never
inlined. While a request waits, what the agent says and "still working" arrive as progress
notifications; past the bound (`--wait`, default 45 s, below the usual 60 s client
timeout) it returns `running` and `wait_for_turn` collects the rest.

Each MCP client session gets its own conversation (`mcp-<id>`: one per stdio process, one
per Mcp-Session-Id over HTTP), or all share the one named by --conversation /
NEMO_CONVERSATION. A conversation's requests run one at a time
(skill/doors/lane.py), on one runtime whose backend connection stays open.
"""

# No `from __future__ import annotations`: the SDK reads the tools' Annotated types.
import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from typing_extensions import TypedDict  # pydantic needs this one below Python 3.12

from skill.common.config import Settings, TokenStore
from skill.conversation import templates
from skill.conversation.runtime import Runtime, TurnOutcome
from skill.conversation.store import ConversationStore
from skill.doors.lane import HEARTBEAT, Lane, LiveOutput
from skill.wire.attribution import load_attribution
from skill.wire.client import NemoClient

DEFAULT_WAIT = 45.0


class TurnError(TypedDict):
    code: str
    message: str


class TurnResult(TypedDict):
    """What every tool returns (the `say --json` object)."""

    intent: str
    outcome: Literal["replied", "edited", "asked", "partial", "refused", "failed", "running"]
    replies: list[str]
    files: list[str]
    links: list[str]
    error: TurnError | None
    next: dict[str, str] | None


Result = Annotated[CallToolResult, TurnResult]
Work = Callable[[Runtime], Awaitable[TurnOutcome]]


class Desk:
    """The server's conversations: one lane (and one backend client) each."""

    def __init__(
        self, settings: Settings, out_dir: Path, *, name: str | None = None,
        wait: float = DEFAULT_WAIT, heartbeat: float = HEARTBEAT,
    ) -> None:  # fmt: skip
        self.settings, self.out_dir, self.name = settings, out_dir, name
        self.wait, self.heartbeat = wait, heartbeat
        self.lanes: dict[str, Lane] = {}
        self.names: dict[str, str] = {}  # client session -> conversation
        self.stack = contextlib.AsyncExitStack()
        self._opening = asyncio.Lock()  # two first requests open one client, not two

    async def lane(self, ctx: Context) -> Lane:
        """The conversation of this client session (opened on first use)."""
        # stdio is one client per process; over HTTP, the Mcp-Session-Id header says which.
        key = (ctx.headers or {}).get("mcp-session-id", "")
        name = self.name or self.names.setdefault(key, f"mcp-{uuid.uuid4().hex[:8]}")
        async with self._opening:
            if name not in self.lanes:
                await self._open(name)
        return self.lanes[name]

    async def _open(self, name: str) -> None:
        client = NemoClient(self.settings, attribution=load_attribution(),
                            token_store=TokenStore(self.settings.config_dir))  # fmt: skip
        await self.stack.enter_async_context(client)
        store = ConversationStore(self.settings.config_dir, name)
        output = LiveOutput()
        rt = Runtime(self.settings, client, store, output, out_dir=self.out_dir)
        self.lanes[name] = output.lane = Lane(rt, heartbeat=self.heartbeat)

    async def run(self, ctx: Context, intent: str, lang: str | None, work: Work | None) -> Result:
        """Queue `work` (None: only collect) and report within the bound."""
        lane = await self.lane(ctx)
        lang = lang or lane.runtime.lang
        sent = 0

        async def notify(message: str) -> None:
            nonlocal sent
            sent += 1
            await ctx.report_progress(sent, None, message)

        if work is not None and lane.submit(intent, lang, work):
            await notify(templates.render("mcp.queued", lang))
        return result(await lane.collect(self.wait, notify))


def result(doc: dict[str, Any]) -> CallToolResult:
    text = json.dumps(doc, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=doc, is_error=doc["outcome"] == "failed")  # fmt: skip


def build(desk: Desk) -> MCPServer[Any]:
    """The server and its tools."""
    server: MCPServer[Any] = MCPServer(
        "nemo-video", instructions=INSTRUCTIONS, log_level="WARNING",
        lifespan=lambda _s: _lifespan(desk),
    )  # fmt: skip
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=True)

    @server.tool(description="Send the user's message about their video (generate, edit, "
                 "add music or titles, export...) verbatim, with any files they gave.")  # fmt: skip
    async def send_message(
        text: Annotated[str, Field(description="the user's message, verbatim")],
        ctx: Context,
        files: Annotated[list[str] | None, Field(description="paths of attached files")] = None,
    ) -> Result:
        lang = templates.detect_language(text) if text.strip() else None
        paths = [Path(f).expanduser() for f in files or []]  # noqa: ASYNC240 - no I/O
        return await desk.run(ctx, "chat", lang, lambda rt: rt.turn(text, paths))

    @server.tool(description="Wait for the request still running (outcome was 'running') "
                 "and return what it said and did.", annotations=read_only)  # fmt: skip
    async def wait_for_turn(ctx: Context) -> Result:
        return await desk.run(ctx, "wait", None, None)

    @server.tool(description="Stop the running request (generation or render) and drop "
                 "waiting ones; says what had been done.")  # fmt: skip
    async def cancel(ctx: Context) -> Result:
        return result(await (await desk.lane(ctx)).cancel())

    @server.tool(description="Show the user's credit balance.", annotations=read_only)
    async def get_credits(ctx: Context) -> Result:
        return await desk.run(ctx, "credits", None, lambda rt: rt.command("credits"))

    @server.tool(description="Show the project's timeline: tracks, clips, music, titles.",
                 annotations=read_only)  # fmt: skip
    async def get_timeline(ctx: Context) -> Result:
        return await desk.run(ctx, "state", None, lambda rt: rt.command("state"))

    @server.tool(description="Upload photos, clips or music (local paths or http(s) URLs) "
                 "to the project.")  # fmt: skip
    async def upload(
        paths_or_urls: Annotated[
            list[str], Field(min_length=1, description="local file paths or http(s) URLs")
        ],
        ctx: Context,
    ) -> Result:
        return await desk.run(ctx, "upload", None, lambda rt: rt.upload(paths_or_urls))

    @server.tool(description="Render the project to an MP4 and save it to disk; returns "
                 "its path.")  # fmt: skip
    async def export(
        ctx: Context,
        resolution: Annotated[
            Literal["1080p"] | None, Field(description="the backend renders 1080p")
        ] = None,
    ) -> Result:
        return await desk.run(ctx, "export", None, lambda rt: rt.command("export"))

    @server.tool(description="Start a new, empty video project (finished exports stay "
                 "on disk).")  # fmt: skip
    async def new_project(ctx: Context) -> Result:
        return await desk.run(ctx, "new", None, _new_project)

    return server


INSTRUCTIONS = (
    "AI video generation and editing with NemoVideo. Pass the user's words to send_message "
    "verbatim and show every line of `replies`; offer `files` (MP4 paths) and `links`. If "
    "`outcome` is `running`, tell the user it is still working and call wait_for_turn until "
    "it is not. Call cancel when the user asks to stop."
)


async def _new_project(rt: Runtime) -> TurnOutcome:
    rt.store.reset()
    rt.out.reply(templates.render("turn.new_project", rt.lang))
    return TurnOutcome("new")


@contextlib.asynccontextmanager
async def _lifespan(desk: Desk) -> AsyncIterator[None]:
    async with desk.stack:
        yield


def parse_listen(value: str) -> tuple[str, int] | None:
    """`--http`: PORT (loopback) or HOST:PORT; None when it is neither."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return (host, int(port)) if port.isdigit() and 0 < int(port) < 65536 else None


def serve(desk: Desk, listen: tuple[str, int] | None) -> None:
    server = build(desk)
    if listen is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host=listen[0], port=listen[1])
