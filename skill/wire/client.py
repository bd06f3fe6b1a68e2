"""The NemoVideo API client: one typed async method per endpoint of the contract.

Requests to the API's own origin carry the attribution headers and `X-Client-Id`,
authenticated ones also `Authorization: Bearer <token>`; a request to another host
(a download) is a plain GET. Redirects (GET only, 5 hops) are followed here, not by
aiohttp, so the headers are chosen again for each hop's host. Answers are unwrapped
from the `{code, message, data}` envelope; an error, whether an HTTP status or a
non-zero `code`, becomes the typed exception `errors.error_for()` picks.

Retries, by cause:

- 429, on any call: wait Retry-After (else `timings.rate_limit_wait`) and retry once;
  a refused request did nothing, so repeating it cannot double anything. A Retry-After
  over four times that wait is not slept through: RateLimited is raised at once. The
  error carries what really happened (`waited` seconds, or the `minutes` asked for).
- 1001, on any authenticated call: re-acquire the anonymous token with the same client
  id and retry once. A rejected NEMO_TOKEN is raised: only its owner can renew it.
- HTTP 400 on anonymous-token: a new client id, retried once.
- A connection that could not be opened: the request never left, so every call retries
  it, with back-off.
- 5xx, timeouts and connections lost after sending: retried with back-off and jitter
  (at most `timings.retry_attempts` attempts) only by calls that change nothing that
  matters twice: credits, state, render status and cancel, download, claim-token.
  Creating calls (token, session, upload, render submit, chat) raise instead: the
  backend may have acted. A chat stream that has begun is never retried.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from skill.common import errors
from skill.common.config import Settings, StoredToken, TokenStore
from skill.common.logs import get_logger
from skill.wire import answers
from skill.wire import protocol as p
from skill.wire.attribution import Attribution, load_attribution
from skill.wire.sse import ServerSentEvent
from skill.wire.stream import read_stream
from skill.wire.transfer import DownloadProgress, UploadProgress, download, multipart_file

log = get_logger("nemo.client")
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_HOPS = 5


class NemoClient:
    def __init__(
        self,
        settings: Settings,
        *,
        attribution: Attribution | None = None,
        token_store: TokenStore | None = None,
        connector: aiohttp.BaseConnector | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._timings = settings.timings
        self._attribution = attribution or load_attribution(
            env={"SKILL_SOURCE": settings.skill_source or ""}
        )
        self._store = token_store or TokenStore(settings.config_dir)
        self._connector = connector
        self._sleep = sleep
        self._api = URL(settings.api_url)
        self._http: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._client_id: str | None = None
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"NemoClient(api={self._api.host})"

    async def __aenter__(self) -> NemoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    @property
    def client_id(self) -> str:
        if self._client_id is None:
            self._client_id = self._settings.client_id()
        return self._client_id

    @property
    def is_anonymous(self) -> bool:
        """True when the token comes from anonymous-token (no NEMO_TOKEN is set)."""
        return not self._settings.env_token

    # -- the token ---------------------------------------------------------------------

    async def ensure_token(self) -> str:
        """NEMO_TOKEN, else the stored token while valid, else a new anonymous token."""
        if self._settings.env_token:
            return self._settings.env_token
        async with self._token_lock:
            if self._token is None:
                try:
                    stored = self._store.load()
                except errors.ConfigError:
                    stored = None  # a damaged cache: fetch a new token and overwrite it
                if stored is not None and stored.valid():
                    self._token = stored.token
                else:
                    self._token = (await self._acquire()).token
            return self._token

    async def _acquire(self) -> p.AnonymousToken:
        try:
            doc = await self._json("POST", p.ANONYMOUS_TOKEN, safe=False, auth=False)
        except errors.MissingClientId:
            self._client_id = self._settings.new_client_id()
            log.info("client_id_replaced")
            doc = await self._json("POST", p.ANONYMOUS_TOKEN, safe=False, auth=False)
        answer = answers.anonymous_token(doc)
        self._store.save(StoredToken(answer.token, answer.expires_at, self.client_id))
        log.info("token_acquired", credits=answer.credits, expires_at=answer.expires_at)
        return answer

    async def _reacquire(self, rejected: str | None, error: errors.TokenExpired) -> None:
        if self._settings.env_token:
            raise errors.TokenExpired(
                "NEMO_TOKEN was rejected as expired or invalid: set a fresh NEMO_TOKEN, "
                "or unset it to use a free starter token",
                status=error.status,
                code=error.code,
                request_id=error.request_id,
                token_source="NEMO_TOKEN",
            ) from None
        async with self._token_lock:
            if self._token == rejected:  # not already renewed by a concurrent call
                self._token = None
                self._store.clear()
                self._token = (await self._acquire()).token

    # -- endpoints ---------------------------------------------------------------------

    async def create_session(self, language: str = "en") -> p.Session:
        body = {"task_name": "project", "language": language}
        return answers.session(await self._json("POST", p.CREATE_SESSION, safe=False, json=body))

    async def chat(self, session_id: str, text: str) -> AsyncIterator[ServerSentEvent]:
        """Send one message and yield the reply's events; never retried once it streams."""
        body = {
            "app_name": p.APP_NAME,
            "user_id": p.USER_ID,
            "session_id": session_id,
            "new_message": {"parts": [{"text": text}]},
        }
        idle = self._timings.stream_idle_timeout
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timings.connect_timeout, sock_read=idle
        )
        accept = {"Accept": "text/event-stream"}
        try:
            resp, doc = await self._send(
                "POST", p.RUN_SSE, safe=False, json=body, timeout=timeout, headers=accept,
                read=False,
            )  # fmt: skip
        except errors.SessionNotFound as exc:  # answered instead of a stream: nothing ran
            raise errors.SessionRefused(
                exc.message, status=exc.status, request_id=exc.request_id
            ) from None
        if doc is not None:
            raise errors.UnexpectedResponse(
                "expected an event stream, got JSON", status=resp.status
            )
        async for event in read_stream(resp, idle):
            yield event

    async def upload_file(
        self, session_id: str, path: Path, progress: UploadProgress | None = None
    ) -> list[p.Upload]:
        """Upload one file, streamed from disk; progress(sent, total) as bytes leave."""
        path = Path(path)
        if not path.is_file():
            raise errors.InputError(f"{path}: no such file", path=str(path))
        doc = await self._json(
            "POST",
            p.upload_path(session_id),
            safe=False,
            body=lambda: multipart_file("files", path, progress),
            timeout=self._long_timeout(),
        )
        return answers.uploads(doc, path.name)

    async def upload_url(self, session_id: str, url: str) -> list[p.Upload]:
        body = {"urls": [url], "source_type": "url"}
        path = p.upload_path(session_id)
        doc = await self._json("POST", path, safe=False, json=body, timeout=self._long_timeout())
        return answers.uploads(doc, url)

    async def credits(self) -> p.Credits:
        return answers.credits(await self._json("GET", p.CREDITS, safe=True))

    async def state(self, session_id: str) -> p.SessionState:
        path = p.state_path(session_id)
        return answers.state(await self._json("GET", path, safe=True), path)

    async def submit_render(
        self, render_id: str, session_id: str, draft: Mapping[str, Any]
    ) -> p.RenderJob:
        body = {
            "id": render_id,
            "sessionId": session_id,  # camelCase on this endpoint (contract)
            "draft": dict(draft),
            "output": dict(p.RENDER_OUTPUT),
        }
        doc = await self._json("POST", p.RENDER, safe=False, json=body)
        return answers.render_job(doc, render_id, default_status=p.RENDER_PENDING)

    async def render_status(self, render_id: str) -> p.RenderJob:
        doc = await self._json("GET", p.render_status_path(render_id), safe=True)
        return answers.render_job(doc, render_id)

    async def cancel_render(self, render_id: str) -> p.RenderJob:
        doc = await self._json("POST", p.render_cancel_path(render_id), safe=True)
        return answers.render_job(doc, render_id, default_status=p.RENDER_CANCELLED)

    async def download(
        self, url: str, dest: Path, progress: DownloadProgress | None = None
    ) -> Path:
        """Fetch `url` (absolute, or a path on the API) into `dest`, verified (see transfer)."""
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self._timings.connect_timeout,
            sock_read=self._timings.request_timeout,
        )
        name = Path(dest).name

        async def open_at(offset: int) -> aiohttp.ClientResponse:
            headers = {"Accept-Encoding": "identity"}  # so Content-Length counts the file's bytes
            if offset:
                headers["Range"] = f"bytes={offset}-"
            resp, doc = await self._send(
                "GET", url, safe=True, timeout=timeout, headers=headers, read=False
            )
            if doc is not None:
                raise errors.NotAVideo("expected a file, got JSON", name=name)
            return resp

        return await download(open_at, Path(dest), progress)

    async def claim_token(self, task_id: str, session_id: str) -> p.ClaimToken:
        body = {"task_id": task_id, "session_id": session_id}
        return answers.claim_token(await self._json("POST", p.CLAIM_TOKEN, safe=True, json=body))

    # -- the HTTP core -----------------------------------------------------------------

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        return (await self._send(method, path, read=True, **kw))[1]

    async def _send(
        self,
        method: str,
        target: str,
        *,
        safe: bool,
        auth: bool = True,
        json: Any = None,
        body: Callable[[], Any] | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
        headers: Mapping[str, str] | None = None,
        read: bool,
    ) -> tuple[aiohttp.ClientResponse, Any]:
        """Send with the retries above; return the response and its JSON body.

        read=True: the body is read, parsed and the response released. read=False: a
        success that is not JSON comes back open and unread (doc None) for the caller to
        stream and release; a JSON answer is read so its envelope code is checked.
        """
        url = self._url(target)
        timeout = timeout or aiohttp.ClientTimeout(
            total=self._timings.request_timeout, sock_connect=self._timings.connect_timeout
        )
        attempt = failures = hops = 0
        waited: float | None = None
        reauthed = False
        while True:
            attempt += 1
            own = url.origin() == self._api.origin()  # again after each redirect
            token = await self.ensure_token() if auth and own else None
            sent_headers = (self._headers(token) if own else {}) | dict(headers or {})
            started = time.monotonic()
            where = {"method": method, "path": url.path, "attempt": attempt}
            if not own:
                where["host"] = url.host or ""
            error: Exception
            try:
                resp = await self._session().request(
                    method,
                    url,
                    json=json,
                    data=body() if body else None,
                    headers=sent_headers,
                    timeout=timeout,
                    allow_redirects=False,  # followed below, so headers are chosen per host
                )
                if resp.status in _REDIRECTS and method == "GET" and hops < _MAX_HOPS:
                    hops += 1
                    resp.release()
                    url = url.join(URL(resp.headers.get("Location", "")))
                    log.info("redirect", **where, status=resp.status, host=url.host or "")
                    continue
                raw = b""
                if read or not resp.ok or resp.content_type == "application/json":
                    try:
                        raw = await resp.read()
                    finally:
                        resp.release()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error = _transport_error(method, url.path, exc)
                # A connection that never opened carried nothing: safe to retry for any call.
                retry = safe or isinstance(exc, aiohttp.ClientConnectorError)
            else:
                rid = resp.headers.get("X-Request-Id") or resp.headers.get("X-Trace-Id")
                log.info(
                    "http", **where, status=resp.status, elapsed_ms=_ms(started), request_id=rid
                )
                doc = answers.parse_json(raw) if raw else None
                body_map = doc if isinstance(doc, Mapping) else None
                retry_after = answers.retry_after(resp.headers.get("Retry-After"))
                api_error = errors.error_for(
                    resp.status, body_map, request_id=rid, retry_after=retry_after, path=url.path
                )
                if api_error is None:
                    if doc is answers.NOT_JSON or (read and doc is None):
                        raise errors.UnexpectedResponse(
                            "the answer is not JSON", status=resp.status, request_id=rid
                        )
                    return resp, doc
                error, retry = api_error, safe and isinstance(api_error, errors.ServerError)
                if isinstance(api_error, errors.RateLimited):
                    wait = self._timings.rate_limit_wait if retry_after is None else retry_after
                    if waited is None and wait <= 4 * self._timings.rate_limit_wait:
                        waited = wait
                        log.info("retry", **where, reason="rate_limited", wait_s=wait)
                        await self._sleep(wait)
                        continue
                    api_error.tell(waited=waited, asked=wait)
                if isinstance(api_error, errors.TokenExpired) and token and not reauthed:
                    reauthed = True
                    log.info("retry", **where, reason="token_expired")
                    await self._reacquire(token, api_error)
                    continue
            failures += 1
            if not retry or failures >= self._timings.retry_attempts:
                raise error
            wait = self._timings.retry_base * 2 ** (failures - 1) * random.uniform(0.5, 1.0)
            log.warning("retry", **where, reason=type(error).__name__, wait_s=round(wait, 3))
            await self._sleep(wait)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:  # no pool cap (aiohttp's is 100): a stream holds one all turn
            pool = self._connector or aiohttp.TCPConnector(limit=0)
            self._http = aiohttp.ClientSession(connector=pool)
        return self._http

    def _url(self, target: str) -> URL:
        if target.startswith("/"):
            return URL(self._settings.api_url + target)
        url = URL(target)
        if url.scheme not in ("http", "https") or not url.host:
            raise errors.InputError(f"not an http(s) URL: {url.with_query(None)}")
        return url

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = self._attribution.headers() | {"X-Client-Id": self.client_id}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _long_timeout(self) -> aiohttp.ClientTimeout:
        t = self._timings
        return aiohttp.ClientTimeout(total=t.upload_timeout, sock_connect=t.connect_timeout)


def _transport_error(method: str, path: str, exc: BaseException) -> errors.TransportError:
    if isinstance(exc, asyncio.TimeoutError):
        return errors.RequestTimeout(f"{method} {path}: no answer in time", path=path)
    return errors.ConnectError(f"{method} {path}: {type(exc).__name__}: {exc}", path=path)


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
