"""Export: render jobs (`/api/render/proxy/lambda`) and their download.

Submitting needs the three attribution headers (without them: HTTP 402, as the cloud
answers a free plan's export), a job `id`, a known `sessionId` and a draft with at
least one segment. Export costs no credits. A job runs in the background: `pending`
for `timing.render_queue` seconds, then `processing` with `progress` (0..1) while the
renderer works, then `completed` with the MP4 on the CDN listener, or `failed` with an
`error` (the renderer raised, or the scenario's `render.fail_next`). Submitting an id
again answers the existing job.

The answer's shape is the seed's: `status`, `progress` and `output.url` at the top
level beside `code` and `message`. With `render.legacy_shape` it is the older
vendor's: `data.status`, `data.progress`, `data.outputUrl`.

`GET /api/render/proxy/<id>/download` (v1.9's fallback) serves the finished file.
Both downloads honour HTTP Range. `render.download` makes them misbehave the ways a
real CDN or proxy does (see scenario.py), and `render.download_rate` slows them down.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from aiohttp import web

from skill.wire import protocol as p

from . import timeline
from .context import RENDERER, WORLD
from .envelope import Failure
from .store import SAMPLE_MEDIA, SAMPLE_MUSIC, RenderJob, World

ATTRIBUTION = ("X-Skill-Source", "X-Skill-Version", "X-Skill-Platform")
log = structlog.get_logger("nemo.standin.render")


async def submit(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    account = world.authenticate(request.headers.get("Authorization"))
    missing = [h for h in ATTRIBUTION if not request.headers.get(h, "").strip()]
    if missing:
        raise Failure(
            f"Export is not available on the free plan for this client (missing "
            f"{', '.join(missing)}).",
            status=402,
        )
    try:
        doc = await request.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise Failure('Send {"id", "sessionId", "draft", "output"} as JSON.', status=400)
    job_id, draft = doc.get("id"), doc.get("draft")
    if not isinstance(job_id, str) or not job_id.strip():
        raise Failure("The render needs an 'id' (e.g. render_<timestamp>).", status=400)
    session = world.session(str(doc.get("sessionId") or ""), account)
    if job_id in world.renders:
        return _answer(world, world.renders[job_id])
    if not isinstance(draft, dict) or not timeline.ready(draft):
        raise Failure("The draft has no segments: generate a video before exporting.", status=400)
    job = RenderJob(job_id, session.session_id, account.client_id, draft)
    world.renders[job_id] = job
    job.task = world.spawn(_run(world, request.app[RENDERER], job))
    return _answer(world, job)


async def status(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    world.authenticate(request.headers.get("Authorization"))
    return _answer(world, _job(world, request.match_info["id"]))


async def cancel(request: web.Request) -> web.Response:
    """v1.9's `POST .../lambda/<id>/cancel`: a job still pending or processing stops;
    a finished one cannot be cancelled (409)."""
    world = request.app[WORLD]
    world.authenticate(request.headers.get("Authorization"))
    job = _job(world, request.match_info["id"])
    if job.status in (p.RENDER_COMPLETED, p.RENDER_FAILED):
        raise Failure(f"Render {job.id} is already {job.status}; it cannot be cancelled.",
                      status=409)  # fmt: skip
    if job.task is not None:
        job.task.cancel()
    job.status = p.RENDER_CANCELLED
    return _answer(world, job)


async def download(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    world.authenticate(request.headers.get("Authorization"))
    job = _job(world, request.match_info["id"])
    if job.status != p.RENDER_COMPLETED or job.path is None:
        raise Failure(f"Render {job.id} is {job.status}, not completed yet.", status=409)
    fault = world.scenario.render.download
    if fault == "no_url":
        raise Failure(f"Render {job.id} has no file (a fault from the scenario).", status=404)
    if fault == "redirect":
        return web.Response(status=302, headers={"Location": _cdn_url(world, job)})
    return await _serve(request, world, job.path)


async def cdn_render(request: web.Request) -> web.StreamResponse:
    """The CDN's copy of a finished render (no token: the URL is the key)."""
    world = request.app[WORLD]
    world.cdn_requests.append(dict(request.headers))
    job = world.renders.get(request.match_info["name"].removesuffix(".mp4"))
    if job is None or job.status != p.RENDER_COMPLETED or job.path is None:
        raise web.HTTPNotFound()
    if world.scenario.render.download == "no_url":
        raise web.HTTPNotFound()
    return await _serve(request, world, job.path)


