"""The turn journal and turn lock in files: round trips, delivery counts, a lock that a
killed holder does not leave behind, and updates that never lose a concurrent change."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from skill.common.errors import ConfigError
from skill.conversation.turns import DONE, Entry, Journal, Progress, new_turn
from skill.conversation.turns_file import FileTurnBook

HOLD = """
import sys, time
from pathlib import Path
from skill.conversation.turns_file import FileTurnBook
lock = FileTurnBook(Path(sys.argv[1])).lock("c")
assert lock.acquire(1.0)
print("held", flush=True)
time.sleep(60)
"""

BUMP = """
import sys
from dataclasses import replace
from pathlib import Path
from skill.conversation.turns import new_turn
from skill.conversation.turns_file import FileTurnBook
journal = FileTurnBook(Path(sys.argv[1])).journal("c")
for i in range(int(sys.argv[2])):
    journal.update(lambda j: j.with_turn(new_turn("say", f"{sys.argv[3]}-{i}")))
"""


def test_a_turn_survives_the_round_trip(tmp_path: Path) -> None:
    book = FileTurnBook(tmp_path)
    turn = replace(
        new_turn("say", "add BGM", ["a.jpg"], out_dir="/o", lang="zh", intent="chat"),
        entries=(Entry("stream", "Sure"), Entry("file", "/o/v.mp4")),
        progress=Progress("Rendering", 0.5, 1.0),
        before_draft={"t": []},
    )
    book.journal("c").update(lambda j: j.with_turn(turn))
    (back,) = book.journal("c").read().turns
    assert back == turn
    assert book.names() == ["c"]
    assert (tmp_path / "turns" / "c.json").stat().st_mode & 0o777 == 0o600


def test_an_unreadable_journal_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "turns").mkdir()
    (tmp_path / "turns" / "c.json").write_text('{"turns": 3}')
    with pytest.raises(ConfigError, match=r"c\.json: not a turn journal"):
        FileTurnBook(tmp_path).journal("c").read()


def test_settled_turns_beyond_ten_are_trimmed_and_unsettled_ones_kept() -> None:
    j = Journal("c")
    for i in range(14):
        j = j.with_turn(replace(new_turn("say", f"m{i}"), status=DONE, reported=True))
    j = j.with_turn(new_turn("say", "waiting"))
    assert [t.text for t in j.turns] == [f"m{i}" for i in range(4, 14)] + ["waiting"]
    assert j.busy and [t.text for t in j.unsettled] == ["waiting"]


def test_the_turn_lock_is_free_once_its_holder_is_killed(tmp_path: Path) -> None:
    book = FileTurnBook(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
    try:
        lock = book.lock("c")
        assert lock.held() and lock.holder() == proc.pid
        assert not lock.acquire(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not lock.held() and lock.holder() is None
    assert lock.acquire(0.1) and lock.holder() == os.getpid()
    lock.release()
    assert not lock.held()


def test_concurrent_updates_from_processes_lose_nothing(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", BUMP, str(tmp_path), "15", f"p{n}"])
        for n in range(4)
    ]
    deadline = time.monotonic() + 60
    for p in procs:
        assert p.wait(max(1.0, deadline - time.monotonic())) == 0
    texts = [t.text for t in FileTurnBook(tmp_path).journal("c").read().turns]
    assert sorted(texts) == sorted(f"p{n}-{i}" for n in range(4) for i in range(15))
