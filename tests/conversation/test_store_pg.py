"""The PostgreSQL store against a real server started here (tests/conversation/pg_server)."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from skill.common.errors import ConfigError
from skill.conversation.store_pg import SCHEMA_VERSION, PgStore, _Portal
from skill.conversation.turns import Journal, new_turn
from tests.conversation.pg_server import running_postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    with running_postgres() as url:
        yield url
        _Portal.close_all()


def child(dsn: str, code: str) -> subprocess.Popen[str]:
    """Another process on the same database (as another machine would be)."""
    prelude = f"from skill.conversation.store_pg import PgStore\ndb = PgStore({dsn!r})\n"
    return subprocess.Popen([sys.executable, "-c", prelude + code], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_the_schema_is_created_on_first_use_and_a_conversation_round_trips(dsn: str) -> None:
    db = PgStore(dsn)
    store = db.conversation("first")
    assert store.load().session_id is None
    store.update(lambda c: replace(c, session_id="sid", draft={"t": []}))
    again = PgStore(dsn).conversation("first").load()
    assert (again.session_id, again.draft) == ("sid", {"t": []}) and again.updated_at > 0
    version = db.portal.call(db._fetch("SELECT max(version) AS v FROM nemo_schema"))[0]["v"]
    assert version == SCHEMA_VERSION


def test_concurrent_updates_lose_nothing(dsn: str) -> None:
    store = PgStore(dsn).conversation("many")
    workers = [
        threading.Thread(target=lambda i=i: store.update(
            lambda c: replace(c, exports=(*c.exports, f"e{i}"))))
        for i in range(20)
    ]  # fmt: skip
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(store.load().exports) == sorted(f"e{i}" for i in range(20))


def test_journal_rows_and_state_change_in_one_transaction(dsn: str) -> None:
    db = PgStore(dsn)
    turn = new_turn("say", "make a video")
    db.journal("both").update(lambda j: j.with_turn(turn))
    assert [t.text for t in db.journal("both").read().turns] == ["make a video"]
    assert "both" in db.names()

    def broken(j: Journal) -> Journal:
        raise ValueError("journal change failed")

    with pytest.raises(ValueError, match="journal change failed"):
        db.update_both("both", lambda c: replace(c, session_id="lost"), broken)
    assert db.conversation("both").load().session_id is None  # rolled back with it
    conv, journal = db.update_both(
        "both",
        lambda c: replace(c, session_id="kept"),
        lambda j: j.change(turn.id, lambda t: replace(t, status="running")),
    )
    assert conv.session_id == "kept" and journal.turns[0].status == "running"
    assert db.journal("both").read().turns[0].status == "running"


def test_two_processes_racing_for_one_conversation_take_turns(dsn: str) -> None:
    code = (
        "import time\nfrom dataclasses import replace\n"
        "lock = db.lock('race')\nassert lock.acquire(20)\nstart = time.time()\n"
        "db.conversation('race').update(lambda c: replace(c, exports=(*c.exports, 'in')))\n"
        "time.sleep(0.5)\n"
        "db.conversation('race').update(lambda c: replace(c, exports=(*c.exports, 'out')))\n"
        "lock.release()\n"
    )
    racers = [child(dsn, code) for _ in range(2)]
    for r in racers:
        assert r.wait(60) == 0, r.stderr.read() if r.stderr else ""
    # one holder at a time: each "in" is followed by its own "out"
    assert PgStore(dsn).conversation("race").load().exports == ("in", "out", "in", "out")


def test_a_holder_killed_while_holding_the_lock_releases_it(dsn: str) -> None:
    code = "lock = db.lock('killed')\nassert lock.acquire(5)\nprint('held', flush=True)\n"
    holder = child(dsn, code + "import time\ntime.sleep(60)\n")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    lock = PgStore(dsn).lock("killed")
    assert lock.held() and lock.holder() == holder.pid
    assert not lock.acquire(0.2)  # taken
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    started = time.monotonic()
    assert lock.acquire(10)  # the server dropped the dead session's lock
    assert time.monotonic() - started < 5 and lock.holder() == os.getpid()
    lock.release()
    assert not lock.held()


def test_an_unreachable_database_is_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        PgStore(f"postgresql://postgres@/postgres?host={tmp_path}")
    assert "NEMO_STORE" in info.value.message


async def test_say_and_wait_keep_the_conversation_and_its_turns_in_the_database(
    dsn: str, tmp_path: Path
) -> None:
    from skill.standin import start_standin
    from tests.doors.test_host import GENERATE, NAME, SLOW, Host, Seen, loop
    from tests.standin.conftest import fake_renderer

    async with await start_standin(scenario=SLOW, renderer=fake_renderer) as sd:
        host = Host(tmp_path, sd.api_url)
        host.env["NEMO_STORE"] = dsn
        seen = Seen()
        await loop(host, GENERATE, seen)
        assert seen.outcomes[-1] in ("replied", "edited") and seen.replies
    db = PgStore(dsn)
    conv = db.conversation(NAME).load()
    assert conv.session_id in sd.world.sessions
    (turn,) = db.journal(NAME).read().turns
    assert turn.text == GENERATE and turn.status == "done" and turn.submitted
    assert not (tmp_path / "config" / "conversations").exists()  # nothing went to files
    assert not (tmp_path / "config" / "turns").exists() or not list(
        (tmp_path / "config" / "turns").glob("*.json")
    )


def test_jobs_lists_the_pending_renders_kept_in_the_database(dsn: str, tmp_path: Path) -> None:
    from skill.common.config import Settings
    from skill.conversation import stores
    from skill.conversation.store import PendingRender
    from skill.doors import host

    settings = Settings("http://127.0.0.1:9", "https://web.example", tmp_path, store_url=dsn)
    job = PendingRender("render_pg_1", "sid", str(tmp_path), time.time(), status="submitted")
    stores.conversation_store(settings, "shared-jobs").update(lambda c: c.with_pending(job))
    assert "shared-jobs" in stores.conversation_names(settings)
    listed = host.jobs(settings, stores.turn_book(settings))["jobs"]
    assert {"conversation": "shared-jobs", "kind": "render", "what": "render_pg_1",
            "status": "submitted"}.items() <= next(
        j for j in listed if j["what"] == "render_pg_1").items()  # fmt: skip
