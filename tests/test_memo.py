"""The bounded memo keeps values by key and starts over when it is full."""

from __future__ import annotations

from exporter.memo import Remembered


def test_values_are_kept_until_the_memo_is_full_then_it_starts_over() -> None:
    memo: Remembered[str, int] = Remembered(limit=2)
    assert memo.put("a", 1) == 1
    memo.put("b", 2)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (1, 2, None)
    memo.put("c", 3)  # full: everything before is forgotten
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, None, 3)
    memo.clear()
    assert memo.get("c") is None
