"""Which flow a user's message goes to, decided by the rules in `intents/routing.yaml`.

`classify()` answers with a `Route`: one of five intents (export, credits, state,
upload, chat), the rule that chose it, and for an upload the media URLs to send and the
instruction, if any, to pass on to the chat stream afterwards. No keyword lives here:
the phrases, guards and their order are data (see the comments atop routing.yaml).

The YAML reading is shared with `gui.py`: `read_yaml()` keeps the line of every
mapping key and list item, so `Spot.fail()` can name file, line and key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _BaseLoader  # libyaml: parsing five times faster
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

from skill.common import resources
from skill.common.errors import ConfigError
from skill.conversation.media import find_urls, is_media_url

INTENTS = ("export", "credits", "state", "upload", "chat")
FACTS = ("file", "media_url", "url")  # built-in conditions, computed from the message
_WORD = re.compile(r"[^\W_]")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
_TRAILING = re.compile(r"[\s.!。！~…]+$")


# -- reading YAML with line numbers -------------------------------------------------------


class _Map(dict[Any, Any]):
    lines: dict[Any, int]


class _Seq(list[Any]):
    lines: list[int]


class _LineLoader(_BaseLoader):
    pass


def _construct_map(loader: _BaseLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable) or key in out.lines:
            problem = "duplicate key" if key in out.lines else "unusable key"
            raise yaml.constructor.ConstructorError(
                None, None, f"{problem} {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader: _BaseLoader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(item, deep=True) for item in node.value)
    out.lines = [item.start_mark.line + 1 for item in node.value]
    return out


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


@dataclass(frozen=True)
class Spot:
    """A place in a data file: the file, a line and a dotted key, for error messages."""

    file: Path
    line: int
    key: str

    def fail(self, problem: str) -> ConfigError:
        where = f"{self.file}:{self.line}: {self.key or '(top)'}"
        return ConfigError(
            f"{where}: {problem}", file=str(self.file), line=self.line, field=self.key
        )

    def fields(
        self, value: Any, required: Sequence[str], optional: Sequence[str] = ()
    ) -> dict[str, tuple[Any, Spot]]:
        """A mapping's entries, each with its spot; unknown or missing keys are errors."""
        if not isinstance(value, _Map):
            raise self.fail(f"expected a mapping, got {_kind(value)}")
        for key in value:
            if key not in required and key not in optional:
                allowed = ", ".join([*required, *optional])
                raise self._at(value.lines[key], key).fail(f"unknown key (allowed: {allowed})")
        for key in required:
            if key not in value:
                raise self.fail(f"missing key {key!r}")
        return {k: (v, self._at(value.lines[k], k)) for k, v in value.items()}

    def entries(self, value: Any) -> Iterator[tuple[str, Any, Spot]]:
        """A mapping with free (string) keys: name, value and spot of each entry."""
        if not isinstance(value, _Map):
            raise self.fail(f"expected a mapping, got {_kind(value)}")
        for key, item in value.items():
            spot = self._at(value.lines[key], str(key))
            if not isinstance(key, str):
                raise spot.fail("keys must be strings")
            yield key, item, spot

    def items(self, value: Any) -> list[tuple[Any, Spot]]:
        """A list's items, each with its spot."""
        if not isinstance(value, _Seq):
            raise self.fail(f"expected a list, got {_kind(value)}")
        pairs = enumerate(zip(value, value.lines, strict=True))
        return [(v, Spot(self.file, line, f"{self.key}[{i}]")) for i, (v, line) in pairs]

    def text(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"expected a non-empty string, got {_kind(value)}")
        return value

    def _at(self, line: int, key: str) -> Spot:
        return Spot(self.file, line, f"{self.key}.{key}" if self.key else key)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__.lstrip("_").lower()


def compile_any(
    patterns: Sequence[tuple[str, Spot]], *, bounded: Sequence[tuple[str, Spot]] = ()
) -> re.Pattern[str]:
    """One case-insensitive regex matching any of `patterns`, or any of `bounded` as a whole
    word (no ASCII letter or digit either side).

    Compiled as one (many times faster than one by one); only when that fails are the
    patterns compiled singly, to name the bad one by its spot.
    """
    parts = [f"(?:{p})" for p, _ in patterns]
    if bounded:
        parts.append(
            "(?<![a-z0-9])(?:" + "|".join(f"(?:{p})" for p, _ in bounded) + ")(?![a-z0-9])"
        )
    try:
        return re.compile("|".join(parts), re.IGNORECASE)
    except re.error as exc:
        for pattern, spot in [*bounded, *patterns]:
            try:
                re.compile(pattern)
            except re.error as one:
                raise spot.fail(f"bad regular expression {pattern!r}: {one}") from None
        where = (bounded or patterns)[0][1]
        raise where.fail(f"these patterns do not combine: {exc}") from None


