"""Spelling suggestions that are only offered when they are close enough to be a typo.

difflib's ratio finds a "match" for nearly any metric name, because every catalog name
shares the prefix `page_messages_`; counting edits instead keeps `page_messages_spam`
from being offered `page_messages_sent`.
"""

from __future__ import annotations

from collections.abc import Iterable

# A word of up to this many characters may differ from a suggestion by one edit; a
# longer one by two.
_SHORT_WORD = 4
# A shortened word (last_7d for last_7_days) keeps at least this share of the letters.
_SHORTENED = 0.6


def close_matches(word: str, choices: Iterable[str], limit: int = 3) -> list[str]:
    """The choices close to word (case ignored), closest first.

    Close is one or two edits away (a typo), or the same letters in the same order with
    a few left out (a shortened or lengthened spelling).
    """
    allowed = 1 if len(word) <= _SHORT_WORD else 2
    scored = []
    for order, choice in enumerate(choices):
        distance = edit_distance(word.lower(), choice.lower())
        if distance <= allowed or _shortened(word.lower(), choice.lower()):
            scored.append((distance, order, choice))
    return [choice for _, _, choice in sorted(scored)[:limit]]


def _shortened(a: str, b: str) -> bool:
    """One is the other with a few letters left out."""
    short, long = sorted((a, b), key=len)
    if len(short) <= _SHORT_WORD or len(short) < _SHORTENED * len(long):
        return False
    letters = iter(long)
    return all(letter in letters for letter in short)


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of neighbours that turn a into b."""
    previous: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, row = previous, row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[len(b)]
