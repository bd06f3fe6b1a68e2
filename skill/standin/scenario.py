"""Fault scenarios for the local stand-in: YAML, checked when loaded.

A scenario is a file (`nemo-video standin --scenario FILE`) or, in tests, YAML text or
a mapping. Every key is optional; an unknown key or a wrong type is an error naming
the file and the key. The format:

    seed: 7                  # the simulated agent's choices (wording, which edits are silent)
    delay_ms: 0              # slow every response by this much
    starting_credits: 100    # credits of a new anonymous account
    anonymous_per_ip: 10     # anonymous tokens one IP may get per 7 days (then 429)
    silent_edits: 0.3        # share of edits answered with tool events only, no text
    slow: false              # as long as the real backend: generation 200 s, edit 40 s,
                             # render 90 s (timing keys given here still win)
    time_scale: 1.0          # multiply every timing by this (slow: 0.02 runs in seconds)
    abort_on_disconnect: false   # a client that goes away cancels the turn (ADK >= 2.2)
    adk: "2.13"              # event shape: "2.13" (nodeInfo, one id per model call) or "1.39"
    streaming: true          # partial text deltas then the aggregate; false: whole events
                             # (a request's own "streaming" field wins)
    credits_error: frame     # out of credits in chat: "frame" (error frame) or "envelope"
                             # (HTTP 200 {"code":2001} before any stream)
    expire_token_after: 3    # the token in use expires after this many authenticated calls
    lose_session_after: 2    # the session is forgotten after this many calls that name it
    faults:                  # make an endpoint fail for its next calls
      - endpoint: credits    # anonymous_token, create_session, chat, upload, credits, state,
                             # render_submit, render_status, render_cancel, download,
                             # claim_token, media
        status: 500          # HTTP status (default 200 when `code` is given)
        code: 2001           # envelope code (default: the status)
        message: "..."       # default: says it is a scenario fault
        times: 2             # how many calls fail (default 1)
        after: 0             # let this many calls through first
        retry_after: 1       # send a Retry-After header (seconds)
    stream:                  # chat stream faults, for the next `times` turns (default: all)
      times: 1
      drop_after_events: 4   # the connection breaks after 4 events (the turn still finishes)
      stall: true            # heartbeats only, no event, until the client gives up
      malformed_frame: true  # one frame that is not JSON, after the first event
      oversized_frame_bytes: 2000000   # one event this large, after the first event
      error_frame: "2.x"     # the agent fails mid-stream: "2.x" (errorCode event + echo) or "1.x"
      error_after_events: 1
      trailing_issue: true   # the turn ends with "I encountered a temporary issue"
      ending: no_content     # how the turn ends, as real ADK 2.13 ends it (turn.py):
                             #   no_content  tools run, then MODEL_RETURNED_NO_CONTENT
                             #   max_tokens, malformed_call, too_many_calls: after the
                             #     first tool, the model call ends with that finish reason
                             #   safety, recitation: before any tool, that finish reason
                             #   prohibited: the prompt is blocked (errorCode only)
                             #   tool_error: the first tool raises (a call, no response)
                             #   model_error: after the first tool, the model call raises
                             #   long_running: the first tool answers later (its call in
                             #     longRunningToolIds; the stream ends, the work goes on)
                             #   duplicate: every frame is sent twice
                             #   usage_event: a usageMetadata-only event comes first
                             #   html: a 200 text/html page instead of a stream
                             #   broken_frames: only frames that are not JSON
      heartbeat: empty       # heartbeat style: empty (`data:`), comment (`: ping`), event
    render:
      fail_next: 1           # the next renders fail
      legacy_shape: false    # answer data.status / data.outputUrl instead of status / output.url
      download: html         # the finished file's download misbehaves: "html" (a 200 web page),
                             # "truncate" (Content-Length over the body, every time, Range
                             # ignored), "truncate_once" (the first answer is cut, a Range
                             # request is honoured), "no_url" (completed with no URL and no
                             # file at the fallback), "redirect" (no URL; the fallback
                             # redirects to the CDN), "userinfo" (the URL carries user:password@)
      download_rate: 2000000 # serve downloads at this many bytes per second
    timing:                  # seconds
      heartbeat: 2.0         # a heartbeat after this long without a frame
      generate: 6.0          # the simulated generation's work
      edit: 0.8              # an edit's work
      frame_gap: 0.03        # between streamed frames
      render_queue: 0.5      # how long a render stays pending
      render: 0.0            # the least a render takes once processing (progress rises)
      stall_max: 900.0       # longest a stall lasts before the stream closes
    keep:                    # what the stand-in remembers (time_scale applies to the seconds)
      session_idle: 86400.0  # a session no call named for this long is forgotten: the next
                             # call naming it is 1002 "session not found", as a lost session
      sessions: 10000        # at most this many sessions; the least recently used goes first
      uploads: 10000         # at most this many uploaded files; the oldest is deleted first
                             # (a forgotten session's uploads are deleted with it)
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from skill.common.errors import ConfigError

ENDPOINTS = (
    "anonymous_token", "create_session", "chat", "upload", "credits", "state",
    "render_submit", "render_status", "render_cancel", "download", "claim_token", "media",
)  # fmt: skip

_CHOICES: dict[str, tuple[str, ...]] = {
    "adk": ("2.13", "1.39"),
    "credits_error": ("frame", "envelope"),
    "error_frame": ("2.x", "1.x"),
    "heartbeat": ("empty", "comment", "event"),
    "ending": (
        "no_content",
        "max_tokens",
        "malformed_call",
        "too_many_calls",
        "safety",
        "recitation",
        "prohibited",
        "tool_error",
        "model_error",
        "long_running",
        "duplicate",
        "usage_event",
        "html",
        "broken_frames",
    ),
    "download": ("html", "truncate", "truncate_once", "no_url", "redirect", "userinfo"),
    "endpoint": ENDPOINTS,
}
_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


@dataclass(frozen=True)
class Fault:
    endpoint: str
    status: int | None = None
    code: int | None = None
    message: str | None = None
    times: int = 1
    after: int = 0
    retry_after: float | None = None


@dataclass(frozen=True)
class StreamFaults:
    times: int | None = None
    drop_after_events: int | None = None
    stall: bool = False
    malformed_frame: bool = False
    oversized_frame_bytes: int | None = None
    error_frame: str | None = None
    error_after_events: int = 1
    trailing_issue: bool = False
    ending: str | None = None
    heartbeat: str = "empty"


@dataclass(frozen=True)
class RenderFaults:
    fail_next: int = 0
    legacy_shape: bool = False
    download: str | None = None
    download_rate: int | None = None


@dataclass(frozen=True)
class Timing:
    heartbeat: float = 2.0
    generate: float = 6.0
    edit: float = 0.8
    frame_gap: float = 0.03
    render_queue: float = 0.5
    render: float = 0.0
    stall_max: float = 900.0


@dataclass(frozen=True)
class Keep:
    session_idle: float = 86400.0
    sessions: int = 10000
    uploads: int = 10000


SLOW = {"generate": 200.0, "edit": 40.0, "render": 90.0, "render_queue": 5.0}  # real-backend


@dataclass(frozen=True)
class Scenario:
    seed: int = 0
    delay_ms: int = 0
    starting_credits: int = 100
    anonymous_per_ip: int = 10
    silent_edits: float = 0.3
    slow: bool = False
    time_scale: float = 1.0
    abort_on_disconnect: bool = False
    adk: str = "2.13"
    streaming: bool = True
    credits_error: str = "frame"
    expire_token_after: int | None = None
    lose_session_after: int | None = None
    faults: tuple[Fault, ...] = ()
    stream: StreamFaults = field(default_factory=StreamFaults)
    render: RenderFaults = field(default_factory=RenderFaults)
    timing: Timing = field(default_factory=Timing)
    keep: Keep = field(default_factory=Keep)


def load_scenario(source: Scenario | Mapping[str, Any] | str | Path | None) -> Scenario:
    """A Scenario from a file path, YAML text, a mapping, or None (no faults)."""
    if source is None:
        return Scenario()
    if isinstance(source, Scenario):
        return source
    where = "scenario"
    doc: Any = source
    if isinstance(source, Path):
        where = str(source)
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read the scenario ({exc.strerror})") from None
        doc = _parse(text, where)
    elif isinstance(source, str):
        doc = _parse(source, where)
    if doc is None:
        return Scenario()
    built: Scenario = _build(Scenario, doc, where, "")
    timing = built.timing
    if built.slow:  # real durations, except the timing keys the scenario gives itself
        given = doc.get("timing") or {}
        timing = dataclasses.replace(timing, **{k: v for k, v in SLOW.items() if k not in given})
    if built.time_scale != 1.0:
        scaled = {f.name: getattr(timing, f.name) * built.time_scale
                  for f in dataclasses.fields(timing)}  # fmt: skip
        timing = dataclasses.replace(timing, **scaled)
    keep = dataclasses.replace(built.keep, session_idle=built.keep.session_idle * built.time_scale)
    built = dataclasses.replace(built, timing=timing, keep=keep)
    if built.timing.heartbeat <= 0:
        raise ConfigError(
            f"{where}: timing.heartbeat must be more than 0", field="timing.heartbeat"
        )
    for key in ("sessions", "uploads"):
        if getattr(built.keep, key) < 1:
            raise ConfigError(f"{where}: keep.{key} must be at least 1", field=f"keep.{key}")
    return built


def _parse(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None


def _build(cls: type[Any], doc: Any, where: str, prefix: str) -> Any:
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: {prefix or 'the scenario'} must be a mapping", field=prefix)
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {path!r}; known keys: {', '.join(known)}", field=path
            )
        values[key] = _value(hints[key], value, where, path, key)
    try:
        return cls(**values)
    except TypeError:
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        raise ConfigError(f"{where}: {prefix.rstrip('.')} needs {', '.join(missing)}") from None


def _value(hint: Any, value: Any, where: str, path: str, key: str) -> Any:
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where, path + ".")
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {path} must be a list", field=path)
        return tuple(_build(args[0], v, where, f"{path}[{i}].") for i, v in enumerate(value))
    ok = (
        (hint is bool and isinstance(value, bool))
        or (hint is int and isinstance(value, int) and not isinstance(value, bool))
        or (hint is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool))
    )
    if not ok:
        raise ConfigError(f"{where}: {path} must be {_KINDS[hint]}, not {value!r}", field=path)
    if hint is str:
        value = str(value)
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ConfigError(
                f"{where}: {path} is {value!r}; choose one of {', '.join(_CHOICES[key])}",
                field=path,
            )
    if hint in (int, float) and value < 0:
        raise ConfigError(f"{where}: {path} must not be negative", field=path)
    return float(value) if hint is float else value


@dataclass
class _Pending:
    fault: Fault
    after: int
    times: int


class FaultBook:
    """What is left of a scenario's faults while the stand-in runs."""

    def __init__(self, scenario: Scenario) -> None:
        self._faults = [_Pending(f, f.after, f.times) for f in scenario.faults]
        self._stream_left = scenario.stream.times
        self._stream = scenario.stream
        self._render_fails = scenario.render.fail_next
        self._auth_left = scenario.expire_token_after
        self._session_left = scenario.lose_session_after

    def take(self, endpoint: str) -> Fault | None:
        """The fault that answers this call of `endpoint`, if any."""
        for entry in self._faults:
            if entry.fault.endpoint != endpoint or entry.times <= 0:
                continue
            if entry.after > 0:
                entry.after -= 1
                return None
            entry.times -= 1
            return entry.fault
        return None

    def take_stream(self) -> StreamFaults:
        """The stream faults for this turn (an inert StreamFaults once used up)."""
        if self._stream_left is None:
            return self._stream
        if self._stream_left <= 0:
            return StreamFaults(heartbeat=self._stream.heartbeat)
        self._stream_left -= 1
        return self._stream

    def take_render_failure(self) -> bool:
        if self._render_fails <= 0:
            return False
        self._render_fails -= 1
        return True

    def token_expires_now(self) -> bool:
        """Count one authenticated call; True once, when the scenario expires the token."""
        self._auth_left, due = _count(self._auth_left)
        return due

    def session_lost_now(self) -> bool:
        """Count one call naming a session; True once, when the scenario loses it."""
        self._session_left, due = _count(self._session_left)
        return due


def _count(left: int | None) -> tuple[int | None, bool]:
    if left is None:
        return None, False
    if left == 0:
        return None, True
    return left - 1, False
