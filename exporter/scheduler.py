"""The background loop: every Page refreshed at once at start, then every interval."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from exporter.app import Exporter

log = logging.getLogger(__name__)

# Refreshes drift by up to this share of the interval (at most a minute), so that Pages
# configured together do not keep hitting the API in the same second.
JITTER_SHARE = 0.1
MAX_JITTER_SECONDS = 60.0


def jitter_for(interval: float) -> float:
    return min(interval * JITTER_SHARE, MAX_JITTER_SECONDS)


class RefreshScheduler:
    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter
        config = exporter.config
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(config.graph_api.max_concurrency)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": int(config.refresh.interval)},
        )

    def start(self) -> None:
        interval = self.exporter.config.refresh.interval
        now = datetime.now(UTC)
        for page_id in self.exporter.pages:
            self.scheduler.add_job(
                self.exporter.refresh_page,
                IntervalTrigger(seconds=interval, jitter=jitter_for(interval), timezone=UTC),
                args=[page_id],
                id=f"refresh-{page_id}",
                name=f"refresh Page {page_id}",
                next_run_time=now,
            )
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
