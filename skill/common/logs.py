"""Structured logs: JSON lines in `<config>/logs/nemo-video.log`, stderr too with --verbose.

Every event passes `redact_secrets` before it is rendered, so a token can reach the
file only by a bug in that one function (and tests/common/test_logs.py looks for it there).

The package's modules log through `get_logger(name)`, never structlog itself: structlog
(and what it pulls in) is imported, and the configuration applied, at the first event
logged, so a call that logs nothing (`--help`, a `say` handed to a worker) never pays
for it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, TextIO

from skill.common.errors import redact

LOG_FILE = Path("logs") / "nemo-video.log"
REDACTED = "[redacted]"

_SECRET_KEYS = frozenset({"token", "authorization", "bearer", "claim_token", "ct", "password"})
_QUERY_SECRET = re.compile(r"([?&](?:ct|token|claim_token)=)[^&#\s\"']+", re.IGNORECASE)
_DEBUG, _INFO = 10, 20  # the stdlib levels, without importing logging


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: replace every secret value, however deep, by "[redacted]".

    A value is secret when its key names one (token, authorization, claim_token, ct,
    bearer, anything ending in _token) or when it looks like one (nmv_..., clm_...,
    "Bearer ...", a ct= / token= query parameter).
    """
    for key, value in event_dict.items():
        event_dict[key] = _scrub(key, value)
    return event_dict


def _scrub(key: object, value: Any) -> Any:
    name = str(key).lower().replace("-", "_")
    if value is not None and (name in _SECRET_KEYS or name.endswith("_token")):
        return REDACTED
    if isinstance(value, str):
        return _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, redact(value))
    if isinstance(value, Mapping):
        return {k: _scrub(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_scrub(key, v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return _scrub(key, bytes(value).decode("utf-8", "replace"))
    return _scrub(key, repr(value))  # rendered here, so the renderer's repr() is scrubbed too


class _LineWriter:
    """A structlog logger writing each rendered line to the log file (and maybe stderr)."""

    def __init__(self, file: TextIO, also: TextIO | None) -> None:
        self._file = file
        self._streams = [file] if also is None else [file, also]

    def msg(self, message: str) -> None:
        for stream in self._streams:
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg

    def close(self) -> None:
        self._file.close()


_writer: _LineWriter | None = None
_verbose = False
_pending = False  # configured, not yet applied: structlog is not imported yet


def configure_logging(config_dir: Path, *, verbose: bool = False) -> None:
    """Send structlog events to the log file (mode 0600, appended) and, if verbose, stderr."""
    path = config_dir / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    global _writer, _verbose, _pending
    if _writer is not None:
        _writer.close()
    _writer = _LineWriter(os.fdopen(fd, "a", encoding="utf-8"), sys.stderr if verbose else None)
    _verbose, _pending = verbose, True
    if "structlog" in sys.modules:  # already paid for (or a test captures logs): now
        _apply()


def _apply() -> None:
    global _pending
    import structlog

    _pending = False
    writer = _writer
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_DEBUG if _verbose else _INFO),
        logger_factory=lambda *args: writer,
        cache_logger_on_first_use=False,
    )


class Logger:
    """structlog's logger for `name`, looked up when an event is logged (so importing a
    module that logs imports no structlog). Its methods are structlog's."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._proxy: Any = None  # structlog's lazy proxy: it reads the configuration per event

    def __getattr__(self, method: str) -> Any:
        if _pending:
            _apply()
        if self._proxy is None:
            import structlog

            self._proxy = structlog.get_logger(self._name)
        return getattr(self._proxy, method)


def get_logger(name: str) -> Logger:
    return Logger(name)
