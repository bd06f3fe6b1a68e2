"""The agent's words: every reply in both languages, honest marker, GUI phrases present."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from skill.common.errors import ConfigError
from skill.standin.replies import KEYS, LANGUAGES, PLACEHOLDERS, REPLIES_FILE, load_replies

VALUES = {name: f"<{name}>" for name in PLACEHOLDERS}


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_variant_renders(key: str, language: str) -> None:
    replies = load_replies()
    for variant in replies.variants[key][language]:
        text = variant.format(**VALUES)
        assert text.strip() and "{" not in text


def test_the_honesty_marker_is_short_and_says_simulation() -> None:
    replies = load_replies()
    assert replies.marker("en") == "(local simulation)"
    assert replies.marker("zh") == "（本地模拟）"


def test_some_replies_talk_as_if_there_were_a_web_editor() -> None:
    every = [v for key in KEYS for lang in LANGUAGES for v in load_replies().variants[key][lang]]
    for phrase in (
        "click the Export button",
        "open the timeline panel",
        "drag the clip",
        "点击导出",
    ):
        assert any(phrase.lower() in v.lower() for v in every), phrase


def test_say_picks_a_variant_with_the_given_random() -> None:
    replies = load_replies()
    picks = {replies.say("greeting", "en", random.Random(i)) for i in range(20)}
    assert picks == set(replies.variants["greeting"]["en"])


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('  zh: "（本地模拟）"', '  zh: ""', "marker.zh"),
        ("  temporary_issue:", "  temporary_problem:", "replies.temporary_issue"),
        ('      - "Removing {what}."', '      - "Removing {thing}."', "thing"),
        ('      - "Removing {what}."', '      - "Removing {what."', "remove_before"),
        ('    your_video: "your clip"\n', "", "names.en.your_video"),
    ],
)
def test_a_broken_replies_file_names_the_key(
    tmp_path: Path, old: str, new: str, words: str
) -> None:
    text = REPLIES_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "replies.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_replies(path)
    assert str(path) in err.value.message and words in err.value.message
