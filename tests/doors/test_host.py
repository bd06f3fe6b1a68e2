"""Turns that outlive the host's command, with real processes: `say` hands the turn to a
detached worker; `say --wait`/`wait` return within their bound; `kill -9` of a caller
loses nothing; `cancel` stops the turn and its render; concurrent messages queue.

The stand-in runs in its slow scenario (real-backend durations) scaled down by
`time_scale`, so a generation the length of the real one takes two seconds here.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from skill.conversation import templates
from skill.conversation.turns_file import FileTurnBook
from skill.standin import RunningStandin, start_standin
from tests.doors.test_cli import Cli, Run
from tests.doors.test_startup import imported
from tests.host_schema import one_object
from tests.standin.conftest import fake_renderer

SCALE = 0.01  # generation 200 s → 2 s, render 90 s → 0.9 s
SLOW = {"slow": True, "time_scale": SCALE, "starting_credits": 5000, "silent_edits": 0,
        "seed": 3, "abort_on_disconnect": True}  # fmt: skip
NAME = "host-test"
NEXT = {"command": "nemo-video wait --json"}
GENERATE = "generate a 10-second video of a beach"
TITLE = "add a title 'Hello' at the start"


@pytest.fixture
def scale() -> float:
    return SCALE


@pytest.fixture
def extra() -> dict[str, Any]:
    return {}


@pytest.fixture
async def slow(
    tmp_path: Path, scale: float, extra: dict[str, Any]
) -> AsyncIterator[RunningStandin]:
    scenario, data = {**SLOW, "time_scale": scale, **extra}, tmp_path / "standin"
    async with await start_standin(scenario=scenario, data_dir=data, renderer=fake_renderer) as sd:
        yield sd


@pytest.fixture
def host(tmp_path: Path, slow: RunningStandin) -> Iterator[Host]:
    h = Host(tmp_path, slow.api_url)
    yield h
    pid = FileTurnBook(tmp_path / "config").lock(NAME).holder()
    if pid:  # a worker still at work when the test ends (the stand-in is closing)
        os.kill(pid, signal.SIGKILL)


class Host(Cli):
    """An agent host: one process per call, killed when it wants."""

    def __init__(self, folder: Path, api_url: str) -> None:
        super().__init__(folder, api_url)
        self.env |= {"NEMO_CONVERSATION": NAME, "NEMO_WORKER_LOG": str(folder / "worker.log")}
        self.calls: list[tuple[str, float]] = []
        self.procs: set[int] = set()  # pids of the calls still running
        self.kills = 0

    async def call(self, *args: str, kill_after: float | None = None) -> Run | None:
        """Run one command; with kill_after, SIGKILL it then. None when it was killed before
        it printed a whole answer (a host reads stdout as it comes: what was printed counts)."""
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "skill", *args, env=self.env, cwd=self.folder,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.procs.add(proc.pid)
        loop = asyncio.get_running_loop()
        killer = loop.call_later(kill_after, proc.kill) if kill_after is not None else None
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        if killer is not None:
            killer.cancel()
        self.procs.discard(proc.pid)
        assert proc.returncode is not None
        killed = proc.returncode < 0  # by the timer, or by the test's own kill -9
        self.kills += killed
        self.calls.append((args[0] + (" (killed)" if killed else ""), time.monotonic() - started))
        if killed:
            try:
                json.loads(out)
            except ValueError:
                return None
            return Run(0, out.decode(), err.decode())
        return Run(proc.returncode, out.decode(), err.decode())

    def journal(self) -> Any:
        return FileTurnBook(self.folder / "config").journal(NAME).read()


@dataclass
class Seen:
    """What the user was shown across calls."""

    replies: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    def add(self, doc: dict[str, Any]) -> None:
        self.outcomes.append(doc["outcome"])
        self.replies += [r for r in doc["replies"] if not r.startswith("⏳")]
        self.files += doc["files"]
        assert (doc["next"] == NEXT) == (doc["outcome"] == "running"), doc
        assert not any("nemo-video" in r for r in doc["replies"]), doc


async def loop(host: Host, message: str, seen: Seen, wait: str = "1") -> None:
    """The host loop of SKILL.md: say, then wait until the outcome is not `running`."""
    run = await host.call("say", message, "--json", "--wait", wait)
    assert run is not None and run.code == 0, run
    seen.add(run.doc)
    while run.doc["outcome"] == "running":
        run = await host.call("wait", "--json", "--wait", wait)
        assert run is not None and run.code == 0, run
        seen.add(run.doc)


def on_disk(paths: list[str]) -> bool:
    return all(Path(p).is_file() for p in paths)


def squeezed(lines: list[str]) -> str:
    """The text without its spacing (a reply streamed across two calls comes in two parts)."""
    return "".join("".join(lines).split())


def texts(standin: RunningStandin) -> list[str]:
    return [text for _sid, text in standin.world.submissions]


async def test_the_host_loop_gets_the_whole_conversation_within_its_bound(
    host: Host, slow: RunningStandin
) -> None:
    seen = Seen()
    first = await host.call("say", GENERATE, "--json", "--wait", "1")
    assert first is not None and first.doc["outcome"] == "running" and first.code == 0
    assert first.doc["replies"][-1].startswith("⏳")
    seen.add(first.doc)
    while seen.outcomes[-1] == "running":
        run = await host.call("wait", "--json", "--wait", "1")
        assert run is not None
        seen.add(run.doc)
    await loop(host, TITLE, seen)
    assert texts(slow) == [GENERATE, TITLE]  # one submission per user message
    written = [e.text for t in host.journal().turns for e in t.entries
               if e.kind in ("stream", "reply")]  # fmt: skip
    assert squeezed(seen.replies) == squeezed(written)  # everything shown, and only once
    assert any("Hello" in r for r in seen.replies)  # the edit reported
    assert len(seen.files) == 2 and on_disk(seen.files)
    assert len(slow.world.renders) == 2  # the agent's "export" after each turn, done for it
    assert max(d for _c, d in host.calls) < 1 + 4.0  # the bound, plus a process start


async def test_kill_9_of_say_leaves_the_worker_finishing_and_wait_collects_it(
    host: Host, slow: RunningStandin
) -> None:
    say = asyncio.ensure_future(host.call("say", GENERATE, "--json", "--wait", "30"))
    while not any(t.submitted for t in host.journal().turns):  # noqa: ASYNC110 - mid-stream
        await asyncio.sleep(0.02)
    (pid,) = [
        p for p in host.procs if p != FileTurnBook(host.folder / "config").lock(NAME).holder()
    ]
    os.kill(pid, signal.SIGKILL)
    assert await say is None
    seen = Seen()
    while not seen.outcomes or seen.outcomes[-1] == "running":
        run = await host.call("wait", "--json", "--wait", "5")
        assert run is not None and run.code == 0
        seen.add(run.doc)
    assert seen.outcomes[-1] == "replied" and len(seen.files) == 1
    assert any("raw video is ready" in r for r in seen.replies)
    assert texts(slow) == [GENERATE] and len(slow.world.renders) == 1


@pytest.mark.parametrize("extra", [{"abort_on_disconnect": False}])  # the run carries on
async def test_a_worker_killed_mid_turn_is_replaced_and_its_turn_read_from_the_state(
    host: Host, slow: RunningStandin
) -> None:
    host.env["NEMO_TIMINGS"] = json.dumps({"recovery_waits": [0.5] * 10})
    run = await host.call("say", GENERATE, "--json", "--wait", "0")
    assert run is not None and run.doc["outcome"] == "running"
    while not any(t.submitted for t in host.journal().turns):  # noqa: ASYNC110 - mid-stream
        await asyncio.sleep(0.02)
    worker = FileTurnBook(host.folder / "config").lock(NAME).holder()
    assert worker is not None
    os.kill(worker, signal.SIGKILL)
    seen = Seen()
    while not seen.outcomes or seen.outcomes[-1] == "running":
        run = await host.call("wait", "--json", "--wait", "10")
        assert run is not None
        seen.add(run.doc)
    assert seen.outcomes[-1] == "partial"  # done as far as the state shows; never "failed"
    assert templates.render("chat.recovering_dropped") in seen.replies
    assert templates.render("chat.recovered") in seen.replies
    assert texts(slow) == [GENERATE]  # found from the state, never sent again
    (turn,) = host.journal().turns
    assert turn.attempts == 2 and turn.settled


@pytest.mark.parametrize("scale", [0.05])  # a 10 s generation: cancelled well before its end
async def test_cancel_stops_the_turn_drops_the_queue_and_says_what_was_done(
    host: Host, slow: RunningStandin
) -> None:
    run = await host.call("say", GENERATE, "--json", "--wait", "0.5")
    assert run is not None and run.doc["outcome"] == "running"
    queued = await host.call("say", TITLE, "--json", "--wait", "0")
    assert queued is not None
    assert queued.doc["replies"][0] == templates.render("turns.queued", text=TITLE)
    jobs = await host.call("jobs", "--json")
    assert jobs is not None
    listed = one_object(jobs.stdout)["jobs"]  # the turn JSON, plus the list of jobs
    assert [j["kind"] for j in listed] == ["running", "queued"]
    cancel = await host.call("cancel", "--json")
    assert cancel is not None and cancel.code == 0
    replies = cancel.doc["replies"]
    assert templates.render("turns.cancelled") in replies
    said = {templates.render("turns.cancelled_nothing"), templates.render("turns.cancelled_done")}
    assert said & set(replies)  # what had been done by then, from the state
    assert replies[-1] == templates.render("turns.dropped", texts=f'"{TITLE}"')
    (account,) = slow.world.accounts.values()
    deadline = time.monotonic() + 5
    while account.frozen and time.monotonic() < deadline:  # noqa: ASYNC110 - the stand-in's
        await asyncio.sleep(0.02)
    assert account.frozen == 0 and account.available == 5000  # aborted: nothing charged
    assert texts(slow) == [GENERATE]  # the queued message was never sent
    after = await host.call("wait", "--json", "--wait", "0")
    assert after is not None
    assert after.doc["replies"] == [templates.render("turns.nothing_running")]


REFUSED = {"endpoint": "render_cancel", "status": 405}


@pytest.mark.parametrize(
    "extra", [{"timing": {"render": 500}}, {"timing": {"render": 500}, "faults": [REFUSED]}],
    ids=["cancelled", "refused"],
)  # fmt: skip
async def test_cancel_cancels_a_running_render_or_says_it_cannot(
    host: Host, slow: RunningStandin, extra: dict[str, Any]
) -> None:
    run = await host.call("say", GENERATE, "--json", "--wait", "0")
    assert run is not None
    while not any(j.status == "processing" for j in slow.world.renders.values()):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    cancel = await host.call("cancel", "--json")
    assert cancel is not None
    (job,) = slow.world.renders.values()
    pending = [p.render_id for p in host.store(NAME).load().pending]
    if "faults" in extra:  # said so, and left to be collected
        assert job.status == "processing" and pending == [job.id]
        line = templates.render("turns.render_not_cancellable", id=job.id)
    else:
        assert job.status == "cancelled" and pending == []
        line = templates.render("turns.render_cancelled", id=job.id)
    assert line in cancel.doc["replies"]


async def test_ten_messages_at_once_queue_in_order_none_lost_or_sent_twice(
    host: Host, slow: RunningStandin
) -> None:
    messages = [f"what can you do? ({n})" for n in range(10)]
    runs = await asyncio.gather(*(host.call("say", m, "--json", "--wait", "0") for m in messages))
    assert all(r is not None and r.code == 0 for r in runs)
    order = [t.text for t in host.journal().turns]
    assert sorted(order) == sorted(messages)
    seen = Seen()
    while not seen.outcomes or seen.outcomes[-1] == "running":
        run = await host.call("wait", "--json", "--wait", "5")
        assert run is not None
        seen.add(run.doc)
    assert texts(slow) == order  # in the order they were queued, each once


async def test_kill_9_at_random_offsets_ten_times_loses_nothing_and_repeats_nothing(
    host: Host, slow: RunningStandin
) -> None:
    """Every call may be killed at a random moment; the host then does what a host does:
    a killed `say` is sent again (it cannot know whether it arrived), a killed `wait`
    is called again."""
    rng = random.Random(12)
    messages = [GENERATE, TITLE, "export"]
    for message in messages:
        command: tuple[str, ...] = ("say", message)
        while True:
            offset = rng.uniform(0.05, 1.6) if host.kills < 10 else None
            run = await host.call(*command, "--json", "--wait", "1", kill_after=offset)
            if run is None:
                continue  # the same command again: a say is re-sent, a wait re-called
            if run.doc["outcome"] != "running":
                break
            command = ("wait",)
    assert host.kills == 10
    assert texts(slow) == [GENERATE, TITLE]  # "export" is not a chat message
    jobs = slow.world.renders.values()  # each render submitted once, each delivered once
    assert len(jobs) == len(list((host.folder / "out").glob("*.mp4"))) >= 2
    assert all(j.status == "completed" for j in jobs)
    unsettled = [t for t in host.journal().turns if not t.settled]
    assert unsettled == [] and len(host.journal().turns) == 3
    print(json.dumps({"calls": len(host.calls), "kills": host.kills,
                      "longest_call_s": round(max(d for _c, d in host.calls), 2)}))  # fmt: skip


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_an_idle_worker_lingers_runs_the_next_message_and_leaves_when_nobody_rings(
    host: Host,
) -> None:
    host.env["NEMO_WORKER_LINGER"] = "30"
    first = await host.call("say", "hello", "--json")
    assert first is not None and first.code == 0 and first.doc["outcome"] == "replied", first
    (turn,) = host.journal().turns
    worker = turn.worker_pid
    assert worker and alive(worker)  # its turn is over; it waits for the next message
    bells = list((host.folder / "config" / "turns").glob("*.bell"))
    assert len(bells) == 1
    credits = await host.call("say", "credits", "--json")
    assert credits is not None and credits.doc["intent"] == "credits", credits
    assert credits.doc["replies"][0].startswith("💳"), credits.doc
    assert [t.worker_pid for t in host.journal().turns][-1] == worker  # the same process ran it
    # handed to a ready worker, a `say` loads no HTTP client, template engine, YAML or logging
    probe = ["say", "what's on my timeline?", "--json"]
    assert await asyncio.to_thread(imported, probe, host.env, host.folder) == set()
    assert host.journal().turns[-1].intent == "state"

    # another environment (here: another backend) is never served by this worker
    host.env["NEMO_TIMINGS"] = json.dumps({"retry_attempts": 1})
    other = await host.call("say", "credits", "--json")
    assert other is not None and other.doc["intent"] == "credits", other
    second = host.journal().turns[-1].worker_pid
    assert second not in (worker, None)

    for pid in (worker, second):  # idle: each leaves, and takes its bell with it
        assert pid
        os.kill(pid, signal.SIGTERM)
        await until(lambda pid=pid: not alive(pid))  # type: ignore[misc]
    assert not list((host.folder / "config" / "turns").glob("*.bell"))


async def test_a_lingering_worker_exits_once_its_linger_has_passed(host: Host) -> None:
    host.env["NEMO_WORKER_LINGER"] = "0.5"
    run = await host.call("say", "credits", "--json")
    assert run is not None and run.code == 0, run
    worker = host.journal().turns[-1].worker_pid
    assert worker
    await until(lambda: not alive(worker), 10)
    assert not list((host.folder / "config" / "turns").glob("*.bell"))
