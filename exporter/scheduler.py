"""The background loop: due Pages gathered into rounds, refreshes spread over the interval.

Every Page is refreshed at once at start (and when a reload adds it). After that each
Page has a stable phase within the interval, taken from a hash of its id, and is due once
per interval at that phase: a thousand Pages do not all ask Meta in the same second, so
the usage headers stay flat. A tick every second gathers the Pages that are due into one
round, whose operations share batches.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from exporter.app import Exporter
from exporter.config import DiscoveryConfig
from exporter.token_check import CHECK_INTERVAL_SECONDS
from exporter.token_validity import RECHECK_POLL_SECONDS

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
# Rounds that may run at once: a round held up by a slow answer does not hold the others.
MAX_ROUNDS = 4
TICK_JOB = "refresh-due-pages"
TOKEN_CHECK_JOB = "check-tokens"  # noqa: S105 - a job name
TOKEN_RECHECK_JOB = "recheck-tokens"  # noqa: S105 - a job name
DISCOVERY_JOB = "discover-pages"
# Until discovery first succeeds, it is tried again this often.
DISCOVERY_RETRY_SECONDS = 60.0
# A token check must not wait behind refresh rounds.
_CONTROL_EXECUTOR = "control"


def phase_of(page_id: str) -> float:
    """Where in the interval a Page's refreshes fall, in [0, 1): stable across restarts."""
    return zlib.crc32(page_id.encode()) / 2**32


def next_due(page_id: str, refreshed_at: float, anchor: float, interval: float) -> float:
    """The Page's next slot, anchor + (n + phase) * interval, at least half an interval on."""
    phase = phase_of(page_id)
    n = math.floor((refreshed_at - anchor) / interval - phase) + 1
    slot = anchor + (n + phase) * interval
    return slot + interval if slot - refreshed_at < interval / 2 else slot


class DueTimes:
    """When each Page is next due; a Page never seen is due now."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.anchor = clock()
        self.interval = interval
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()

    def take_due(self, page_ids: list[str]) -> list[str]:
        """The Pages due now, each moved on to its next slot."""
        now = self.clock()
        with self._lock:
            due = [page_id for page_id in page_ids if self._due.get(page_id, now) <= now]
            for page_id in due:
                self._due[page_id] = next_due(page_id, now, self.anchor, self.interval)
            if len(self._due) > 2 * len(page_ids):  # forget Pages a reload removed
                wanted = set(page_ids)
                self._due = {k: v for k, v in self._due.items() if k in wanted}
        return due

    def due_times(self) -> dict[str, float]:
        """When each Page seen so far is next due (a copy; Pages not in it are due now)."""
        with self._lock:
            return dict(self._due)

    def forget(self, page_ids: list[str]) -> None:
        """These Pages are due again at once."""
        with self._lock:
            for page_id in page_ids:
                self._due.pop(page_id, None)

    def set_interval(self, interval: float) -> None:
        with self._lock:
            if interval != self.interval:
                self.interval = interval
                now = self.clock()
                self._due = {k: next_due(k, now, self.anchor, interval) for k in self._due}


class RefreshScheduler:
    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter
        self.due = DueTimes(exporter.runtime.config.refresh.interval)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(MAX_ROUNDS), _CONTROL_EXECUTOR: ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True},
        )

    def start(self) -> None:
        self.scheduler.start()
        self.scheduler.add_job(
            self.tick, IntervalTrigger(seconds=TICK_SECONDS, timezone=UTC), id=TICK_JOB,
            name="refresh due Pages", next_run_time=datetime.now(UTC), max_instances=MAX_ROUNDS,
            misfire_grace_time=None,
        )
        self.reconcile()

    def tick(self) -> None:
        due = self.due.take_due(list(self.exporter.runtime.pages))
        if due:
            interrupted = self.exporter.refresh_pages(due)
            self.due.forget(interrupted)  # a reload cut their round short: due again now

    def reconcile(self) -> None:
        """Follow the exporter's config after a reload: interval, discovery, token checks."""
        runtime = self.exporter.runtime
        self.due.set_interval(runtime.config.refresh.interval)
        self._reconcile_discovery(runtime.config.discovery)
        for job_id in (TOKEN_CHECK_JOB, TOKEN_RECHECK_JOB):
            job = self.scheduler.get_job(job_id)
            if job is not None:
                job.remove()
        if runtime.token_checker is not None:
            # Tokens error 190 has hit, checked again within a minute (rate limited).
            self.scheduler.add_job(
                self.exporter.recheck_tokens, IntervalTrigger(seconds=RECHECK_POLL_SECONDS, timezone=UTC),
                id=TOKEN_RECHECK_JOB, name="re-check failing Page tokens", executor=_CONTROL_EXECUTOR,
                misfire_grace_time=None,
            )
            # At start and after every reload (tokens may have changed), then every 6 hours.
            self.scheduler.add_job(
                self.exporter.check_tokens, IntervalTrigger(seconds=CHECK_INTERVAL_SECONDS, timezone=UTC),
                id=TOKEN_CHECK_JOB, name="check Page tokens", next_run_time=datetime.now(UTC),
                executor=_CONTROL_EXECUTOR, misfire_grace_time=3600,
            )
        self.scheduler.wakeup()

    def _reconcile_discovery(self, discovery: DiscoveryConfig | None) -> None:
        job = self.scheduler.get_job(DISCOVERY_JOB)
        if job is not None:
            job.remove()
        if discovery is None:
            return
        self.scheduler.add_job(
            self._discover, IntervalTrigger(seconds=discovery.interval, timezone=UTC),
            id=DISCOVERY_JOB, name="discover Pages", next_run_time=datetime.now(UTC),
            executor=_CONTROL_EXECUTOR, misfire_grace_time=None,
        )

    def _discover(self) -> None:
        self.exporter.discover()
        if not self.exporter.discovery_succeeded:
            retry = datetime.fromtimestamp(time.time() + DISCOVERY_RETRY_SECONDS, UTC)
            self.scheduler.add_job(self._discover, "date", run_date=retry,
                                   executor=_CONTROL_EXECUTOR, id="discover-retry", replace_existing=True)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
