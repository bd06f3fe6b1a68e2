"""The fault matrix: the real CLI against the stand-in (or a small hostile fake where the
stand-in cannot misbehave that way), one row per fault of the reliability audit.

Each row asserts the exit code, the outcome, the line (its template, rendered), and the
backend's request counts: chat posts and render submits, the paid or costly requests
that must never be sent twice. The closing note of issue 11 holds this table.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from skill.conversation import templates
from skill.standin import start_standin
from skill.wire import protocol as p

from .harness import FAST, FTYP, Project, Run, draft, merged, mp4_renderer

GENERATE = "generate a 5-second video of a beach at sunset"
Ctx = Callable[[Run, Project], dict[str, Any]]


def saved(run: Run, project: Project) -> dict[str, Any]:
    (path,) = [Path(f) for f in run.doc["files"]]
    size = path.stat().st_size
    return {"name": path.name, "folder": str(path.parent), "size_mb": round(size / 1e6, 1)}


def render_name(run: Run, project: Project) -> dict[str, Any]:
    (entry,) = project.store.load().pending  # the render is kept for the next export
    return {"name": Path(entry.dest).name}


ANY_MB = object()  # a size in MB the line holds, whatever its value


def said(key: str, ctx: dict[str, Any], replies: list[str]) -> bool:
    """Whether one reply is the template `key` rendered with `ctx` (ANY_MB: any number)."""
    marked = {k: ("\x00" if v is ANY_MB else v) for k, v in ctx.items()}
    parts = templates.render(key, "en", **marked).split("\x00")
    pattern = re.compile(r"[\d.]+".join(re.escape(part) for part in parts))
    return any(pattern.fullmatch(r) for r in replies)


@dataclass(frozen=True)
class Row:
    id: str
    args: tuple[str, ...]
    code: int
    outcome: str
    key: str | None  # the template of the line asserted; None: the agent's own text
    chat: int  # chat posts the backend received
    submits: int  # render submits the backend received
    scenario: dict[str, Any] = field(default_factory=dict)
    seeded: bool = True  # a session with a ready draft exists (no chat turn first)
    ctx: Ctx | dict[str, Any] = field(default_factory=dict)
    files: int = 0  # MP4s in the output folder afterwards (and never a .part)
    before: tuple[str, ...] = ()  # a command run first (its requests are counted too)


EXPORT = ("export", "--json")
# fmt: off
ROWS = [
    # 1. a finished chat turn is never sent again when the session is lost after the stream
    Row("session-lost-after-stream", ("say", GENERATE, "--json"), 0, "replied", None, 1, 0,
        {"lose_session_after": 2}, seeded=False),
    # the backend *refused* the post (ADK's 404 before any stream): nothing ran, so it is
    # made once more on a new session; the refused one cost nothing
    Row("session-refused-before-stream", ("say", GENERATE, "--json"), 0, "replied", None, 2, 0,
        {"lose_session_after": 1}, seeded=False),
    # 2. a download is checked before it is called a video
    Row("download-html-page", EXPORT, 1, "failed", "export.not_a_video", 0, 1,
        {"render": {"download": "html"}},
        ctx=lambda r, pr: render_name(r, pr) | {"content_type": "text/html"}),
    # 3. a second export of the same draft is not a second render
    Row("export-again-same-draft", EXPORT, 0, "replied", "export.unchanged", 0, 1,
        ctx=saved, files=1, before=EXPORT),
    # 7. lines that say what happened
    Row("retry-after-1s-chat", ("say", GENERATE, "--json"), 1, "failed", "error.rate_limited",
        2, 0, {"faults": [{"endpoint": "chat", "status": 429, "retry_after": 1, "times": 2}]},
        seeded=False, ctx={"waited": 1}),
    Row("retry-after-long", ("credits", "--json"), 1, "failed", "error.rate_limited_later", 0, 0,
        {"faults": [{"endpoint": "credits", "status": 429, "retry_after": 600}]},
        ctx={"minutes": 10}),
    Row("retry-after-then-ok", EXPORT, 0, "replied", "export.done", 0, 2,
        {"faults": [{"endpoint": "render_submit", "status": 429, "retry_after": 0.2}]},
        ctx=saved, files=1),
    Row("download-truncated", EXPORT, 1, "failed", "export.incomplete", 0, 1,
        {"render": {"download": "truncate"}},
        ctx=lambda r, pr: render_name(r, pr) | {"got_mb": ANY_MB, "total_mb": 0.4}),
    Row("download-truncated-once-resumed", EXPORT, 0, "replied", "export.done", 0, 1,
        {"render": {"download": "truncate_once"}}, ctx=saved, files=1),
    Row("render-without-url", EXPORT, 1, "failed", "export.no_file", 0, 1,
        {"render": {"download": "no_url"}}),
    # 8. no private header after a redirect to the download host (checked below)
    Row("redirect-to-cdn", EXPORT, 0, "replied", "export.done", 0, 1,
        {"render": {"download": "redirect"}}, ctx=saved, files=1),
    # 6. --record keeps a delivered export delivered, also with user:password@ in the URL
    Row("record-userinfo-url", ("say", "export", "--json", "--record", "t.yaml"), 0, "replied",
        "export.done", 0, 1, {"render": {"download": "userinfo"}}, ctx=saved, files=1),
    # the audit's passing rows, held
    Row("export-plain", EXPORT, 0, "replied", "export.done", 0, 1, ctx=saved, files=1),
    Row("render-fails-once", EXPORT, 0, "replied", "export.done", 0, 2,
        {"render": {"fail_next": 1}}, ctx=saved, files=1),
    Row("render-fails-twice", EXPORT, 1, "failed", "export.failed", 0, 2,
        {"render": {"fail_next": 2}}),
    Row("export-402-anonymous", EXPORT, 1, "failed", "error.plan_required_anonymous", 0, 1,
        {"faults": [{"endpoint": "render_submit", "status": 402}]},
        ctx={"register_url": "https://web.example/register?bind=cid-project"}),
    Row("out-of-credits", ("say", GENERATE, "--json"), 1, "failed", None, 1, 0,
        {"starting_credits": 10}, seeded=False),
]
# fmt: on


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_fault_matrix(tmp_path: Path, row: Row) -> None:
    scenario = merged(FAST, row.scenario)
    async with await start_standin(
        scenario=scenario, data_dir=tmp_path / "standin", renderer=mp4_renderer()
    ) as standin:
        project = Project(tmp_path / "user", standin.api_url)
        if row.seeded:
            project.seed(standin, draft())
        if row.before:
            assert (await project.run(*row.before)).code == 0
        run = await project.run(*row.args)
        doc = run.doc
        calls = standin.world.calls
        got = (run.code, doc["outcome"], calls["chat"], calls["render_submit"])
        assert got == (row.code, row.outcome, row.chat, row.submits), (doc, run.stderr[-2000:])
        if row.key is not None:
            ctx = row.ctx(run, project) if callable(row.ctx) else row.ctx
            assert said(row.key, ctx, doc["replies"]), doc["replies"]
        elif row.id == "out-of-credits":
            assert "?bind=" in doc["replies"][-1]
        else:
            assert any("(local simulation)" in r for r in doc["replies"]), doc["replies"]
        assert len(project.files("*.mp4")) == row.files
        assert project.files("*.part") == []
        if row.id == "redirect-to-cdn":
            (hop,) = standin.world.cdn_requests
            private = {"authorization", "x-client-id"} | {h.lower() for h in ATTRIBUTION}
            assert not private & {h.lower() for h in hop}, hop
        if row.id == "record-userinfo-url":
            text = (project.folder / "t.yaml").read_text()
            assert "pa55word" not in text and "bmVtbzpwYTU1d29yZA" not in text  # nor in base64
            assert "auth: Basic <basic-credentials-1>" in text
        if row.files:
            (mp4,) = project.files("*.mp4")
            assert mp4.read_bytes()[: len(FTYP)] == FTYP


ATTRIBUTION = ("X-Skill-Source", "X-Skill-Version", "X-Skill-Platform")


# -- where the stand-in cannot misbehave: a small hostile fake ------------------------------


class Hostile:
    """Just enough of the backend to misbehave one way; counts the requests it gets."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.calls: dict[str, int] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(p.CREDITS, self.credits)
        app.router.add_post(p.CREATE_SESSION, self.session)
        app.router.add_get(p.state_path("{sid}"), self.state)
        app.router.add_post(p.RUN_SSE, self.chat)
        return app

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    async def credits(self, _: web.Request) -> web.Response:
        self._count("credits")
        return web.json_response(
            {"code": 0, "data": {"available": None, "frozen": None, "total": None}}
        )

    async def session(self, _: web.Request) -> web.Response:
        return web.json_response({"code": 0, "data": {"task_id": "t1", "session_id": "s1"}})

    async def state(self, _: web.Request) -> web.Response:
        return web.json_response({"code": 0, "data": {"state": {"draft": None}}})

    async def chat(self, _: web.Request) -> web.Response:
        self._count("chat")
        if self.kind == "html-stream":
            return web.Response(text="<html><body>Bad gateway</body></html>",
                                content_type="text/html")  # fmt: skip
        frames = "".join(f"data: {{not json {i}\n\n" for i in range(5))
        return web.Response(text=frames, content_type="text/event-stream")


