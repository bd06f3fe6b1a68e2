"""The render journal's ids: `render_<ms>`, never one given out twice."""

from __future__ import annotations

import pytest

from skill.conversation.journal import new_render_id

NOW = 1_796_299_255.912


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        (set(), 0),  # the clock's millisecond
        ({"render_+0"}, 1),  # one already pending in this conversation: the next one
        ({"render_+0", "render_+1"}, 2),
    ],
)
def test_an_id_is_the_clock_in_ms_or_the_next_free_one(taken: set[str], expected: int) -> None:
    base = int(NOW * 1000)
    named = {t.replace("+0", str(base)).replace("+1", str(base + 1)) for t in taken}
    assert new_render_id(NOW, named) == f"render_{base + expected}"


def test_two_conversations_in_the_same_millisecond_get_two_ids() -> None:
    """(The backend answers a second submit of an id with the first render.)"""
    assert [new_render_id(NOW, set()) for _ in range(3)] == [
        f"render_{int(NOW * 1000) + n}" for n in range(3)
    ]
