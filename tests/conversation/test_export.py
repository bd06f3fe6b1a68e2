import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from skill.common.config import Timings
from skill.common.errors import (
    ConnectError,
    InputError,
    PlanRequired,
    RateLimited,
    RenderFailed,
    UnexpectedResponse,
)
from skill.common.output import CollectedOutput
from skill.conversation import export as ex
from skill.conversation import polling, templates
from skill.conversation.store import ConversationStore, PendingRender
from skill.wire.protocol import ClaimToken, RenderJob, SessionState, render_download_path

READY = {"t": [{"tt": 0, "sg": [{"s": 0, "d": 5000, "m": {"name": "beach"}}]}]}
T0 = 1_700_000_000.0
WEB = "https://web.example"
TIMINGS = Timings(render_poll_first=2.0, render_poll_max=30.0, render_deadline=1200.0)

Answer = str | RenderJob | Exception


class FakeClient:
    """Answers render_status from a script, in call order, across renders."""

    def __init__(
        self,
        statuses: Sequence[Answer] = (),
        *,
        draft: dict[str, Any] | None = READY,
        submit_error: Exception | None = None,
        claim_error: Exception | None = None,
        url: str | None = "https://cdn.example/out/{id}.mp4",
    ) -> None:
        self.statuses = list(statuses)
        self.draft, self.submit_error, self.claim_error, self.url = (
            draft, submit_error, claim_error, url,
        )  # fmt: skip
        self.submitted: list[tuple[str, str, Mapping[str, Any]]] = []
        self.downloaded: list[str] = []
        self.status_calls: list[str] = []

    async def state(self, session_id: str) -> SessionState:
        return SessionState(draft=self.draft)

    async def submit_render(
        self, render_id: str, session_id: str, draft: Mapping[str, Any]
    ) -> RenderJob:
        self.submitted.append((render_id, session_id, draft))
        if self.submit_error:
            raise self.submit_error
        return RenderJob(render_id, "pending")

    async def render_status(self, render_id: str) -> RenderJob:
        self.status_calls.append(render_id)
        answer = self.statuses.pop(0) if self.statuses else "completed"
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, RenderJob):
            return answer
        url = self.url.format(id=render_id) if self.url and answer == "completed" else None
        return RenderJob(render_id, answer, 0.5 if answer == "processing" else None, url)

    async def download(
        self, url: str, dest: Path, progress: Callable[[int, int | None], None] | None = None
    ) -> Path:
        self.downloaded.append(url)
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(b"\x00" * 2048)
        if progress:
            progress(2048, 2048)
        os.replace(part, dest)
        return dest

    async def claim_token(self, task_id: str, session_id: str) -> ClaimToken:
        if self.claim_error:
            raise self.claim_error
        return ClaimToken("clm_abc123", 604800)


class FakeTime:
    def __init__(self) -> None:
        self.now = T0
        self.delays: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    s = ConversationStore(tmp_path / "config", "demo")
    s.update(lambda c: replace(c, session_id="sid", task_id="tid"))
    return s


def run_export(
    client: FakeClient,
    store: ConversationStore,
    out_dir: Path,
    *,
    time_: FakeTime | None = None,
    timings: Timings = TIMINGS,
    output: CollectedOutput | None = None,
    plan: polling.Plan = polling.estimate,
) -> Any:
    t = time_ or FakeTime()
    return ex.export(
        client, store, out_dir=out_dir, lang="en", output=output or CollectedOutput(),
        timings=timings, web_url=WEB, sleep=t.sleep, clock=t.clock, plan=plan,
    )  # fmt: skip


def run_resume(
    client: FakeClient, store: ConversationStore, out: CollectedOutput, *, wait: bool = True
) -> Any:
    t = FakeTime()
    return ex.resume(
        client, store, lang="en", output=out, timings=TIMINGS, web_url=WEB,
        sleep=t.sleep, clock=t.clock, wait=wait,
    )  # fmt: skip


