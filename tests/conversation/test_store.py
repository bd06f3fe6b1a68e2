import json
import multiprocessing
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from skill.common.errors import ConfigError
from skill.conversation.store import (
    Conversation,
    ConversationStore,
    PendingRender,
    check_name,
    default_name,
)


def test_default_name_is_stable_per_folder_and_differs_between_folders(tmp_path: Path) -> None:
    a, b = tmp_path / "my project", tmp_path / "other"
    a.mkdir()
    b.mkdir()
    assert default_name(a) == default_name(a)
    assert default_name(a) != default_name(b)
    assert default_name(a).startswith("my-project-")
    check_name(default_name(a))


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-lead", "x" * 65, "sp ace"])
def test_bad_names_are_refused_with_a_clear_message(name: str) -> None:
    with pytest.raises(ConfigError, match="letters, digits"):
        check_name(name)


def test_round_trip_keeps_everything_and_file_is_private(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path, "demo")
    job = PendingRender(
        "render_1", "sid", str(tmp_path / "out"), 12.5, attempt=2, status="submitted"
    )
    saved = store.update(
        lambda c: replace(c, session_id="sid", task_id="tid", language="zh",
                          draft={"t": []}).with_pending(job)
    )  # fmt: skip
    loaded = ConversationStore(tmp_path, "demo").load()
    assert loaded == saved
    assert loaded.pending == (job,)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert loaded.without_pending("render_1").pending == ()


def test_reset_keeps_pending_renders_and_exports(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path, "demo")
    job = PendingRender("render_1", "sid", "out", 1.0)
    store.update(lambda c: replace(c, session_id="sid", exports=("a.mp4",)).with_pending(job))
    fresh = store.reset()
    assert fresh.session_id is None and fresh.pending == (job,) and fresh.exports == ("a.mp4",)


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path, "demo")
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"demo\.json"):
        store.load()
    store.path.write_text(json.dumps({"pending": "x"}))
    with pytest.raises(ConfigError, match="Delete it"):
        store.load()


def _append_many(config_dir: str, start: int) -> None:
    store = ConversationStore(Path(config_dir), "shared")
    for i in range(start, start + 25):
        job = PendingRender(f"render_{i}", "sid", "out", float(i))
        store.update(lambda c, j=job: c.with_pending(j))


def test_two_processes_never_lose_each_others_updates(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), n)) for n in (0, 100)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    pending = ConversationStore(tmp_path, "shared").load().pending
    assert len(pending) == 50


def test_empty_conversation_defaults(tmp_path: Path) -> None:
    assert ConversationStore(tmp_path, "new").load() == Conversation(name="new")


def test_the_lock_file_is_private_like_the_conversation(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path, "private")
    store.update(lambda c: c)
    for path in (store.path, store.path.with_suffix(".lock")):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_a_load_sees_another_writers_change_and_an_unchanged_file_reads_the_same(
    tmp_path: Path,
) -> None:
    mine, theirs = ConversationStore(tmp_path, "seen"), ConversationStore(tmp_path, "seen")
    mine.update(lambda c: replace(c, session_id="s1"))
    assert mine.load() is mine.load()  # the same bytes: not parsed again
    theirs.update(lambda c: replace(c, session_id="s2"))  # same size, another process's write
    assert mine.load().session_id == "s2"
    mine.path.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        mine.load()


def test_an_update_waits_for_the_lock_then_says_it_stayed_locked(tmp_path: Path) -> None:
    from skill.common.storage import locked

    store = ConversationStore(tmp_path, "held", lock_timeout=0.05)
    store.update(lambda c: c)
    with (
        locked(store.path.with_suffix(".lock"), store.path, 1.0),
        pytest.raises(ConfigError) as caught,
    ):
        store.update(lambda c: replace(c, session_id="never"))
    assert caught.value.key == "error.conversation_locked"
    assert store.load().session_id is None


async def test_aload_and_aupdate_do_what_load_and_update_do(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path, "async")
    await store.aupdate(lambda c: replace(c, task_id="t"))
    assert (await store.aload()).task_id == "t" == store.load().task_id
