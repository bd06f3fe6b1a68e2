"""google-adk's own API server behind the few vendor endpoints the runtime needs.

`python tests/contract/backend.py` serves, on a loopback port it prints (`PORT <n>`):

- everything `google.adk.cli.fast_api.get_fast_api_app` serves, `/run_sse` included,
  with the scripted agent of agents/nemo_agent and in-memory sessions;
- `POST /api/auth/anonymous-token`, `POST /api/tasks/me/with-session/nemo_agent` (an ADK
  session, created through ADK's own `/apps/.../sessions`), `GET /api/state/nemo_agent/me/
  <sid>/latest` (the ADK session's state), `GET /api/credits/balance/simple`: the vendor
  envelope `{"code": 0, "data": {...}}` of docs/protocol.md;
- `POST /test/script {"steps": [...], "draft": {...}}`: the model's next answers, and the
  draft the next session starts with (agents/nemo_agent/agent.py describes the steps).
"""

from __future__ import annotations

import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from google.adk.cli.fast_api import get_fast_api_app

AGENTS = Path(__file__).resolve().parent / "agents"
sys.path.insert(0, str(AGENTS))

from nemo_agent import agent  # noqa: E402  (the same module ADK's loader imports)

APP, USER = "nemo_agent", "me"


def build() -> FastAPI:
    app = get_fast_api_app(
        agents_dir=str(AGENTS), web=False, session_service_uri="memory://",
        artifact_service_uri="memory://", use_local_storage=False,
    )  # fmt: skip
    own = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://adk")
    seed: dict[str, Any] = {"draft": None}

    @app.post("/api/auth/anonymous-token")
    async def token() -> dict[str, Any]:
        data = {"token": f"nmv_usr_{uuid.uuid4().hex}", "credits": 100, "expires_in": 604800}
        return {"code": 0, "message": "success", "data": data}

    @app.post("/api/tasks/me/with-session/nemo_agent")
    async def create_session() -> dict[str, Any]:
        state = {"draft": seed["draft"]} if seed["draft"] else {}
        made = await own.post(f"/apps/{APP}/users/{USER}/sessions", json={"state": state})
        made.raise_for_status()
        sid = made.json()["id"]
        data = {"task_id": f"task-{sid}", "session_id": sid}
        return {"code": 0, "message": "success", "data": data}

    @app.get("/api/state/nemo_agent/me/{sid}/latest")
    async def state(sid: str) -> Any:
        got = await own.get(f"/apps/{APP}/users/{USER}/sessions/{sid}")
        if got.status_code == 404:
            return {"code": 1002, "message": "session not found"}
        got.raise_for_status()
        return {"code": 0, "message": "success",
                "data": {"session_id": sid, "state": got.json().get("state", {})}}  # fmt: skip

    @app.get("/api/credits/balance/simple")
    async def credits() -> dict[str, Any]:
        return {"code": 0, "data": {"available": 100, "frozen": 0, "total": 100}}

    @app.post("/test/script")
    async def script(request: Request) -> dict[str, Any]:
        doc = await request.json()
        agent.SCRIPT[:] = list(doc.get("steps", []))
        seed["draft"] = doc.get("draft")
        return {"ok": True}

    return app


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(build(), log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
