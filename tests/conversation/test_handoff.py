"""While a turn runs: what `submit` does with a message (start, queue, attach). Which
messages only ask how it goes or ask to stop is routing (tests/conversation/test_intents)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from skill.conversation import handoff
from skill.conversation.turns import DONE, RUNNING, Entry
from skill.conversation.turns_file import FileTurnBook


def submit(book: FileTurnBook, text: str, **kw: bool) -> handoff.Submitted:
    return handoff.submit(book, "c", "say", text, out_dir="/o", lang="en", intent="chat", **kw)


def test_a_message_starts_queues_or_attaches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    monkeypatch.setattr(handoff, "spawn_worker", started.append)
    book = FileTurnBook(tmp_path)
    first = submit(book, "make a video")
    assert first.kind == "started" and started == ["c"]
    assert submit(book, "add BGM").kind == "queued"
    assert submit(book, " make a video ").kind == "repeat"  # a host re-sending a killed say
    assert submit(book, "is it done?", status_question=True).kind == "status"
    assert [t.text for t in book.journal("c").read().turns] == ["make a video", "add BGM"]
    # once every turn is done and its outcome delivered, the same words are a new turn
    book.journal("c").update(lambda j: replace(j, turns=tuple(
        replace(t, status=DONE, reported=True) for t in j.turns)))  # fmt: skip
    assert submit(book, "make a video").kind == "started"
    assert book.journal("c").read().turns[-1].status != RUNNING


def test_entries_delivered_as_they_come_leave_the_outcome_to_the_final_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoff, "spawn_worker", lambda name: None)
    book = FileTurnBook(tmp_path)
    sub = submit(book, "add a title")
    assert sub.turn_id is not None
    done = (Entry("reply", 'Title added: "Hi"'),)
    book.journal("c").update(lambda j: j.change(sub.turn_id or "", lambda t: replace(
        t, entries=done, status=DONE, outcome="edited")))  # fmt: skip
    seen: list[handoff.Delivery] = []
    handoff.attach(book, "c", 0, emit=seen.append, partial=seen.append)
    (final,) = [d for d in seen if d.outcome != "running"]
    assert final.outcome == "edited"
    assert [e.text for d in seen for e in d.entries] == ['Title added: "Hi"']  # once
