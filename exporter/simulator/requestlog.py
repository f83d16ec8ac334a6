"""What the simulator was asked: the API requests it received."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any, Literal

# Where a request's token came from: the Authorization header, the query string; for a batch
# operation, the query of its relative_url (inside the POST body, in no URL), its own body
# (POST and PUT operations only), or, without one, the batch's top-level token.
TokenSource = Literal["header", "query", "relative_url", "body", "batch", "none"]
# insights: GET PAGE_ID/insights; batch: one operation of a batch (of any endpoint).
RequestKind = Literal["insights", "debug_token", "batch", "accounts"]
REDACTED = "REDACTED"
_SECRETS = frozenset({"access_token", "input_token"})
# The log keeps the most recent requests; the counts cover every request.
_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    page_id: str | None  # None for requests about no Page: debug_token, me/accounts
    query: dict[str, str]  # with any access_token/input_token value replaced by REDACTED
    token_source: TokenSource
    time: float
    # Whether a correct appsecret_proof came along; None when the simulator has no app secret.
    proof_ok: bool | None = None
    kind: RequestKind = "insights"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def redacted(query: dict[str, str]) -> dict[str, str]:
    return {key: REDACTED if key in _SECRETS else value for key, value in query.items()}


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RecordedRequest] = deque(maxlen=_KEPT)
        self._counts: Counter[tuple[RequestKind, str | None]] = Counter()
        self._http = 0

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._entries.append(request)
            self._counts[request.kind, request.page_id] += 1

    def record_http(self) -> None:
        """One HTTP request on the API, whatever it asked (a batch is one)."""
        with self._lock:
            self._http += 1

    def http_count(self) -> int:
        with self._lock:
            return self._http

    def entries(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._entries)

    def count(self, page_id: str | None = None, kind: RequestKind | None = None) -> int:
        """Requests of a Page and/or of a kind. With neither: the requests about any Page
        (insights, and batch operations on insights), as before other kinds existed."""

        def counted(entry_kind: RequestKind, entry_page: str | None) -> bool:
            if kind is not None and entry_kind != kind:
                return False
            if page_id is not None:
                return entry_page == page_id
            return kind is not None or entry_page is not None

        with self._lock:
            return sum(n for key, n in self._counts.items() if counted(*key))

    def by_page(self) -> dict[str, int]:
        found: Counter[str] = Counter()
        with self._lock:
            for (_, page_id), n in self._counts.items():
                if page_id is not None:
                    found[page_id] += n
        return dict(found)

    def by_kind(self) -> dict[str, int]:
        found: Counter[str] = Counter()
        with self._lock:
            for (kind, _), n in self._counts.items():
                found[kind] += n
        return dict(found)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()
            self._http = 0
