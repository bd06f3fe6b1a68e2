"""Replay: matching the runtime's requests to the recording, and the differences shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from skill.transcripts.format import Exchange, Pattern, Request, Response, Transcript, Turn
from skill.transcripts.placeholders import Placeholders
from skill.transcripts.replay import (
    MAX_EXTRA_POLLS,
    REPLAY_PERIOD,
    ReplayServer,
    line_diff,
    replay,
    replay_timings,
)

CORPUS = Path(__file__).parent / "corpus"


def test_a_matching_pattern_counts_as_its_line() -> None:
    recorded = ["🎬 Rendering", Pattern(r"Saved nemovideo-\d+\.mp4"), "Done"]
    assert (
        line_diff("turn 1, replies", recorded, ["🎬 Rendering", "Saved nemovideo-1.mp4", "Done"])
        == []
    )
    assert line_diff("turn 1, replies", recorded, ["🎬 Rendering", "Saved x.mp4", "Done!"]) == [
        "turn 1, replies:",
        "    @@ -1,3 +1,3 @@",
        "     🎬 Rendering",
        r"    -re: Saved nemovideo-\d+\.mp4",
        "    -Done",
        "    +Saved x.mp4",
        "    +Done!",
    ]  # fmt: skip


def test_clock_waits_are_scaled_and_the_rest_kept() -> None:
    timings, scale = replay_timings({"still_working_every": 1.0, "recovery_waits": [1.0, 2.0]})
    assert scale == REPLAY_PERIOD
    assert timings.still_working_every == REPLAY_PERIOD
    assert timings.heartbeat_only_timeout == 600 * REPLAY_PERIOD
    assert timings.recovery_waits == (1.0, 2.0)  # slept through instantly, counted as recorded
    assert timings.rate_limit_wait == 30.0


def _exchange(method: str, path: str, status: str = "") -> Exchange:
    return Exchange(Request(method, path), Response(json={"status": status} if status else None))


POLL = "/api/render/proxy/lambda/<render-1>"
TURN = Turn(
    "say",
    "export",
    http=(
        _exchange("POST", "/api/render/proxy/lambda"),
        _exchange("GET", POLL, "pending"),
        _exchange("GET", POLL, "processing"),
        _exchange("GET", POLL, "completed"),
        _exchange("GET", "/renders/x.mp4"),
    ),
)


def _served(asked: list[tuple[str, str]]) -> tuple[list[object], list[str]]:
    server = ReplayServer(Transcript("t"), Placeholders(), scale=1.0, version="1")
    server.begin(1, TURN)
    served: list[object] = []
    for method, path in asked:
        found = server.match(Request(method, path))
        served.append(None if found is None else found[0])
    server.end_turn()
    return served, server.differences


@pytest.mark.parametrize(
    ("asked", "served", "differences"),
    [
        # as recorded
        (["POST", POLL, POLL, POLL, "GET"], [1, 2, 3, 4, 5], []),
        # polled more often: the last answer again
        (["POST", POLL, POLL, POLL, POLL, POLL, "GET"], [1, 2, 3, 4, 4, 4, 5], []),
        # stuck polling: past MAX_EXTRA_POLLS it is told no
        (["POST", POLL, POLL, POLL] + [POLL] * 51, [1, 2, 3, 4] + [4] * 50 + [None],
         [f"turn 1 (say 'export'), request 4 polled over {MAX_EXTRA_POLLS} times more than "
          "recorded",
          "turn 1 (say 'export'), request 5 not made: GET /renders/x.mp4"]),
        # moved on sooner: the rest of the group is no difference
        (["POST", POLL, "GET"], [1, 2, 5], []),
        # a request the recording does not have, and one never made
        (["POST", "/credits", POLL, POLL, POLL],
         [1, None, 2, 3, 4],
         ["turn 1 (say 'export'), an extra request the recording does not have: GET /credits",
          "turn 1 (say 'export'), request 5 not made: GET /renders/x.mp4"]),
        # skipped ahead: the ones in between were not made (a poll group counts once)
        (["GET"], [5],
         ["turn 1 (say 'export'), request 1 not made: POST /api/render/proxy/lambda",
          f"turn 1 (say 'export'), request 2 not made: GET {POLL}"]),
    ],
)  # fmt: skip
def test_requests_are_matched_in_order_with_render_polls_grouped(
    asked: list[str], served: list[object], differences: list[str]
) -> None:
    pairs = [("POST", "/api/render/proxy/lambda") if a == "POST" else
             ("GET", "/renders/x.mp4") if a == "GET" else ("GET", a) for a in asked]  # fmt: skip
    assert _served(pairs) == (served, differences)


async def test_a_changed_request_body_is_named_by_its_field(tmp_path: Path) -> None:
    path = tmp_path / "chat.yaml"
    text = (CORPUS / "intent-chat-en.yaml").read_text(encoding="utf-8")
    assert text.count("- say: hello\n") == 1
    path.write_text(text.replace("- say: hello\n", "- say: hello there\n"), encoding="utf-8")
    report = await replay(path)
    assert not report.ok
    assert report.differences == (
        "turn 1 (say 'hello there'), request 4 (POST /run_sse): "
        'body.new_message.parts[0].text: recorded "hello", replay "hello there"',
    )


async def test_a_transcript_that_cannot_be_read_is_a_failed_report(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    shutil.copy(CORPUS / "intent-credits-en.yaml", path)
    path.write_text(path.read_text(encoding="utf-8").replace("format: 1", "format: 9"))
    report = await replay(path)
    assert report.differences == (f"{path}: format must be 1",)
