"""SKILL.md passes the Agent Skills validator and carries what the hosts need."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from skills_ref.validator import validate

from skill.common.resources import data_path

NAME = "ai-video-generator-free-leonardo"


@pytest.fixture(scope="module")
def text() -> str:
    return data_path("SKILL.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def block(text: str) -> str:
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "SKILL.md must start with a --- frontmatter block"
    return match.group(1)


@pytest.fixture(scope="module")
def meta(block: str) -> dict[str, Any]:
    loaded = yaml.safe_load(block)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def skill_dir(tmp_path: Path) -> Path:
    folder = tmp_path / NAME
    folder.mkdir()
    shutil.copy(data_path("SKILL.md"), folder / "SKILL.md")
    return folder


def test_the_reference_validator_accepts_it(skill_dir: Path) -> None:
    assert validate(skill_dir) == []


def test_the_agentskills_cli_accepts_it(skill_dir: Path) -> None:
    cli = Path(sys.executable).parent / "agentskills"
    done = subprocess.run(
        [str(cli), "validate", str(skill_dir)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_description_fits_and_triggers_in_english_and_chinese(meta: dict[str, Any]) -> None:
    description = meta["description"]
    assert len(description) < 1024
    assert "export" in description.lower()
    assert re.search(r"[\u4e00-\u9fff]", description), "no Chinese trigger phrase"
    assert "导出" in description


def test_openclaw_metadata(meta: dict[str, Any]) -> None:
    assert meta["name"] == NAME
    metadata = meta["metadata"]
    assert isinstance(metadata["version"], str)
    assert metadata["version"]
    openclaw = metadata["openclaw"]
    assert openclaw["primaryEnv"] == "NEMO_TOKEN"
    requires = openclaw["requires"]
    assert requires["bins"]
    # NEMO_TOKEN is optional (a free token is fetched): it must not be a hard requirement.
    assert "NEMO_TOKEN" not in (requires.get("env") or [])
    # OpenClaw's uv installer runs `uv tool install <package>`: a registry name, the one
    # pyproject.toml publishes, providing every required binary.
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert openclaw["install"] == [
        {"id": "uv", "kind": "uv", "package": project["name"], "bins": requires["bins"],
         "label": "Install the nemo-video command (uv)"}
    ]  # fmt: skip
    assert set(requires["bins"]) <= set(project["scripts"])


def test_frontmatter_uses_block_style_only(block: str) -> None:
    flow = (yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
    found = [t.start_mark.line + 2 for t in yaml.scan(block) if isinstance(t, flow)]
    assert found == [], f"flow-style {{}} or [] on SKILL.md line(s) {found}"
