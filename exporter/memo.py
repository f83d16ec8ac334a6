"""A bounded memo: values computed once per key, forgotten all at once when it is full."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """Values by key, at most `limit` of them: when full it starts over, which costs a
    recomputation of what is still in use, never memory without bound.

    Safe to share between threads: two that miss at once both compute, and one value is kept.
    """

    __slots__ = ("_found", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._found: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._found.get(key)

    def put(self, key: K, value: V) -> V:
        if len(self._found) >= self.limit:
            self._found = {}
        self._found[key] = value
        return value

    def clear(self) -> None:
        self._found = {}
