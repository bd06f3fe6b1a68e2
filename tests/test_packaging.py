"""The distribution OpenClaw's uv installer asks for builds, passes twine's checks and
carries the command and the skill's data."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-d", str(out)], cwd=ROOT,
                   check=True, capture_output=True)  # fmt: skip
    return out


def test_twine_accepts_the_sdist_and_the_wheel(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert sorted(Path(f).suffix for f in files) == [".gz", ".whl"]
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_wheel_has_the_command_and_the_skill_data(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(info).decode())
        entry_points = z.read(info.replace("METADATA", "entry_points.txt")).decode()
        assert z.read("skill/_data/SKILL.md") == (ROOT / "SKILL.md").read_bytes()
    assert meta["Name"] == "nemo-video-skill"
    assert "nemo-video = skill.doors.cli:main" in entry_points
    for lang in ("en", "zh"):
        for yaml_file in (ROOT / "prompts" / lang).glob("*.yaml"):
            assert f"skill/_data/prompts/{lang}/{yaml_file.name}" in names


def test_the_sdist_builds_the_same_package(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[-1] for n in tar.getnames()}
    assert {"pyproject.toml", "SKILL.md", "skill/doors/cli.py", "prompts/en/turn.yaml"} <= names
    assert not any(n.startswith((".venv/", "nemovideo-exports/")) for n in names)
