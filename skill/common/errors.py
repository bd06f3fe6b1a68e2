"""Every exception the runtime raises, in one tree.

    NemoError                      base of everything below
    ├── ConfigError                bad environment, config file, YAML or JSON (names file, key)
    ├── InputError                 a user mistake we can explain: bad path, type, size, text
    ├── TransportError             the backend could not be reached or stopped answering
    │   ├── ConnectError           connection refused / reset / DNS
    │   └── RequestTimeout         a call took longer than its timeout
    │       └── StreamIdleTimeout  the chat stream sent nothing (not even a heartbeat) for too long
    ├── StreamError                the chat stream broke after it had begun
    │   ├── EventTooLarge          one SSE event is over the size cap
    │   ├── StreamDropped          the connection closed mid-turn (never re-send: recover by state)
    │   ├── HeartbeatTimeout       only heartbeats for too long (10 minutes by default)
    │   ├── TurnTimeout            the turn hit its hard cap (15 minutes by default)
    │   └── AgentError             the agent sent an error frame (either ADK shape)
    │       └── Refused            a content filter stopped it before any tool ran
    ├── RenderError                a render job ended badly
    │   ├── RenderFailed           the backend reported the job as failed
    │   ├── RenderLost             the backend no longer knows a render it had accepted
    │   ├── RenderDeadline         the render outlived render_deadline (it keeps going, kept)
    │   └── RenderWithoutFile      the job completed but no download gives its file
    ├── DownloadError              the rendered file could not be fetched whole (render kept)
    │   ├── NotAVideo              the answer was not the video: a web page, JSON, wrong signature
    │   └── DownloadIncomplete     the body ended short of its length, even after one resume
    └── APIError                   the backend answered with an error (HTTP status and/or body code)
        ├── TokenExpired           code 1001
        ├── SessionNotFound        code 1002, or ADK's HTTP 404 on /run_sse
        │   └── SessionRefused     a chat post answered so, before any stream: nothing ran
        ├── OutOfCredits           code 2001
        ├── UnsupportedFileType    code 4001
        ├── FileTooLarge           code 4002 (or HTTP 413)
        ├── MissingClientId        HTTP 400 on the anonymous-token call
        ├── PlanRequired           HTTP 402: free plan export blocked (not a credits matter)
        ├── RateLimited            HTTP 429; carries retry_after seconds
        ├── ServerError            HTTP 5xx
        └── UnexpectedResponse     anything else: a status or body we do not know

`error_for()` is the one place that picks an APIError class from a response.
No exception ever carries a token: messages are built from codes, paths and the
backend's own message, and `redact()` scrubs anything that looks like one.
Each class has a `key` naming its user-facing message in `prompts/` (an instance may
name a finer one); `details` are the template's variables. Its `kind` is the
`error.code` a `--json` object reports (the enum in skill/schema/turn.json). `message`
is for logs and developers; what the user reads is always rendered from the template.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar

_SECRET = re.compile(r"\b(nmv_[A-Za-z0-9_\-]{4,}|clm_[A-Za-z0-9_\-]{4,})|(Bearer\s+)\S+")


def redact(text: str) -> str:
    """Replace anything shaped like a token, claim token or bearer credential."""
    return _SECRET.sub(lambda m: (m.group(2) or "") + "[redacted]", text)


class NemoError(Exception):
    """Base of every runtime error. `key` names the message template in prompts/."""

    key: str = "error.generic"
    kind: str = "internal"  # error.code in --json (skill/schema/turn.json)

    def __init__(self, message: str = "", *, key: str | None = None, **details: Any) -> None:
        self.message = redact(message or self.__class__.__doc__ or self.__class__.__name__)
        if key is not None:
            self.key = key  # a finer template than the class's, e.g. "upload.not_found"
        self.details = {k: v for k, v in details.items() if v is not None}
        super().__init__(self.message)


class ConfigError(NemoError):
    """The configuration or a data file is invalid."""

    key, kind = "error.config", "config"


class InputError(NemoError):
    """The user's input cannot be used as given."""

    key, kind = "error.input", "input"


class TransportError(NemoError):
    """The backend could not be reached."""

    key, kind = "error.transport", "network"


class ConnectError(TransportError):
    """The connection to the backend failed."""


class RequestTimeout(TransportError):
    """The backend did not answer in time."""

    key = "error.timeout"


class StreamIdleTimeout(RequestTimeout):
    """The chat stream sent nothing for too long."""


class StreamError(NemoError):
    """The chat stream broke after it had begun."""

    key, kind = "error.stream", "stream"


class EventTooLarge(StreamError):
    """One server-sent event exceeded the size cap."""


class StreamDropped(StreamError):
    """The chat stream closed before the turn ended."""

    key = "error.stream_dropped"


class HeartbeatTimeout(StreamError):
    """The backend sent only heartbeats for too long."""

    key = "error.heartbeat_timeout"


class TurnTimeout(StreamError):
    """The turn exceeded its hard time cap."""

    key = "error.turn_timeout"


class AgentError(StreamError):
    """The agent reported an error in the stream."""

    key = "error.agent"


class Refused(AgentError):
    """A content filter (SAFETY, RECITATION, ...) stopped the agent before it did anything."""

    key, kind = "error.refused", "refused"


class RenderError(NemoError):
    """A render job ended badly."""

    key, kind = "error.render", "render"


class RenderFailed(RenderError):
    """The backend reported the render job as failed."""


class RenderLost(RenderError):
    """The backend no longer knows a render it had accepted."""

    key = "export.lost"


