"""Routing measured on labelled messages (tests/intents/): the part the rules are tuned on,
and the held-out part they are only measured on. A failure prints the confusion table
(want × got) and every miss with the rule that decided it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from skill.conversation.intents import INTENTS, explain, load_rules

HERE = Path(__file__).resolve().parents[1] / "intents"
PARTS = {"tuning": HERE / "tuning.yaml", "holdout": HERE / "holdout.yaml"}
# (part, least share right): the held-out figure is the one the issue is judged by
BARS = [("tuning", 0.99), ("holdout", 0.98)]
# the intents a message routes to when no turn is running: what the corpus is labelled with
IDLE = tuple(i for i in INTENTS if any(r.intent == i and "busy" not in r.when
                                       for r in load_rules().rules))  # fmt: skip


@dataclass(frozen=True)
class Message:
    text: str
    files: tuple[str, ...]
    want: str


def load(part: str) -> list[Message]:
    doc = yaml.safe_load(PARTS[part].read_text(encoding="utf-8"))
    out = []
    for want, items in doc.items():
        assert want in IDLE, f"{PARTS[part].name}: {want!r} is not an intent"
        for item in items:
            if isinstance(item, str):
                out.append(Message(item, (), want))
            else:
                assert isinstance(item, dict), f"{PARTS[part].name}: {item!r} is no message"
                assert set(item) <= {"text", "files"}, f"{PARTS[part].name}: {item!r}"
                out.append(Message(item.get("text") or "", tuple(item.get("files", ())), want))
    return out


def harmful(want: str, got: str) -> bool:
    """A chat message sent to a command loses an edit; a wrong export starts a render."""
    return (want == "chat" and got != "chat") or (got == "export" and want != "export")


def confusion(pairs: list[tuple[str, str]]) -> str:
    """The want × got table, one row per wanted intent."""
    counts = Counter(pairs)
    width = max(map(len, IDLE)) + 2
    lines = ["want \\ got".ljust(width + 2) + "".join(i.rjust(width) for i in IDLE)]
    for want in IDLE:
        row = "".join(str(counts[(want, got)] or ".").rjust(width) for got in IDLE)
        lines.append(want.ljust(width + 2) + row)
    return "\n".join(lines)


def test_the_corpus_is_large_mixed_and_split_once() -> None:
    tuning, holdout = load("tuning"), load("holdout")
    assert len(tuning) + len(holdout) >= 400
    texts = [(m.text, m.files) for m in tuning]
    overlap = {(m.text, m.files) for m in holdout} & set(texts)
    assert not overlap, f"in both parts: {sorted(overlap)}"
    for part in (tuning, holdout):
        assert len({(m.text, m.files) for m in part}) == len(part), "a message twice"
        zh = [m for m in part if any("\u4e00" <= c <= "\u9fff" for c in m.text)]
        assert {m.want for m in zh} == {m.want for m in part} == set(IDLE)
        assert len(zh) >= len(part) // 5


@pytest.mark.parametrize(("part", "bar"), BARS)
def test_routing_is_right_and_never_harmful(part: str, bar: float) -> None:
    messages = load(part)
    misses, pairs = [], []
    for m in messages:
        how = explain(m.text, [Path(f) for f in m.files])
        pairs.append((m.want, how.route.intent))
        if how.route.intent != m.want:
            flag = "HARMFUL " if harmful(m.want, how.route.intent) else ""
            got = f"{how.route.intent} by {how.route.rule!r}"
            misses.append(f"  {flag}{m.want} -> {got}: {m.text!r}")
    right = len(messages) - len(misses)
    bad = [line for line in misses if "HARMFUL" in line]
    report = f"{part}: {right}/{len(messages)} right\n{confusion(pairs)}\n" + "\n".join(misses)
    assert right >= bar * len(messages) and not bad, report


def test_the_confusion_table_counts_want_by_got() -> None:
    table = confusion([("chat", "export"), ("chat", "chat"), ("chat", "chat")]).splitlines()
    assert table[0].split()[-5:] == list(IDLE)
    assert table[-1].split() == ["chat", "1", ".", ".", ".", "2"]
