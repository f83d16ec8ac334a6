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
# rate_limited, error (with minutes) and usage scenarios are the way to show a high figure.
_CEILING = 60
_REMEMBERED_CALLS = 50_000


@dataclass(frozen=True, slots=True)
class Usage:
    call_count: int
    total_time: int
    total_cputime: int


@dataclass(frozen=True, slots=True)
class Throttle:
    """Figures an answer reports instead of the measured ones: a rate limit or a scenario.

    A call count of None leaves the measured figure; `regain_minutes` is the business use
    case's estimated_time_to_regain_access.
    """

    app_call_count: int | None = None
    business_call_count: int | None = None
    page_call_count: int | None = None
    regain_minutes: int = 0

    @classmethod
    def exhausted(cls, *, app: bool, page: bool, regain_minutes: int) -> Throttle:
        """A quota used up: call_count 100 for the app and/or the Page."""
        full = 100 if page else None
        return cls(100 if app else None, full, full, regain_minutes)


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


def _with_call_count(usage: Usage, call_count: int | None) -> Usage:
    return usage if call_count is None else replace(usage, call_count=call_count)


def headers(
    app: Usage, page: tuple[str, Usage] | None, throttle: Throttle | None
) -> list[tuple[str, str]]:
    """x-app-usage, and for a Page (id, usage) x-business-use-case-usage and x-page-usage."""
    throttle = throttle or Throttle()
    app = _with_call_count(app, throttle.app_call_count)
    app_usage = {
        "call_count": app.call_count,
        "total_time": app.total_time,
        "total_cputime": app.total_cputime,
    }
    found = [("x-app-usage", _encode(app_usage))]
    if page is not None:
        page_id, usage = page
        business_usage = _with_call_count(usage, throttle.business_call_count)
        business = {
            page_id: [
                {
                    "type": "pages",
                    **_fields(business_usage),
                    "estimated_time_to_regain_access": throttle.regain_minutes,
                }
            ]
        }
        found += [
            ("x-business-use-case-usage", _encode(business)),
            ("x-page-usage", _encode(_fields(_with_call_count(usage, throttle.page_call_count)))),
        ]
    return found
