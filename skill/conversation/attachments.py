"""Files named in a message's text: a path the user typed is attached as if given with
`--file`, by the rules in `intents/paths.yaml` (no pattern lives here).

`extract("/home/me/cat.png make it move")` → `("make it move", [Path("/home/me/cat.png")])`
when that file exists; a path that names no regular file stays in the text, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from skill.common import resources
from skill.conversation.datafile import Spot, read_yaml


@dataclass(frozen=True)
class PathRules:
    candidates: tuple[re.Pattern[str], ...]
    destination: re.Pattern[str]
    trailing: frozenset[str]


def load_rules(path: Path | None = None) -> PathRules:
    return _default_rules() if path is None else _load(path)


@cache
def _default_rules() -> PathRules:
    return _load(resources.data_path("intents", "paths.yaml"))


def _load(path: Path) -> PathRules:
    root, top = read_yaml(path)
    doc = top.fields(root, ("candidates", "destination", "trailing"))
    patterns = []
    for value, spot in doc["candidates"][1].items(doc["candidates"][0]):
        pattern = _compile(spot.text(value), spot)
        if "path" not in pattern.groupindex:
            raise spot.fail("the pattern needs a group named `path`: (?P<path>...)")
        patterns.append(pattern)
    value, spot = doc["destination"]
    destination = _compile(spot.text(value), spot)
    trailing = doc["trailing"][1].text(doc["trailing"][0])
    return PathRules(tuple(patterns), destination, frozenset(trailing))


def _compile(text: str, spot: Spot) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise spot.fail(f"bad regular expression: {exc}") from None


def extract(text: str, *, rules: PathRules | None = None) -> tuple[str, list[Path]]:
    """The message without the paths that name files, and those files (absolute, once each)."""
    rules = rules or load_rules()
    found: list[Path] = []
    cuts: list[tuple[int, int]] = []
    for pattern in rules.candidates:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < b and a < end for a, b in cuts):  # inside a path already taken
                continue
            at, typed = match.start("path"), match.group("path")
            if rules.destination.search(text, 0, at):  # where the result goes: no upload
                continue
            quoted = at != start  # the quotes go with the path
            for form in [typed] if quoted else _shorter(typed, rules.trailing):
                file = _regular_file(form)
                if file is not None:
                    cuts.append((start, end) if quoted else (at, at + len(form)))
                    if file not in found:
                        found.append(file)
                    break
    if not cuts:
        return text, found
    rest = text
    for a, b in sorted(cuts, reverse=True):
        rest = rest[:a] + rest[b:]
    return " ".join(rest.split()), found


def _shorter(typed: str, trailing: frozenset[str]) -> list[str]:
    """The typed path, then each shorter form that ends before a trailing character."""
    forms = [typed]
    for i in range(len(typed) - 1, 1, -1):
        if typed[i] in trailing or not typed[i].isascii():
            forms.append(typed[:i])
    return forms[:16]


def _regular_file(typed: str) -> Path | None:
    path = Path(typed).expanduser()
    try:
        return path.absolute() if path.is_absolute() and path.is_file() else None
    except OSError:  # a name too long, a loop of links
        return None