class RenderDeadline(RenderError):
    """The render outlived `render_deadline`; it keeps going and stays pending."""

    key = "export.deadline"


class RenderWithoutFile(RenderError):
    """The render completed on the server, but neither its URL nor the fallback gave a file."""

    key = "export.no_file"


class DownloadError(NemoError):
    """The rendered file could not be fetched whole; the render stays collectable."""

    key, kind = "export.download_failed", "download"


class NotAVideo(DownloadError):
    """The download answered with something that is not the video."""

    key = "export.not_a_video"


class DownloadIncomplete(DownloadError):
    """The file's body ended short of its announced length, also after one Range resume."""

    key = "export.incomplete"


class RenderCancelled(RenderError):
    """The render was cancelled (`nemo-video cancel`): it is never submitted again."""

    key = "turns.render_cancelled"


class APIError(NemoError):
    """The backend answered with an error.

    `status` is the HTTP status, `code` the envelope's code (or the status when the
    body had none), `request_id` the backend's request id when it sent one.
    """

    key, kind = "error.api", "unexpected"
    code_value: ClassVar[int | None] = None

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, **details)
        self.status = status
        self.code = code if code is not None else self.code_value
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None and self.code != self.status:
            parts.append(f"code {self.code}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return " | ".join(parts)


class TokenExpired(APIError):
    """The token has expired or is invalid."""

    key, kind = "error.token_expired", "1001"
    code_value = 1001


class SessionNotFound(APIError):
    """The backend does not know this session."""

    key, kind = "error.session_not_found", "1002"
    code_value = 1002


class SessionRefused(SessionNotFound):
    """The chat post was refused for an unknown session before any stream began."""


class OutOfCredits(APIError):
    """The account has no credits left."""

    key, kind = "error.out_of_credits", "2001"
    code_value = 2001


class UnsupportedFileType(APIError):
    """The backend does not accept this file type."""

    key, kind = "error.unsupported_file_type", "4001"
    code_value = 4001


class FileTooLarge(APIError):
    """The file is over the backend's size limit."""

    key, kind = "error.file_too_large", "4002"
    code_value = 4002


class MissingClientId(APIError):
    """The request lacked the X-Client-Id header."""

    key, kind = "error.missing_client_id", "400"
    code_value = 400


class PlanRequired(APIError):
    """Export is blocked on the free plan."""

    key, kind = "error.plan_required", "402"
    code_value = 402


class RateLimited(APIError):
    """Too many requests."""

    key, kind = "error.rate_limited", "429"
    code_value = 429

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after

    def tell(self, *, waited: float | None, asked: float) -> None:
        """Name what really happened: `waited` seconds before the retry, or (when the
        backend asked for a wait too long to sit through) the `minutes` it asked for."""
        if waited is not None:  # whole seconds, never rounded down to "at once"
            self.details["waited"] = math.ceil(waited)
        else:
            self.key = "error.rate_limited_later"
            self.details["minutes"] = max(1, round(asked / 60))


class ServerError(APIError):
    """The backend failed with a server error."""

    key, kind = "error.server", "server"


class UnexpectedResponse(APIError):
    """The backend answered with something the runtime does not understand."""

    key, kind = "error.unexpected", "unexpected"


# The one table that maps backend codes and HTTP statuses to classes.
_BY_CODE: dict[int, type[APIError]] = {
    1001: TokenExpired,
    1002: SessionNotFound,
    2001: OutOfCredits,
    4001: UnsupportedFileType,
    4002: FileTooLarge,
}
_BY_STATUS: dict[int, type[APIError]] = {
    400: MissingClientId,
    401: TokenExpired,
    402: PlanRequired,
    404: SessionNotFound,
    413: FileTooLarge,
    415: UnsupportedFileType,
    429: RateLimited,
}


def error_for(
    status: int,
    body: Mapping[str, Any] | None,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    path: str = "",
) -> APIError | None:
    """Pick the error for a response, or None when it is a success.

    A non-zero envelope `code` wins over the HTTP status; a 2xx with code 0 (or
    no envelope) is a success, unless the envelope says `"success": false`. `path`
    refines statuses whose meaning depends on the endpoint: 400 means a missing client
    id only on the anonymous-token call, and 404 a lost session only on session paths.
    """
    code = body.get("code") if isinstance(body, Mapping) else None
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        code = int(code)  # "2001" as a string
    if isinstance(code, bool) or not isinstance(code, (int, type(None))):
        code = None
    failed = isinstance(body, Mapping) and body.get("success") is False  # the v1.9 envelope
    message = ""
    if isinstance(body, Mapping):
        raw = body.get("message") or body.get("msg") or body.get("detail") or body.get("error")
        message = str(raw) if raw else ""
    if 200 <= status < 300 and not code and not failed:
        return None

    cls: type[APIError]
    if code and code in _BY_CODE:
        cls = _BY_CODE[code]
    elif code and code in _BY_STATUS and _status_applies(code, path):
        cls = _BY_STATUS[code]  # an HTTP status sent as the body's code (400, 402, 429)
    elif status in _BY_STATUS and _status_applies(status, path):
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = UnexpectedResponse
    if cls is RateLimited:
        return RateLimited(
            message,
            status=status,
            code=code or None,
            request_id=request_id,
            retry_after=retry_after,
        )
    return cls(message, status=status, code=code or None, request_id=request_id)


def _status_applies(status: int, path: str) -> bool:
    if status == 400:
        return not path or path.endswith("/anonymous-token")
    if status == 404:
        return not path or "/run_sse" in path or "/state/" in path or "/upload-video/" in path
    return True
