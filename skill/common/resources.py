"""Where the data folders are: `SKILL.md`, `intents/` and `prompts/`.

In a checkout (or an editable install) they sit beside the `skill/` package; an
installed wheel carries copies under `skill/_data/`. NEMO_SKILL_DIR points at a
skill folder explicitly (a host that installed SKILL.md somewhere else).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from skill.common.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parents[1]  # the skill/ package


@cache
def skill_dir() -> Path:
    """The folder holding SKILL.md, intents/ and prompts/."""
    override = os.environ.get("NEMO_SKILL_DIR")
    candidates = [Path(override).expanduser()] if override else []
    candidates += [_PACKAGE.parent, _PACKAGE / "_data"]
    for folder in candidates:
        if (folder / "SKILL.md").is_file() and (folder / "prompts").is_dir():
            return folder
    raise ConfigError(
        "Cannot find SKILL.md with prompts/ beside it (looked in "
        + ", ".join(str(c) for c in candidates)
        + "). Reinstall the skill, or set NEMO_SKILL_DIR to its folder."
    )


def data_path(*parts: str) -> Path:
    return skill_dir().joinpath(*parts)
