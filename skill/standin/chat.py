"""`POST /run_sse`: the chat stream, as the ADK API server behind the cloud serves it.

Before any stream: the bearer token (code 1001), the body (HTTP 422 with FastAPI's
`detail` list, as ADK answers), the session (HTTP 404 `{"detail":"Session not found:
<sid>"}`), and, with `credits_error: envelope`, the credits (HTTP 200 code 2001). Then
`text/event-stream`: the turn's frames as they come, a heartbeat whenever nothing came
for `timing.heartbeat` seconds, and the stream closed at the end (no `[DONE]`).

With `abort_on_disconnect` (as ADK >= 2.2 does) a client that goes away mid-turn
cancels the agent's run: steps already done stay done, the rest never happens.

Out of credits (default) is a mid-stream error frame with errorCode "2001". Stream
faults from the scenario: drop the connection after K events, stall with heartbeats
only, a malformed or oversized frame, an error frame, a trailing "temporary issue", and
each `ending` of real ADK (turn.py), an HTML page or only broken frames among them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from . import adk
from .context import AGENT, REQUEST_ID, WORLD
from .envelope import Failure
from .scenario import StreamFaults
from .turn import Turn

OUT_OF_CREDITS = "2001"
BAD_GATEWAY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>\n"
)
BROKEN_FRAMES = (b"data: <html>\n\n", b'data: {"content":{"parts":\n\n')


async def run_sse(request: web.Request) -> web.StreamResponse:
    world, agent = request.app[WORLD], request.app[AGENT]
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        # ADK's _OriginCheckMiddleware (google/adk/cli/api_server.py): no Origin passes,
        # a foreign one gets a plain-text 403 before anything runs
        return web.Response(status=403, text="Forbidden: origin not allowed")
    account = world.authenticate(request.headers.get("Authorization"))
    body, problems = await _body(request)
    if problems:
        return web.json_response({"detail": problems}, status=422)
    sid = body["session_id"]
    session = world.find_session(sid, account)
    if session is None:
        return web.json_response({"detail": f"Session not found: {sid}"}, status=404)
    session.turns += 1
    world.submissions.append((sid, body["text"]))
    faults = world.faults.take_stream()
    plan = agent.plan(session, body["text"])
    if faults.trailing_issue:
        plan = agent.with_trailing_issue(plan)
    short = plan.cost > account.available
    message = agent.shortfall(plan, account.available) if short else ""
    if short and world.scenario.credits_error == "envelope":
        raise Failure(message, code=int(OUT_OF_CREDITS))

    if faults.ending == "html":  # a proxy's page instead of the stream; no turn runs
        return web.Response(text=BAD_GATEWAY_PAGE, content_type="text/html")
    scenario = world.scenario
    streaming = body["streaming"] if isinstance(body["streaming"], bool) else scenario.streaming
    maker = adk.EventMaker(version=scenario.adk, streaming=streaming, clock=world.clock)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Request-Id": request[REQUEST_ID],
        }
    )
    await response.prepare(request)
    try:
        if faults.stall:
            await _stall(response, faults, scenario.timing.heartbeat, scenario.timing.stall_max)
        elif faults.ending == "broken_frames":  # no valid event; no turn runs
            for data in BROKEN_FRAMES:
                await response.write(data)
        elif short:
            shape = faults.error_frame or "2.x"
            event = maker.error_event(OUT_OF_CREDITS, message) if shape == "2.x" else None
            for data in adk.error_frames(shape, "InsufficientCredits", message, event):
                await response.write(data)
        else:
            turn = Turn(session, account, plan, maker, faults, scenario.timing)
            task = world.spawn(turn.run())
            try:
                if not await _pump(response, turn.frames, faults, scenario.timing.heartbeat):
                    _drop(request)
                    return response
            except (ConnectionError, asyncio.CancelledError):
                if scenario.abort_on_disconnect:  # ADK >= 2.2 cancels the agent's run
                    task.cancel()
                raise
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away; the turn carries on unless abort_on_disconnect
    return response


async def _pump(
    response: web.StreamResponse,
    frames: asyncio.Queue[bytes | None],
    faults: StreamFaults,
    every: float,
) -> bool:
    """Copy the turn's frames out, heartbeats between; False when the scenario drops it."""
    written = 0
    while True:
        try:
            data = await asyncio.wait_for(frames.get(), every)
        except asyncio.TimeoutError:
            await response.write(adk.heartbeat(faults.heartbeat))
            continue
        if data is None:
            return True
        await response.write(data)
        written += 1
        if faults.drop_after_events is not None and written >= faults.drop_after_events:
            return False


async def _stall(
    response: web.StreamResponse, faults: StreamFaults, every: float, cap: float
) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + cap
    while loop.time() < end:
        await response.write(adk.heartbeat(faults.heartbeat))
        await asyncio.sleep(min(every, max(end - loop.time(), 0)))


def _drop(request: web.Request) -> None:
    """Break the connection mid-body, as a lost network would (no chunked terminator)."""
    if request.transport is not None:
        request.transport.close()


async def _body(request: web.Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The request's fields (snake_case or camelCase), and FastAPI-style problems."""
    try:
        doc = await request.json()
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict):
        return {}, [_problem("model_attributes_type", [], "Input should be a valid dictionary")]
    fields: dict[str, Any] = {}
    problems = []
    for snake, camel in (
        ("app_name", "appName"),
        ("user_id", "userId"),
        ("session_id", "sessionId"),
    ):
        value = doc.get(snake, doc.get(camel))
        if not isinstance(value, str):
            problems.append(_problem("missing", [snake], "Field required"))
        fields[snake] = value
    message = doc.get("new_message", doc.get("newMessage"))
    parts = message.get("parts") if isinstance(message, dict) else None
    texts = [
        p["text"] for p in parts or [] if isinstance(p, dict) and isinstance(p.get("text"), str)
    ]
    if not texts:
        problems.append(_problem("missing", ["new_message", "parts"], "A text part is required"))
    fields["text"] = "\n".join(texts)
    fields["streaming"] = doc.get("streaming")
    return fields, problems


def _problem(kind: str, loc: list[str], msg: str) -> dict[str, Any]:
    return {"type": kind, "loc": ["body", *loc], "msg": msg}
