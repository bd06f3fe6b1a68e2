"""`make demo`: the main job, end to end, against the local stand-in backend.

Starts `nemo-video standin` on loopback, then plays the conversation a user would
have, one `nemo-video say --json` process per turn exactly as an agent host runs it,
and prints the chat as the user sees it. Ends with the MP4's path, size, duration
and resolution. Nothing here talks to the cloud; the stand-in simulates the AI and
renders a real video.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from skill.standin.probe import probe
from skill.standin.render import SAMPLE_PHOTO

# One generation (100) and one edit (50) need more than the free token's 100 credits.
DEMO_SCENARIO = "starting_credits: 300\n"

TURNS: list[tuple[str, list[Path]]] = [
    ("upload this photo", [SAMPLE_PHOTO]),
    ("generate a 15-second video from this image and text prompt: a calm beach at sunset", []),
    ("add lo-fi BGM at 30%", []),
    ("show tracks", []),
    ("credits", []),
    ("export 1080p MP4", []),
]


def main() -> int:
    out_dir = Path.cwd() / "nemovideo-exports"
    with tempfile.TemporaryDirectory(prefix="nemo-demo-") as tmp:
        scenario = Path(tmp) / "demo.yaml"
        scenario.write_text(DEMO_SCENARIO, encoding="utf-8")
        log = (Path(tmp) / "standin.log").open("w")
        standin = subprocess.Popen(
            [sys.executable, "-m", "skill", "standin", "--host", "127.0.0.1", "--port", "0",
             "--scenario", str(scenario)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )  # fmt: skip
        try:
            api_url = _base_url(standin)
            env = {
                **os.environ,
                "NEMO_API_URL": api_url,
                "NEMO_CONFIG_DIR": str(Path(tmp) / "config"),
                "NEMO_OUTPUT_DIR": str(out_dir),
                "NEMO_CONVERSATION": "demo",
            }
            env.pop("NEMO_TOKEN", None)
            print(
                f"Local stand-in backend at {api_url}: the AI is simulated by rules, the video\n"
                "rendering is real. Demo scenario: the account starts with 300 credits (the\n"
                "cloud's free token has 100, about one generation).\n"
            )
            files: list[str] = []
            for text, attached in TURNS:
                doc = _say(text, attached, env)
                files += doc["files"]
            if not files:
                print("The demo ended without an MP4: see the replies above.")
                return 1
        finally:
            standin.terminate()
            standin.wait(10)
            log.close()
    mp4 = Path(files[-1])
    info = probe(mp4)
    print(f"MP4: {mp4}")
    print(f"     {mp4.stat().st_size / 1e6:.1f} MB, {info.duration:.1f} s, "
          f"{info.width}x{info.height} {info.video_codec}, audio {info.audio_codec}")  # fmt: skip
    return 0


def _base_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"https?://[^\s]+", line)
        if match:
            return match.group(0).rstrip("/")
    raise SystemExit("the stand-in exited before printing its address")


def _say(text: str, files: list[Path], env: dict[str, str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "skill", "say", text, "--json"]
    for f in files:
        cmd += ["--file", str(f)]
    shown = text + "".join(f"  [📎 {f.name}]" for f in files)
    print(f"👤 {shown}")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    try:
        doc: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"`nemo-video say` did not print JSON (exit {done.returncode})") from None
    for reply in doc["replies"]:
        print("🤖 " + reply.replace("\n", "\n   "))
    for link in doc["links"]:
        print(f"🔗 {link}")
    for path in doc["files"]:
        print(f"💾 {path}")
    print()
    return doc


if __name__ == "__main__":
    raise SystemExit(main())
