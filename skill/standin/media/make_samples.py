"""Regenerate the stand-in's own sample media, deterministically (no third-party media).

    .venv/bin/python -m skill.standin.media.make_samples

- sample-photo.jpg: a beach at sunset drawn with Pillow (sky gradient, sun and glow,
  hills, sea with the sun's reflection, sand, a palm tree, birds).
- sample-music.m4a: a 12 s lo-fi loop (80 BPM, Cmaj7-Am7-Fmaj7-G7 electric-piano chords,
  bass, kick, snare, hat and vinyl crackle) synthesised in plain Python, encoded to AAC
  by the ffmpeg of imageio-ffmpeg.
"""

from __future__ import annotations

import itertools
import math
import random
import subprocess
import tempfile
import wave
from array import array
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from skill.standin.probe import ffmpeg_exe

HERE = Path(__file__).resolve().parent
PHOTO = HERE / "sample-photo.jpg"
MUSIC = HERE / "sample-music.m4a"

W, H, HORIZON, SHORE = 1600, 1200, 640, 880
SUN_X, SUN_Y = 1030, HORIZON - 40
Stops = list[tuple[float, tuple[int, int, int]]]
SKY: Stops = [
    (0.0, (38, 28, 84)),
    (0.45, (150, 52, 120)),
    (0.8, (244, 120, 72)),
    (1.0, (255, 196, 110)),
]
SEA: Stops = [(0.0, (120, 60, 110)), (1.0, (30, 24, 70))]
SAND: Stops = [(0.0, (214, 160, 112)), (1.0, (150, 98, 70))]


def _mix(stops: Stops, f: float) -> tuple[int, int, int]:
    for (f0, c0), (f1, c1) in itertools.pairwise(stops):
        if f <= f1:
            k = (f - f0) / (f1 - f0)
            return (
                round(c0[0] + (c1[0] - c0[0]) * k),
                round(c0[1] + (c1[1] - c0[1]) * k),
                round(c0[2] + (c1[2] - c0[2]) * k),
            )
    return stops[-1][1]


def _band(draw: ImageDraw.ImageDraw, top: int, bottom: int, stops: Stops) -> None:
    for y in range(top, bottom):
        draw.line([(0, y), (W, y)], fill=_mix(stops, (y - top) / max(1, bottom - top - 1)))


def _ridge(base: int, amp: float, waves: tuple[float, ...], phase: float) -> list[tuple[int, int]]:
    top = [
        (x, round(base - amp * sum(math.sin(x / w + phase * i) for i, w in enumerate(waves, 1))))
        for x in range(0, W + 20, 20)
    ]
    return [(0, HORIZON + 2), *top, (W, HORIZON + 2)]


def draw_photo() -> Image.Image:
    rng = random.Random(7)
    img = Image.new("RGB", (W, H))
    draw = ImageDraw.Draw(img)
    _band(draw, 0, HORIZON, SKY)
    glow = Image.new("L", (W, H))
    ImageDraw.Draw(glow).ellipse((SUN_X - 210, SUN_Y - 210, SUN_X + 210, SUN_Y + 210), fill=170)
    img.paste((255, 214, 140), mask=glow.filter(ImageFilter.GaussianBlur(90)))
    draw.ellipse((SUN_X - 90, SUN_Y - 90, SUN_X + 90, SUN_Y + 90), fill=(255, 236, 170))
    draw.polygon(_ridge(HORIZON - 70, 28, (140.0, 61.0), 0.4), fill=(98, 46, 104))
    draw.polygon(_ridge(HORIZON - 25, 20, (90.0, 37.0, 23.0), 1.3), fill=(64, 30, 80))
    _band(draw, HORIZON, SHORE, SEA)
    for _ in range(160):  # the sun's reflection: short warm strokes, widest near the horizon
        y = rng.randint(HORIZON + 4, SHORE - 10)
        half = (1 - (y - HORIZON) / (SHORE - HORIZON)) * 120 + 15
        x = SUN_X + rng.gauss(0, half / 2)
        draw.line([(x - half / 3, y), (x + half / 3, y)], fill=(255, 190, 120), width=3)
    shore = [(x, SHORE + round(14 * math.sin(x / 110))) for x in range(0, W + 20, 20)]
    sand = Image.new("RGB", (W, H - SHORE + 20))
    _band(ImageDraw.Draw(sand), 0, sand.height, SAND)
    mask = Image.new("L", (W, H))
    ImageDraw.Draw(mask).polygon([(0, H), *shore, (W, H)], fill=255)
    img.paste(sand, (0, SHORE - 20), mask.crop((0, SHORE - 20, W, H)))
    draw.line(shore, fill=(250, 236, 220), width=5)  # foam
    palm = (20, 12, 30)
    trunk = [(260 + 40 * math.sin(t / 10) + t * 2.2, 1110 - t * 14) for t in range(40)]
    draw.line(trunk, fill=palm, width=26, joint="curve")
    crown = trunk[-1]
    for angle in range(-170, 20, 30):
        a = math.radians(angle)
        tip = (crown[0] + 260 * math.cos(a), crown[1] + 160 * math.sin(a) + 110)
        mid = ((crown[0] + tip[0]) / 2, (crown[1] + tip[1]) / 2 - 50)
        draw.polygon([crown, mid, tip, (mid[0], mid[1] + 36)], fill=palm)
    for bx, by in ((640, 240), (700, 280), (590, 300)):
        draw.line([(bx - 22, by - 10), (bx, by), (bx + 22, by - 10)], fill=palm, width=4)
    return img


