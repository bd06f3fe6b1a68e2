"""The render journal's questions: what a draft already has, and what a killed run left.

The journal itself is the conversation file (`store.PendingRender`, `store.Delivered`):
an entry is written before its render is submitted and turns into a delivery only once
the MP4 is on disk, so it is the one source of truth about renders. The export flow asks
it first: a delivered MP4 of the same draft is handed back, a pending render of the same
draft is collected, and only a draft with neither is submitted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skill.conversation.store import Conversation, Delivered, PendingRender
from skill.wire.protocol import RENDER_OUTPUT
from skill.wire.transfer import remove_stale_part


def draft_key(draft: Mapping[str, Any]) -> str:
    """The identity of a render: a hash of the draft and the output options sent with it."""
    doc = {"draft": draft, "output": RENDER_OUTPUT}
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def delivered(conv: Conversation, key: str) -> Delivered | None:
    """The last delivery of this draft whose MP4 is still on disk, whole."""
    for entry in conv.delivered:
        if entry.draft_key != key:
            continue
        return entry if file_size(entry.path) == entry.size else None
    return None


def file_size(path: str) -> int | None:
    """The size of the file at `path`, or None when there is none ("" included)."""
    try:
        return Path(path).stat().st_size if path and Path(path).is_file() else None
    except OSError:
        return None


def same_draft(conv: Conversation, key: str, session_id: str) -> list[PendingRender]:
    """Pending renders of this draft (and older entries of this session with no key)."""
    return [
        p
        for p in conv.pending
        if p.draft_key == key or (not p.draft_key and p.session_id == session_id)
    ]


def clear_leftovers(conv: Conversation) -> list[Path]:
    """Remove the `.part` files of killed downloads (no live process holds them)."""
    return [
        Path(p.dest + ".part") for p in conv.pending if p.dest and remove_stale_part(Path(p.dest))
    ]


_last_ms = 0  # the last render id this process gave out (see new_render_id)


def new_render_id(now: float, taken: set[str]) -> str:
    """`render_<ms>` (the protocol's `render_<ts>`), never one in `taken` nor one this
    process gave out before: two conversations of one process exporting in the same
    millisecond would otherwise send one id, and the backend would answer both with one
    render (another user's video)."""
    global _last_ms
    ms = max(int(now * 1000), _last_ms + 1)
    while f"render_{ms}" in taken:
        ms += 1
    _last_ms = ms
    return f"render_{ms}"
