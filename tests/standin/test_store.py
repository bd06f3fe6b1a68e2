"""What the stand-in keeps is bounded (scenario `keep`): idle sessions expire on the
world's clock, the least recently used go beyond the cap, uploads beyond theirs are
deleted. A forgotten session answers 1002, as a lost one does."""

from __future__ import annotations

from typing import Any

import aiohttp

from .conftest import Raw, Start
from .test_uploads import form, stored, upload_path


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def raw_for(start: Start, http: aiohttp.ClientSession, keep: dict[str, Any],
                  clock: Clock) -> Raw:  # fmt: skip
    return Raw(http, await start({"keep": keep}, clock=clock))


async def state_code(raw: Raw, token: str, sid: str) -> int:
    _, body, _ = await raw.call("GET", f"/api/state/nemo_agent/me/{sid}/latest", token)
    return int(body["code"])


async def test_a_session_idle_longer_than_its_ttl_is_1002_and_a_used_one_lives_on(
    start: Start, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    raw = await raw_for(start, http, {"session_idle": 60}, clock)
    token, idle = await raw.ready()
    busy = await raw.session(token)
    for _ in range(3):  # named every 40 s: never idle for 60 s
        clock.now += 40
        assert await state_code(raw, token, busy) == 0
    assert await state_code(raw, token, idle) == 1002
    assert idle not in raw.standin.world.sessions and busy in raw.standin.world.sessions


async def test_idle_sessions_are_swept_when_a_new_one_opens(
    start: Start, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    raw = await raw_for(start, http, {"session_idle": 60}, clock)
    token, _ = await raw.ready()
    await raw.session(token)
    clock.now += 61
    fresh = await raw.session(token)
    assert list(raw.standin.world.sessions) == [fresh]


async def test_beyond_the_cap_the_least_recently_used_session_goes_first(
    start: Start, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    raw = await raw_for(start, http, {"sessions": 2}, clock)
    token, first = await raw.ready()
    second = await raw.session(token)
    assert await state_code(raw, token, first) == 0  # first is now the most recent
    third = await raw.session(token)
    assert list(raw.standin.world.sessions) == [first, third]
    assert await state_code(raw, token, second) == 1002


async def test_uploads_beyond_the_cap_are_deleted_oldest_first(
    start: Start, http: aiohttp.ClientSession
) -> None:
    raw = await raw_for(start, http, {"uploads": 1}, Clock())
    token, sid = await raw.ready()
    urls = []
    for name in ("a.png", "b.png"):
        _, body, _ = await raw.call("POST", upload_path(sid), token, data=form((name, b"px")))
        urls += [f["url"] for f in body["data"]["files"]]
    assert [(await raw.call("GET", u))[0] for u in urls] == [404, 200]
    assert [p.name for p in stored(raw)] == ["b.png"]
    assert [m.name for m in raw.standin.world.sessions[sid].media] == ["b.png"]


async def test_a_forgotten_sessions_uploads_are_deleted_with_it(
    start: Start, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    raw = await raw_for(start, http, {"session_idle": 60}, clock)
    token, sid = await raw.ready()
    await raw.call("POST", upload_path(sid), token, data=form(("a.png", b"px")))
    assert len(stored(raw)) == 1
    clock.now += 61
    assert await state_code(raw, token, sid) == 1002
    assert stored(raw) == [] and raw.standin.world.media == {}
