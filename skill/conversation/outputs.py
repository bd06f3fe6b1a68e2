"""Where an exported MP4 lands: the folder, a safe file name, a name that is free.

A name is taken by a file, or by a `.part` a live download holds (its flock, see
`wire.transfer`); a `.part` nobody holds is a killed run's leftover and does not block.
"""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from skill.common.config import Settings
from skill.common.errors import InputError
from skill.wire.transfer import part_in_use, part_path

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_out_dir(settings: Settings, cwd: Path) -> Path:
    """NEMO_OUTPUT_DIR, else `nemovideo-exports/` in the working folder (`--out` wins over
    both; the caller handles it)."""
    return settings.output_dir or cwd / "nemovideo-exports"


def file_name(url: str, render_id: str, submitted_at: float) -> str:
    """A safe local name for the MP4: the server's file name reduced to [A-Za-z0-9._-]
    when it says something, else `nemovideo-<YYYYmmdd-HHMMSS>.mp4`."""
    raw = unquote(urlsplit(url).path).replace("\\", "/").rsplit("/", 1)[-1]
    stem, ext = os.path.splitext(raw)
    ext = ext.lower() if ext.lower() in VIDEO_EXTENSIONS else ".mp4"
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    safe = _UNSAFE.sub("-", ascii_stem).strip("-._")[:80].rstrip("-._")
    if not safe or safe.lower() == "download" or render_id in safe:
        stamp = datetime.fromtimestamp(submitted_at).strftime("%Y%m%d-%H%M%S")
        safe = f"nemovideo-{stamp}"
    return safe + ext


def free_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `name-2`, `name-3`… when taken by a file or a live download."""
    stem, ext = os.path.splitext(name)
    n = 1
    while True:
        path = folder / (name if n == 1 else f"{stem}-{n}{ext}")
        if not path.exists() and not part_in_use(part_path(path)):
            return path
        n += 1


def check_folder(folder: Path, key: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, "not writable")
    except OSError as exc:
        raise InputError(f"{folder}: {exc.strerror}", key=key, folder=str(folder)) from None
