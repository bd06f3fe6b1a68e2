"""NemoClient against recorded answers (aioresponses) and, for streams, a loopback server."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses
from yarl import URL

from skill.common import errors
from skill.common.config import Settings, StoredToken, Timings, TokenStore
from skill.wire import protocol as p
from skill.wire.attribution import Attribution
from skill.wire.client import NemoClient

API = "https://api.nemo.test"
TOKEN = "nmv_usr_firsttoken0123456789"
TOKEN2 = "nmv_usr_secondtoken987654321"
CLAIM = "clm_claimsecret0123456789"
ATTR = Attribution("ai-video-generator-free-leonardo", "0.1.0", "clawhub")
ATTR_HEADERS = {
    "X-Skill-Source": "ai-video-generator-free-leonardo",
    "X-Skill-Version": "0.1.0",
    "X-Skill-Platform": "clawhub",
}
SID = "sess-1"
MP4 = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00MP4DATA"  # an ftyp box: a file that is a video


def make_settings(config_dir: Path, api: str = API, env_token: str | None = None) -> Settings:
    timings = Timings(retry_attempts=4, stream_idle_timeout=0.3, connect_timeout=2.0)
    return Settings(api, "https://web.nemo.test", config_dir, env_token=env_token, timings=timings)


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "cfg")


@pytest.fixture
async def client(settings: Settings, sleeps: Sleeps) -> AsyncIterator[NemoClient]:
    async with NemoClient(settings, attribution=ATTR, sleep=sleeps) as c:
        yield c


class _Response(aiohttp.ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required `stream_writer` (its issue #289)."""

    def __init__(self, method: str, url: URL, **kw: Any) -> None:
        kw.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kw)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("aioresponses.core.ClientResponse", _Response)
    with aioresponses() as m:
        yield m


def ok(data: Any) -> dict[str, Any]:
    return {"code": 0, "message": "ok", "data": data}


def grant(m: Any, token: str = TOKEN, *, repeat: bool = False, **extra: Any) -> None:
    answer = ok({"token": token, "credits": 100, **extra})
    m.post(API + p.ANONYMOUS_TOKEN, payload=answer, repeat=repeat)


def sent(m: Any, method: str, path: str) -> list[dict[str, Any]]:
    url = URL(path if path.startswith("http") else API + path)
    return [call.kwargs for call in m.requests.get((method, url), [])]


def assert_signed(kwargs: dict[str, Any], token: str = TOKEN) -> None:
    headers = kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {token}"
    assert {k: headers[k] for k in ATTR_HEADERS} == ATTR_HEADERS
    assert headers["X-Client-Id"]


# -- every endpoint, happy path ----------------------------------------------------------


async def test_anonymous_token_is_requested_with_client_id_and_stored(
    client: NemoClient, api: Any, settings: Settings
) -> None:
    grant(api, expires_in=3600)
    assert await client.ensure_token() == TOKEN
    (call,) = sent(api, "POST", p.ANONYMOUS_TOKEN)
    assert call["headers"]["X-Client-Id"] == client.client_id
    assert "Authorization" not in call["headers"]
    assert {k: call["headers"][k] for k in ATTR_HEADERS} == ATTR_HEADERS
    stored = TokenStore(settings.config_dir).load()
    assert stored is not None
    assert (stored.token, stored.client_id) == (TOKEN, client.client_id)
    assert abs(stored.expires_at - (time.time() + 3600)) < 60
    assert client.is_anonymous


async def test_create_session(client: NemoClient, api: Any) -> None:
    grant(api)
    api.post(API + p.CREATE_SESSION, payload=ok({"task_id": "t1", "session_id": SID}))
    assert await client.create_session("zh") == p.Session("t1", SID)
    (call,) = sent(api, "POST", p.CREATE_SESSION)
    assert call["json"] == {"task_name": "project", "language": "zh"}
    assert_signed(call)


