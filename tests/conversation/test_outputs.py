"""Where an MP4 lands: safe names, never over an existing file or a live download."""

import fcntl
from datetime import datetime
from pathlib import Path

import pytest

from skill.common.config import Settings
from skill.conversation import outputs as ex

T0 = 1_700_000_000.0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.example/x/My Video.mp4", "My-Video.mp4"),
        ("https://cdn.example/x/..%2F..%2Fetc%2Fpasswd", "passwd.mp4"),
        ("https://cdn.example/x/..%5C..%5Cevil.MOV", "evil.mov"),
        ("https://cdn.example/x/.hidden.mp4", "hidden.mp4"),
        ("https://cdn.example/x/café ünïcode.webm", "cafe-unicode.webm"),
        ("https://cdn.example/x/海滩.mp4", "nemovideo-STAMP.mp4"),
        ("https://cdn.example/x/render_1.mp4", "nemovideo-STAMP.mp4"),
        ("/api/render/proxy/render_1/download", "nemovideo-STAMP.mp4"),
        ("https://cdn.example/x/out.exe", "out.mp4"),
        ("https://cdn.example/", "nemovideo-STAMP.mp4"),
        ("https://cdn.example/x/" + "a" * 200 + ".mp4", "a" * 80 + ".mp4"),
    ],
)
def test_file_names_are_safe(url: str, expected: str) -> None:
    stamp = datetime.fromtimestamp(T0).strftime("%Y%m%d-%H%M%S")
    assert ex.file_name(url, "render_1", T0) == expected.replace("STAMP", stamp)


def test_an_existing_file_or_live_download_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "v.mp4").write_bytes(b"old")
    part = tmp_path / "v-2.mp4.part"
    part.write_bytes(b"someone is downloading")
    with part.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # a live download holds its .part
        assert ex.free_path(tmp_path, "v.mp4") == tmp_path / "v-3.mp4"
    assert ex.free_path(tmp_path, "v.mp4") == tmp_path / "v-2.mp4"  # nobody holds it: stale


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "CWD/nemovideo-exports"), ({"NEMO_OUTPUT_DIR": "/srv/videos"}, "/srv/videos")],
)
def test_default_out_dir(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    settings = Settings.from_env({"NEMO_CONFIG_DIR": str(tmp_path), **env})
    got = ex.default_out_dir(settings, tmp_path / "work")
    assert got == Path(expected.replace("CWD", str(tmp_path / "work")))
