"""Paths typed in a message: one that names an existing regular file is attached as if
given with --file (the rules in intents/paths.yaml); anything else stays text."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill.common.errors import ConfigError
from skill.conversation.attachments import extract, load_rules
from skill.conversation.intents import classify


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "cat.png"
    path.write_bytes(b"\x89PNG")
    return path


def test_table_of_typed_paths(photo: Path, tmp_path: Path) -> None:
    spaced = tmp_path / "my cat.png"
    spaced.write_bytes(b"\x89PNG")
    cases = [
        (f"{photo} make it move", "make it move", [photo]),
        (f"make {photo}, move", "make , move", [photo]),  # the comma is not the path's
        (f"use {photo}.", "use .", [photo]),  # the full stop stays with the sentence
        (f"把{photo}做成视频", "把做成视频", [photo]),  # Chinese right after the path
        (f'"{spaced}" animate it', "animate it", [spaced]),
        (f"'{spaced}'", "", [spaced]),
        (f"{photo} and {photo} again", "and again", [photo]),  # attached once
        (f"{tmp_path}/missing.png make it move", f"{tmp_path}/missing.png make it move", []),
        (f"{tmp_path} is a folder", f"{tmp_path} is a folder", []),  # not a regular file
        (f"https://example.com{photo}", f"https://example.com{photo}", []),  # inside a URL
        (f"photos{photo}", f"photos{photo}", []),  # not where a path starts
        ("a plain message", "a plain message", []),
        # where the user wants the result, even when an old file has that name
        (f"export it to {photo}", f"export it to {photo}", []),
        (f'save the video as "{spaced}" please', f'save the video as "{spaced}" please', []),
        (f"导出到{photo}", f"导出到{photo}", []),
        (f"保存为 {photo}", f"保存为 {photo}", []),
        (f"add {photo} to the intro", "add to the intro", [photo]),  # a "to" after it
        (f"put {photo} in the corner", "put in the corner", [photo]),
    ]
    for text, rest, files in cases:
        assert extract(text) == (rest, files), text


def test_a_home_relative_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "clip.mp4").write_bytes(b"x")
    assert extract("~/clip.mp4 trim it") == ("trim it", [tmp_path / "clip.mp4"])


def test_the_typed_file_routes_as_an_upload_with_the_rest_as_instruction(photo: Path) -> None:
    text, files = extract(f"{photo} make it move")
    route = classify(text, files)
    assert route.intent == "upload" and route.instruction == "make it move"


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [("candidates: ['(']\ndestination: 'to$'\ntrailing: '.'\n", "bad regular expression"),
     ("candidates: ['/x']\ndestination: 'to$'\ntrailing: '.'\n", "group named `path`"),
     ("candidates: []\ndestination: '('\ntrailing: '.'\n", "bad regular expression"),
     ("candidates: []\ndestination: 'to$'\n", "missing key 'trailing'")],
    ids=["bad-regex", "no-path-group", "bad-destination", "missing-key"],
)  # fmt: skip
def test_a_broken_rule_file_names_file_and_problem(
    tmp_path: Path, yaml_text: str, problem: str
) -> None:
    path = tmp_path / "paths.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as info:
        load_rules(path)
    assert str(path) in info.value.message