async def test_upload_file_sends_a_multipart_files_field(
    client: NemoClient, api: Any, tmp_path: Path
) -> None:
    grant(api)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 1000)
    answer = {"files": [{"name": "clip.mp4", "url": "https://cdn/x.mp4", "media_type": "video"}]}
    api.post(API + p.upload_path(SID), payload=ok(answer))
    (upload,) = await client.upload_file(SID, clip)
    assert (upload.name, upload.url, upload.media_type) == (
        "clip.mp4",
        "https://cdn/x.mp4",
        "video",
    )
    (call,) = sent(api, "POST", p.upload_path(SID))
    assert_signed(call)
    assert isinstance(call["data"], aiohttp.MultipartWriter)
    assert call["data"].size is not None  # sent with a Content-Length, not chunked
    assert 'name="files"' in call["data"]._parts[0][0].headers["Content-Disposition"]


async def test_upload_file_that_does_not_exist_is_an_input_error(
    client: NemoClient, tmp_path: Path
) -> None:
    with pytest.raises(errors.InputError, match="no such file"):
        await client.upload_file(SID, tmp_path / "missing.mp4")


@pytest.mark.parametrize(
    "data",
    [
        [{"url": "https://cdn/a.jpg", "type": "image"}],
        {"uploads": [{"url": "https://cdn/a.jpg", "type": "image"}]},
        {"url": "https://cdn/a.jpg", "type": "image"},
        ["https://cdn/a.jpg"],
        {
            "files": [
                {
                    "filename": "a.jpg",
                    "file_type": "image",
                    "cdn_url": "https://cdn/a.jpg",
                    "duration": 0,
                    "width": 640,
                    "height": 480,
                    "fps": 0,
                    "hash": "ab12",
                }
            ]
        },
        {"success": True, "data": {"files": [{"cdn_url": "https://cdn/a.jpg"}]}},
    ],
    ids=["list", "uploads", "object", "urls", "v1.9-files", "success-envelope"],
)
async def test_upload_url_accepts_every_answer_shape(
    client: NemoClient, api: Any, data: Any
) -> None:
    grant(api)
    body = data if isinstance(data, dict) and "success" in data else ok(data)
    api.post(API + p.upload_path(SID), payload=body)
    (upload,) = await client.upload_url(SID, "https://example.com/a.jpg")
    assert upload.url == "https://cdn/a.jpg"
    assert upload.name in ("https://example.com/a.jpg", "a.jpg")
    (call,) = sent(api, "POST", p.upload_path(SID))
    assert call["json"] == {"urls": ["https://example.com/a.jpg"], "source_type": "url"}
    assert_signed(call)


async def test_credits(client: NemoClient, api: Any) -> None:
    grant(api)
    api.get(API + p.CREDITS, payload=ok({"available": 80, "frozen": 20, "total": 100}))
    assert await client.credits() == p.Credits(80, 20, 100)
    assert_signed(sent(api, "GET", p.CREDITS)[0])


@pytest.mark.parametrize("as_string", [False, True])
async def test_state_reads_the_draft_even_as_a_json_string(
    client: NemoClient, api: Any, as_string: bool
) -> None:
    grant(api)
    draft = {"t": [{"tt": 0, "sg": [{"d": 1000}]}]}
    state = {"draft": json.dumps(draft) if as_string else draft, "video_infos": [{"id": 1}]}
    api.get(API + p.state_path(SID), payload=ok({"state": state}))
    got = await client.state(SID)
    assert got == p.SessionState(draft=draft, video_infos=[{"id": 1}])
    assert_signed(sent(api, "GET", p.state_path(SID))[0])


async def test_submit_render_uses_camel_case_session_id(client: NemoClient, api: Any) -> None:
    grant(api)
    api.post(API + p.RENDER, payload=ok({"id": "render_1", "status": "pending"}))
    job = await client.submit_render("render_1", SID, {"t": []})
    assert (job.id, job.status) == ("render_1", p.RENDER_PENDING)
    (call,) = sent(api, "POST", p.RENDER)
    assert call["json"] == {
        "id": "render_1",
        "sessionId": SID,
        "draft": {"t": []},
        "output": {"format": "mp4", "quality": "high"},
    }
    assert_signed(call)


