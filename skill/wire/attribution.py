"""The three attribution headers, read from SKILL.md's frontmatter at run time.

    X-Skill-Source    the frontmatter `name`
    X-Skill-Version   `metadata.version` (metadata as one JSON line or a YAML mapping;
                      a top-level `version` is accepted too)
    X-Skill-Platform  env SKILL_SOURCE; else where SKILL.md is installed: under
                      ~/.clawhub/ or beside a `.clawhub/origin.json` marker -> "clawhub",
                      under ~/.cursor/skills/ or any `.cursor/skills/` folder -> "cursor",
                      any `.claude/skills/` folder -> "claude-code", under ~/.openclaw/
                      -> "openclaw"; else the host whose marker variable is in the
                      environment (HOST_VARIABLES); else "unknown"

The backend answers an export without them with 402, so nothing here is hard-coded:
a renamed or re-versioned skill sends its own values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from skill.common.errors import ConfigError
from skill.common.resources import data_path

CLAWHUB, CURSOR, UNKNOWN = "clawhub", "cursor", "unknown"
CLAUDE_CODE, CODEX, OPENCLAW = "claude-code", "codex", "openclaw"

# What each host sets in the environment of the commands it runs, most specific first
# (Claude Code started in Cursor's terminal has both CLAUDECODE and CURSOR_TRACE_ID):
#   OPENCLAW_SHELL   exec tool: "exec" (docs/help/environment.md, openclaw/openclaw)
#   CODEX_THREAD_ID  every shell tool call; CODEX_SANDBOX ("seatbelt") and
#                    CODEX_SANDBOX_NETWORK_DISABLED ("1") when sandboxed
#                    (codex-rs/protocol/src/shell_environment.rs, core/src/spawn.rs)
#   CLAUDECODE       "1" in shells Claude Code spawns (code.claude.com/docs/en/env-vars)
#   CURSOR_AGENT     "1" in the agent's terminal (cursor.com/docs/agent/terminal)
#   CURSOR_TRACE_ID  Cursor's integrated terminal (vercel/vercel packages/detect-agent)
HOST_VARIABLES: tuple[tuple[str, str], ...] = (
    ("OPENCLAW_SHELL", OPENCLAW),
    ("CODEX_THREAD_ID", CODEX),
    ("CODEX_SANDBOX", CODEX),
    ("CODEX_SANDBOX_NETWORK_DISABLED", CODEX),
    ("CLAUDECODE", CLAUDE_CODE),
    ("CURSOR_AGENT", CURSOR),
    ("CURSOR_TRACE_ID", CURSOR),
)


@dataclass(frozen=True)
class Attribution:
    source: str
    version: str
    platform: str

    def headers(self) -> dict[str, str]:
        return {
            "X-Skill-Source": self.source,
            "X-Skill-Version": self.version,
            "X-Skill-Platform": self.platform,
        }


def load_attribution(
    skill_md: Path | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Attribution:
    """Attribution for the SKILL.md at `skill_md` (default: the one the runtime ships)."""
    if skill_md is None:
        skill_md = data_path("SKILL.md")
    meta = read_frontmatter(skill_md)
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"{skill_md}: frontmatter key 'name' is missing or empty.", path=str(skill_md)
        )
    nested = metadata_of(meta)
    version = nested.get("version")
    if version is None:
        version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, (str, int, float)) or version == "":
        raise ConfigError(
            f"{skill_md}: frontmatter key 'metadata.version' is missing; add e.g. "
            'version: "1.0.0" under metadata.',
            path=str(skill_md),
        )
    env = os.environ if env is None else env
    return Attribution(name.strip(), str(version), detect_platform(skill_md, env, home))


def metadata_of(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The frontmatter's `metadata`: one line of JSON (the form OpenClaw and ClawHub parse,
    and a plain string to the Agent Skills validator), or a YAML mapping."""
    nested = meta.get("metadata")
    if isinstance(nested, str):
        try:
            nested = json.loads(nested)
        except ValueError:
            nested = None
    return dict(nested) if isinstance(nested, Mapping) else {}


def read_frontmatter(path: Path) -> dict[str, Any]:
    """The YAML mapping between the leading `---` lines of a Markdown file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}).", path=str(path)) from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{path}: no YAML frontmatter (the file must start with ---).")
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    except StopIteration:
        raise ConfigError(f"{path}: the frontmatter has no closing --- line.") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: the frontmatter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: the frontmatter must be a YAML mapping of keys.")
    return meta


def detect_platform(skill_md: Path, env: Mapping[str, str], home: Path | None = None) -> str:
    """SKILL_SOURCE, else the install folder's host, else the environment's, else "unknown"."""
    if env.get("SKILL_SOURCE", "").strip():
        return env["SKILL_SOURCE"].strip()
    return installed_under(skill_md, home or Path.home()) or host_from_env(env) or UNKNOWN


def host_from_env(env: Mapping[str, str]) -> str | None:
    """The host whose marker variable is set (non-empty) in `env`, if any."""
    return next((host for name, host in HOST_VARIABLES if env.get(name, "").strip()), None)


def installed_under(skill_md: Path, home: Path) -> str | None:
    """The host whose skills folder holds `skill_md`, if any."""
    homes = {home.absolute(), home.resolve()}
    # A symlinked install (~/.cursor/skills/x -> /src/x) counts by either path.
    for path in dict.fromkeys((skill_md.absolute(), skill_md.resolve())):
        folders = path.parents
        if any(path.is_relative_to(h / ".clawhub") for h in homes) or any(
            (f / ".clawhub" / "origin.json").is_file() for f in folders
        ):
            return CLAWHUB
        # ~/.cursor/skills/ and a project's .cursor/skills/ alike.
        if any(f.name == "skills" and f.parent.name == ".cursor" for f in folders):
            return CURSOR
        if any(f.name == "skills" and f.parent.name == ".claude" for f in folders):
            return CLAUDE_CODE
        if any(path.is_relative_to(h / ".openclaw") for h in homes):
            return OPENCLAW
    return None
