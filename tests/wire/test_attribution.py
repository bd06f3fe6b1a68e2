"""Attribution headers from SKILL.md's frontmatter and the install location."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from skill.common import errors
from skill.common.config import Settings
from skill.common.resources import data_path
from skill.wire import protocol as p
from skill.wire.attribution import Attribution, load_attribution
from skill.wire.client import NemoClient

FRONTMATTER = yaml.safe_load(data_path("SKILL.md").read_text(encoding="utf-8").split("---")[1])
NAME, VERSION = FRONTMATTER["name"], str(json.loads(FRONTMATTER["metadata"])["version"])


def install(root: Path, relative: str, marker: str | None = None) -> Path:
    """Copy the shipped SKILL.md to root/relative/SKILL.md (plus an optional marker file)."""
    folder = root / relative
    folder.mkdir(parents=True)
    shutil.copy(data_path("SKILL.md"), folder / "SKILL.md")
    if marker:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text("{}")
    return folder / "SKILL.md"


@pytest.mark.parametrize(
    ("where", "marker", "env", "platform"),
    [
        (f"home/.clawhub/skills/{NAME}", None, {}, "clawhub"),
        (f"work/skills/{NAME}", f"work/skills/{NAME}/.clawhub/origin.json", {}, "clawhub"),
        (f"work/skills/{NAME}", "work/.clawhub/origin.json", {}, "clawhub"),
        (f"home/.cursor/skills/{NAME}", None, {}, "cursor"),
        (f"work/project/.cursor/skills/{NAME}", None, {}, "cursor"),
        (f"work/{NAME}", None, {}, "unknown"),
        (f"home/src/{NAME}", None, {}, "unknown"),
        (f"work/skills/{NAME}", "work/.clawhub/lock.json", {}, "unknown"),
        (f"work/project/.claude/skills/{NAME}", None, {}, "claude-code"),
        (f"home/.claude/skills/{NAME}", None, {}, "claude-code"),
        (f"home/.openclaw/skills/{NAME}", None, {}, "openclaw"),
        (f"work/.agents/skills/{NAME}", None, {}, "unknown"),  # shared by many hosts
        (f"home/.cursor/skills/{NAME}", None, {"SKILL_SOURCE": "openclaw"}, "openclaw"),
        (f"work/{NAME}", None, {"SKILL_SOURCE": "terminal"}, "terminal"),
        (f"work/{NAME}", None, {"SKILL_SOURCE": "  "}, "unknown"),
        # the host's own variables, when the folder says nothing
        (f"work/{NAME}", None, {"CLAUDECODE": "1"}, "claude-code"),
        (f"work/{NAME}", None, {"CURSOR_AGENT": "1"}, "cursor"),
        (f"work/{NAME}", None, {"CURSOR_TRACE_ID": "4f1c"}, "cursor"),
        (f"work/{NAME}", None, {"CODEX_THREAD_ID": "019a-…"}, "codex"),
        (f"work/{NAME}", None, {"CODEX_SANDBOX": "seatbelt"}, "codex"),
        (f"work/{NAME}", None, {"CODEX_SANDBOX_NETWORK_DISABLED": "1"}, "codex"),
        (f"work/{NAME}", None, {"OPENCLAW_SHELL": "exec"}, "openclaw"),
        (f"work/{NAME}", None, {"CLAUDECODE": ""}, "unknown"),
        # Claude Code started in Cursor's terminal: the inner host counts
        (f"work/{NAME}", None, {"CLAUDECODE": "1", "CURSOR_TRACE_ID": "x"}, "claude-code"),
        (f"work/{NAME}", None, {"CODEX_THREAD_ID": "t", "CLAUDECODE": "1"}, "codex"),
        # the install folder, then the environment; SKILL_SOURCE above both
        (f"home/.cursor/skills/{NAME}", None, {"CLAUDECODE": "1"}, "cursor"),
        (f"work/{NAME}", None, {"SKILL_SOURCE": "mine", "CLAUDECODE": "1"}, "mine"),
    ],
)
def test_platform_by_install_location_and_environment(
    tmp_path: Path, where: str, marker: str | None, env: dict[str, str], platform: str
) -> None:
    skill_md = install(tmp_path, where, marker)
    attribution = load_attribution(skill_md, env=env, home=tmp_path / "home")
    assert attribution == Attribution(NAME, VERSION, platform)


def test_a_symlinked_cursor_install_counts_as_cursor(tmp_path: Path) -> None:
    real = install(tmp_path, f"src/{NAME}")
    link = tmp_path / "home/.cursor/skills" / NAME
    link.parent.mkdir(parents=True)
    link.symlink_to(real.parent)
    assert load_attribution(link / "SKILL.md", env={}, home=tmp_path / "home").platform == "cursor"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# no frontmatter\n", "no YAML frontmatter"),
        ("---\nname: x\n", "no closing ---"),
        ("---\nname: [unclosed\n---\n", "not valid YAML"),
        ("---\n- a list\n---\n", "mapping"),
        ("---\nmetadata:\n  version: '1'\n---\n", "'name'"),
        ("---\nname: x\n---\n", "'metadata.version'"),
    ],
)
def test_bad_frontmatter_names_the_file_and_key(tmp_path: Path, text: str, problem: str) -> None:
    skill_md = tmp_path / "SKILL.md"
    skill_md.write_text(text)
    with pytest.raises(errors.ConfigError, match=problem) as caught:
        load_attribution(skill_md, env={})
    assert str(skill_md) in str(caught.value)


def test_a_top_level_version_is_accepted(tmp_path: Path) -> None:
    skill_md = tmp_path / "SKILL.md"
    skill_md.write_text("---\nname: my-skill\nversion: 2.5\n---\nbody\n")
    assert load_attribution(skill_md, env={}, home=tmp_path) == Attribution(
        "my-skill", "2.5", "unknown"
    )


@pytest.mark.parametrize(
    ("where", "platform"),
    [
        (f"home/.clawhub/skills/{NAME}", "clawhub"),
        (f"home/.cursor/skills/{NAME}", "cursor"),
        (f"work/{NAME}", "unknown"),
    ],
)
async def test_every_request_carries_the_headers(tmp_path: Path, where: str, platform: str) -> None:
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        data = {"token": "nmv_usr_x123456", "task_id": "t", "session_id": "s", "available": 1}
        return web.json_response({"code": 0, "data": data})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with TestServer(app, host="127.0.0.1") as server:
        api = str(server.make_url("")).rstrip("/")
        settings = Settings(api, "http://web", tmp_path / "cfg")
        attribution = load_attribution(install(tmp_path, where), env={}, home=tmp_path / "home")
        async with NemoClient(settings, attribution=attribution) as client:
            await client.create_session()
            await client.credits()
    assert [r.path for r in seen] == [p.ANONYMOUS_TOKEN, p.CREATE_SESSION, p.CREDITS]
    for request in seen:
        assert request.headers["X-Skill-Source"] == NAME
        assert request.headers["X-Skill-Version"] == VERSION
        assert request.headers["X-Skill-Platform"] == platform
