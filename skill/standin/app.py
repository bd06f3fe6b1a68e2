"""The stand-in's two aiohttp apps: the API (every endpoint of the contract) and the CDN.

Every answer carries `X-Request-Id`. The middleware applies the scenario before the
handler (the delay, then an endpoint's fault) and turns a raised `Failure` into its
envelope; routes are named after the scenario's endpoint names. Endpoints here are
the account ones (token, session, credits, state, claim token); the chat stream,
uploads and renders have their own modules.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from skill.wire import protocol as p

from . import chat, renders, uploads
from .agent import Agent
from .context import AGENT, RENDERER, REQUEST_ID, WORLD, Renderer
from .envelope import Failure, ok
from .scenario import Fault
from .store import KINDS, SAMPLE_MEDIA, WEEK, World, extension, safe_name

log = structlog.get_logger("nemo.standin")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_JSON_BODY = 32 * 1024 * 1024
FAULT_MESSAGES = {
    1001: "Token expired or invalid.",
    1002: "Session not found.",
    2001: "Insufficient credits.",
    4001: "Unsupported file type.",
    4002: "File too large.",
    400: "Missing X-Client-Id header.",
    402: "Export is not available on the free plan.",
    429: "Rate limited.",
}


def api_app(world: World, agent: Agent, renderer: Renderer) -> web.Application:
    app = web.Application(middlewares=[_answers], client_max_size=MAX_JSON_BODY)
    app[WORLD], app[AGENT], app[RENDERER] = world, agent, renderer
    r = app.router
    r.add_post(p.ANONYMOUS_TOKEN, anonymous_token, name="anonymous_token")
    r.add_post(p.CREATE_SESSION, create_session, name="create_session")
    r.add_post(p.RUN_SSE, chat.run_sse, name="chat")
    r.add_post(p.upload_path("{sid}"), uploads.upload, name="upload")
    r.add_get(p.CREDITS, credits, name="credits")
    r.add_get(p.state_path("{sid}"), state, name="state")
    r.add_post(p.RENDER, renders.submit, name="render_submit")
    r.add_get(p.render_status_path("{id}"), renders.status, name="render_status")
    r.add_post(p.render_cancel_path("{id}"), renders.cancel, name="render_cancel")
    r.add_get(p.render_download_path("{id}"), renders.download, name="download")
    r.add_post(p.CLAIM_TOKEN, claim_token, name="claim_token")
    r.add_get("/workspace/claim", claim_page)
    return app


def cdn_app(world: World) -> web.Application:
    app = web.Application(middlewares=[_answers])
    app[WORLD] = world
    app.router.add_get("/media/{id}/{name}", media, name="media")
    app.router.add_get("/renders/{name}", renders.cdn_render, name="download")
    return app


@web.middleware
async def _answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = f"req_{uuid.uuid4().hex[:20]}"
    request[REQUEST_ID] = request_id
    world = request.app[WORLD]
    response: web.StreamResponse
    try:
        if world.scenario.delay_ms:
            await asyncio.sleep(world.scenario.delay_ms / 1000)
        route = request.match_info.route.name
        if route:
            world.calls[route] += 1
        fault = world.faults.take(route) if route else None
        if fault is not None:
            raise _failure(fault)
        response = await handler(request)
    except Failure as failure:
        response = failure.response()
    except web.HTTPException as exc:
        response = web.json_response({"code": exc.status, "message": exc.reason}, status=exc.status)
    except Exception as exc:  # a bug in the stand-in: answer like a server would, and log it
        log.exception("standin_error", path=request.path)
        body = {"code": 500, "message": f"The local stand-in failed: {type(exc).__name__}"}
        response = web.json_response(body, status=500)
    if not response.prepared:
        response.headers["X-Request-Id"] = request_id
    return response


def _failure(fault: Fault) -> Failure:
    code = fault.code if fault.code is not None else fault.status
    message = fault.message or FAULT_MESSAGES.get(code or 0, "Simulated server error.")
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    return Failure(
        f"{message} (stand-in scenario)", code=fault.code, status=fault.status, headers=headers
    )


async def anonymous_token(request: web.Request) -> web.Response:
    client_id = request.headers.get("X-Client-Id", "").strip()
    if not client_id:
        raise Failure("Missing X-Client-Id header: send a UUID identifying this client.", code=400)
    token, account = request.app[WORLD].issue_token(client_id, request.remote or "unknown")
    return ok(
        {
            "token": token.value,
            "credits": account.available,
            "expires_in": WEEK,
            "expires_at": int(token.expires_at),
        }
    )


async def create_session(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    account = world.authenticate(request.headers.get("Authorization"))
    body = await _json(request)
    language = body.get("language")
    record = world.new_session(
        account, language if isinstance(language, str) and language else "en"
    )
    return ok({"task_id": record.task_id, "session_id": record.session_id})


async def credits(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    return ok(world.balance(world.authenticate(request.headers.get("Authorization"))))


async def state(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    account = world.authenticate(request.headers.get("Authorization"))
    record = world.session(request.match_info["sid"], account)
    return ok({"session_id": record.session_id, "state": copy.deepcopy(record.state)})


async def claim_token(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    account = world.authenticate(request.headers.get("Authorization"))
    body = await _json(request)
    record = world.session(str(body.get("session_id") or ""), account)
    if body.get("task_id") not in (None, record.task_id):
        raise Failure(f"Task {body.get('task_id')!r} is not this session's task.", code=1002)
    claim = f"clm_{secrets.token_hex(16)}"
    world.claims[claim] = record.session_id
    return ok({"claim_token": claim, "expires_in": WEEK})


async def claim_page(request: web.Request) -> web.Response:
    known = request.query.get("ct", "") in request.app[WORLD].claims
    text = "NemoVideo local stand-in: a simulation on this machine, with no web workspace.\n" + (
        "This claim link is valid: in the cloud it would open your project in the editor.\n"
        if known
        else "This claim link is not known to this stand-in.\n"
    )
    return web.Response(text=text, status=200 if known else 404)


async def media(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    media_id, name = request.match_info["id"], request.match_info["name"]
    if media_id == "sample" and extension(name) in KINDS:
        path = SAMPLE_MEDIA / safe_name(name)
    else:
        item = world.media.get(media_id)
        path = item.path if item is not None else SAMPLE_MEDIA / ".missing"
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path)


async def _json(request: web.Request) -> dict[str, object]:
    if not request.body_exists:
        return {}
    try:
        doc = await request.json()
    except ValueError:
        raise Failure("The body is not valid JSON.", status=400) from None
    return doc if isinstance(doc, dict) else {}
