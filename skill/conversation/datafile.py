"""Reading the data files in `intents/`: YAML that keeps the line of every key and item,
so `Spot.fail()` names file, line and key; pattern lists compiled as one regex; `{name}`
fragments expanded. Shared by the router (`intents`), the chat filters and the GUI rules.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _BaseLoader  # libyaml: parsing five times faster
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

from skill.common.errors import ConfigError

_FRAGMENT = re.compile(r"\{([a-z_]+)\}")


# -- YAML with line numbers -------------------------------------------------------


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


def expand(pattern: str, fragments: Mapping[str, str], spot: Spot) -> str:
    """`pattern` with every `{name}` replaced by the fragment of that name."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in fragments:
            raise spot.fail(f"unknown fragment {{{m.group(1)}}} (known: {', '.join(fragments)})")
        return fragments[m.group(1)]

    return _FRAGMENT.sub(one, pattern)
