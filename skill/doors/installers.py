"""`nemo-video install-skill --host NAME [--project] [--link]`: put the skill where a host reads it.

    host            skill folder (home / --project)           MCP server entry (home / --project)
    claude-code     ~/.claude/skills/  .claude/skills/        -
    codex, agents   ~/.agents/skills/  .agents/skills/        -
    cursor          ~/.cursor/skills/  .cursor/skills/        ~/.cursor/mcp.json  .cursor/mcp.json
    claude-desktop  -                                         claude_desktop_config.json (per OS)
    openclaw        ~/.openclaw/skills/  skills/              -

The skill folder is named after SKILL.md's `name` and holds a copy of SKILL.md (or, with
--link, is a symlink to the runtime's skill folder). The MCP entry `nemo-video` runs
`nemo-video mcp` with SKILL_SOURCE set to the host. Everything is idempotent: a second run
changes nothing, and a config file is only ever rewritten to add or update our own entry,
keeping every other key as it was. A config file that is not valid JSON is left untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skill.common import storage
from skill.common.errors import ConfigError, InputError
from skill.common.resources import skill_dir
from skill.wire.attribution import read_frontmatter

SERVER = "nemo-video"


@dataclass(frozen=True)
class Host:
    label: str  # how the host calls itself, for the user's lines
    platform: str  # SKILL_SOURCE for the MCP server it starts
    skills: tuple[str | None, str | None]  # (under home, under the project)
    mcp: tuple[str | None, str | None] = (None, None)


HOSTS: dict[str, Host] = {
    "claude-code": Host("Claude Code", "claude-code", (".claude/skills", ".claude/skills")),
    "codex": Host("Codex", "codex", (".agents/skills", ".agents/skills")),
    "agents": Host("Agent Skills hosts", "unknown", (".agents/skills", ".agents/skills")),
    "cursor": Host(
        "Cursor", "cursor", (".cursor/skills", ".cursor/skills"), (".cursor/mcp.json",) * 2
    ),
    "claude-desktop": Host("Claude Desktop", "claude-desktop", (None, None), ("<desktop>", None)),
    "openclaw": Host("OpenClaw", "openclaw", (".openclaw/skills", "skills")),
}


@dataclass(frozen=True)
class Step:
    """One thing install-skill did (or found already done); `key` names its line in prompts/."""

    key: str
    path: Path
    target: Path | None = None


def install(
    host_name: str,
    *,
    project: bool = False,
    link: bool = False,
    home: Path | None = None,
    cwd: Path | None = None,
    command: tuple[str, ...] | None = None,
    platform: str = sys.platform,
    env: Mapping[str, str] | None = None,
) -> list[Step]:
    """Install for one host; the steps say what changed. Raises before changing anything."""
    host = HOSTS[host_name]
    home, cwd = home or Path.home(), cwd or Path.cwd()
    root = cwd if project else home
    skills, mcp = host.skills[project], host.mcp[project]
    if skills is None and mcp is None:
        raise InputError("this host has no per-project folder", key="install.no_project",
                         host=host.label)  # fmt: skip
    mcp_path = None
    if mcp == "<desktop>":
        mcp_path = desktop_config(home, platform, os.environ if env is None else env)
    elif mcp is not None:
        mcp_path = root / mcp
    # Read and check everything first, so that a bad file stops us before any write.
    config = _read_config(mcp_path) if mcp_path else None
    steps = []
    if skills is not None:
        steps.append(_install_folder(root / skills, link=link))
    if mcp_path is not None and config is not None:
        entry = {"command": (command or server_command())[0],
                 "args": [*(command or server_command())[1:]],
                 "env": {"SKILL_SOURCE": host.platform}}  # fmt: skip
        steps.append(_add_server(mcp_path, config, entry))
    return steps


def desktop_config(home: Path, platform: str, env: Mapping[str, str]) -> Path:
    """Claude Desktop's config file: macOS and Windows as documented; Linux by convention."""
    if platform == "darwin":
        folder = home / "Library" / "Application Support" / "Claude"
    elif platform.startswith("win"):
        folder = Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "Claude"
    else:
        folder = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "Claude"
    return folder / "claude_desktop_config.json"


def server_command() -> tuple[str, ...]:
    """The absolute command that starts our MCP server (hosts start it with a bare PATH)."""
    exe = "nemo-video.exe" if sys.platform.startswith("win") else "nemo-video"
    beside = Path(sys.executable).parent / exe
    found = str(beside) if beside.is_file() else shutil.which("nemo-video")
    return (found, "mcp") if found else (sys.executable, "-m", "skill", "mcp")


# -- the skill folder ------------------------------------------------------------------------


def _install_folder(parent: Path, *, link: bool) -> Step:
    source = skill_dir()
    skill_md = source / "SKILL.md"
    name = read_frontmatter(skill_md).get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{skill_md}: frontmatter key 'name' is missing or empty.")
    dest = parent / name.strip()
    if dest.is_symlink() and dest.resolve() == source.resolve():
        return Step("install.skill_unchanged", dest)
    if link:
        if dest.exists() or dest.is_symlink():
            raise InputError(f"{dest} exists and is not a link to {source}",
                             key="install.link_conflict", path=str(dest))  # fmt: skip
        parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(source, target_is_directory=True)
        return Step("install.skill_linked", dest, source)
    data = skill_md.read_bytes()
    target = dest / "SKILL.md"
    if target.is_file() and target.read_bytes() == data:
        return Step("install.skill_unchanged", dest)
    key = "install.skill_updated" if target.exists() else "install.skill_copied"
    storage.atomic_write(target, data)
    return Step(key, dest)


# -- the MCP server entry --------------------------------------------------------------------


def _read_config(path: Path) -> dict[str, Any]:
    """The host's MCP config as a mapping (empty when there is none); never a partial read."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}" if isinstance(
            exc, json.JSONDecodeError) else "not UTF-8 text"  # fmt: skip
        raise ConfigError(f"{path}: not valid JSON ({where})", key="install.not_json",
                          path=str(path), detail=where) from None  # fmt: skip
    if not isinstance(doc, dict) or not isinstance(doc.get("mcpServers", {}), dict):
        raise ConfigError(f"{path}: expected a JSON object with an 'mcpServers' object",
                          key="install.not_json", path=str(path),
                          detail='not an object with an "mcpServers" object')  # fmt: skip
    return dict(doc)


def _add_server(path: Path, config: dict[str, Any], entry: dict[str, Any]) -> Step:
    servers: dict[str, Any] = dict(config.get("mcpServers", {}))
    old = servers.get(SERVER)
    if isinstance(old, dict):  # keep what the user added to our entry (e.g. NEMO_TOKEN)
        old_env = old.get("env")
        env = {**(old_env if isinstance(old_env, dict) else {}), **entry["env"]}
        entry = {**old, **entry, "env": env}
    if old == entry:
        return Step("install.mcp_unchanged", path)
    servers[SERVER] = entry
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    storage.write_json(path, {**config, "mcpServers": servers}, mode=mode)
    return Step("install.mcp_updated" if old is not None else "install.mcp_added", path)
