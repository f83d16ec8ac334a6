"""Rate-limit usage headers, in percent of quota, from the calls of the last hour."""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace

_HOUR = 3_600.0
# Kept well below the ~95 % at which careful clients stop calling: ordinary traffic, even
# a long test run against a frozen clock, must never look like throttling. The
# rate_limited scenario is the way to show an exhausted quota.
_CEILING = 60
_REMEMBERED_CALLS = 50_000


@dataclass(frozen=True, slots=True)
class Usage:
    call_count: int
    total_time: int
    total_cputime: int

    def exhausted(self) -> Usage:
        return replace(self, call_count=100)


@dataclass(frozen=True, slots=True)
class Throttle:
    """How a rate-limit answer reports the quota it ran out of."""

    app_exhausted: bool
    page_exhausted: bool
    regain_minutes: int


def _usage(calls: int, calls_per_percent: int) -> Usage:
    def percent(per: int) -> int:
        return min(_CEILING, calls // per)

    return Usage(
        percent(calls_per_percent),
        percent(calls_per_percent * 3 // 2),
        percent(calls_per_percent * 2),
    )


class UsageMeter:
    """Counts calls per Page over a sliding hour of the simulator's clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: deque[tuple[float, str]] = deque()
        self._per_page: Counter[str] = Counter()

    def record(self, page_id: str) -> None:
        with self._lock:
            self._calls.append((self._clock(), page_id))
            self._per_page[page_id] += 1
            self._forget_old_calls()

    def _forget_old_calls(self) -> None:
        horizon = self._clock() - _HOUR
        while self._calls and (len(self._calls) > _REMEMBERED_CALLS or self._calls[0][0] < horizon):
            _, page_id = self._calls.popleft()
            self._per_page[page_id] -= 1

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._per_page.clear()

    def app(self) -> Usage:
        with self._lock:
            self._forget_old_calls()
            return _usage(len(self._calls), 20)

    def page(self, page_id: str) -> Usage:
        with self._lock:
            self._forget_old_calls()
            return _usage(self._per_page[page_id], 10)


def _encode(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _fields(usage: Usage) -> dict[str, int]:
    return {
        "call_count": usage.call_count,
        "total_cputime": usage.total_cputime,
        "total_time": usage.total_time,
    }


def headers(
    app: Usage, page: tuple[str, Usage] | None, throttle: Throttle | None
) -> list[tuple[str, str]]:
    """x-app-usage, and for a Page (id, usage) x-business-use-case-usage and x-page-usage."""
    regain = throttle.regain_minutes if throttle is not None else 0
    if throttle is not None and throttle.app_exhausted:
        app = app.exhausted()
    app_usage = {
        "call_count": app.call_count,
        "total_time": app.total_time,
        "total_cputime": app.total_cputime,
    }
    found = [("x-app-usage", _encode(app_usage))]
    if page is not None:
        page_id, usage = page
        if throttle is not None and throttle.page_exhausted:
            usage = usage.exhausted()
        business = {
            page_id: [
                {"type": "pages", **_fields(usage), "estimated_time_to_regain_access": regain}
            ]
        }
        found += [
            ("x-business-use-case-usage", _encode(business)),
            ("x-page-usage", _encode(_fields(usage))),
        ]
    return found