async def test_export_delivers_the_file_link_and_lines(
    store: ConversationStore, tmp_path: Path
) -> None:
    client, out = FakeClient(["processing", "completed"]), CollectedOutput()
    result = await run_export(client, store, tmp_path / "out", output=out)
    render_id = f"render_{int(T0 * 1000)}"
    assert client.submitted == [(render_id, "sid", READY)]
    assert result.path.parent == tmp_path / "out" and result.path.read_bytes() == b"\x00" * 2048
    assert result.path.name.startswith("nemovideo-") and result.path.suffix == ".mp4"
    assert not list((tmp_path / "out").glob("*.part"))
    assert (result.render_id, result.size) == (render_id, 2048)
    assert result.link == f"{WEB}/workspace/claim?ct=clm_abc123"
    assert out.files == [result.path] and out.links == [result.link]
    conv = store.load()
    assert conv.pending == () and conv.exports == (str(result.path),) and conv.draft == READY
    assert out.replies[0] == templates.render("export.starting", "en")
    assert any(result.path.name in r and "2048" not in r for r in out.replies)
    assert ("Rendering", 0.5, 1.0) in out.progress_events
    assert out.progress_events[-1] == (f"Downloading {result.path.name}", 2048, 2048)
    assert out.replies[-1] == templates.render("export.link", "en", url=result.link)
    assert not any("render_" in r or "clm_" in r for r in out.replies[:-1])


@pytest.mark.parametrize(
    ("first", "cap", "running", "expected"),
    [
        (2.0, 30.0, 0, [2.0]),
        (2.0, 30.0, 3, [2.0, 3.0, 4.5, 6.75]),
        (2.0, 30.0, 9, [2.0, 3.0, 4.5, 6.75, 10.125, 15.1875, 22.78125, 30.0, 30.0, 30.0]),
        (1.0, 2.0, 4, [1.0, 1.5, 2.0, 2.0, 2.0]),
    ],
)
async def test_the_growth_plan_starts_fast_grows_and_is_capped(
    store: ConversationStore, tmp_path: Path, first: float, cap: float, running: int,
    expected: list[float],
) -> None:  # fmt: skip
    t = FakeTime()
    timings = Timings(render_poll_first=first, render_poll_max=cap, render_deadline=3600.0)
    client = FakeClient(["processing"] * running + ["completed"])
    await run_export(client, store, tmp_path / "out", time_=t, timings=timings, plan=polling.growth)
    assert t.delays == pytest.approx(expected)


async def test_a_failed_render_is_retried_once_with_a_new_id(
    store: ConversationStore, tmp_path: Path
) -> None:
    t, out = FakeTime(), CollectedOutput()
    client = FakeClient(["processing", "failed", "completed"])
    result = await run_export(client, store, tmp_path / "out", time_=t, output=out)
    first, second = (s[0] for s in client.submitted)
    assert first != second and result.render_id == second
    assert client.downloaded == [f"https://cdn.example/out/{second}.mp4"]
    assert templates.render("export.retrying", "en") in out.replies
    assert store.load().pending == ()


async def test_retry_keeps_a_pending_entry_at_every_moment(
    store: ConversationStore, tmp_path: Path
) -> None:
    seen: list[tuple[tuple[str, int, str], ...]] = []

    class Watching(FakeClient):
        async def submit_render(
            self, render_id: str, session_id: str, draft: Mapping[str, Any]
        ) -> RenderJob:
            seen.append(tuple((p.render_id, p.attempt, p.status) for p in store.load().pending))
            return await super().submit_render(render_id, session_id, draft)

    client = Watching(["failed", "completed"])
    await run_export(client, store, tmp_path / "out")
    first, second = (s[0] for s in client.submitted)
    assert seen == [((first, 1, "submitting"),), ((second, 2, "submitting"),)]


async def test_two_failures_raise_render_failed_and_drop_the_pending_entry(
    store: ConversationStore, tmp_path: Path
) -> None:
    client = FakeClient(["failed", "processing", "failed"])
    with pytest.raises(RenderFailed) as info:
        await run_export(client, store, tmp_path / "out")
    assert info.value.key == "export.failed"
    assert len(client.submitted) == 2 and client.downloaded == []
    assert store.load().pending == ()


