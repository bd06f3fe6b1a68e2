"""Which flow a user's message goes to, decided by the rules in `intents/routing.yaml`.

`classify()` answers with a `Route`: one of the intents (export, credits, state, upload,
chat; while a turn runs also cancel and wait), the rule that chose it, and for an upload
the media URLs to send and the instruction, if any, to pass on to the chat stream
afterwards. `explain()` also says which clause decided, how typos were read and which
rule came second. No keyword lives here: the phrases, guards, clause breaks, typo words
and rule order are data (see the comments atop routing.yaml).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from skill.common import resources
from skill.conversation.datafile import Spot, compile_any, expand, read_yaml
from skill.conversation.media import find_urls, is_media_url
from skill.conversation.spelling import Spelling

# The data-file readers moved to datafile.py; Spot, compile_any and read_yaml are still
# importable from here for the modules written before the move.
__all__ = [
    "FACTS", "INTENTS", "Explanation", "Route", "Rule", "Rules", "Spot", "classify",
    "compile_any", "explain", "load_rules", "read_yaml",
]  # fmt: skip

INTENTS = ("export", "credits", "state", "upload", "chat", "cancel", "wait")
# built-in conditions: computed from the message, or (busy: a turn is running) told by the caller
FACTS = ("file", "media_url", "url", "busy")
_WORD = re.compile(r"[^\W_]")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
_TRAILING = re.compile(r"[\s.!。！~…]+$")
_NEVER = re.compile(r"(?!)")  # matches nothing: a routing file without clause rules
_NO_TYPOS = Spelling((), frozenset(), 5)


@dataclass(frozen=True)
class Route:
    intent: str  # export | credits | state | upload | chat | cancel | wait (while busy)
    instruction: str | None  # for an upload: the text to send to the chat stream afterwards
    urls: tuple[str, ...]  # for an upload: the URLs to upload
    rule: str  # id of the rule that matched


@dataclass(frozen=True)
class Rule:
    id: str
    intent: str
    when: tuple[str, ...]
    unless: tuple[str, ...]
    veto: bool  # a chat rule that, holding in any clause, keeps every clause from a command

    @property
    def whole_message(self) -> bool:
        """Names a built-in condition: about the whole message, tried before any clause."""
        return any(n in FACTS for n in (*self.when, *self.unless))


@dataclass(frozen=True)
class Rules:
    terms: dict[str, re.Pattern[str]]
    filler: re.Pattern[str]
    rules: tuple[Rule, ...]
    split: re.Pattern[str] = _NEVER  # where a message breaks into clauses
    connectors: re.Pattern[str] = _NEVER  # "then", "so": trimmed from a later clause's start
    spelling: Spelling = _NO_TYPOS


@dataclass(frozen=True)
class Explanation:
    """How a message was routed: for `nemo-video classify --explain` and the tests."""

    route: Route
    clauses: tuple[str, ...]  # the prepared message, cut into clauses
    clause: str  # the clause the deciding rule held in (the whole message for uploads)
    runner_up: Rule | None  # the next rule that held with another intent, if any
    corrected: tuple[tuple[str, str], ...]  # (typed, read as) for each typo


# -- loading --------------------------------------------------------------------------------


def _union(spec: Any, spot: Spot, fragments: dict[str, str]) -> re.Pattern[str]:
    """One regex from `en` (word-bounded), `zh` and `re` (anywhere) pattern lists; with a
    `frame`, the `re` patterns as one alternative put where the frame says `{*}`."""
    found: dict[str, list[tuple[str, Spot]]] = {"en": [], "zh": [], "re": []}
    fields = spot.fields(spec, (), (*found, "frame"))
    for lang in found:
        if lang in fields:
            patterns, at = fields[lang]
            found[lang] = [(expand(s.text(p), fragments, s), s) for p, s in at.items(patterns)]
    if not any(found.values()):
        raise spot.fail("expected at least one pattern under en, zh or re")
    if "frame" not in fields:
        return compile_any(found["zh"] + found["re"], bounded=found["en"])
    value, at = fields["frame"]
    frame = expand(at.text(value), fragments, at)
    if "{*}" not in frame or found["en"] or found["zh"]:
        raise at.fail("a frame holds {*}, where its term's `re` patterns go (no en or zh)")
    # the frame once around all patterns: its fragments compiled once, not per pattern
    framed = frame.replace("{*}", "|".join(f"(?:{p})" for p, _ in found["re"]))
    try:
        return re.compile(framed, re.IGNORECASE)
    except re.error:
        compile_any(found["re"])  # names a bad pattern by its spot
        return compile_any([(framed, at)])  # or the frame


def load_rules(path: Path | None = None) -> Rules:
    """Read and check a routing file (default `intents/routing.yaml`, read once)."""
    return _default_rules() if path is None else _load(path)


@cache
def _default_rules() -> Rules:
    return _load(resources.data_path("intents", "routing.yaml"))


def _load(path: Path) -> Rules:
    root, top = read_yaml(path)
    doc = top.fields(root, ("terms", "filler", "rules"), ("fragments", "clauses", "typos"))
    fragments: dict[str, str] = {}
    if "fragments" in doc:  # each may use the ones above it
        for name, value, spot in doc["fragments"][1].entries(doc["fragments"][0]):
            fragments[name] = expand(spot.text(value), fragments, spot)
    terms: dict[str, re.Pattern[str]] = {}
    for name, spec, spot in doc["terms"][1].entries(doc["terms"][0]):
        if name in FACTS:
            raise spot.fail(f"{name!r} is a built-in condition; name the term differently")
        terms[name] = _union(spec, spot, fragments)
    extra: dict[str, Any] = {}
    if "clauses" in doc:
        c = doc["clauses"][1].fields(doc["clauses"][0], ("split", "connectors"))
        split = [
            (expand(at.text(p), fragments, at), at) for p, at in c["split"][1].items(c["split"][0])
        ]
        extra["split"] = compile_any(split)
        extra["connectors"] = _union(*c["connectors"], fragments)
    if "typos" in doc:
        extra["spelling"] = _spelling(*doc["typos"])
    rules = _rules(*doc["rules"], terms)
    return Rules(terms, _union(*doc["filler"], fragments), rules, **extra)


def _rules(value: Any, spot: Spot, terms: dict[str, re.Pattern[str]]) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for item, at in spot.items(value):
        f = at.fields(item, ("id", "intent"), ("when", "unless", "veto"))
        rule_id, intent = f["id"][1].text(f["id"][0]), f["intent"][1].text(f["intent"][0])
        if intent not in INTENTS:
            raise f["intent"][1].fail(f"{intent!r} is not one of {', '.join(INTENTS)}")
        if any(r.id == rule_id for r in rules):
            raise f["id"][1].fail(f"duplicate rule id {rule_id!r}")
        when, unless = (
            tuple(_term_name(n, s, terms) for n, s in f[key][1].items(f[key][0]))
            if key in f
            else ()
            for key in ("when", "unless")
        )
        veto = f.get("veto", (False, at))
        if not isinstance(veto[0], bool):
            raise veto[1].fail("expected true or false")
        if veto[0] and intent != "chat":
            raise veto[1].fail("only a chat rule can veto the commands of other clauses")
        rules.append(Rule(rule_id, intent, when, unless, veto[0]))
    if not rules or rules[-1].when or rules[-1].unless:
        raise spot.fail("the last rule must have no conditions: it catches the rest")
    return tuple(rules)


def _term_name(value: Any, spot: Spot, terms: dict[str, re.Pattern[str]]) -> str:
    name = spot.text(value)
    if name not in terms and name not in FACTS:
        known = f"terms: {', '.join(terms)}; built-in: {', '.join(FACTS)}"
        raise spot.fail(f"unknown term {name!r} ({known})")
    return name


def _spelling(value: Any, spot: Spot) -> Spelling:
    f = spot.fields(value, ("shortest", "words"), ("keep",))
    shortest, at = f["shortest"]
    if not isinstance(shortest, int) or isinstance(shortest, bool) or shortest < 3:
        raise at.fail("expected a whole number of letters, 3 or more")

    def words(key: str) -> tuple[str, ...]:
        if key not in f:
            return ()
        out = tuple(s.text(w) for w, s in f[key][1].items(f[key][0]))
        bad = next((w for w in out if not w.isascii() or not w.isalpha() or not w.islower()), "")
        if bad:
            raise f[key][1].fail(f"{bad!r}: expected lower-case ASCII words")
        return out

    short = [w for w in words("words") if len(w) < shortest]
    if short:
        raise f["words"][1].fail(f"{', '.join(short)}: shorter than {shortest} letters")
    return Spelling(words("words"), frozenset(words("keep")), shortest)


# -- classifying ----------------------------------------------------------------------------


def _normalise(text: str) -> str:
    """Full-width forms folded, curly quotes straightened, spaces collapsed, end dots off."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return _TRAILING.sub("", " ".join(text.split())).lower()


