"""Each ending of a real ADK turn, played by the stand-in (`stream.ending`), through the
runtime: the outcome, and the lines the user reads. tests/contract/ holds the same table
against google-adk's own server; where the two disagree, the stand-in is fixed."""

from __future__ import annotations

import pytest

from skill.conversation.outcome import Outcome

from .test_runtime import CAPTION, MARKER, Make, caption_added, make, t  # noqa: F401

MARKED = "re:" + MARKER["en"]
ANY = "..."  # any further lines (the agent's wording may also ask for the timeline)


def partial(reason: str, changed: bool = True) -> str:
    return t("chat.partial", reason=t(reason), changed=changed)


# (ending, outcome, the lines: "re:<prefix>" matches a line starting with it)
ENDINGS: list[tuple[str, Outcome, list[str]]] = [
    ("no_content", Outcome.EDITED, [MARKED, caption_added()]),
    ("max_tokens", Outcome.PARTIAL, [MARKED, caption_added(), partial("chat.reason_too_long")]),
    ("malformed_call", Outcome.PARTIAL,
     [MARKED, caption_added(), partial("chat.reason_tool_call")]),
    ("too_many_calls", Outcome.PARTIAL,
     [MARKED, caption_added(), partial("chat.reason_too_many_tools")]),
    ("model_error", Outcome.PARTIAL, [MARKED, caption_added(), partial("chat.reason_error")]),
    ("tool_error", Outcome.PARTIAL, [MARKED, partial("chat.reason_error", changed=False)]),
    ("safety", Outcome.REFUSED, [t("error.refused")]),
    ("recitation", Outcome.REFUSED, [t("error.refused_recitation")]),
    ("prohibited", Outcome.REFUSED, [t("error.refused")]),
    ("long_running", Outcome.RUNNING, [MARKED, t("chat.running")]),
    ("duplicate", Outcome.REPLIED, [MARKED, ANY]),
    ("usage_event", Outcome.REPLIED, [MARKED, ANY]),
    ("html", Outcome.FAILED, [t("chat.no_stream")]),
    ("broken_frames", Outcome.FAILED, [t("chat.no_stream")]),
]  # fmt: skip


def matches(lines: list[str], expected: list[str]) -> bool:
    if expected[-1:] == [ANY]:
        expected, lines = expected[:-1], lines[: len(expected) - 1]
    return len(lines) == len(expected) and all(
        line.startswith(e[3:]) if e.startswith("re:") else line == e
        for line, e in zip(lines, expected, strict=True)
    )


@pytest.mark.parametrize(("ending", "outcome", "lines"), ENDINGS, ids=[e[0] for e in ENDINGS])
@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_each_ending_of_the_standin(
    make: Make,  # noqa: F811
    ending: str,
    outcome: Outcome,
    lines: list[str],
    streaming: bool,
) -> None:
    p = await make({"streaming": streaming, "silent_edits": 0, "stream": {"ending": ending}})
    session = await p.ready()
    out, got = await p.turn(CAPTION)
    assert got.kind is outcome, out.replies
    assert matches(out.replies, lines), out.replies
    assert got.exit_code == (0 if outcome.ok else 1)
    assert session.turns == 1  # never re-sent
    if ending == "duplicate":  # every frame twice, each text shown once
        assert out.replies[0].count("Adding the caption") == 1
    if outcome in (Outcome.EDITED, Outcome.PARTIAL, Outcome.RUNNING):
        assert not any("safe to" in r for r in out.replies)


async def test_a_question_is_asked(make: Make) -> None:  # noqa: F811
    p = await make({"silent_edits": 0})
    await p.ready()
    out, got = await p.turn("add a caption")
    assert got.kind is Outcome.ASKED and out.replies[-1].endswith("at 2s."), out.replies
    assert "What should it say?" in out.replies[-1]


async def test_a_long_running_tool_finishes_after_the_turn(make: Make) -> None:  # noqa: F811
    p = await make({"silent_edits": 0, "stream": {"ending": "long_running", "times": 1}})
    await p.ready()
    _, got = await p.turn(CAPTION)
    assert got.kind is Outcome.RUNNING
    for _ in range(100):
        out, _ = await p.turn("show tracks")
        if "Meow" in out.replies[-1]:
            break
    assert "Meow" in out.replies[-1]
