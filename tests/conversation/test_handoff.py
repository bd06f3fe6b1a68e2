"""While a turn runs: what `submit` does with a message (start, queue, attach). Which
messages only ask how it goes or ask to stop is routing (tests/conversation/test_intents)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from skill.conversation import handoff
from skill.conversation.turns import DONE, RUNNING
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
