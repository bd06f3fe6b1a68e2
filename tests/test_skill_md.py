"""SKILL.md passes the Agent Skills validator and carries what the hosts need."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from skills_ref.validator import validate
from tokenizers import Tokenizer

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
    metadata = json.loads(meta["metadata"])
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


def test_metadata_is_one_line_of_json_in_quotes(block: str, meta: dict[str, Any]) -> None:
    """The form every consumer reads. OpenClaw's frontmatter parser
    (src/markdown/frontmatter.ts) prefers a line value starting with "{" and parses
    `metadata` as JSON5, taking `openclaw` only when it is an object
    (src/shared/frontmatter.ts); ClawHub JSON-parses a string `metadata`
    (convex/lib/skills.ts); the Agent Skills validator's strictyaml refuses an unquoted
    {...}, so the quotes make it a plain string to it."""
    (line,) = [x for x in block.splitlines() if x.startswith("metadata:")]
    value = line.removeprefix("metadata:").strip()
    assert value.startswith("'{") and value.endswith("}'"), line
    assert isinstance(meta["metadata"], str)
    assert json.loads(value[1:-1]) == json.loads(meta["metadata"])
    assert isinstance(json.loads(meta["metadata"])["openclaw"], dict)


def test_read_properties_gives_the_metadata_as_json(skill_dir: Path) -> None:
    cli = Path(sys.executable).parent / "agentskills"
    done = subprocess.run([str(cli), "read-properties", str(skill_dir)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    props = json.loads(done.stdout)
    assert json.loads(props["metadata"])["openclaw"]["primaryEnv"] == "NEMO_TOKEN"


def test_only_a_folder_named_after_the_skill_validates() -> None:
    """As installed (~/.openclaw/skills/<name>/, .claude/skills/<name>/) it passes; the
    repository root has another name, which the validator rightly refuses."""
    root = data_path("SKILL.md").parent
    if root.name != NAME:
        assert any("must match skill name" in e for e in validate(root))


def claude_tokenizer() -> Tokenizer:
    """The Claude tokenizer the anthropic SDK shipped until 0.38 (read from its wheel's
    files, the SDK is never imported). Today's models count a little differently, so
    the test keeps a margin."""
    (path,) = [f for f in metadata.files("anthropic") or [] if f.name == "tokenizer.json"]
    return Tokenizer.from_file(str(path.locate()))


def test_the_file_stays_under_700_tokens(text: str) -> None:
    """All of it, frontmatter included: a host keeps the name and description in its
    context, and reads the rest when it picks the skill."""
    tokens = len(claude_tokenizer().encode(text).ids)
    assert tokens < 690, f"SKILL.md is {tokens} tokens: keep it under 700"


def test_the_host_text_names_the_contract(text: str) -> None:
    body = text.split("\n---\n", 1)[1]
    assert "say --stdin --json" in body and "<<'NEMO_MESSAGE'" in body
    assert "nemo-video schema" in body and "`next`" in body
    for outcome in ("replied", "edited", "asked", "partial", "refused", "failed", "running"):
        assert f"`{outcome}`" in body
