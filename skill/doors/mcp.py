"""`nemo-video mcp`: the skill as an MCP server, on stdio or (--http) streamable HTTP.

Built on the official `mcp` SDK (the `mcp` extra). Every tool returns the object `say
--json` prints — `intent`, `outcome`, `replies`, `files`, `links`, `error`, `next` — as
structured content and as JSON text; a failed one is a tool result with `isError` and the
same user-facing line, never a stack trace. Exported MP4s are returned as paths, never
inlined. While a request waits, what the agent says and "still working" arrive as progress
notifications; past the bound (`--wait`, default 45 s, below the usual 60 s client
timeout) it returns `running` and `wait_for_turn` collects the rest. What each tool does
is skill/doors/relay.py: turns go to the conversation's worker, as `say` hands them.

Each MCP client session gets its own conversation (`mcp-<id>`: one per stdio process, one
per Mcp-Session-Id over HTTP), or all share the one named by --conversation /
NEMO_CONVERSATION.
"""

# No `from __future__ import annotations`: the SDK reads the tools' Annotated types.
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from typing_extensions import TypedDict  # pydantic needs this one below Python 3.12

from skill.conversation.outcome import TurnOutcome
from skill.conversation.runtime import Runtime
from skill.doors.relay import Conversation, Relay, guarded
from skill.doors.relay import new_project as start_afresh


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
Call = Callable[[Conversation], Awaitable[dict[str, Any]]]

INSTRUCTIONS = (
    "AI video generation and editing with NemoVideo. Pass the user's words to send_message "
    "verbatim and show every line of `replies`; offer `files` (MP4 paths) and `links`. If "
    "`outcome` is `running`, tell the user it is still working and call wait_for_turn until "
    "it is not. Call cancel when the user asks to stop."
)


def result(doc: dict[str, Any]) -> CallToolResult:
    text = json.dumps(doc, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=doc, is_error=doc["outcome"] == "failed")  # fmt: skip


def session_key(ctx: Context) -> str:
    """Which client session asks: one per stdio process; over HTTP, its Mcp-Session-Id."""
    return (ctx.headers or {}).get("mcp-session-id", "")


def notifier(ctx: Context) -> Callable[[str], Awaitable[None]]:
    """Progress notifications for this request (a no-op when the client asked for none)."""
    sent = 0

    async def notify(message: str) -> None:
        nonlocal sent
        if message.strip():
            sent += 1
            await ctx.report_progress(sent, None, message)

    return notify


def build(relay: Relay) -> MCPServer[Any]:
    """The server and its tools."""
    server: MCPServer[Any] = MCPServer(
        "nemo-video", instructions=INSTRUCTIONS, log_level="WARNING",
        lifespan=lambda _s: _lifespan(relay),
    )  # fmt: skip
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=True)

    async def answer(ctx: Context, intent: str, call: Call, text: str = "") -> CallToolResult:
        conv = relay.conversation(session_key(ctx))
        return result(await guarded(intent, relay.language(conv, text), call(conv)))

    @server.tool(description="Send the user's message about their video (generate, edit, "
                 "add music or titles, export...) verbatim, with any files they gave.")  # fmt: skip
    async def send_message(
        text: Annotated[str, Field(description="the user's message, verbatim")],
        ctx: Context,
        files: Annotated[list[str] | None, Field(description="paths of attached files")] = None,
    ) -> Result:
        notify = notifier(ctx)
        return await answer(ctx, "chat", lambda c: relay.say(c, text, files or [], notify), text)

    @server.tool(description="Wait for the request still running (outcome was 'running') "
                 "and return what it said and did.", annotations=read_only)  # fmt: skip
    async def wait_for_turn(ctx: Context) -> Result:
        notify = notifier(ctx)
        return await answer(ctx, "wait", lambda c: relay.collect(c, "wait", notify))

    @server.tool(description="Stop the running request (generation or render) and drop "
                 "waiting ones; says what had been done.")  # fmt: skip
    async def cancel(ctx: Context) -> Result:
        return await answer(ctx, "cancel", relay.cancel)

    @server.tool(description="Show the user's credit balance.", annotations=read_only)
    async def get_credits(ctx: Context) -> Result:
        return await answer(ctx, "credits", lambda c: relay.command(c, credits))

    @server.tool(description="Show the project's timeline: tracks, clips, music, titles.",
                 annotations=read_only)  # fmt: skip
    async def get_timeline(ctx: Context) -> Result:
        return await answer(ctx, "state", lambda c: relay.command(c, timeline))

    @server.tool(description="Upload photos, clips or music (local paths or http(s) URLs) "
                 "to the project.")  # fmt: skip
    async def upload(
        paths_or_urls: Annotated[
            list[str], Field(min_length=1, description="local file paths or http(s) URLs")
        ],
        ctx: Context,
    ) -> Result:
        items = list(paths_or_urls)
        return await answer(ctx, "upload", lambda c: relay.command(c, lambda r: r.upload(items)))

    @server.tool(description="Render the project to an MP4 and save it to disk; returns "
                 "its path.")  # fmt: skip
    async def export(
        ctx: Context,
        resolution: Annotated[
            Literal["1080p"] | None, Field(description="the backend renders 1080p")
        ] = None,
    ) -> Result:
        notify = notifier(ctx)
        return await answer(ctx, "export", lambda c: relay.export(c, notify))

    @server.tool(description="Start a new, empty video project (finished exports stay "
                 "on disk).")  # fmt: skip
    async def new_project(ctx: Context) -> Result:
        return await answer(ctx, "new", lambda c: relay.command(c, start_afresh))

    return server


async def credits(rt: Runtime) -> TurnOutcome:
    return await rt.command("credits")


async def timeline(rt: Runtime) -> TurnOutcome:
    return await rt.command("state")


@contextlib.asynccontextmanager
async def _lifespan(relay: Relay) -> AsyncIterator[None]:
    async with relay.stack:
        yield


def parse_listen(value: str) -> tuple[str, int] | None:
    """`--http`: PORT (loopback) or HOST:PORT; None when it is neither."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return (host, int(port)) if port.isdigit() and 0 < int(port) < 65536 else None


def serve(relay: Relay, listen: tuple[str, int] | None) -> None:
    # A server may hold many conversations and starts no process per call: the workers it
    # starts exit when idle (NEMO_WORKER_LINGER=0) unless the environment says otherwise.
    os.environ.setdefault("NEMO_WORKER_LINGER", "0")
    server = build(relay)
    if listen is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host=listen[0], port=listen[1])