async def test_plan_required_at_submit_leaves_nothing_pending(
    store: ConversationStore, tmp_path: Path
) -> None:
    client = FakeClient(submit_error=PlanRequired("free plan", status=402))
    with pytest.raises(PlanRequired):
        await run_export(client, store, tmp_path / "out")
    assert store.load().pending == ()


async def test_a_lost_submit_answer_keeps_the_job_and_resume_finds_it(
    store: ConversationStore, tmp_path: Path
) -> None:
    client = FakeClient(submit_error=ConnectError("reset"))
    with pytest.raises(ConnectError):
        await run_export(client, store, tmp_path / "out")
    (entry,) = store.load().pending
    assert entry.status == "submitting"
    out = CollectedOutput()
    (result,) = await run_resume(FakeClient(["completed"]), store, out)
    assert result.render_id == entry.render_id and store.load().pending == ()


@pytest.mark.parametrize(
    "draft",
    [None, {}, {"t": []}, {"t": [{"tt": 0, "sg": []}]}, {"t": [{"tt": 1}, {"tt": 7, "sg": []}]}],
)
async def test_nothing_to_export_is_an_input_error_before_any_submit(
    store: ConversationStore, tmp_path: Path, draft: dict[str, Any] | None
) -> None:
    client = FakeClient(draft=draft)
    with pytest.raises(InputError) as info:
        await run_export(client, store, tmp_path / "out")
    assert info.value.key == "export.nothing_to_export"
    assert client.submitted == [] and store.load().pending == ()
    templates.render(info.value.key, "en", **info.value.details)


async def test_no_session_is_an_input_error(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path, "fresh")
    with pytest.raises(InputError) as info:
        await run_export(FakeClient(), store, tmp_path / "out")
    assert info.value.key == "export.no_session"