def read_yaml(path: Path) -> tuple[Any, Spot]:
    """Parse a data file; the root value and the spot to validate it from."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}", file=str(path)) from None
    try:
        root = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        message = f"{path}:{line}: invalid YAML: {problem}"
        raise ConfigError(message, file=str(path), line=line) from None
    return root, Spot(path, 1, "")


# -- the routing rules ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    intent: str  # export | credits | state | upload | chat
    instruction: str | None  # for an upload: the text to send to the chat stream afterwards
    urls: tuple[str, ...]  # for an upload: the URLs to upload
    rule: str  # id of the rule that matched


@dataclass(frozen=True)
class Rule:
    id: str
    intent: str
    when: tuple[str, ...]
    unless: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    terms: dict[str, re.Pattern[str]]
    filler: re.Pattern[str]
    rules: tuple[Rule, ...]


def _union(spec: Any, spot: Spot) -> re.Pattern[str]:
    """One regex from `en` (word-bounded), `zh` and `re` (anywhere) pattern lists."""
    found: dict[str, list[tuple[str, Spot]]] = {"en": [], "zh": [], "re": []}
    for lang, (patterns, lang_spot) in spot.fields(spec, (), tuple(found)).items():
        found[lang] = [(at.text(p), at) for p, at in lang_spot.items(patterns)]
    if not any(found.values()):
        raise spot.fail("expected at least one pattern under en, zh or re")
    return compile_any(found["zh"] + found["re"], bounded=found["en"])


def load_rules(path: Path | None = None) -> Rules:
    """Read and check a routing file (default `intents/routing.yaml`, read once)."""
    return _default_rules() if path is None else _load(path)


@cache
def _default_rules() -> Rules:
    return _load(resources.data_path("intents", "routing.yaml"))


def _load(path: Path) -> Rules:
    root, top = read_yaml(path)
    doc = top.fields(root, ("terms", "filler", "rules"))
    terms: dict[str, re.Pattern[str]] = {}
    for name, spec, spot in doc["terms"][1].entries(doc["terms"][0]):
        if name in FACTS:
            raise spot.fail(f"{name!r} is a built-in condition; name the term differently")
        terms[name] = _union(spec, spot)
    filler = _union(*doc["filler"])

    rules: list[Rule] = []
    for item, spot in doc["rules"][1].items(doc["rules"][0]):
        f = spot.fields(item, ("id", "intent"), ("when", "unless"))
        rule_id, intent = f["id"][1].text(f["id"][0]), f["intent"][1].text(f["intent"][0])
        if intent not in INTENTS:
            raise f["intent"][1].fail(f"{intent!r} is not one of {', '.join(INTENTS)}")
        if any(r.id == rule_id for r in rules):
            raise f["id"][1].fail(f"duplicate rule id {rule_id!r}")
        when, unless = (
            tuple(_term_name(n, at, terms) for n, at in f[key][1].items(f[key][0]))
            if key in f
            else ()
            for key in ("when", "unless")
        )
        rules.append(Rule(rule_id, intent, when, unless))
    if not rules or rules[-1].when or rules[-1].unless:
        raise doc["rules"][1].fail("the last rule must have no conditions: it catches the rest")
    return Rules(terms, filler, tuple(rules))


def _term_name(value: Any, spot: Spot, terms: dict[str, re.Pattern[str]]) -> str:
    name = spot.text(value)
    if name not in terms and name not in FACTS:
        known = f"terms: {', '.join(terms)}; built-in: {', '.join(FACTS)}"
        raise spot.fail(f"unknown term {name!r} ({known})")
    return name


# -- classifying ----------------------------------------------------------------------------


def _normalise(text: str) -> str:
    """Full-width forms folded, curly quotes straightened, spaces collapsed, end dots off."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return _TRAILING.sub("", " ".join(text.split())).lower()


def _without(text: str, urls: Sequence[str]) -> str:
    for url in urls:
        text = text.replace(url, " ")
    return " ".join(text.split())


def classify(text: str, files: Sequence[Path] = (), *, rules: Rules | None = None) -> Route:
    """Route one message (with any attached files) by the first rule that holds."""
    rules = rules or load_rules()
    urls = find_urls(text)
    media = tuple(u for u in urls if is_media_url(u))
    facts = {"file": bool(files), "media_url": bool(media), "url": bool(urls)}
    body = _normalise(_without(text, urls))
    known: dict[str, bool] = {}

    def holds(name: str) -> bool:
        if name not in known:
            known[name] = facts[name] if name in facts else bool(rules.terms[name].search(body))
        return known[name]

    rule = next(r for r in rules.rules if all(map(holds, r.when)) and not any(map(holds, r.unless)))
    if rule.intent != "upload":
        return Route(rule.intent, None, (), rule.id)
    sent = urls if "url" in rule.when else media
    rest = _without(text, sent)
    said = _WORD.search(rules.filler.sub(" ", _normalise(rest)))
    return Route("upload", rest.strip(" ,:;-—，：；、") if said else None, sent, rule.id)