@pytest.mark.parametrize(
    ("body", "status", "url", "progress"),
    [
        (
            {"status": "completed", "output": {"url": "https://cdn/o.mp4"}},
            "completed",
            "https://cdn/o.mp4",
            None,
        ),
        (ok({"status": "processing", "progress": 40}), "processing", None, 0.4),
        (
            ok({"status": "completed", "outputUrl": "https://cdn/o.mp4"}),
            "completed",
            "https://cdn/o.mp4",
            None,
        ),
        ({"code": 0, "data": {"status": "pending", "percent": 0.25}}, "pending", None, 0.25),
        (ok({"status": "failed", "error": "boom"}), "failed", None, None),
        (  # the third shape (v1.9)
            {
                "taskId": "t-9",
                "status": "completed",
                "progress": 100,
                "output": {"url": "https://cdn/o.mp4", "duration": 10.0, "size": 123},
            },
            "completed",
            "https://cdn/o.mp4",
            1.0,
        ),
        (
            {"success": True, "data": {"status": "processing", "progress": 0.5}},
            "processing",
            None,
            0.5,
        ),
    ],
)
async def test_render_status_accepts_both_shapes(
    client: NemoClient, api: Any, body: Any, status: str, url: str | None, progress: float | None
) -> None:
    grant(api)
    api.get(API + p.render_status_path("render_1"), payload=body)
    job = await client.render_status("render_1")
    assert (job.id, job.status, job.url, job.progress) == ("render_1", status, url, progress)
    assert job.error == ("boom" if status == "failed" else None)
    assert_signed(sent(api, "GET", p.render_status_path("render_1"))[0])


async def test_claim_token(client: NemoClient, api: Any) -> None:
    grant(api)
    api.post(API + p.CLAIM_TOKEN, payload=ok({"claim_token": CLAIM, "expires_in": 604800}))
    claim = await client.claim_token("t1", SID)
    assert (claim.token, claim.expires_in) == (CLAIM, 604800)
    assert CLAIM not in repr(claim)
    (call,) = sent(api, "POST", p.CLAIM_TOKEN)
    assert call["json"] == {"task_id": "t1", "session_id": SID}
    assert_signed(call)


async def test_download_from_the_api_host_is_signed(
    client: NemoClient, api: Any, tmp_path: Path
) -> None:
    grant(api)
    path = p.render_download_path("render_1")
    api.get(API + path, body=MP4, content_type="video/mp4")
    dest = await client.download(path, tmp_path / "out.mp4")
    assert dest.read_bytes() == MP4
    assert_signed(sent(api, "GET", path)[0])


async def test_download_from_another_host_sends_nothing_private(
    client: NemoClient, api: Any, tmp_path: Path
) -> None:
    cdn = "https://cdn.elsewhere.test/o.mp4"
    api.get(cdn, body=MP4, content_type="video/mp4")
    seen: list[tuple[int, int | None]] = []
    dest = await client.download(cdn, tmp_path / "out.mp4", lambda n, t: seen.append((n, t)))
    assert dest.read_bytes() == MP4
    assert seen[-1][0] == len(MP4)
    (call,) = sent(api, "GET", cdn)
    assert set(call["headers"]) == {"Accept-Encoding"}
    assert not sent(api, "POST", p.ANONYMOUS_TOKEN)  # no token was even fetched


async def test_a_redirect_to_another_host_carries_no_private_header(
    client: NemoClient, api: Any, tmp_path: Path
) -> None:
    grant(api)
    path = p.render_download_path("render_1")
    cdn = "https://cdn.elsewhere.test/signed/o.mp4"
    api.get(API + path, status=302, headers={"Location": cdn})
    api.get(cdn, body=MP4, content_type="video/mp4")
    dest = await client.download(path, tmp_path / "out.mp4")
    assert dest.read_bytes() == MP4
    assert_signed(sent(api, "GET", path)[0])
    (hop,) = sent(api, "GET", cdn)
    assert set(hop["headers"]) == {"Accept-Encoding"}  # no X-Client-Id, X-Skill-*, bearer


def test_repr_shows_the_host_only(settings: Settings) -> None:
    assert repr(NemoClient(settings, attribution=ATTR)) == "NemoClient(api=api.nemo.test)"


# -- the error table ----------------------------------------------------------------------