RATE, BPM, BARS = 44100, 80, 4
BEAT = 60 / BPM
CHORDS = [  # MIDI notes: Cmaj7, Am7, Fmaj7, G7
    (48, [60, 64, 67, 71]),
    (45, [57, 60, 64, 67]),
    (41, [57, 60, 64, 65]),
    (43, [55, 59, 62, 65]),
]


def _hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _piano(f: float, gain: float, t: float) -> float:
    tone = math.sin(2 * math.pi * f * t) + 0.25 * math.sin(4 * math.pi * f * t)
    tremolo = 1 + 0.15 * math.sin(2 * math.pi * 5 * t)
    return gain * math.exp(-1.3 * t) * min(1.0, t * 80) * tone * tremolo


def _bass(f: float, t: float) -> float:
    return 0.22 * math.exp(-1.5 * t) * min(1.0, t * 200) * math.sin(2 * math.pi * f * t)


def _kick(t: float) -> float:  # a sine falling from 120 Hz to 45 Hz
    return (
        0.4 * math.exp(-14 * t) * math.sin(2 * math.pi * (45 * t + 2.5 * (1 - math.exp(-30 * t))))
    )


def _noise(rng: random.Random, gain: float, decay: float, t: float) -> float:
    return gain * math.exp(-decay * t) * rng.uniform(-1, 1)


def synth_music() -> array[int]:
    """Mono 16-bit samples of four bars that loop seamlessly."""
    rng = random.Random(11)
    n = round(RATE * BEAT * 4 * BARS)
    out = [0.0] * n

    def add(start: float, length: float, voice: Callable[[float], float]) -> None:
        i0 = round(start * RATE)
        for i in range(i0, min(n, i0 + round(length * RATE))):
            out[i] += voice((i - i0) / RATE)

    for bar, (bass, notes) in enumerate(CHORDS):
        t0 = bar * 4 * BEAT
        for hit, length, gain in ((0.0, 2.5, 0.16), (2.5, 1.5, 0.1)):  # chord stabs
            for note in notes:
                add(t0 + hit * BEAT, length * BEAT, partial(_piano, _hz(note), gain))
        for beat in (0, 2):
            add(t0 + beat * BEAT, 1.8 * BEAT, partial(_bass, _hz(bass - 12)))
            add(t0 + beat * BEAT, 0.3, _kick)
        for beat in (1, 3):  # snare
            add(t0 + beat * BEAT, 0.25, partial(_noise, rng, 0.14, 18))
        for eighth in range(8):  # hat
            add(t0 + eighth * BEAT / 2, 0.05, partial(_noise, rng, 0.035, 80))
    peak = max(map(abs, out))
    lowpassed, state = array("h"), 0.0
    for x in (x / peak for x in out):
        if rng.random() < 0.0004:
            x += rng.uniform(-0.2, 0.2)  # vinyl crackle
        x += rng.uniform(-0.004, 0.004)
        state += 0.35 * (x - state)
        lowpassed.append(round(30000 * math.tanh(1.5 * state)))
    return lowpassed


def write_music(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "music.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(synth_music().tobytes())
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
             "-ac", "2", "-c:a", "aac", "-b:a", "128k", "-map_metadata", "-1",
             "-fflags", "+bitexact", "-flags:a", "+bitexact", "-movflags", "+faststart",
             str(target)],
            check=True,
        )  # fmt: skip


def main() -> None:
    draw_photo().save(PHOTO, quality=88, optimize=True)
    write_music(MUSIC)
    for path in (PHOTO, MUSIC):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