@pytest.fixture
async def hostile(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Hostile, str]]:
    fake = Hostile(request.param)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


HOSTILE = [
    # 7. null credits are "unknown", never "0 available"
    ("credits-null", ("credits", "--json"), 0, "replied", "turn.credits",
     {"available": None, "frozen": None, "total": None}, {"credits": 1}),
    # 5. (issue 10 decides how a stream ends; asserted here as it landed) an HTML page or only
    # broken frames on /run_sse: failed, safe to retry, and posted once
    ("html-stream", ("say", "add lo-fi music", "--json"), 1, "failed", "chat.no_stream", {},
     {"chat": 1}),
    ("invalid-frames", ("say", "add lo-fi music", "--json"), 1, "failed", "chat.no_stream", {},
     {"chat": 1}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("hostile", "args", "code", "outcome", "key", "ctx", "calls"),
    [(h[0], *h[1:]) for h in HOSTILE],
    ids=[h[0] for h in HOSTILE],
    indirect=["hostile"],
)
async def test_fault_matrix_hostile(
    tmp_path: Path, hostile: tuple[Hostile, str], args: tuple[str, ...], code: int,
    outcome: str, key: str, ctx: dict[str, Any], calls: dict[str, int],
) -> None:  # fmt: skip
    fake, url = hostile
    project = Project(tmp_path, url)
    project.env["NEMO_TOKEN"] = "nmv_usr_hostile0123"
    run = await project.run(*args)
    doc = run.doc
    assert (run.code, doc["outcome"], fake.calls) == (code, outcome, calls), (doc, run.stderr)
    assert templates.render(key, "en", **ctx) in doc["replies"], doc["replies"]
    if key == "turn.credits":
        assert "unknown" in doc["replies"][0] and " 0 " not in doc["replies"][0]
    assert json.dumps(doc)  # one object
