"""Settings from the environment and the config folder.

Environment: NEMO_TOKEN, NEMO_API_URL, NEMO_WEB_URL, NEMO_CLIENT_ID, SKILL_SOURCE,
NEMO_CONFIG_DIR (else $XDG_CONFIG_HOME/nemovideo, else ~/.config/nemovideo),
NEMO_OUTPUT_DIR (where exports land; default ./nemovideo-exports), NEMO_TIMINGS (a JSON
object of Timings fields: every wait, in seconds), NEMO_WORKER_LINGER (seconds an idle
worker waits for the next message before it exits; default 120, 0: at once).

The config folder holds `client_id` (persisted, as the vendor's skill does),
`token.json` (the anonymous token and its expiry, mode 0600), `conversations/`
and `logs/`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from skill.common.errors import ConfigError
from skill.common.storage import atomic_write, read_json, write_json

DEFAULT_API_URL = "https://mega-api-prod.nemovideo.ai"
DEFAULT_WEB_URL = "https://nemovideo.com"
MAX_CLIENT_ID = 64  # the longest X-Client-Id the backend accepts (issue 10)
WORKER_LINGER = 120.0  # seconds; a host's next message usually comes within a minute or two


@dataclass(frozen=True)
class Timings:
    """Every wait the runtime makes, in seconds. Tests shrink them; users never need to."""

    connect_timeout: float = 15.0
    request_timeout: float = 60.0
    upload_timeout: float = 30 * 60.0
    stream_idle_timeout: float = 10 * 60.0  # no byte at all, not even a heartbeat
    still_working_every: float = 2 * 60.0
    heartbeat_only_timeout: float = 10 * 60.0
    turn_cap: float = 15 * 60.0
    rate_limit_wait: float = 30.0
    retry_base: float = 0.5  # first back-off for reads; doubles, with jitter
    retry_attempts: int = 4
    render_poll_first: float = 2.0
    render_poll_max: float = 30.0
    render_deadline: float = 20 * 60.0
    recovery_waits: tuple[float, ...] = (30.0, 60.0, 60.0, 60.0, 60.0)


@dataclass(frozen=True)
class Settings:
    api_url: str
    web_url: str
    config_dir: Path
    env_token: str | None = field(default=None, repr=False)
    env_client_id: str | None = None
    skill_source: str | None = None
    output_dir: Path | None = None
    timings: Timings = field(default_factory=Timings)
    store_url: str | None = field(default=None, repr=False)  # NEMO_STORE (may hold a password)
    worker_linger: float = WORKER_LINGER  # NEMO_WORKER_LINGER

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        api = _url(env, "NEMO_API_URL", DEFAULT_API_URL)
        web = _url(env, "NEMO_WEB_URL", DEFAULT_WEB_URL)
        out = env.get("NEMO_OUTPUT_DIR")
        return cls(
            api_url=api,
            web_url=web,
            config_dir=config_dir(env),
            env_token=env.get("NEMO_TOKEN") or None,
            env_client_id=_client_id(env),
            skill_source=env.get("SKILL_SOURCE") or None,
            output_dir=Path(out).expanduser() if out else None,
            timings=_timings(env.get("NEMO_TIMINGS")),
            store_url=env.get("NEMO_STORE") or None,
            worker_linger=_seconds(env, "NEMO_WORKER_LINGER", WORKER_LINGER),
        )

    def client_id(self) -> str:
        """NEMO_CLIENT_ID, else the persisted id, else a new one that is persisted at once."""
        if self.env_client_id:
            return self.env_client_id
        path = self.config_dir / "client_id"
        try:
            existing = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            existing = ""
        if existing and len(existing) <= MAX_CLIENT_ID:
            return existing
        new = str(uuid.uuid4())
        atomic_write(path, (new + "\n").encode(), mode=0o600)
        return new

    def new_client_id(self) -> str:
        """Replace the persisted client id (the backend said it was missing or unknown)."""
        new = str(uuid.uuid4())
        atomic_write(self.config_dir / "client_id", (new + "\n").encode(), mode=0o600)
        return new


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise ConfigError(f"{name} must be seconds (a number ≥ 0), not {text!r}.", field=name)
    return value


def _timings(text: str | None) -> Timings:
    """NEMO_TIMINGS: a JSON object of Timings fields in seconds (tests, slow links), e.g.
    {"recovery_waits": [1, 2], "still_working_every": 30}."""
    if not text:
        return Timings()
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"NEMO_TIMINGS is not JSON ({exc}); unset it or fix it.") from None
    known = {f.name: f for f in dataclasses.fields(Timings)}
    if not isinstance(doc, dict) or set(doc) - set(known):
        unknown = ", ".join(sorted(set(doc) - set(known))) if isinstance(doc, dict) else "?"
        raise ConfigError(
            f"NEMO_TIMINGS: unknown field(s) {unknown}; known: {', '.join(known)}.",
            field="NEMO_TIMINGS",
        )
    values: dict[str, object] = {}
    for key, value in doc.items():
        seq = isinstance(value, list)
        items = value if seq else [value]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                   for v in items):  # fmt: skip
            raise ConfigError(f"NEMO_TIMINGS: {key} must be seconds (a number ≥ 0).",
                              field="NEMO_TIMINGS")  # fmt: skip
        values[key] = tuple(float(v) for v in items) if seq else value
    return dataclasses.replace(Timings(), **values)  # type: ignore[arg-type]


def config_dir(env: Mapping[str, str]) -> Path:
    if env.get("NEMO_CONFIG_DIR"):
        return Path(env["NEMO_CONFIG_DIR"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "nemovideo"


def _client_id(env: Mapping[str, str]) -> str | None:
    value = (env.get("NEMO_CLIENT_ID") or "").strip()
    if len(value) > MAX_CLIENT_ID or any(not c.isprintable() or c.isspace() for c in value):
        raise ConfigError(
            f"NEMO_CLIENT_ID is {len(value)} characters long or holds spaces or control "
            f"characters; the backend accepts an X-Client-Id of at most {MAX_CLIENT_ID} "
            "printable characters (a UUID is 36). Shorten it or unset it.",
            field="NEMO_CLIENT_ID",
        )
    return value or None


def _url(env: Mapping[str, str], key: str, default: str) -> str:
    value = (env.get(key) or default).strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(
            f"{key}={value!r} is not an http(s) URL. Set it to e.g. {default} or unset it.",
            field=key,
        )
    return value


@dataclass(frozen=True)
class StoredToken:
    token: str = field(repr=False)
    expires_at: float
    client_id: str

    def valid(self, now: float | None = None, margin: float = 300.0) -> bool:
        return (now if now is not None else time.time()) < self.expires_at - margin


class TokenStore:
    """The anonymous token on disk: `token.json`, mode 0600, written atomically."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "token.json"

    def load(self) -> StoredToken | None:
        doc = read_json(self.path)
        if not isinstance(doc, dict):
            return None
        token, expires, cid = doc.get("token"), doc.get("expires_at"), doc.get("client_id")
        if not isinstance(token, str) or not isinstance(expires, (int, float)):
            return None
        return StoredToken(token, float(expires), cid if isinstance(cid, str) else "")

    def save(self, token: StoredToken) -> None:
        doc = {"token": token.token, "expires_at": token.expires_at, "client_id": token.client_id}
        write_json(self.path, doc, mode=0o600)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