async def _serve(request: web.Request, world: World, path: Path) -> web.StreamResponse:
    faults = world.scenario.render
    if faults.download == "html":
        page = "<!DOCTYPE html><html><body><h1>Sign in to continue</h1></body></html>"
        return web.Response(text=page, content_type="text/html")
    ranged = "Range" in request.headers
    cut = faults.download == "truncate" or (faults.download == "truncate_once" and not ranged)
    if not cut and not faults.download_rate:
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})
    data = await asyncio.to_thread(path.read_bytes)
    response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
    response.content_length = len(data)  # the whole file's length, also when cut
    await response.prepare(request)
    body = data[: len(data) // 2] if cut else data
    step = 64 * 1024
    for start in range(0, len(body), step):
        await response.write(body[start : start + step])
        if faults.download_rate:
            await asyncio.sleep(step / faults.download_rate)
    if cut and request.transport is not None:
        request.transport.close()  # the connection breaks before Content-Length is reached
    return response


def _cdn_url(world: World, job: RenderJob) -> str:
    url = f"{world.cdn_url}/renders/{quote(job.id, safe='')}.mp4"
    if world.scenario.render.download == "userinfo":
        url = url.replace("://", "://nemo:pa55word@", 1)
    return url


def _job(world: World, job_id: str) -> RenderJob:
    job = world.renders.get(job_id)
    if job is None:
        raise Failure(f"No render job {job_id!r}.", status=404)
    return job


def _answer(world: World, job: RenderJob) -> web.Response:
    no_url = world.scenario.render.download in ("no_url", "redirect")
    url = _cdn_url(world, job) if job.status == p.RENDER_COMPLETED and not no_url else None
    if world.scenario.render.legacy_shape:
        data = {"id": job.id, "status": job.status, "progress": job.progress, "outputUrl": url}
        if job.error:
            data["error"] = job.error
        return web.json_response({"code": 0, "message": "success", "data": data})
    body: dict[str, Any] = {
        "code": 0,
        "message": "success",
        "id": job.id,
        "status": job.status,
        "progress": job.progress,
        "output": {"format": "mp4", "url": url},
    }
    if job.error:
        body["error"] = job.error
    return web.json_response(body)


async def _run(world: World, renderer: Any, job: RenderJob) -> None:
    await asyncio.sleep(world.scenario.timing.render_queue)
    job.status = p.RENDER_PROCESSING
    if world.faults.take_render_failure():
        await asyncio.sleep(world.scenario.timing.render_queue)
        _fail(job, "The render failed (a fault from the stand-in's scenario). Submit it again.")
        return
    steps = 10
    for step in range(steps):  # timing.render: the least a render takes, progress rising
        if world.scenario.timing.render <= 0:
            break
        job.progress = round(0.9 * step / steps, 3)
        await asyncio.sleep(world.scenario.timing.render / steps)
    out = world.data_dir / "renders" / f"{_safe(job.id)}.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)

    floor = job.progress

    def progress(fraction: float) -> None:
        job.progress = round(min(max(fraction, floor), 0.99), 3)

    music = SAMPLE_MEDIA / SAMPLE_MUSIC
    try:
        await renderer(
            job.draft,
            out,
            resolve=world.resolve,
            progress=progress,
            sample_music=music if music.is_file() else None,
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # any renderer failure is the job's failure, reported to the client
        log.warning("render_failed", job=job.id, error=str(exc))
        _fail(job, f"The render failed: {exc}")
        return
    if not out.is_file():
        _fail(job, "The render failed: the renderer wrote no file.")
        return
    job.path, job.progress, job.status = out, 1.0, p.RENDER_COMPLETED


def _fail(job: RenderJob, message: str) -> None:
    job.status, job.error = p.RENDER_FAILED, message


def _safe(job_id: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in job_id)[:100]
