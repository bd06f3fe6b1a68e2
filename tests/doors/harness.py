"""The real CLI, one process per command, against a stand-in world the test can see into.

`Project` is one user's config folder and conversation on a started stand-in: `seed()`
gives it a backend session holding a ready draft (no chat turn needed), `run()` runs
`python -m skill ...` to its end, `start()` leaves it running (for kill -9). The
stand-in's `world.calls` counts the backend's requests by route (`chat`, `render_submit`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from skill.common.config import StoredToken, TokenStore
from skill.conversation.store import ConversationStore
from skill.standin import RunningStandin
from tests.doors.test_cli import Run
from tests.procenv import cli_env
from tests.standin.conftest import merged

__all__ = ["FAST", "FTYP", "Project", "Run", "draft", "merged", "mp4_renderer"]

FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"  # an MP4's first box
WEB = "https://web.example"
TIMINGS = {"render_poll_first": 0.2, "render_poll_max": 0.4}  # the stand-in renders in ms
FAST = {"timing": {"heartbeat": 0.05, "generate": 0.05, "edit": 0.02, "frame_gap": 0,
                   "render_queue": 0.02}, "silent_edits": 0, "seed": 3}  # fmt: skip


def draft(n: int = 0) -> dict[str, Any]:
    """A ready draft; `n` makes it a different one (a different render)."""
    seg = {"s": 0, "d": 2000, "m": {"name": f"clip {n}", "kind": "synthetic", "seed": n}}
    return {"d": 2000, "t": [{"tt": 0, "m": {"name": "Video"}, "sg": [seg]}]}


def mp4_renderer(size: int = 400_000, gate: asyncio.Event | None = None) -> Any:
    """A stand-in renderer writing `size` bytes that start like an MP4, once `gate` is set."""

    async def render(_draft: Any, out_path: Path, **_: Any) -> None:
        if gate is not None:
            await gate.wait()
        await asyncio.to_thread(out_path.write_bytes, FTYP + b"\x00" * (size - len(FTYP)))

    return render


class Project:
    def __init__(self, folder: Path, api_url: str, name: str = "project") -> None:
        self.folder, self.name = folder, name
        self.config, self.out = folder / "config", folder / "out"
        self.client_id = f"cid-{name}"
        self.env = cli_env()
        self.env |= {"NEMO_API_URL": api_url, "NEMO_WEB_URL": WEB, "NEMO_CONVERSATION": name,
                     "NEMO_CONFIG_DIR": str(self.config), "NEMO_OUTPUT_DIR": str(self.out),
                     "NEMO_CLIENT_ID": self.client_id,
                     "NEMO_TIMINGS": json.dumps(TIMINGS)}  # fmt: skip
        self.store = ConversationStore(self.config, name)
        folder.mkdir(parents=True, exist_ok=True)

    def seed(self, standin: RunningStandin, the_draft: dict[str, Any]) -> str:
        """A backend session holding `the_draft`, and the conversation pointing at it."""
        world = standin.world
        token, account = world.issue_token(self.client_id, "127.0.0.1")
        TokenStore(self.config).save(StoredToken(token.value, token.expires_at, self.client_id))
        record = world.new_session(account, "en")
        record.state["draft"] = the_draft
        self.store.update(
            lambda c: replace(c, api_url=standin.api_url, session_id=record.session_id,
                              task_id=record.task_id, language="en")
        )  # fmt: skip
        return record.session_id

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "skill", *args, env=self.env, cwd=self.folder,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def run(self, *args: str) -> Run:
        proc = await self.start(*args)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return Run(proc.returncode, out.decode(), err.decode())

    def files(self, pattern: str = "*") -> list[Path]:
        return sorted(self.out.glob(pattern)) if self.out.exists() else []
