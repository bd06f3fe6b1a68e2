"""install-skill writes what each host reads, on a temporary home; a second run changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from skills_ref.validator import validate

from skill.common import errors
from skill.common.resources import data_path, skill_dir
from skill.doors.cli import HOST_NAMES
from skill.doors.installers import HOSTS, desktop_config, install

NAME = "ai-video-generator-free-leonardo"
COMMAND = ("/opt/nemo/bin/nemo-video", "mcp")


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file (content) and link (target) under root."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def run(
    host: str, home: Path, cwd: Path, *, project: bool = False, link: bool = False
) -> list[str]:
    steps = install(host, home=home, cwd=cwd, project=project, link=link, command=COMMAND,
                    platform="linux", env={})  # fmt: skip
    return [f"{s.key.removeprefix('install.')} {s.path.relative_to(home.parent)}" for s in steps]


@pytest.mark.parametrize(
    ("host", "project", "first", "mcp_file"),
    [
        ("claude-code", False, ["skill_copied home/.claude/skills/" + NAME], None),
        ("claude-code", True, ["skill_copied proj/.claude/skills/" + NAME], None),
        ("codex", False, ["skill_copied home/.agents/skills/" + NAME], None),
        ("codex", True, ["skill_copied proj/.agents/skills/" + NAME], None),
        ("agents", True, ["skill_copied proj/.agents/skills/" + NAME], None),
        ("openclaw", False, ["skill_copied home/.openclaw/skills/" + NAME], None),
        ("openclaw", True, ["skill_copied proj/skills/" + NAME], None),
        (
            "cursor",
            False,
            ["skill_copied home/.cursor/skills/" + NAME, "mcp_added home/.cursor/mcp.json"],
            "home/.cursor/mcp.json",
        ),
        (
            "cursor",
            True,
            ["skill_copied proj/.cursor/skills/" + NAME, "mcp_added proj/.cursor/mcp.json"],
            "proj/.cursor/mcp.json",
        ),
        (
            "claude-desktop",
            False,
            ["mcp_added home/.config/Claude/claude_desktop_config.json"],
            "home/.config/Claude/claude_desktop_config.json",
        ),
    ],
)
def test_each_host_gets_its_files_once(
    tmp_path: Path, host: str, project: bool, first: list[str], mcp_file: str | None
) -> None:
    home, proj = tmp_path / "home", tmp_path / "proj"
    home.mkdir(), proj.mkdir()
    assert run(host, home, proj, project=project) == first
    written = snapshot(tmp_path)
    skill_md = [p for p in written if p.endswith("/SKILL.md")]
    assert len(skill_md) == (0 if host == "claude-desktop" else 1)
    for p in skill_md:
        assert written[p] == data_path("SKILL.md").read_bytes()
        assert validate(tmp_path / Path(p).parent) == []  # what `agentskills validate` checks
    if mcp_file:
        entry = json.loads((tmp_path / mcp_file).read_text())["mcpServers"]["nemo-video"]
        assert entry == {"command": COMMAND[0], "args": ["mcp"],
                         "env": {"SKILL_SOURCE": HOSTS[host].platform}}  # fmt: skip
    again = run(host, home, proj, project=project)
    assert all(step.startswith(("skill_unchanged", "mcp_unchanged")) for step in again), again
    assert snapshot(tmp_path) == written


def test_the_users_other_servers_and_keys_are_kept(tmp_path: Path) -> None:
    config = tmp_path / ".cursor/mcp.json"
    config.parent.mkdir(parents=True)
    mine = {"theme": "dark", "mcpServers": {"github": {"command": "gh-mcp", "args": []},
            "nemo-video": {"command": "old", "env": {"NEMO_TOKEN": "nmv_usr_mine"}}}}  # fmt: skip
    config.write_text(json.dumps(mine))
    config.chmod(0o600)
    assert (
        run("cursor", tmp_path, tmp_path)[-1]
        == "mcp_updated " + f"{tmp_path.name}/.cursor/mcp.json"
    )
    doc = json.loads(config.read_text())
    assert doc["theme"] == "dark"
    assert doc["mcpServers"]["github"] == {"command": "gh-mcp", "args": []}
    assert doc["mcpServers"]["nemo-video"] == {
        "command": COMMAND[0], "args": ["mcp"],
        "env": {"NEMO_TOKEN": "nmv_usr_mine", "SKILL_SOURCE": "cursor"},
    }  # fmt: skip
    assert config.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"mcpServers": []}'])
def test_a_broken_config_is_left_untouched_and_nothing_is_installed(
    tmp_path: Path, text: str
) -> None:
    config = tmp_path / ".cursor/mcp.json"
    config.parent.mkdir(parents=True)
    config.write_text(text)
    with pytest.raises(errors.ConfigError) as caught:
        run("cursor", tmp_path, tmp_path)
    assert caught.value.key == "install.not_json"
    assert caught.value.details["path"] == str(config)
    assert config.read_text() == text
    assert not (tmp_path / ".cursor/skills").exists()


def test_link_mode_links_the_runtime_skill_folder(tmp_path: Path) -> None:
    assert run("claude-code", tmp_path, tmp_path, link=True) == [
        f"skill_linked {tmp_path.name}/.claude/skills/{NAME}"
    ]
    dest = tmp_path / ".claude/skills" / NAME
    assert dest.resolve() == skill_dir().resolve()
    assert run("claude-code", tmp_path, tmp_path, link=True)[0].startswith("skill_unchanged")
    assert run("claude-code", tmp_path, tmp_path)[0].startswith("skill_unchanged")


def test_link_mode_never_replaces_a_real_folder(tmp_path: Path) -> None:
    run("claude-code", tmp_path, tmp_path)
    with pytest.raises(errors.InputError) as caught:
        run("claude-code", tmp_path, tmp_path, link=True)
    assert caught.value.key == "install.link_conflict"


def test_claude_desktop_has_no_project_scope(tmp_path: Path) -> None:
    with pytest.raises(errors.InputError) as caught:
        run("claude-desktop", tmp_path, tmp_path, project=True)
    assert caught.value.key == "install.no_project"


@pytest.mark.parametrize(
    ("platform", "env", "where"),
    [
        ("darwin", {}, "H/Library/Application Support/Claude/claude_desktop_config.json"),
        ("win32", {"APPDATA": "A"}, "A/Claude/claude_desktop_config.json"),
        ("linux", {}, "H/.config/Claude/claude_desktop_config.json"),
        ("linux", {"XDG_CONFIG_HOME": "X"}, "X/Claude/claude_desktop_config.json"),
    ],
)
def test_claude_desktop_config_per_platform(platform: str, env: dict[str, str], where: str) -> None:
    assert desktop_config(Path("H"), platform, env) == Path(where)


def test_the_cli_offers_every_host() -> None:
    assert sorted(HOST_NAMES) == sorted(HOSTS)


def test_the_command_installs_and_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "LANG": "C"}
    cmd = [sys.executable, "-m", "skill", "install-skill", "--host", "cursor"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "✅ Skill installed" in first.stdout
    assert "Restart Cursor" in first.stdout
    entry = json.loads((tmp_path / ".cursor/mcp.json").read_text())["mcpServers"]["nemo-video"]
    assert entry["args"][-1] == "mcp"
    assert Path(entry["command"]).is_absolute()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "Nothing to change" in second.stdout
    (tmp_path / ".cursor/mcp.json").write_text("{oops")
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert bad.returncode == 4
    assert "Nothing was changed" in bad.stderr
    assert "Traceback" not in bad.stderr
