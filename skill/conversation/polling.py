"""When to ask the backend about a render next.

The MP4 should be on disk the moment the render finishes, without asking more often than
a fixed schedule would. A render says how far it is (`progress`, 0..1); two readings
give its pace, and the pace gives when it will finish. `Estimate` takes a second reading
soon after the first; then, while the predicted end is further off than a lead (8 % of
the render's predicted length, at least 3 s), it reads again that lead before the end
(having gone at least 60 % of the way, and waiting at most twice the time since the submit:
a pace measured over a few seconds is not stretched over minutes); within the lead it polls
just after the end. The end is the earlier of two predictions: from the average pace since
the first reading (a render's pace wobbles; its average does not) and from the recent pace,
between the last two readings (which a render that speeds up near its end shows, and a
reading just before the end measures). Every reading that moved predicts the end anew, so
one just short of it (97 %, not done) waits about what the recent pace leaves. Each miss in
a row (aimed at the end, not done) waits at least 1, 2, 4 … s, so a render that keeps ending
later than its progress says (a stall at 100 %, a slow tail) costs few polls. Before any
progress is seen (queued, or a backend that reports none) it falls back to the old growing
schedule (`Growth`: 2 s, ×1.5, up to 30 s), which is also kept to compare against in
`bench/bench_poll.py`.

Bounds, whatever the estimate says: never sooner than `floor` (1 s) after the last poll,
never later than `ceiling` (the seed's 30 s) — except when the backend asked for more with
429 `Retry-After`, which is honoured as given.

The backend documents no timestamps on a render's status (docs/protocol.md), so readings
are stamped with the client's clock when each answer arrives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from skill.common.config import Timings
from skill.common.errors import RateLimited
from skill.wire.protocol import RenderJob

GROWTH = 1.5  # the fallback: each wait this much longer than the one before
MARGIN_S = 0.15  # poll this long after the estimated finish
EARLY_SHARE = 0.6  # far from the end: go at least this share of the way, read again
LEAD_SHARE = 0.08  # read again this share of the render's predicted length before its end
LEAD_MIN_S = 3.0  # … but at least this long before it; within the lead, aim at the end
EXTRAPOLATE = 2.0  # far from the end, wait at most this many times the time since the submit


class Schedule(Protocol):
    """Asked after every status answer: how long to wait before the next poll."""

    def first(self) -> float:
        """The wait between the submit and the first poll."""
        ...

    def after(self, progress: float | None, now: float) -> float:
        """The wait after an answer with this progress (None: the answer had none)."""
        ...

    def rate_limited(self, retry_after: float | None) -> float:
        """The wait after a 429 (the backend's Retry-After, when it gave one)."""
        ...


@dataclass
class Growth:
    """The old schedule: `first`, then each wait ×1.5, capped at `ceiling`."""

    first_s: float = 2.0
    ceiling: float = 30.0
    _next: float = field(default=0.0, init=False)

    def first(self) -> float:
        self._next = min(self.first_s * GROWTH, self.ceiling)
        return self.first_s

    def after(self, progress: float | None, now: float) -> float:
        wait = self._next or self.first_s
        self._next = min(wait * GROWTH, self.ceiling)
        return wait

    def rate_limited(self, retry_after: float | None) -> float:
        return max(retry_after or 0.0, self.after(None, 0.0))


@dataclass
class Estimate:
    """Poll just after the finish that the render's own pace predicts."""

    submitted_at: float
    first_s: float = 2.0
    floor: float = 1.0
    ceiling: float = 30.0
    _readings: list[tuple[float, float]] = field(default_factory=list, init=False)
    _fallback: Growth = field(init=False)
    _misses: int = field(default=0, init=False)
    _aimed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._fallback = Growth(self.first_s, self.ceiling)

    def first(self) -> float:
        return self._fallback.first()

    def after(self, progress: float | None, now: float) -> float:
        self._read(progress, now)
        if not self._readings:  # no progress yet
            return self._clamp(self._fallback.after(progress, now))
        t1, p1 = self._readings[-1]
        if len(self._readings) == 1:  # pace from the submit: counts queue time, so errs late
            pace = p1 / max(t1 - self.submitted_at, 1e-9)
            wait = (1.0 - p1) / pace * EARLY_SHARE + MARGIN_S
            return self._clamp(min(wait, max(self.first_s, (now - self.submitted_at) / 2)))
        average, recent = self._finishes()
        end = min(average, recent)
        lead = max(LEAD_SHARE * (end - self._readings[0][0]), LEAD_MIN_S)
        remaining = end - now
        # a miss: not done though this poll was aimed at the end, or comes after it
        self._misses = self._misses + 1 if self._aimed or remaining <= 0 else 0
        self._aimed = remaining <= lead
        # a render that keeps ending later than its progress says: wait longer each miss
        patience = self.floor * 2 ** (self._misses - 1) if self._misses else 0.0
        if remaining > lead:  # far: read again a lead before the end
            wait = max(remaining * EARLY_SHARE, remaining - lead)
            return self._clamp(min(wait, EXTRAPOLATE * (now - self.submitted_at)))
        # close: just after the end; past it (at 100 %, or not moved: a reading below 100 %
        # that moved predicts an end after it) the misses' patience says how long
        return self._clamp(max(remaining + MARGIN_S, patience))

    def rate_limited(self, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(retry_after, self.floor)  # the backend's word, even past the ceiling
        return self._clamp(self._fallback.after(None, 0.0))

    def _read(self, progress: float | None, now: float) -> None:
        """Keep a reading that moved the progress on."""
        if progress is None or progress <= 0.0:
            return
        if not self._readings or progress > self._readings[-1][1]:
            self._readings.append((now, min(progress, 1.0)))

    def _finishes(self) -> tuple[float, float]:
        """When the render should end at its average pace from the first reading on, and at
        its recent pace (the last two readings); two readings or more."""
        (t0, p0), (ta, pa), (t1, p1) = self._readings[0], self._readings[-2], self._readings[-1]
        return t1 + (1.0 - p1) * (t1 - t0) / (p1 - p0), t1 + (1.0 - p1) * (t1 - ta) / (p1 - pa)

    def _clamp(self, wait: float) -> float:
        return min(max(wait, self.floor), self.ceiling)


Plan = Callable[[float, Timings], Schedule]  # (submitted_at, timings) → a render's schedule


def estimate(submitted_at: float, timings: Timings) -> Schedule:
    """The default plan: poll just after the finish the render's progress predicts."""
    first, ceiling = timings.render_poll_first, timings.render_poll_max
    return Estimate(submitted_at, first_s=first, ceiling=ceiling)


def growth(submitted_at: float, timings: Timings) -> Schedule:
    """The old plan (2 s, ×1.5, up to 30 s), kept to measure against."""
    return Growth(timings.render_poll_first, timings.render_poll_max)


async def ask(
    status: Callable[[], Awaitable[RenderJob]],
    schedule: Schedule,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
    until: float,
) -> RenderJob:
    """`status()`; a 429 (the client already waited once) is waited out as `schedule` says
    and asked again, until `until` passes (0: never), when RateLimited is raised."""
    while True:
        try:
            return await status()
        except RateLimited as exc:
            if clock() >= until:
                raise
            await sleep(schedule.rate_limited(exc.retry_after))
