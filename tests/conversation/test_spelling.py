"""Typo tolerance: one edit from exactly one long command word, never a real word kept."""

from __future__ import annotations

import pytest

from skill.conversation.spelling import Spelling, one_edit

SPELLING = Spelling(("export", "download", "status", "credits"), frozenset({"expert", "stats"}), 5)

# (typed, read as): None when the word stays as typed
CASES = [
    ("exoprt", "export"),  # neighbours swapped
    ("exprt", "export"),  # a letter dropped
    ("exportt", "export"),  # a letter added
    ("exbort", "export"),  # a letter changed
    ("donwload", "download"),
    ("statsu", "status"),
    ("crdits", "credits"),
    ("export", None),  # the word itself
    ("expert", None),  # a real word, kept
    ("stats", None),
    ("exprtt", None),  # two edits
    ("xport", "export"),
    ("sttus", "status"),
    ("stat", None),  # shorter than five letters
    ("reporter", None),
]


@pytest.mark.parametrize(("typed", "meant"), CASES)
def test_a_typo_is_read_as_the_command_word(typed: str, meant: str | None) -> None:
    text, fixed = SPELLING.correct(f"ok {typed} it")
    assert text == f"ok {meant or typed} it"
    assert fixed == (((typed, meant),) if meant else ())


def test_a_word_near_two_command_words_is_left_alone() -> None:
    both = Spelling(("rover", "cover"), frozenset(), 5)
    assert both.correct("hover") == ("hover", ())


def test_short_command_words_get_no_tolerance() -> None:
    assert Spelling(("state",), frozenset(), 6).correct("stata") == ("stata", ())


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [("ab", "ba", True), ("abc", "abd", True), ("abc", "ab", True), ("abc", "abc", False),
     ("abcd", "badc", False), ("abc", "cab", False)],
)  # fmt: skip
def test_one_edit(a: str, b: str, near: bool) -> None:
    assert one_edit(a, b) is near and one_edit(b, a) is near
