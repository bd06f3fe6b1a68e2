"""What handlers find on their app (the world, the agent, the renderer) and request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from .agent import Agent
from .store import World


class Renderer(Protocol):
    """`skill.standin.render.render_draft`'s signature: draft in, MP4 at out_path."""

    def __call__(
        self,
        draft: Mapping[str, Any],
        out_path: Path,
        *,
        resolve: Callable[[str], Path | None],
        progress: Callable[[float], None] | None = None,
        sample_music: Path | None = None,
    ) -> Awaitable[None]: ...


WORLD: web.AppKey[World] = web.AppKey("world", World)
AGENT: web.AppKey[Agent] = web.AppKey("agent", Agent)
RENDERER: web.AppKey[Renderer] = web.AppKey("renderer")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
