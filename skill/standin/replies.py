"""The simulated agent's words, from `replies.yaml`, checked when loaded.

Every reply the agent uses must exist in English and Chinese with at least one
variant, and a variant may only use the placeholders the agent fills.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from skill.common.errors import ConfigError

REPLIES_FILE = Path(__file__).resolve().parent / "replies.yaml"
LANGUAGES = ("en", "zh")
KEYS = (
    "generate_start", "regenerate_start", "same_ratio", "raw_ready", "generate_done",
    "music_before", "music_done", "volume_before", "volume_done",
    "title_before", "title_done", "caption_before", "caption_done",
    "remove_before", "remove_done", "trim_before", "trim_done",
    "effects_before", "effects_done", "no_draft", "nothing_to_remove", "no_music",
    "need_text", "cost", "capabilities", "export_help", "greeting", "unknown",
    "out_of_credits", "temporary_issue",
)  # fmt: skip
NAMES = ("music", "title", "captions", "text", "video", "16:9", "9:16", "1:1", "music_name",
         "your_image", "your_video")  # fmt: skip
PLACEHOLDERS = frozenset({
    "seconds", "ratio", "subject", "count", "tracks", "music", "percent", "text",
    "start", "end", "what", "cost", "available",
})  # fmt: skip


@dataclass(frozen=True)
class Replies:
    markers: Mapping[str, str]
    names: Mapping[str, Mapping[str, str]]
    variants: Mapping[str, Mapping[str, tuple[str, ...]]]

    def say(self, key: str, language: str, rng: random.Random, **values: Any) -> str:
        return rng.choice(self.variants[key][language]).format(**values)

    def name(self, key: str, language: str) -> str:
        return self.names[language][key]

    def marker(self, language: str) -> str:
        return self.markers[language]


@cache
def load_replies(path: Path = REPLIES_FILE) -> Replies:
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where}: cannot load the agent's replies: {exc}") from None
    doc = _mapping(doc, where, "the file")
    markers = _mapping(doc.get("marker"), where, "marker")
    names = _mapping(doc.get("names"), where, "names")
    replies = _mapping(doc.get("replies"), where, "replies")
    for lang in LANGUAGES:
        if not isinstance(markers.get(lang), str) or not markers[lang].strip():
            raise ConfigError(f"{where}: marker.{lang} must be a non-empty string")
        table = _mapping(names.get(lang), where, f"names.{lang}")
        for key in NAMES:
            if not isinstance(table.get(key), str):
                raise ConfigError(f"{where}: names.{lang}.{key} is missing", field=key)
    variants: dict[str, dict[str, tuple[str, ...]]] = {}
    for key in KEYS:
        entry = _mapping(replies.get(key), where, f"replies.{key}")
        variants[key] = {lang: _variants(entry.get(lang), where, key, lang) for lang in LANGUAGES}
    unknown = set(replies) - set(KEYS)
    if unknown:
        raise ConfigError(f"{where}: replies {sorted(unknown)} are not used by the agent")
    return Replies(dict(markers), {k: dict(v) for k, v in names.items()}, variants)


def _variants(value: Any, where: str, key: str, lang: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: replies.{key}.{lang} must be a non-empty list of strings")
    for text in value:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            raise ConfigError(f"{where}: replies.{key}.{lang}: {exc} in {text!r}") from None
        if fields - PLACEHOLDERS:
            raise ConfigError(
                f"{where}: replies.{key}.{lang} uses unknown placeholders "
                f"{sorted(fields - PLACEHOLDERS)}; known: {sorted(PLACEHOLDERS)}"
            )
    return tuple(value)


def _mapping(value: Any, where: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {key} must be a mapping", field=key)
    return value