async def test_an_unusable_folder_is_refused_before_rendering(
    store: ConversationStore, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    client = FakeClient()
    with pytest.raises(InputError) as info:
        await run_export(client, store, blocker / "out")
    assert info.value.key == "export.bad_folder" and info.value.details["folder"]
    assert client.submitted == []


async def test_deadline_keeps_the_render_pending_and_resume_collects_it(
    store: ConversationStore, tmp_path: Path
) -> None:
    t = FakeTime()
    timings = Timings(render_poll_first=2.0, render_poll_max=30.0, render_deadline=60.0)
    with pytest.raises(ex.RenderDeadline) as info:
        await run_export(FakeClient(["processing"] * 100), store, tmp_path / "out", time_=t,
                         timings=timings)  # fmt: skip
    assert sum(t.delays) == pytest.approx(60.0) and max(t.delays) <= 30.0
    line = templates.render(info.value.key, "en", **info.value.details)
    assert "nothing is lost" in line and "nemo-video" not in line  # the host gets `next`
    (entry,) = store.load().pending
    assert entry.status == "submitted"
    (result,) = await run_resume(FakeClient(["completed"]), store, CollectedOutput())
    assert result.render_id == entry.render_id and result.path.parent == tmp_path / "out"


async def test_a_killed_export_is_resumed_by_a_new_process(
    store: ConversationStore, tmp_path: Path
) -> None:
    waiting = asyncio.Event()

    async def hang(delay: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    client = FakeClient()
    running = ex.export(
        client, store, out_dir=tmp_path / "out", lang="en", output=CollectedOutput(),
        timings=TIMINGS, web_url=WEB, sleep=hang,
    )  # fmt: skip
    task = asyncio.ensure_future(running)
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    fresh = ConversationStore(store.path.parent.parent, "demo")
    (entry,) = fresh.load().pending
    assert entry.render_id == client.submitted[0][0] and entry.status == "submitted"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    out = CollectedOutput()
    (result,) = await run_resume(FakeClient(["processing", "completed"]), fresh, out)
    assert result.render_id == entry.render_id and result.path.exists()
    assert fresh.load().pending == () and fresh.load().exports == (str(result.path),)
    assert out.files == [result.path]


async def test_export_collects_a_pending_render_instead_of_submitting_again(
    store: ConversationStore, tmp_path: Path
) -> None:
    entry = PendingRender("render_1", "sid", str(tmp_path / "earlier"), T0, 1, "submitted")
    store.update(lambda c: c.with_pending(entry))
    client, out = FakeClient(["completed"]), CollectedOutput()
    result = await run_export(client, store, tmp_path / "out", output=out)
    assert client.submitted == [] and result.render_id == "render_1"
    assert result.path.parent == tmp_path / "earlier"
    assert out.replies[0] == templates.render("export.resuming", "en", count=1)


async def test_resume_without_waiting_asks_once_and_keeps_running_renders(
    store: ConversationStore, tmp_path: Path
) -> None:
    running = PendingRender("render_1", "sid", str(tmp_path / "a"), T0, 1, "submitted")
    done = PendingRender("render_2", "old-sid", str(tmp_path / "b"), T0, 1, "downloading")
    store.update(lambda c: c.with_pending(running).with_pending(done))
    client, out = FakeClient(["processing", "completed"]), CollectedOutput()
    (result,) = await run_resume(client, store, out, wait=False)
    assert client.status_calls == ["render_1", "render_2"]
    assert result.render_id == "render_2" and result.path.parent == tmp_path / "b"
    assert result.link is None  # another session's render: no claim link for it
    assert store.load().pending == (running,)
    assert templates.render("export.still_rendering", "en") in out.replies


@pytest.mark.parametrize(
    ("status", "wait", "raises", "line"),
    [
        ("submitted", False, None, "export.lost"),
        ("downloading", True, ex.RenderLost, None),
        ("submitting", False, None, None),  # never reached the backend: dropped quietly
        ("submitting", True, None, None),
    ],
)
async def test_a_render_the_server_does_not_know_is_dropped(
    store: ConversationStore, tmp_path: Path, status: str, wait: bool,
    raises: type[Exception] | None, line: str | None,
) -> None:  # fmt: skip
    entry = PendingRender("render_9", "sid", str(tmp_path), T0, 1, status)
    store.update(lambda c: c.with_pending(entry))
    client = FakeClient([UnexpectedResponse("not found", status=404)])
    out = CollectedOutput()
    if raises:
        with pytest.raises(raises):
            await run_resume(client, store, out, wait=wait)
    else:
        assert await run_resume(client, store, out, wait=wait) == []
    assert store.load().pending == () and client.status_calls == ["render_9"]
    lines = [r for r in out.replies if r != templates.render("export.resuming", "en", count=1)]
    assert lines == ([templates.render(line, "en")] if line else [])


async def test_resume_at_turn_start_survives_an_unreachable_backend(
    store: ConversationStore, tmp_path: Path
) -> None:
    entry = PendingRender("render_1", "sid", str(tmp_path), T0, 1, "submitted")
    store.update(lambda c: c.with_pending(entry))
    out = CollectedOutput()
    assert await run_resume(FakeClient([ConnectError("down")]), store, out, wait=False) == []
    assert store.load().pending == (entry,) and out.replies == []


async def test_a_completed_job_without_url_uses_the_fallback_download_path(
    store: ConversationStore, tmp_path: Path
) -> None:
    client = FakeClient(["completed"], url=None)
    result = await run_export(client, store, tmp_path / "out")
    assert client.downloaded == [render_download_path(result.render_id)]


async def test_a_refused_render_url_falls_back_to_the_download_path(
    store: ConversationStore, tmp_path: Path
) -> None:
    class Expired(FakeClient):
        async def download(
            self, url: str, dest: Path, progress: Callable[[int, int | None], None] | None = None
        ) -> Path:
            if url.startswith("https://"):
                self.downloaded.append(url)
                raise UnexpectedResponse("expired", status=403)
            return await super().download(url, dest, progress)

    client = Expired(["completed"])
    result = await run_export(client, store, tmp_path / "out")
    assert client.downloaded[-1] == render_download_path(result.render_id)
    assert result.path.exists() and store.load().pending == ()


async def test_a_claim_token_failure_only_loses_the_link(
    store: ConversationStore, tmp_path: Path
) -> None:
    out = CollectedOutput()
    client = FakeClient(claim_error=ConnectError("down"))
    result = await run_export(client, store, tmp_path / "out", output=out)
    assert result.link is None and out.links == [] and result.path.exists()
    assert not any("🔗" in r for r in out.replies)


async def test_a_changed_draft_gets_a_new_file(store: ConversationStore, tmp_path: Path) -> None:
    a = await run_export(FakeClient(), store, tmp_path / "out")
    changed = {"t": [*READY["t"], {"tt": 1, "sg": [{"s": 0, "d": 5000, "m": {"name": "bgm"}}]}]}
    b = await run_export(FakeClient(draft=changed), store, tmp_path / "out")
    assert a.path != b.path and a.path.exists() and b.path.exists()
    assert store.load().exports == (str(a.path), str(b.path))


async def test_an_unchanged_draft_is_handed_back_not_rendered(
    store: ConversationStore, tmp_path: Path
) -> None:
    a = await run_export(FakeClient(), store, tmp_path / "out")
    again, out = FakeClient(), CollectedOutput()
    b = await run_export(again, store, tmp_path / "out", output=out)
    assert (b.path, b.render_id) == (a.path, a.render_id)
    assert again.submitted == [] and again.downloaded == []
    assert out.files == [a.path]
    line = templates.render("export.unchanged", "en", name=a.path.name,
                            folder=str(a.path.parent), size_mb=0.0)  # fmt: skip
    assert line in out.replies
    a.path.unlink()  # the MP4 is gone: the journal does not hand back what is not there
    third = FakeClient()
    c = await run_export(third, store, tmp_path / "out")
    assert len(third.submitted) == 1 and c.path.exists()


def test_every_line_exists_in_both_languages_and_renders() -> None:
    root = Path(__file__).resolve().parents[2] / "prompts"
    keys = {lang: set(yaml.safe_load((root / lang / "export.yaml").read_text())) for lang in
            ("en", "zh")}  # fmt: skip
    assert keys["en"] == keys["zh"]
    ctx = {"name": "v.mp4", "folder": "/tmp", "size_mb": 1.5, "count": 2, "minutes": 20,
           "got_mb": 1.0,
           "url": "https://web.example/workspace/claim?ct=c"}  # fmt: skip
    for lang in ("en", "zh"):
        for key in keys[lang]:
            line = templates.render(f"export.{key}", lang, **ctx)
            assert line.strip() and "{" not in line


async def test_a_render_reporting_progress_is_fetched_just_after_it_ends(
    store: ConversationStore, tmp_path: Path
) -> None:
    ends = T0 + 40.0  # 0.5 s queued, then 39.5 s at a steady pace

    class Paced(FakeClient):
        def __init__(self, time_: FakeTime) -> None:
            super().__init__()
            self.t = time_

        async def render_status(self, render_id: str) -> RenderJob:
            self.status_calls.append(render_id)
            if self.t.now >= ends:
                return RenderJob(render_id, "completed", 1.0, f"https://cdn.example/{render_id}")
            return RenderJob(render_id, "processing", max(0.0, (self.t.now - T0 - 0.5) / 39.5))

    polls = {}
    for plan in (polling.estimate, polling.growth):
        t = FakeTime()
        client = Paced(t)
        fresh = ConversationStore(tmp_path / plan.__name__, "demo")
        fresh.update(lambda c: replace(c, session_id="sid", task_id="tid"))
        await run_export(client, fresh, tmp_path / "out", time_=t, plan=plan)
        polls[plan] = (len(client.status_calls), t.now - ends)
    (estimated, late), (before, late_before) = polls[polling.estimate], polls[polling.growth]
    assert 0 <= late <= 1.0 and late_before > 1.0  # fetched within a second of the end
    assert estimated <= before  # with no more polls than the growing schedule


async def test_a_rate_limited_poll_waits_what_the_backend_asked(
    store: ConversationStore, tmp_path: Path
) -> None:
    t = FakeTime()
    client = FakeClient([RateLimited("slow down", retry_after=45.0), "completed"])
    result = await run_export(client, store, tmp_path / "out", time_=t)
    assert t.delays == [2.0, 45.0] and result.path.is_file()  # past the 30 s cap: its word
