"""Progress of a backfill on stderr: Page-days done, requests, output, ETA."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import TextIO

REPORT_EVERY_SECONDS = 2.0


class Progress:
    def __init__(
        self,
        total_page_days: int,
        requests: Callable[[], float],
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = max(1, total_page_days)
        self.requests = requests
        self.out = out or sys.stderr
        self.clock = clock
        self.started = clock()
        self.last_report = -REPORT_EVERY_SECONDS
        self.page_days = 0
        self.samples = 0
        self.bytes = 0
        self.window = ""

    def say(self, message: str) -> None:
        print(f"backfill: {message}", file=self.out, flush=True)

    def add(self, page_days: int, samples: int, size: int) -> None:
        self.page_days += page_days
        self.samples += samples
        self.bytes += size
        self.report()

    def paused(self, until: float) -> None:
        moment = dt.datetime.fromtimestamp(until, dt.UTC).strftime("%H:%M:%S UTC")
        self.say(f"rate limited: pausing until {moment} (the governor says the quota is near)")

    def report(self, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last_report < REPORT_EVERY_SECONDS:
            return
        self.last_report = now
        elapsed = now - self.started
        done = min(self.page_days, self.total)
        eta = ""
        if 0 < done < self.total:
            eta = f", ETA {_duration(elapsed * (self.total - done) / done)}"
        self.say(
            f"{self.window}{done:,}/{self.total:,} Page-days, {int(self.requests()):,} requests, "
            f"{self.samples:,} samples, {self.bytes / 2**20:,.1f} MiB written, "
            f"{_duration(elapsed)} elapsed{eta}"
        )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