Call = Callable[[NemoClient], Any]
CALLS: dict[str, tuple[str, str, Call]] = {
    "token": ("POST", p.ANONYMOUS_TOKEN, lambda c: c.ensure_token()),
    "credits": ("GET", p.CREDITS, lambda c: c.credits()),
    "state": ("GET", p.state_path(SID), lambda c: c.state(SID)),
    "upload": ("POST", p.upload_path(SID), lambda c: c.upload_url(SID, "https://x/a.png")),
    "render": ("POST", p.RENDER, lambda c: c.submit_render("render_1", SID, {})),
}


@pytest.mark.parametrize(
    ("call", "status", "code", "exc"),
    [
        ("credits", 200, 1001, errors.TokenExpired),
        ("credits", 401, 1001, errors.TokenExpired),
        ("credits", 401, None, errors.TokenExpired),
        ("state", 200, 1002, errors.SessionNotFound),
        ("state", 404, None, errors.SessionNotFound),
        ("credits", 200, 2001, errors.OutOfCredits),
        ("render", 403, 2001, errors.OutOfCredits),
        ("upload", 200, 4001, errors.UnsupportedFileType),
        ("upload", 415, None, errors.UnsupportedFileType),
        ("upload", 200, 4002, errors.FileTooLarge),
        ("upload", 413, None, errors.FileTooLarge),
        ("token", 400, None, errors.MissingClientId),
        ("token", 200, 400, errors.MissingClientId),
        ("render", 402, None, errors.PlanRequired),
        ("render", 200, 402, errors.PlanRequired),
        ("render", 429, None, errors.RateLimited),
        ("credits", 200, 429, errors.RateLimited),
        ("credits", 500, None, errors.ServerError),
        ("render", 503, None, errors.ServerError),
        ("credits", 418, None, errors.UnexpectedResponse),
        ("credits", 200, 9999, errors.UnexpectedResponse),
        ("credits", 200, "2001", errors.OutOfCredits),  # a code sent as a string
    ],
)
async def test_error_table(
    client: NemoClient, api: Any, call: str, status: int, code: int | str | None, exc: type
) -> None:
    method, path, invoke = CALLS[call]
    if call != "token":
        grant(api, repeat=True)
    body = {"code": code, "message": f"denied for Bearer {TOKEN} ({TOKEN})"} if code else None
    api.add(
        API + path,
        method,
        status=status,
        payload=body,
        body="" if body else "<html>oops</html>",
        content_type="application/json" if body else "text/html",
        headers={"X-Request-Id": "req-42", "Retry-After": "1"},
        repeat=True,
    )
    with pytest.raises(exc) as caught:
        await invoke(client)
    err = caught.value
    assert type(err) is exc
    assert (err.status, err.request_id) == (status, "req-42")
    assert err.code == (int(code) if code else (exc.code_value or None))
    assert TOKEN not in str(err)
    assert TOKEN not in repr(err)
    assert TOKEN not in repr(err.__dict__)


