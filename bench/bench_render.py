"""How long the stand-in takes to render a 15 s 1080p draft (photo with zoom, title, BGM).

.venv/bin/python bench/bench_render.py [runs]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from skill.standin.probe import probe
from skill.standin.render import SAMPLE_MUSIC, SAMPLE_PHOTO, render_draft

MEDIA = {"cdn://photo.jpg": SAMPLE_PHOTO, "cdn://lofi.m4a": SAMPLE_MUSIC}
DRAFT = {
    "d": 15000,
    "m": {"w": 1920, "h": 1080, "fps": 30},
    "t": [
        {"tt": 0, "sg": [{"s": 0, "d": 15000, "m": {"kind": "image", "url": "cdn://photo.jpg"}}]},
        {"tt": 1, "sg": [{"s": 0, "d": 15000, "m": {"url": "cdn://lofi.m4a", "volume": 0.3}}]},
        {"tt": 7, "sg": [{"s": 0, "d": 3000, "m": {"text": "Paradise Found"}}]},
    ],
}
SYNTHETIC = {
    **DRAFT,
    "t": [{"tt": 0, "sg": [{"s": 0, "d": 15000, "m": {"kind": "synthetic", "seed": 1}}]}],
}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        for name, draft in (("photo+title+bgm", DRAFT), ("synthetic", SYNTHETIC)):
            out = Path(tmp) / f"{name}.mp4"
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                asyncio.run(render_draft(draft, out, resolve=MEDIA.get))
                times.append(time.perf_counter() - start)
            info = probe(out)
            print(
                f"{name}: 15 s {info.width}x{info.height} {info.video_codec}/{info.audio_codec}"
                f" in {min(times):.2f} s best, {sum(times) / runs:.2f} s mean of {runs};"
                f" {out.stat().st_size / 1e6:.2f} MB"
            )


if __name__ == "__main__":
    main()
