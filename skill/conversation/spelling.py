"""Bounded typo tolerance for command words: "exoprt" reads as "export", "expert" never does.

A typed word is corrected only when it is at least `shortest` letters long, is not a word
the routing file says to keep, and is exactly one edit (a letter added, dropped, changed,
or two neighbours swapped) from exactly one command word that is itself at least
`shortest` letters long. The words come from `typos:` in `intents/routing.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Spelling:
    words: tuple[str, ...]  # the command words typos are corrected to
    keep: frozenset[str]  # real words one edit from a command word, never corrected
    shortest: int  # neither the typed word nor the command word may be shorter

    def correct(self, text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """`text` (lower-case) with each typo replaced, and the (typed, meant) pairs."""
        fixed: list[tuple[str, str]] = []

        def one(m: re.Match[str]) -> str:
            typed = m.group()
            if len(typed) < self.shortest or typed in self.keep or typed in self.words:
                return typed
            near = [w for w in self.words if len(w) >= self.shortest and one_edit(typed, w)]
            if len(near) != 1:  # none, or ambiguous between two command words
                return typed
            fixed.append((typed, near[0]))
            return near[0]

        out = _TOKEN.sub(one, text) if self.words else text
        return out, tuple(fixed)


def one_edit(a: str, b: str) -> bool:
    """Exactly one insertion, deletion, substitution or adjacent transposition apart."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        i = diffs[0]
        return diffs == [i, i + 1] and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[i:] == long[i + 1 :]
