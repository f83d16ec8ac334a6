"""The rate-limit governor: pauses a scope before Meta has to throttle it.

A scope is the app (its pause stops every request) or a business-use-case / Page id. A
scope is paused when its highest usage figure reaches `max_usage_ratio`, when an answer
carries an estimated_time_to_regain_access, or when a rate-limit error arrives. No request
goes to a paused scope; the pause lasts the estimated time, at least a minute, doubling
with repeated hits (up to an hour) until an answer shows the scope healthy again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.usage import UsageReport

log = logging.getLogger(__name__)

APP_SCOPE = ""
MIN_PAUSE_SECONDS = 60.0
MAX_BACKOFF_PAUSE_SECONDS = 3600.0
APP_WIDE_CODES = frozenset({4, 17})
SCOPED_CODES = frozenset({32, 613, *range(80000, 80009)})


@dataclass(slots=True)
class _Pause:
    until: float
    hits: int


class RateLimitGovernor:
    def __init__(self, max_usage_ratio: float, clock: Callable[[], float] = time.time) -> None:
        self.max_usage_ratio = max_usage_ratio
        self.clock = clock
        self._lock = threading.Lock()
        self._pauses: dict[str, _Pause] = {}
        # Business-use-case ids seen on a Page's answers: their pauses hold that Page too.
        self._scopes_of_page: dict[str, set[str]] = {}
        self._pages_of_scope: dict[str, set[str]] = {}
        # The scopes (not the app) whose pause may still run, with until when: pauses stay in
        # _pauses after they end (for the backoff), so listing holds walks only these.
        self._running: dict[str, float] = {}
        self._version = 0  # of the running pauses and the links: a hold started or a link made
        # Every id held (Pages and business use cases), as of a version, good until the
        # first of them ends: scrapes in between only pick the configured Pages out of it.
        self._holds: tuple[int, float, dict[str, float]] = (-1, 0.0, {})

    def blocked_until(self, page_id: str) -> float | None:
        """When requests for the Page may go again, or None if they may go now."""
        now = self.clock()
        with self._lock:
            scopes = {APP_SCOPE, page_id, *self._scopes_of_page.get(page_id, ())}
            until = max((p.until for s in scopes if (p := self._pauses.get(s))), default=0.0)
        return until if until > now else None

    def pages_on_hold(self, page_ids: Container[str]) -> dict[str, float]:
        """Each of these Pages on hold, with until when. It walks the pauses that run and
        the Pages linked to them, never `page_ids`: a scrape with 10,000 Pages and a few
        holds costs what the holds do."""
        now = self.clock()
        with self._lock:
            version, valid_until, holds = self._holds
            if version != self._version or now >= valid_until:
                holds = self._every_hold(now)
                self._holds = (self._version, min(holds.values(), default=math.inf), holds)
        return {page_id: until for page_id, until in holds.items() if page_id in page_ids}

    def _every_hold(self, now: float) -> dict[str, float]:
        """Until when each id linked to a running pause is held (the latest of its pauses:
        the figure changes only when that one ends). Forgets the pauses that ended."""
        held: dict[str, float] = {}
        for scope, until in list(self._running.items()):
            if until <= now:
                del self._running[scope]
                continue
            for page_id in (scope, *self._pages_of_scope.get(scope, ())):
                if until > held.get(page_id, 0.0):
                    held[page_id] = until
        return held

    def app_paused_until(self) -> float:
        pause = self._pauses.get(APP_SCOPE)
        return pause.until if pause is not None and pause.until > self.clock() else 0.0

    def observe(
        self, reports: Iterable[UsageReport], page_id: str, error_code: int | None = None
    ) -> None:
        """What one answer for the Page says (usage headers, and the error code if it failed).

        Each scope it puts on hold counts as one hit, however many signals say so.
        `page_id` "" is an app-level call: only the app's figures apply to it.
        """
        wanted: dict[str, tuple[float, str]] = {}
        healthy: set[str] = set()
        for report in reports:
            scope = self._scope_of(report, page_id)
            if scope is None:
                continue
            reason = self._hold_reason(report)
            if reason is None:
                healthy.add(scope)
            else:
                _hold(wanted, scope, max(report.regain_minutes, 0) * 60, reason)
        if error_code in APP_WIDE_CODES:
            _hold(wanted, APP_SCOPE, 0.0, f"rate-limit error {error_code}")
        elif error_code in SCOPED_CODES and page_id:
            _hold(wanted, page_id, 0.0, f"rate-limit error {error_code}")
        for scope, (seconds, reason) in wanted.items():
            self._pause(scope, seconds, reason)
        for scope in healthy - wanted.keys():
            self._healthy(scope)

    def _scope_of(self, report: UsageReport, page_id: str) -> str | None:
        """The scope a usage report is about (remembered as the Page's); None if it does not apply.

        An app-level call (`page_id` "") takes only the app's figures.
        """
        if not page_id and report.source != "app":
            return None
        scope = APP_SCOPE if report.source == "app" else report.scope_id
        if scope not in (APP_SCOPE, page_id):
            with self._lock:
                pages = self._pages_of_scope.setdefault(scope, set())
                if page_id not in pages:
                    pages.add(page_id)
                    self._scopes_of_page.setdefault(page_id, set()).add(scope)
                    self._version += 1
        return scope

    def _hold_reason(self, report: UsageReport) -> str | None:
        """Why a usage report puts its scope on hold; None when it leaves room."""
        if report.regain_minutes > 0:
            return f"{report.source} usage header asks to wait {report.regain_minutes:g} min"
        if report.highest_ratio >= self.max_usage_ratio:
            return f"{report.source} usage at {report.highest_ratio:.0%}"
        return None

    def _pause(self, scope: str, wanted_seconds: float, reason: str) -> None:
        now = self.clock()
        with self._lock:
            previous = self._pauses.get(scope)
            if previous is not None and previous.until > now:
                # Answers already under way when the pause began: not a new hit.
                hits = previous.hits
                until = max(previous.until, now + wanted_seconds)
            else:
                hits = previous.hits + 1 if previous is not None else 1
                backoff = min(MIN_PAUSE_SECONDS * 2 ** (hits - 1), MAX_BACKOFF_PAUSE_SECONDS)
                until = now + max(wanted_seconds, backoff)
            self._pauses[scope] = _Pause(until, hits)
            if scope != APP_SCOPE:
                self._running[scope] = until
                self._version += 1
        log.warning(
            "rate limit: pausing requests",
            extra={"scope": scope or "app", "reason": reason, "seconds": round(until - now)},
        )

    def _healthy(self, scope: str) -> None:
        with self._lock:
            pause = self._pauses.get(scope)
            if pause is not None and pause.until <= self.clock():
                del self._pauses[scope]


class ThrottleCollector(Collector):
    """Until when each configured Page (page_id "" for the whole app) gets no requests.

    # TYPE messenger_insights_throttled_until_timestamp_seconds gauge
    messenger_insights_throttled_until_timestamp_seconds{page_id=""} 0.0
    messenger_insights_throttled_until_timestamp_seconds{page_id="1234"} 1.7955e+09
    """

    def __init__(self, governor: RateLimitGovernor, page_ids: Callable[[], Container[str]]) -> None:
        self.governor = governor
        self.page_ids = page_ids
        # The holds last collected and their family: the same until they change, so that the
        # scrape's renderer (exporter/dynamic.py) compares samples by identity.
        self._last: tuple[tuple[float, dict[str, float]], Metric] | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        holds = (self.governor.app_paused_until(), self.governor.pages_on_hold(self.page_ids()))
        last = self._last
        if last is None or last[0] != holds:
            last = self._last = (holds, _throttle_family(*holds))
        yield last[1]


def _throttle_family(app_until: float, held: dict[str, float]) -> Metric:
    family = Metric(
        "messenger_insights_throttled_until_timestamp_seconds",
        "Unix time until which no Graph API request goes out for the Page because of rate "
        "limits (page_id empty: the whole app, 0 when not held); only Pages on hold appear.",
        "gauge",
    )
    family.add_sample(family.name, {"page_id": ""}, app_until)
    # Only Pages on hold: a series for every Page would cost every scrape with many Pages.
    for page_id, until in sorted(held.items()):
        family.add_sample(family.name, {"page_id": page_id}, until)
    return family


def _hold(wanted: dict[str, tuple[float, str]], scope: str, seconds: float, reason: str) -> None:
    """Ask to hold a scope; of several asks for one scope, the longest wins."""
    if scope not in wanted or seconds > wanted[scope][0]:
        wanted[scope] = (seconds, reason)
