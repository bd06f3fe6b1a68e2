"""Understanding a message with the patterns in `rules.yaml`: intents and their details.

The file is checked when loaded: every intent and slot the agent uses must be there,
every pattern must compile, and number and text patterns need one capture group. An
error names the file and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from skill.common.errors import ConfigError

RULES_FILE = Path(__file__).resolve().parent / "rules.yaml"

INTENTS = (
    "capabilities", "cost", "export_help", "greeting", "remove", "caption", "title",
    "music", "volume", "generate", "ratio", "trim", "effects",
)  # fmt: skip
NUMBERS = ("seconds", "minutes", "start", "end", "length", "volume")
CHOICES = ("ratio", "target", "style", "media", "loudness")
TEXTS = ("quoted", "text", "subject")

Patterns = tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Request:
    """What one message asks for, as far as the rules can tell."""

    text: str
    language: str  # "en" or "zh"
    intents: tuple[str, ...]  # every matching intent, in the file's order
    duration_s: float | None = None
    ratio: str | None = None
    volume: float | None = None  # a fraction
    target: str | None = None
    style: str | None = None
    media: str | None = None  # "image", "video" or "upload"
    quoted: str | None = None
    words: str | None = None  # the text after "title:" / "标题为"
    subject: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    length_s: float | None = None


@dataclass(frozen=True)
class Rules:
    chinese: re.Pattern[str]
    intents: tuple[tuple[str, Patterns], ...]
    numbers: Mapping[str, Patterns]
    choices: Mapping[str, tuple[tuple[str, Patterns], ...]]
    texts: Mapping[str, Patterns]

    def understand(self, message: str) -> Request:
        text = " ".join(message.split())
        seconds, minutes = self._number("seconds", text), self._number("minutes", text)
        volume = self._number("volume", text)
        if volume is None:
            loud = self._choice("loudness", text)
            volume = float(loud) if loud is not None else None
        elif volume > 1:
            volume /= 100
        return Request(
            text=text,
            language="zh" if self.chinese.search(text) else "en",
            intents=tuple(n for n, pats in self.intents if _any(pats, text)),
            duration_s=minutes * 60 if minutes is not None else seconds,
            ratio=self._choice("ratio", text),
            volume=min(volume, 1.0) if volume is not None else None,
            target=self._choice("target", text),
            style=self._choice("style", text),
            media=self._choice("media", text),
            quoted=self._text("quoted", text),
            words=self._text("text", text),
            subject=self._text("subject", text),
            start_s=self._number("start", text),
            end_s=self._number("end", text),
            length_s=self._number("length", text),
        )

    def _number(self, slot: str, text: str) -> float | None:
        found = self._text_in(self.numbers[slot], text)
        return float(found) if found is not None else None

    def _choice(self, slot: str, text: str) -> str | None:
        return next((value for value, pats in self.choices[slot] if _any(pats, text)), None)

    def _text(self, slot: str, text: str) -> str | None:
        found = self._text_in(self.texts[slot], text)
        cleaned = found.strip(" \"'“”") if found else ""
        return cleaned or None

    @staticmethod
    def _text_in(patterns: Patterns, text: str) -> str | None:
        for pattern in patterns:
            match = pattern.search(text)
            if match:
                return match.group(1)
        return None


@cache
def load_rules(path: Path = RULES_FILE) -> Rules:
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where}: cannot load the agent's rules: {exc}") from None
    doc = _mapping(doc, where, "the file")
    intents = doc.get("intents")
    if not isinstance(intents, list):
        raise ConfigError(f"{where}: intents must be a list", field="intents")
    compiled: list[tuple[str, Patterns]] = []
    for i, entry in enumerate(intents):
        entry = _mapping(entry, where, f"intents[{i}]")
        name = entry.get("name")
        if name not in INTENTS:
            raise ConfigError(f"{where}: intents[{i}].name {name!r} is not one of {INTENTS}")
        compiled.append((name, _patterns(entry.get("patterns"), where, f"intents.{name}.patterns")))
    missing = set(INTENTS) - {n for n, _ in compiled}
    if missing:
        raise ConfigError(f"{where}: no rules for intents {sorted(missing)}", field="intents")
    language = _mapping(doc.get("language"), where, "language")
    numbers, choices, texts = (
        _mapping(doc.get(k), where, k) for k in ("numbers", "choices", "texts")
    )
    return Rules(
        chinese=_patterns([language.get("zh")], where, "language.zh")[0],
        intents=tuple(compiled),
        numbers={k: _patterns(numbers.get(k), where, f"numbers.{k}", 1) for k in NUMBERS},
        choices={k: _options(choices.get(k), where, f"choices.{k}") for k in CHOICES},
        texts={k: _patterns(texts.get(k), where, f"texts.{k}", 1) for k in TEXTS},
    )


def _any(patterns: Patterns, text: str) -> bool:
    return any(p.search(text) for p in patterns)


def _mapping(value: Any, where: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {key} must be a mapping", field=key)
    return value


def _options(value: Any, where: str, key: str) -> tuple[tuple[str, Patterns], ...]:
    options = _mapping(value, where, key)
    return tuple((str(v), _patterns(p, where, f"{key}.{v}")) for v, p in options.items())


def _patterns(value: Any, where: str, key: str, groups: int | None = None) -> Patterns:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty list of patterns", field=key)
    out = []
    for i, raw in enumerate(value):
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: {key}[{i}] must be a string", field=key)
        try:
            pattern = re.compile(raw, re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(f"{where}: {key}[{i}] is not a valid pattern: {exc}") from None
        if groups is not None and pattern.groups != groups:
            raise ConfigError(f"{where}: {key}[{i}] needs exactly {groups} capture group")
        out.append(pattern)
    return tuple(out)