async def test_a_non_json_success_is_an_unexpected_response(client: NemoClient, api: Any) -> None:
    grant(api)
    api.get(API + p.CREDITS, body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(errors.UnexpectedResponse, match="not JSON"):
        await client.credits()


async def test_a_success_envelope_saying_false_is_an_error(client: NemoClient, api: Any) -> None:
    grant(api)
    api.get(API + p.CREDITS, payload={"success": False, "message": "quota service down"})
    with pytest.raises(errors.UnexpectedResponse, match="quota service down"):
        await client.credits()


@pytest.mark.parametrize("value", ["x" * 65, "has space", "tab\there"])
def test_a_client_id_the_backend_would_refuse_is_a_config_error(value: str, tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="at most 64"):
        Settings.from_env({"NEMO_CLIENT_ID": value, "NEMO_CONFIG_DIR": str(tmp_path)})


def test_client_ids_fit_the_header_limit(tmp_path: Path) -> None:
    settings = Settings.from_env({"NEMO_CONFIG_DIR": str(tmp_path)})
    (tmp_path / "client_id").write_text("y" * 80 + "\n")  # a persisted id too long to send
    assert len(settings.client_id()) == 36
    assert Settings.from_env({"NEMO_CLIENT_ID": "z" * 64}).client_id() == "z" * 64


# -- retries ------------------------------------------------------------------------------


async def test_429_waits_retry_after_once_then_succeeds(
    client: NemoClient, api: Any, sleeps: Sleeps
) -> None:
    grant(api)
    api.get(API + p.CREDITS, status=429, headers={"Retry-After": "7"})
    api.get(API + p.CREDITS, payload=ok({"available": 1}))
    assert (await client.credits()).available == 1
    assert sleeps == [7.0]


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [(None, 30.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("nonsense", 30.0)],
)
async def test_429_twice_waits_once_then_raises(
    client: NemoClient, api: Any, sleeps: Sleeps, retry_after: str | None, wait: float
) -> None:
    grant(api)
    headers = {"Retry-After": retry_after} if retry_after else {}
    api.post(API + p.RENDER, status=429, headers=headers, repeat=True)
    with pytest.raises(errors.RateLimited):
        await client.submit_render("r", SID, {})
    assert sleeps == [wait]
    assert len(sent(api, "POST", p.RENDER)) == 2


async def test_429_with_a_very_long_retry_after_is_raised_at_once(
    client: NemoClient, api: Any, sleeps: Sleeps
) -> None:
    grant(api)
    api.get(API + p.CREDITS, status=429, headers={"Retry-After": "3600"})
    with pytest.raises(errors.RateLimited) as caught:
        await client.credits()
    assert (caught.value.retry_after, sleeps) == (3600.0, [])


async def test_1001_reacquires_with_the_same_client_id_once(
    client: NemoClient, api: Any, settings: Settings
) -> None:
    grant(api, TOKEN)
    grant(api, TOKEN2)
    api.get(API + p.CREDITS, payload={"code": 1001, "message": "expired"})
    api.get(API + p.CREDITS, payload=ok({"available": 5}))
    assert (await client.credits()).available == 5
    first, second = sent(api, "GET", p.CREDITS)
    assert_signed(first, TOKEN)
    assert_signed(second, TOKEN2)
    ids = {c["headers"]["X-Client-Id"] for c in sent(api, "POST", p.ANONYMOUS_TOKEN)}
    assert ids == {client.client_id}
    assert len(sent(api, "POST", p.ANONYMOUS_TOKEN)) == 2
    stored = TokenStore(settings.config_dir).load()
    assert stored is not None
    assert stored.token == TOKEN2


async def test_1001_again_after_reacquiring_is_raised(client: NemoClient, api: Any) -> None:
    grant(api, repeat=True)
    api.get(API + p.CREDITS, status=401, payload={"code": 1001}, repeat=True)
    with pytest.raises(errors.TokenExpired):
        await client.credits()
    assert len(sent(api, "POST", p.ANONYMOUS_TOKEN)) == 2
    assert len(sent(api, "GET", p.CREDITS)) == 2


async def test_a_rejected_nemo_token_is_not_replaced(
    tmp_path: Path, api: Any, sleeps: Sleeps
) -> None:
    settings = make_settings(tmp_path, env_token=TOKEN)
    api.get(API + p.CREDITS, payload={"code": 1001}, headers={"X-Request-Id": "r9"})
    async with NemoClient(settings, attribution=ATTR, sleep=sleeps) as client:
        assert not client.is_anonymous
        with pytest.raises(errors.TokenExpired, match="NEMO_TOKEN") as caught:
            await client.credits()
    assert (caught.value.request_id, caught.value.details["token_source"]) == ("r9", "NEMO_TOKEN")
    assert_signed(sent(api, "GET", p.CREDITS)[0])
    assert not sent(api, "POST", p.ANONYMOUS_TOKEN)
    assert not (tmp_path / "token.json").exists()


async def test_400_on_anonymous_token_makes_a_new_client_id_once(
    client: NemoClient, api: Any, settings: Settings
) -> None:
    old = client.client_id
    api.post(API + p.ANONYMOUS_TOKEN, status=400, payload={"message": "X-Client-Id required"})
    grant(api)
    assert await client.ensure_token() == TOKEN
    first, second = (c["headers"]["X-Client-Id"] for c in sent(api, "POST", p.ANONYMOUS_TOKEN))
    assert first == old
    assert second == client.client_id != old
    assert (settings.config_dir / "client_id").read_text().strip() == second


async def test_5xx_on_a_read_backs_off_bounded(
    client: NemoClient, api: Any, sleeps: Sleeps
) -> None:
    grant(api)
    api.get(API + p.CREDITS, status=502, repeat=True)
    with pytest.raises(errors.ServerError):
        await client.credits()
    assert len(sent(api, "GET", p.CREDITS)) == 4  # Timings.retry_attempts
    assert len(sleeps) == 3
    for n, wait in enumerate(sleeps):
        assert 0.5 * 0.5 * 2**n <= wait <= 0.5 * 2**n  # retry_base doubling, jitter 50-100%


async def test_5xx_then_success_on_a_read(client: NemoClient, api: Any, sleeps: Sleeps) -> None:
    grant(api)
    api.get(API + p.render_status_path("r"), status=503)
    api.get(API + p.render_status_path("r"), exception=asyncio.TimeoutError())
    api.get(API + p.render_status_path("r"), payload=ok({"status": "completed"}))
    assert (await client.render_status("r")).status == "completed"
    assert len(sleeps) == 2


@pytest.mark.parametrize("failure", ["status", "disconnect", "timeout"])
async def test_creating_posts_are_not_retried_after_sending(
    client: NemoClient, api: Any, sleeps: Sleeps, failure: str
) -> None:
    grant(api)
    if failure == "status":
        api.post(API + p.RENDER, status=500, repeat=True)
    elif failure == "disconnect":
        api.post(API + p.RENDER, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    else:
        api.post(API + p.RENDER, exception=asyncio.TimeoutError(), repeat=True)
    expected = {"status": errors.ServerError, "disconnect": errors.ConnectError}
    with pytest.raises(expected.get(failure, errors.RequestTimeout)):
        await client.submit_render("render_1", SID, {})
    assert len(sent(api, "POST", p.RENDER)) == 1
    assert sleeps == []


async def test_a_refused_connection_is_retried_even_for_a_post(
    tmp_path: Path, sleeps: Sleeps
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(tmp_path, api=f"http://127.0.0.1:{port}", env_token=TOKEN)
    async with NemoClient(settings, attribution=ATTR, sleep=sleeps) as client:
        with pytest.raises(errors.ConnectError) as caught:
            await client.create_session()
    assert len(sleeps) == 3
    assert TOKEN not in str(caught.value)


# -- the token on disk --------------------------------------------------------------------


async def test_the_token_file_is_private_and_reused_by_the_next_client(
    settings: Settings, api: Any
) -> None:
    grant(api)
    api.get(API + p.CREDITS, payload=ok({"available": 1}), repeat=True)
    for _ in range(2):
        async with NemoClient(settings, attribution=ATTR) as client:
            await client.credits()
    assert len(sent(api, "POST", p.ANONYMOUS_TOKEN)) == 1
    path = settings.config_dir / "token.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(f.name for f in settings.config_dir.iterdir()) == ["client_id", "token.json"]


async def test_an_expired_stored_token_is_replaced_with_the_same_client_id(
    settings: Settings, api: Any, sleeps: Sleeps
) -> None:
    cid = settings.client_id()
    TokenStore(settings.config_dir).save(StoredToken(TOKEN, time.time() - 1, cid))
    grant(api, TOKEN2)
    async with NemoClient(settings, attribution=ATTR, sleep=sleeps) as client:
        assert await client.ensure_token() == TOKEN2
    (call,) = sent(api, "POST", p.ANONYMOUS_TOKEN)
    assert call["headers"]["X-Client-Id"] == cid


async def test_a_damaged_token_file_is_replaced(settings: Settings, api: Any) -> None:
    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "token.json").write_text("{not json")
    grant(api)
    async with NemoClient(settings, attribution=ATTR) as client:
        assert await client.ensure_token() == TOKEN


# -- the chat stream (a real loopback server) ---------------------------------------------

FRAMES = [b'data: {"author":"nemo","partial":true}\n\n', b'data: {"n":2}\r\n\r\n']


async def serve(handler: Callable[[web.Request], Any]) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def loopback(tmp_path: Path, sleeps: Sleeps) -> AsyncIterator[Callable[..., Any]]:
    servers: list[TestServer] = []
    clients: list[NemoClient] = []

    async def start(handler: Callable[[web.Request], Any]) -> NemoClient:
        server = await serve(handler)
        servers.append(server)
        settings = make_settings(tmp_path, str(server.make_url("")).rstrip("/"), TOKEN)
        clients.append(NemoClient(settings, attribution=ATTR, sleep=sleeps))
        return clients[-1]

    yield start
    for c in clients:
        await c.close()
    for s in servers:
        await s.close()


def stream_handler(
    seen: list[web.Request], after: str = "close", stopped: asyncio.Event | None = None
) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        assert await request.json() == {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": SID,
            "new_message": {"parts": [{"text": "make a video"}]},
        }
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for frame in FRAMES:
            await resp.write(frame)
        if after == "drop":
            assert request.transport is not None
            request.transport.close()
        elif after == "idle":
            await asyncio.sleep(30)
        elif after == "forever":
            assert stopped is not None
            try:
                while True:  # until the client goes: a failed write, or a cancelled handler
                    await resp.write(b": keep-alive\n\n")
                    await asyncio.sleep(0.01)
            finally:
                stopped.set()
        return resp

    return handler


async def collect(stream: AsyncIterator[Any], into: list[Any]) -> None:
    async for event in stream:
        into.append(event)


async def test_no_pool_cap_keeps_requests_from_waiting_on_others(loopback: Any) -> None:
    """150 calls open at once each get a connection (aiohttp's default cap is 100): every
    answer waits until all have arrived, so with a cap they would all time out."""
    arrived, everyone = [0], asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        arrived[0] += 1
        if arrived[0] == 150:
            everyone.set()
        await everyone.wait()
        return web.json_response(ok({"available": 1, "frozen": 0}))

    client = await loopback(handler)
    got = await asyncio.wait_for(asyncio.gather(*(client.credits() for _ in range(150))), 10)
    assert len(got) == 150


async def test_chat_yields_the_events(loopback: Any) -> None:
    seen: list[web.Request] = []
    client = await loopback(stream_handler(seen))
    events = [e async for e in client.chat(SID, "make a video")]
    assert [e.data for e in events] == ['{"author":"nemo","partial":true}', '{"n":2}']
    (request,) = seen
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert {k: request.headers[k] for k in ATTR_HEADERS} == ATTR_HEADERS


@pytest.mark.parametrize(
    ("after", "exc"), [("drop", errors.StreamDropped), ("idle", errors.StreamIdleTimeout)]
)
async def test_a_broken_stream_raises_after_the_events_and_is_not_resent(
    loopback: Any, after: str, exc: type
) -> None:
    seen: list[web.Request] = []
    client = await loopback(stream_handler(seen, after))
    events: list[Any] = []
    with pytest.raises(exc):
        await collect(client.chat(SID, "make a video"), events)
    assert len(events) == 2
    assert len(seen) == 1


async def test_stopping_early_closes_the_stream(loopback: Any) -> None:
    seen: list[web.Request] = []
    stopped = asyncio.Event()
    client = await loopback(stream_handler(seen, "forever", stopped))
    stream = client.chat(SID, "make a video")
    async for _ in stream:
        break
    await stream.aclose()
    await asyncio.wait_for(stopped.wait(), 10)  # the server saw the connection go


async def test_chat_on_an_unknown_session_is_session_not_found(loopback: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"detail": "Session not found: sess-1"}, status=404)

    client = await loopback(handler)
    with pytest.raises(errors.SessionNotFound, match="Session not found"):
        await collect(client.chat(SID, "make a video"), [])


async def test_chat_reauthenticates_before_the_stream_begins(client: NemoClient, api: Any) -> None:
    grant(api)
    grant(api, TOKEN2)
    api.post(API + p.RUN_SSE, payload={"code": 1001})
    api.post(API + p.RUN_SSE, body=b"data: {}\n\n", content_type="text/event-stream")
    assert [e.data async for e in client.chat(SID, "hi")] == ["{}"]
    assert_signed(sent(api, "POST", p.RUN_SSE)[1], TOKEN2)
