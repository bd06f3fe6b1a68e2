"""Logs: JSON lines in the config folder, and no secret ever reaches them."""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from skill.common.config import Settings
from skill.common.logs import LOG_FILE, configure_logging, redact_secrets
from skill.wire import protocol as p
from skill.wire.attribution import Attribution
from skill.wire.client import NemoClient

TOKEN = "nmv_usr_logtoken0123456789"
TOKEN2 = "nmv_usr_logtoken_renewed42"
CLAIM = "clm_logclaim0123456789"
PLAIN = "c0ffee-opaque-claim"  # a claim token without the clm_ prefix
SECRETS = (TOKEN, TOKEN2, CLAIM, PLAIN, "opaque-bearer-value")


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize(
    "event",
    [
        {"event": "x", "token": "opaque-bearer-value"},
        {"event": "x", "Authorization": "Bearer opaque-bearer-value"},
        {"event": "x", "headers": {"authorization": "Bearer opaque-bearer-value"}},
        {"event": "x", "claim_token": PLAIN, "ct": PLAIN},
        {"event": "x", "access_token": "opaque-bearer-value"},
        {"event": f"got {TOKEN} back"},
        {"event": "x", "url": f"https://nemovideo.com/workspace/claim?ct={PLAIN}&x=1"},
        {"event": "x", "items": [{"nested": {"token": PLAIN}}, (f"Bearer {TOKEN2}",)]},
        {"event": "x", "raw": f"id={CLAIM}".encode()},
        {"event": "x", "obj": Attribution(TOKEN, "1", "x")},
        {"event": "x", "exception": f"Traceback ...\nAPIError: Bearer {TOKEN} rejected"},
    ],
)
def test_redact_secrets_leaves_no_secret(event: dict[str, Any]) -> None:
    out = json.dumps(redact_secrets(None, "info", dict(event)), default=repr)
    assert not [s for s in SECRETS if s in out]
    assert "[redacted]" in out


def test_redact_secrets_keeps_everything_else() -> None:
    event = {"event": "http", "path": "/api/credits", "status": 200, "elapsed_ms": 3, "ok": True}
    assert redact_secrets(None, "info", dict(event)) == event


def backend() -> web.Application:
    """Answers a whole flow; the first credits call says 1001 to force a token renewal."""
    grants = iter([TOKEN, TOKEN2])
    credit_calls = iter([{"code": 1001, "message": f"token {TOKEN} expired"}])

    async def anonymous(request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "data": {"token": next(grants), "credits": 100}})

    async def credits(request: web.Request) -> web.Response:
        default = {"code": 0, "data": {"available": 1, "frozen": 0, "total": 1}}
        return web.json_response(next(credit_calls, default))

    async def claim(request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "data": {"claim_token": PLAIN, "expires_in": 60}})

    async def file(request: web.Request) -> web.Response:
        return web.Response(
            body=b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00MP4", content_type="video/mp4"
        )

    async def render(request: web.Request) -> web.Response:
        message = f"free plan; your Bearer {TOKEN2} cannot export"
        return web.json_response({"code": 402, "message": message}, status=402)

    app = web.Application()
    app.router.add_post(p.ANONYMOUS_TOKEN, anonymous)
    app.router.add_get(p.CREDITS, credits)
    app.router.add_post(p.CLAIM_TOKEN, claim)
    app.router.add_get("/files/out.mp4", file)
    app.router.add_post(p.RENDER, render)
    return app


@pytest.fixture
async def flow(tmp_path: Path) -> AsyncIterator[Any]:
    async with TestServer(backend(), host="127.0.0.1") as server:
        api = str(server.make_url("")).rstrip("/")
        settings = Settings(api, "http://web", tmp_path / "cfg")

        async def run() -> None:
            async with NemoClient(settings, attribution=Attribution("s", "1", "x")) as client:
                await client.credits()
                claim = await client.claim_token("t", "s")
                await client.download(f"{api}/files/out.mp4?ct={claim.token}", tmp_path / "o.mp4")
                with pytest.raises(Exception, match="redacted"):
                    await client.submit_render("r", "s", {})

        yield run


async def test_the_client_logs_no_secret(flow: Any) -> None:
    with capture_logs() as events:
        await flow()
    assert {e["event"] for e in events} >= {"http", "token_acquired", "retry"}
    raw = json.dumps(events, default=repr)
    assert not [s for s in SECRETS if s in raw]  # never logged in the first place
    scrubbed = json.dumps([redact_secrets(None, "info", dict(e)) for e in events], default=repr)
    assert not [s for s in SECRETS if s in scrubbed]


async def test_the_log_file_holds_json_lines_without_secrets(
    flow: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "cfg"
    configure_logging(config)
    await flow()
    path = config / LOG_FILE
    text = path.read_text(encoding="utf-8")
    assert not [s for s in SECRETS if s in text]
    lines = [json.loads(line) for line in text.splitlines()]
    http = [e for e in lines if e["event"] == "http"]
    assert {e["path"] for e in http} >= {p.ANONYMOUS_TOKEN, p.CREDITS, "/files/out.mp4"}
    assert all({"timestamp", "level"} <= set(e) for e in lines)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert capsys.readouterr().err == ""


async def test_verbose_also_writes_to_stderr(
    flow: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(tmp_path / "cfg", verbose=True)
    await flow()
    err = capsys.readouterr().err
    assert '"event": "http"' in err
    assert not [s for s in SECRETS if s in err]