def _without(text: str, urls: Sequence[str]) -> str:
    for url in urls:
        text = text.replace(url, " ")
    return " ".join(text.split())


def _clauses(body: str, rules: Rules) -> tuple[str, ...]:
    out: list[str] = []
    for piece in rules.split.split(body):
        piece = _TRAILING.sub("", piece.strip(" ,;"))
        if out:  # "then export it": the connector joins clauses, it is no edit
            m = rules.connectors.match(piece)
            piece = piece[m.end() :].strip(" ,;") if m else piece
        if piece:
            out.append(piece)
    return tuple(out) or (body,)


def _holding(rules: Sequence[Rule], holds: Callable[[str], bool]) -> list[Rule]:
    return [r for r in rules if all(map(holds, r.when)) and not any(map(holds, r.unless))]


def _next_other(holding: Sequence[Rule], decider: Rule) -> Rule | None:
    return next((r for r in holding if r.intent != decider.intent), None)


def explain(
    text: str, files: Sequence[Path] = (), *, busy: bool = False, rules: Rules | None = None
) -> Explanation:
    """Route one message (with any attached files; `busy`: while a turn runs), saying how."""
    rules = rules or load_rules()
    urls = find_urls(text)
    media = tuple(u for u in urls if is_media_url(u))
    facts = {"file": bool(files), "media_url": bool(media), "url": bool(urls), "busy": busy}
    body, corrected = rules.spelling.correct(_normalise(_without(text, urls)))

    judges: dict[str, Callable[[str], bool]] = {}  # a one-clause message is judged once

    def judge(clause: str) -> Callable[[str], bool]:
        if clause in judges:
            return judges[clause]
        known: dict[str, bool] = {}

        def holds(name: str) -> bool:
            if name not in known:
                term = rules.terms.get(name)
                known[name] = facts[name] if term is None else bool(term.search(clause))
            return known[name]

        judges[clause] = holds
        return holds

    clauses = _clauses(body, rules)
    whole = _holding(rules.rules, judge(body))
    if whole[0].whole_message:  # an attachment or a link decides for the message
        decider, clause, runner_up = whole[0], body, _next_other(whole[1:], whole[0])
    else:
        per_clause = [
            _holding([r for r in rules.rules if not r.whole_message], judge(c)) for c in clauses
        ]
        deciders = [h[0] for h in per_clause]
        vetoes = [i for i, d in enumerate(deciders) if d.veto]
        commands = [i for i, d in enumerate(deciders) if d.intent != "chat"]
        said = [i for i, d in enumerate(deciders) if d is not rules.rules[-1]]
        at = vetoes[0] if vetoes else commands[-1] if commands else (said or [0])[0]
        decider, clause = deciders[at], clauses[at]
        others = [d for i, d in enumerate(deciders) if i != at]
        candidates = [*per_clause[at][1:], *others]  # the catch-all only when nothing else
        candidates.sort(key=lambda r: r is rules.rules[-1])
        runner_up = _next_other(candidates, decider)
    return Explanation(
        _route(decider, text, urls, media, rules), clauses, clause, runner_up, corrected
    )


def classify(
    text: str, files: Sequence[Path] = (), *, busy: bool = False, rules: Rules | None = None
) -> Route:
    """Route one message (with any attached files) by the rules of `intents/routing.yaml`.

    `busy`: a turn is running, so a message that only asks how it goes routes to `wait`
    and one that asks to stop it to `cancel`; neither intent is routed to otherwise."""
    return explain(text, files, busy=busy, rules=rules).route


def _route(rule: Rule, text: str, urls: Sequence[str], media: Sequence[str], rules: Rules) -> Route:
    if rule.intent != "upload":
        return Route(rule.intent, None, (), rule.id)
    sent = tuple(urls) if "url" in rule.when else tuple(media)
    rest = _without(text, sent)
    said = _WORD.search(rules.filler.sub(" ", _normalise(rest)))
    return Route("upload", rest.strip(" ,:;-—，：；、") if said else None, sent, rule.id)
