"""The agent's understanding: one table of messages, English and Chinese, and the file checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skill.common.errors import ConfigError
from skill.standin.rules import RULES_FILE, load_rules

CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "generate a 15-second portrait video of a beach at sunset with lo-fi music",
        "generate",
        {"duration_s": 15, "ratio": "9:16", "subject": "a beach at sunset", "style": "Lo-fi"},
    ),
    (
        "make me a 1 minute square video about cats",
        "generate",
        {"duration_s": 60, "ratio": "1:1", "subject": "cats"},
    ),
    (
        "generate a 15-second video from this image",
        "generate",
        {"duration_s": 15, "media": "image"},
    ),
    ("add lo-fi BGM at 30% volume", "music", {"volume": 0.3, "style": "Lo-fi"}),
    ("add some music", "music", {"volume": None, "style": None}),
    ("set the music volume to 50%", "volume", {"volume": 0.5, "target": "music"}),
    ("make the music quieter", "volume", {"volume": 0.15}),
    (
        "add a title 'Paradise Found' for 3 seconds",
        "title",
        {"quoted": "Paradise Found", "length_s": 3},
    ),
    ("add title: Summer Days", "title", {"words": "Summer Days"}),
    ('add a caption "Hello there" at 5s', "caption", {"quoted": "Hello there", "start_s": 5}),
    ('add subtitle "Hi" from 2s to 6s', "caption", {"start_s": 2, "end_s": 6}),
    ("remove the music", "remove", {"target": "music"}),
    ("delete the captions", "remove", {"target": "captions"}),
    ("make it portrait", "ratio", {"ratio": "9:16"}),
    ("change the aspect ratio to 16:9", "ratio", {"ratio": "16:9"}),
    ("trim it to 8 seconds", "trim", {"duration_s": 8}),
    ("make the video 10 seconds", "trim", {"duration_s": 10}),
    ("add a slow zoom effect", "effects", {}),
    ("how many credits does a video cost?", "cost", {}),
    ("what can you do?", "capabilities", {}),
    ("how do I export this?", "export_help", {}),
    ("hello", "greeting", {}),
    ("write me a poem", "", {}),
    (
        "生成一个15秒的竖屏视频，内容是海边日落",
        "generate",
        {"duration_s": 15, "ratio": "9:16", "subject": "海边日落", "language": "zh"},
    ),
    ("用这张图片做一个10秒的视频", "generate", {"duration_s": 10, "media": "image"}),
    ("添加轻松的背景音乐，音量30%", "music", {"volume": 0.3, "style": "Calm"}),
    ("把音乐音量调到50%", "volume", {"volume": 0.5}),
    ("添加标题“天堂”", "title", {"quoted": "天堂"}),
    ("添加字幕“你好”在第5秒", "caption", {"quoted": "你好", "start_s": 5}),
    ("删除背景音乐", "remove", {"target": "music"}),
    ("剪到10秒", "trim", {"duration_s": 10}),
    ("改成横屏", "ratio", {"ratio": "16:9"}),
    ("你能做什么", "capabilities", {"language": "zh"}),
    ("生成视频要多少积分？", "cost", {}),
]


@pytest.mark.parametrize(("message", "intent", "slots"), CASES)
def test_messages_are_understood(message: str, intent: str, slots: dict[str, Any]) -> None:
    request = load_rules().understand(message)
    assert (request.intents[:1] or ("",))[0] == intent
    for name, value in slots.items():
        assert getattr(request, name) == value, name
    if "language" not in slots:
        assert request.language == (
            "zh" if any("\u4e00" <= c <= "\u9fff" for c in message) else "en"
        )


def test_every_matching_intent_is_kept_in_file_order() -> None:
    request = load_rules().understand("create a video and add the title 'Hi'")
    assert request.intents == ("title", "generate")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t.replace("  - name: effects", "  - name: sparkle"), "sparkle"),
        (lambda t: t.replace("- name: effects\n    patterns:", "- name: x\n    patterns:"), "'x'"),
        (lambda t: t.replace("'剪|缩短", "'(剪|缩短"), "trim"),
        (lambda t: t.replace("  start:\n", "  start: 5\n  old:\n"), "numbers.start"),
        (lambda t: t.replace("    - '(\\d+(?:\\.\\d+)?)\\s*%'", "    - '\\d+%'"), "capture group"),
    ],
)
def test_a_broken_rules_file_names_the_key(tmp_path: Path, edit: Any, words: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(edit(RULES_FILE.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert str(path) in err.value.message and words in err.value.message
