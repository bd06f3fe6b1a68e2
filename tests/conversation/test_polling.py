import math
import statistics
from collections.abc import Callable

import pytest

from skill.common.config import Timings
from skill.conversation import polling

T0 = 1000.0
M = polling.MARGIN_S
PLATEAU = 0.19 * 41.4 / 0.71  # what is left at 81 %, at the average pace since 10 %


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        # no progress yet (queued): the growing fallback, 2 s then ×1.5
        ([(2.0, None), (5.0, None)], [3.0, 4.5]),
        # one reading: the pace counted from the submit includes the queue: read again soon
        ([(4.0, 0.1)], [2.0]),
        # far from the end (at 21 s): at most twice the time since the submit, then go 60 % of
        # the way (7 s × 0.6 > 7 s - 3 s)
        ([(2.0, 0.05), (4.0, 0.15), (14.0, 0.65)], [2.0, 2 * 4.0, 0.6 * 7.0]),
        # far from the end (at 40 s): read again the least lead (3 s) before it
        ([(10.0, 0.25), (20.0, 0.5)], [5.0, 20.0 - 3.0]),
        # a long render (ends at 101 s): the lead is 8 % of its length (7.92 s); within it,
        # aim just after the end
        (
            [(2.0, 0.01), (4.0, 0.03), (34.0, 0.33), (64.0, 0.63), (92.0, 0.91), (97.4, 0.964)],
            [2.0, 2 * 4.0, 30.0, 37.0 - 7.92, 0.6 * 9.0, 3.6 + M],
        ),
        # speeding up: the recent pace (0.1/s) ends it earlier than the average (0.036/s)
        ([(10.0, 0.1), (20.0, 0.2), (24.0, 0.6)], [5.0, 30.0, 4.0 - 1.6]),
        # a plateau: the average pace ends it earlier than the recent crawl
        (
            [(10.0, 0.1), (15.0, 0.2), (45.0, 0.8), (51.4, 0.81)],
            [5.0, 30.0, 6.4, PLATEAU - 0.08 * (41.4 + PLATEAU)],
        ),
        # short of the end, at 97 %, not done: what the recent pace (7 % in 3.3 s) leaves
        (
            [(10.0, 0.5), (15.0, 0.6), (32.0, 0.9), (35.3, 0.97)],
            [5.0, 17.0, 3.3, 0.03 * 3.3 / 0.07 + M],
        ),
        # … and at 99 %: never sooner than the floor
        ([(10.0, 0.5), (15.0, 0.6), (32.0, 0.9), (35.3, 0.99)], [5.0, 17.0, 3.3, 1.0]),
        # coarse progress, not moved while its end is still ahead: keep aiming at that end
        ([(2.0, 0.1), (4.0, 0.2), (8.0, 0.2)], [2.0, 2 * 4.0, 20.0 - 8.0 - 3.0]),
        # the second reading half the time since the submit later; arriving after the estimate,
        # at 100 % but not done: close in 1 s, 2 s, 4 s
        ([(10.0, 0.5), (20.0, 1.0), (21.0, 1.0), (22.5, 1.0)], [5.0, 1.0, 2.0, 4.0]),
        # a render that needs an hour: never more than 30 s between polls
        ([(10.0, 0.001), (40.0, 0.002)], [5.0, 30.0]),
        # a near-finished render: never sooner than 1 s
        ([(10.0, 0.98), (10.5, 0.999)], [1.0, 1.0]),
    ],
)
def test_estimate_polls_just_after_the_predicted_end(
    readings: list[tuple[float, float | None]], expected: list[float]
) -> None:
    plan = polling.Estimate(T0, first_s=2.0, floor=1.0, ceiling=30.0)
    assert plan.first() == 2.0
    waits = [plan.after(progress, T0 + at) for at, progress in readings]
    assert waits == pytest.approx(expected)


@pytest.mark.parametrize(
    ("plan", "retry_after", "expected"),
    [
        (polling.Estimate(T0), 45.0, 45.0),  # the backend's word, even past the 30 s cap
        (polling.Estimate(T0), 0.2, 1.0),  # but never sooner than once a second
        (polling.Estimate(T0), None, 2.0),  # no Retry-After: the fallback's next wait
        (polling.Growth(), 45.0, 45.0),
    ],
)
def test_a_429_waits_what_the_backend_asked(
    plan: polling.Schedule, retry_after: float | None, expected: float
) -> None:
    assert plan.rate_limited(retry_after) == pytest.approx(expected)


def test_the_plans_take_their_bounds_from_the_timings() -> None:
    timings = Timings(render_poll_first=3.0, render_poll_max=12.0)
    for make in (polling.estimate, polling.growth):
        plan = make(T0, timings)
        assert plan.first() == 3.0
        assert max(plan.after(None, T0 + 60.0) for _ in range(10)) == 12.0


def _deliver(
    plan: polling.Schedule, length: float, shape: Callable[[float], float]
) -> tuple[float, int]:
    """Follow a render that starts 0.5 s after the submit and takes `length` s, its progress
    `shape(share of its time)` (as a backend gives it: 3 decimals, below 100 % until done):
    how late the poll that sees it done comes, and how many polls that took."""
    start, now, polls = T0 + 0.5, T0 + plan.first(), 1
    while now < start + length:
        x = max(now - start, 0.0) / length
        progress = round(min(max(shape(x), 0.0), 0.99), 3)
        now += plan.after(progress, now)
        polls += 1
    return now - start - length, polls


SHAPES: dict[str, Callable[[float], float]] = {
    "steady": lambda x: x,
    "uneven": lambda x: x + 0.05 * math.sin(4 * math.pi * x + 1.0),  # ±5 % off a straight line
    "fast end": lambda x: x + 0.05 * math.sin(2 * math.pi * x),  # slow middle, fast last 25 %
    "stalls at 85 %": lambda x: min(x, 0.85) + max(x - 0.95, 0.0) * 3.0,
}


LENGTHS = [8.0, 20.0, 42.0, 51.0, 60.0, 69.0, 78.0, 120.0, 200.0]


@pytest.mark.parametrize(
    ("shape", "late_median"),
    [("steady", 1.0), ("uneven", 1.0), ("fast end", 1.0), ("stalls at 85 %", 2.0)],
)
def test_estimate_delivers_within_a_second_in_no_more_polls_than_growth(
    shape: str, late_median: float
) -> None:
    """Over renders of 8 s to 200 s: the median within a second of the end (a stall then a
    rush, unforeseeable, within 2 s), none more than 4 s late; polls: the median no more than
    growth's, the most at most one more."""
    estimate = [_deliver(polling.Estimate(T0), n, SHAPES[shape]) for n in LENGTHS]
    growth = [_deliver(polling.Growth(), n, SHAPES[shape]) for n in LENGTHS]
    late = [e[0] for e in estimate]
    polls, growth_polls = [e[1] for e in estimate], [g[1] for g in growth]
    assert statistics.median(late) <= late_median
    assert max(late) <= 4.0
    assert statistics.median(polls) <= statistics.median(growth_polls)
    assert max(polls) <= max(growth_polls) + 1
