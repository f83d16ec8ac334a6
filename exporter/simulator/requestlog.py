"""What the simulator was asked: the insights requests it received."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any, Literal

TokenSource = Literal["header", "query", "none"]
REDACTED = "REDACTED"
# The log keeps the most recent requests; the counts cover every request.
_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    page_id: str
    query: dict[str, str]  # with any access_token value replaced by REDACTED
    token_source: TokenSource
    time: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def redacted(query: dict[str, str]) -> dict[str, str]:
    return {key: REDACTED if key == "access_token" else value for key, value in query.items()}


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RecordedRequest] = deque(maxlen=_KEPT)
        self._counts: Counter[str] = Counter()

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._entries.append(request)
            self._counts[request.page_id] += 1

    def entries(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._entries)

    def count(self, page_id: str | None = None) -> int:
        with self._lock:
            return self._counts.total() if page_id is None else self._counts[page_id]

    def by_page(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()
