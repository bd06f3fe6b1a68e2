"""Backend answers into the protocol's typed values, one function per endpoint.

Each takes the whole JSON document (the `{code, message, data}` envelope, or a bare
body) and is lenient where the sources disagree (see docs/protocol.md): the shapes
every source names are accepted, unknown keys ignored. A missing required field is
an UnexpectedResponse naming it.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from skill.common.errors import UnexpectedResponse
from skill.wire import protocol as p

NOT_JSON = object()  # parse_json's answer for a body that is not JSON


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return NOT_JSON


def unwrap(doc: Any) -> Any:
    """The envelope's `data`, or the document itself when there is no envelope."""
    return doc["data"] if isinstance(doc, Mapping) and "data" in doc else doc


def anonymous_token(doc: Any) -> p.AnonymousToken:
    data = unwrap(doc)
    token = _text(data, p.ANONYMOUS_TOKEN, "token")
    return p.AnonymousToken(token, _int(data.get("credits"), p.ANONYMOUS_CREDITS), _expiry(data))


def session(doc: Any) -> p.Session:
    data = unwrap(doc)
    task = _text(data, p.CREATE_SESSION, "task_id", "taskId")
    return p.Session(task, _text(data, p.CREATE_SESSION, "session_id", "sessionId"))


def credits(doc: Any) -> p.Credits:
    data = unwrap(doc)
    if not isinstance(data, Mapping) or "available" not in data:
        raise UnexpectedResponse("the credits answer has no data.available", path=p.CREDITS)
    available, frozen = _count(data.get("available")), _count(data.get("frozen"))
    known = None if available is None or frozen is None else available + frozen
    total = _count(data.get("total"))
    return p.Credits(available, frozen, known if total is None else total)


def state(doc: Any, path: str) -> p.SessionState:
    """`data.state.{draft, video_infos, generated_media, canvas_config}`; draft may be a
    JSON string; missing keys are empty."""
    data = unwrap(doc)
    found = data.get("state", data) if isinstance(data, Mapping) else None
    if not isinstance(found, Mapping):
        raise UnexpectedResponse("the state answer has no data.state", path=path)
    draft = found.get("draft")
    if isinstance(draft, str):
        try:
            draft = json.loads(draft) if draft.strip() else None
        except json.JSONDecodeError:
            raise UnexpectedResponse("data.state.draft is not valid JSON", path=path) from None
    canvas = found.get("canvas_config")
    return p.SessionState(
        draft=dict(draft) if isinstance(draft, Mapping) else None,
        video_infos=_list(found.get("video_infos")),
        generated_media=_list(found.get("generated_media")),
        canvas_config=dict(canvas) if isinstance(canvas, Mapping) else None,
    )


def uploads(doc: Any, fallback_name: str) -> list[p.Upload]:
    """A list, `{"files": [...]}` (v1.9: `filename, file_type, cdn_url, duration, width,
    height, fps, hash`), `{"uploads": [...]}` or one object; entries may be URLs."""
    data = unwrap(doc)
    items: Any = data
    if isinstance(data, Mapping):
        items = next((data[k] for k in ("files", "uploads") if k in data), [data])
    if not isinstance(items, list):
        raise UnexpectedResponse("the upload answer is not a list of files")
    result = []
    for item in items:
        entry = {"url": item} if isinstance(item, str) else item
        if not isinstance(entry, Mapping):
            raise UnexpectedResponse("an uploaded file's entry is not an object")
        result.append(
            p.Upload(
                name=_first(entry, "name", "filename", "file_name", "original_name")
                or fallback_name,
                url=_first(entry, "url", "cdn_url", "file_url", "media_url", "download_url"),
                media_type=_first(
                    entry, "media_type", "file_type", "type", "mime_type", "content_type"
                ),
                raw=dict(entry),
            )
        )
    return result


_STATUS_ALIASES = {
    "canceled": p.RENDER_CANCELLED,
    "queued": p.RENDER_PENDING,
    "running": p.RENDER_PROCESSING,
    "rendering": p.RENDER_PROCESSING,
    "complete": p.RENDER_COMPLETED,
    "done": p.RENDER_COMPLETED,
    "success": p.RENDER_COMPLETED,
    "succeeded": p.RENDER_COMPLETED,
    "error": p.RENDER_FAILED,
}


def render_job(doc: Any, render_id: str, default_status: str | None = None) -> p.RenderJob:
    """Both shapes: `status` + `output.url` (top level or in data), or `data.status` +
    `data.outputUrl`. Progress 0-1 or 0-100 becomes 0-1. No status is an error unless
    `default_status` is given (a submit answer may carry none)."""
    places = [m for m in (unwrap(doc), doc) if isinstance(m, Mapping)]
    job = next((m for m in places if "status" in m), None)
    if job is None:
        if default_status is None:
            raise UnexpectedResponse("the render answer has no status", path=p.RENDER)
        job = places[0] if places else {}
    status = str(job.get("status") or default_status or p.RENDER_PENDING).lower()
    status = _STATUS_ALIASES.get(status, status)
    url = None
    for place in (job, *places):
        output = place.get("output")
        url = (
            (_first(output, "url") if isinstance(output, Mapping) else None)
            or (output if isinstance(output, str) and output else None)
            or _first(place, "outputUrl", "output_url")
        )
        if url:
            break
    progress = job.get("progress", job.get("percent"))
    fraction = None
    if isinstance(progress, (int, float)) and not isinstance(progress, bool):
        fraction = min(max(progress / 100 if progress > 1 else float(progress), 0.0), 1.0)
    error = _first(job, "error", "errorMessage", "error_message", "message", "reason")
    return p.RenderJob(
        id=str(job.get("id") or render_id),
        status=status,
        progress=fraction,
        url=url,
        error=error if status == p.RENDER_FAILED else None,
    )


def claim_token(doc: Any) -> p.ClaimToken:
    data = unwrap(doc)
    token = _text(data, p.CLAIM_TOKEN, "claim_token", "claimToken")
    return p.ClaimToken(token, _int(data.get("expires_in"), p.TOKEN_LIFETIME_S))


def _expiry(data: Mapping[str, Any]) -> float:
    """expires_at / expire_time (epoch s or ms, or ISO 8601), else expires_in seconds,
    else the contract's 7 days. A number below 1e9 (before 2001) is a duration."""
    now = time.time()
    for key in ("expires_at", "expire_time", "expiresAt", "expires_in"):
        value: Any = data.get(key)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                try:
                    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    continue
                if when.tzinfo is None:
                    when = when.replace(tzinfo=timezone.utc)
                return when.timestamp()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            if value > 1e11:
                return value / 1000
            return float(value) if value > 1e9 else now + value
    return now + p.TOKEN_LIFETIME_S


def _text(data: Any, path: str, *keys: str) -> str:
    if isinstance(data, Mapping):
        for key in keys:
            value = data.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
                return str(value)
    raise UnexpectedResponse(f"the answer has no data.{keys[0]}", path=path)


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _count(value: Any) -> int | None:
    """A count, or None when it is null, missing or not a number (unknown, not zero)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _first(item: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = item.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())
