"""The backend contract as values: paths, field names and the typed answers.

Shared by the client and the local stand-in. Parsing of responses lives in the
client and is written again, independently, in the stand-in's tests, so that a
bug in one side cannot hide in the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

APP_NAME = "nemo_agent"
USER_ID = "me"

ANONYMOUS_TOKEN = "/api/auth/anonymous-token"
CLAIM_TOKEN = "/api/auth/claim-token"
CREATE_SESSION = f"/api/tasks/me/with-session/{APP_NAME}"
RUN_SSE = "/run_sse"
CREDITS = "/api/credits/balance/simple"
RENDER = "/api/render/proxy/lambda"


def upload_path(session_id: str) -> str:
    return f"/api/upload-video/{APP_NAME}/{USER_ID}/{session_id}"


def state_path(session_id: str) -> str:
    return f"/api/state/{APP_NAME}/{USER_ID}/{session_id}/latest"


def render_status_path(render_id: str) -> str:
    return f"{RENDER}/{render_id}"


def render_cancel_path(render_id: str) -> str:
    """v1.9: `POST /api/render/proxy/lambda/<id>/cancel`."""
    return f"{RENDER}/{render_id}/cancel"


def render_download_path(render_id: str) -> str:
    """v1.9's fallback download path when a completed job carries no URL."""
    return f"/api/render/proxy/{render_id}/download"


def claim_link(web_url: str, claim_token: str) -> str:
    return f"{web_url}/workspace/claim?ct={claim_token}"


ACCEPTED_EXTENSIONS = (
    "mp4", "mov", "avi", "webm", "mkv", "jpg", "jpeg", "png", "gif", "webp",
    "mp3", "wav", "m4a", "aac",
)  # fmt: skip
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
ANONYMOUS_CREDITS = 100
TOKEN_LIFETIME_S = 7 * 24 * 3600

# Draft short keys (seed) and track types.
TRACKS, TRACK_TYPE, SEGMENTS, DURATION, META = "t", "tt", "sg", "d", "m"
TRACK_VIDEO, TRACK_AUDIO, TRACK_TEXT = 0, 1, 7

RENDER_OUTPUT = {"format": "mp4", "quality": "high"}  # the `output` every render submits
RENDER_PENDING, RENDER_PROCESSING = "pending", "processing"
RENDER_COMPLETED, RENDER_FAILED = "completed", "failed"
RENDER_CANCELLED = "cancelled"


@dataclass(frozen=True)
class AnonymousToken:
    token: str = field(repr=False)
    credits: int
    expires_at: float


@dataclass(frozen=True)
class Session:
    task_id: str
    session_id: str


@dataclass(frozen=True)
class Credits:
    """None where the backend sent null or nothing: unknown, never zero."""

    available: int | None
    frozen: int | None
    total: int | None


@dataclass(frozen=True)
class Upload:
    """What the backend says about one uploaded file or URL."""

    name: str
    url: str | None
    media_type: str | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class SessionState:
    draft: dict[str, Any] | None
    video_infos: list[Any] = field(default_factory=list)
    generated_media: list[Any] = field(default_factory=list)
    canvas_config: dict[str, Any] | None = None


@dataclass(frozen=True)
class RenderJob:
    id: str
    status: str
    progress: float | None = None
    url: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in (RENDER_COMPLETED, RENDER_FAILED, RENDER_CANCELLED)


@dataclass(frozen=True)
class ClaimToken:
    token: str = field(repr=False)
    expires_in: int
