"""GUI translation: the backend's "click Export" becomes the export itself.

`translate()` takes one finished reply (English or Chinese), removes every GUI
instruction by the rules in `intents/gui.yaml` and keeps the content around it. It
answers with the cleaned text, the actions to run instead (export, state, credits) and
the prompt keys of hints that tell the user what to say instead (e.g. "gui.hint_drag").
The cutting into lines, sentences and clauses and the tidying after a removal are here;
every phrase is in the YAML file (see the comments at its top).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from skill.common import resources
from skill.conversation.datafile import Spot, compile_any, expand, read_yaml

ACTIONS = ("export", "state", "credits")
_WORD = re.compile(r"[^\W_]")
# A sentence: the shortest text up to a terminator followed by a space or the end.
_SENTENCE = re.compile(
    r"(.*?)((?:[.!?…]+[\"'”’)\]]*(?=\s|$))|[。！？…]+[”’」』）)]*|$)(\s*)", re.DOTALL
)
_BULLET = re.compile(r"^(\s*(?:[-*•·]|\d+[.)、])?\s*)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[,.;:!?，。；：！？])")
_SPACES = re.compile(r"[ \t]{2,}")
_DOUBLE_PUNCT = re.compile(r"([,;:，；：])\s*(?=[,.;:!?，。；：！？]|$)")


@dataclass(frozen=True)
class Translation:
    text: str  # the reply with GUI instructions removed and content kept
    actions: tuple[str, ...]  # ordered, deduplicated: "export", "state", "credits"
    hints: tuple[str, ...]  # prompt keys, e.g. "gui.hint_drag"


@dataclass(frozen=True)
class GuiRule:
    id: str
    pattern: re.Pattern[str]
    whole_clause: bool
    action: str | None
    hint: str | None
    generic: bool


@dataclass(frozen=True)
class GuiRules:
    breaks: re.Pattern[str]
    lead_in: re.Pattern[str]
    continuation: re.Pattern[str]
    connectors: re.Pattern[str]
    rules: tuple[GuiRule, ...]


# -- loading --------------------------------------------------------------------------------


def load_gui_rules(path: Path | None = None) -> GuiRules:
    """Read and check a GUI rules file (default `intents/gui.yaml`, read once)."""
    return _default_rules() if path is None else _load(path)


@cache
def _default_rules() -> GuiRules:
    return _load(resources.data_path("intents", "gui.yaml"))


def _load(path: Path) -> GuiRules:
    root, top = read_yaml(path)
    names = ("fragments", "breaks", "lead_in", "continuation", "connectors", "rules")
    doc = top.fields(root, names)
    fragments = {
        name: spot.text(v) for name, v, spot in doc["fragments"][1].entries(doc["fragments"][0])
    }

    def compile_list(patterns: list[tuple[Any, Spot]], spot: Spot) -> re.Pattern[str]:
        if not patterns:  # an empty alternation would match everything
            raise spot.fail("expected at least one pattern")
        return compile_any([(expand(at.text(p), fragments, at), at) for p, at in patterns])

    def by_language(value: Any, spot: Spot) -> re.Pattern[str]:
        langs = spot.fields(value, (), ("en", "zh"))
        return compile_list([item for v, at in langs.values() for item in at.items(v)], spot)

    rules: list[GuiRule] = []
    for item, spot in doc["rules"][1].items(doc["rules"][0]):
        f = spot.fields(item, ("id",), ("row", "remove", "action", "hint", "generic", "en", "zh"))
        remove = f["remove"][1].text(f["remove"][0]) if "remove" in f else "clause"
        if remove not in ("clause", "match"):
            raise f["remove"][1].fail(f"{remove!r} is not one of clause, match")
        action = f["action"][1].text(f["action"][0]) if "action" in f else None
        if action is not None and action not in ACTIONS:
            raise f["action"][1].fail(f"{action!r} is not one of {', '.join(ACTIONS)}")
        hint = f["hint"][1].text(f["hint"][0]) if "hint" in f else None
        if hint is not None and not re.fullmatch(r"gui\.[a-z_]+", hint):
            raise f["hint"][1].fail(f"{hint!r} is not a prompt key like gui.hint_drag")
        generic = f.get("generic", (False, spot))
        if not isinstance(generic[0], bool):
            raise generic[1].fail("expected true or false")
        patterns = [p for k in ("en", "zh") if k in f for p in f[k][1].items(f[k][0])]
        rule_id = f["id"][1].text(f["id"][0])
        pattern = compile_list(patterns, spot)
        rules.append(GuiRule(rule_id, pattern, remove == "clause", action, hint, generic[0]))
    breaks = compile_list(doc["breaks"][1].items(doc["breaks"][0]), doc["breaks"][1])
    return GuiRules(
        breaks=re.compile(f"({breaks.pattern})", re.IGNORECASE),  # split() keeps separators
        lead_in=by_language(*doc["lead_in"]),
        continuation=by_language(*doc["continuation"]),
        connectors=by_language(*doc["connectors"]),
        rules=tuple(rules),
    )


# -- translating ----------------------------------------------------------------------------


class _Found:
    def __init__(self) -> None:
        self.actions: list[str] = []
        self.hints: list[str] = []
        self.generic: list[str] = []

    def add(self, rule: GuiRule) -> None:
        if rule.action and rule.action not in self.actions:
            self.actions.append(rule.action)
        hints = self.generic if rule.generic else self.hints
        if rule.hint and rule.hint not in hints:
            hints.append(rule.hint)

    def result(self, text: str) -> Translation:
        generic = [] if self.actions or self.hints else self.generic[:1]
        return Translation(text, tuple(self.actions), tuple(self.hints + generic))


def translate(text: str, *, rules: GuiRules | None = None) -> Translation:
    """Remove GUI instructions from one reply; say what to run and what to hint instead."""
    rules = rules or load_gui_rules()
    found = _Found()
    lines: list[str] = []
    for line in text.splitlines():
        prefix = _BULLET.match(line)
        assert prefix is not None  # the pattern matches the empty string
        body = line[prefix.end() :]
        kept = "".join(_sentence(m, rules, found) for m in _sentences(body)).rstrip()
        if kept or not body.strip():
            lines.append(prefix.group(1) + kept if kept else "")
    out = "\n".join(lines)
    out = re.sub(r"\n{3,}", "\n\n", out).strip("\n")
    return found.result(out)


def _sentences(text: str) -> list[re.Match[str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _SENTENCE.match(text, pos)
        assert m is not None  # `.*?` then `$` always matches
        out.append(m)
        pos = m.end()
    return out


def _sentence(m: re.Match[str], rules: GuiRules, found: _Found) -> str:
    body, end, space = m.group(1), m.group(2), m.group(3)
    pieces = rules.breaks.split(body)  # clause, separator, clause, ...
    clauses = pieces[0::2]
    seps = ["", *[s or "" for s in pieces[1::2]]]
    kept: list[str | None] = [_clause(c, rules, found) for c in clauses]
    removed = [k is None for k in kept]
    if not any(removed) and all(k == c for k, c in zip(kept, clauses, strict=True)):
        return m.group(0)
    for i, gone in enumerate(removed):
        if not gone:
            continue
        for j in range(i - 1, -1, -1):  # lead-ins before it: "once you're happy, click…"
            if kept[j] is None or not rules.lead_in.search(kept[j] or ""):
                break
            kept[j] = None
        for j in range(i + 1, len(kept)):  # continuations after it: "…, and it downloads"
            if kept[j] is None or not rules.continuation.search(kept[j] or ""):
                break
            kept[j] = None
    parts = [(s, k) for s, k in zip(seps, kept, strict=True) if k is not None and _WORD.search(k)]
    first = ""
    while parts and not _WORD.search(first):  # "Next, click X" leaves "Next": drop it too
        first = rules.connectors.sub("", parts.pop(0)[1], count=1).lstrip()
    if not _WORD.search(first):
        return ""
    if body.lstrip()[:1].isupper():
        first = first[:1].upper() + first[1:]
    text = _SPACES.sub(" ", first + "".join(s + k for s, k in parts))
    text = _DOUBLE_PUNCT.sub("", _SPACE_BEFORE_PUNCT.sub("", text).strip())
    return text + end + space


def _clause(clause: str, rules: GuiRules, found: _Found) -> str | None:
    """The clause with `match` rules applied, or None when a `clause` rule removes it."""
    for rule in rules.rules:
        if not rule.pattern.search(clause):
            continue
        found.add(rule)
        if rule.whole_clause:
            return None
        clause = rule.pattern.sub("", clause)
    return clause
