"""The background loop: every Page refreshed at once at start, then every interval."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from exporter.app import Exporter
from exporter.token_check import CHECK_INTERVAL_SECONDS

log = logging.getLogger(__name__)

# Refreshes drift by up to this share of the interval (at most a minute), so that Pages
# configured together do not keep hitting the API in the same second.
JITTER_SHARE = 0.1
MAX_JITTER_SECONDS = 60.0
TOKEN_CHECK_JOB = "check-tokens"  # noqa: S105 - a job name
# Refresh jobs beyond the workers wait for one; a token check must not wait behind them.
_CONTROL_EXECUTOR = "control"


def jitter_for(interval: float) -> float:
    return min(interval * JITTER_SHARE, MAX_JITTER_SECONDS)


def _job_id(page_id: str) -> str:
    return f"refresh-{page_id}"


class RefreshScheduler:
    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter
        workers = exporter.config.graph_api.max_concurrency
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(workers), _CONTROL_EXECUTOR: ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._interval = exporter.config.refresh.interval

    def start(self) -> None:
        self.scheduler.start()
        self.reconcile()

    def reconcile(self) -> None:
        """Match the jobs to the exporter's current config (at start and after a reload)."""
        interval = self.exporter.config.refresh.interval
        wanted = {_job_id(page_id): page_id for page_id in self.exporter.pages}
        existing = {job.id for job in self.scheduler.get_jobs() if job.id.startswith("refresh-")}
        for job_id in existing - wanted.keys():
            self.scheduler.remove_job(job_id)
        now = datetime.now(UTC)
        for job_id, page_id in wanted.items():
            trigger = IntervalTrigger(seconds=interval, jitter=jitter_for(interval), timezone=UTC)
            if job_id not in existing:
                self.scheduler.add_job(
                    self.exporter.refresh_page, trigger, args=[page_id], id=job_id,
                    name=f"refresh Page {page_id}", next_run_time=now,
                    misfire_grace_time=int(interval),
                )
            elif interval != self._interval:
                self.scheduler.reschedule_job(job_id, trigger=trigger)
        self._interval = interval
        self._reconcile_token_checks(now)

    def _reconcile_token_checks(self, now: datetime) -> None:
        job = self.scheduler.get_job(TOKEN_CHECK_JOB)
        if self.exporter.token_checker is None:
            if job is not None:
                job.remove()
            return
        # At start and after every reload (tokens may have changed), then every 6 hours.
        if job is not None:
            job.remove()
        self.scheduler.add_job(
            self.exporter.check_tokens, IntervalTrigger(seconds=CHECK_INTERVAL_SECONDS, timezone=UTC),
            id=TOKEN_CHECK_JOB, name="check Page tokens", next_run_time=now,
            executor=_CONTROL_EXECUTOR, misfire_grace_time=3600,
        )

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
