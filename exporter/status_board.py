"""Reads the running exporter's state for the status page: once per request, every source
once."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from exporter.app import Exporter
from exporter.page_status import ReloadRecord, StatusInputs


class DueSource(Protocol):
    def due_times(self) -> Mapping[str, float]: ...


class ReloadSource(Protocol):
    @property
    def record(self) -> ReloadRecord: ...


class StatusBoard:
    def __init__(
        self,
        exporter: Exporter,
        *,
        due: DueSource | None = None,
        reloads: ReloadSource | None = None,
        demo: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.exporter = exporter
        self.due = due
        self.reloads = reloads
        self.demo = demo
        self.clock = clock
        self._started = ReloadRecord(loaded_at=clock())

    def generation(self) -> str:
        """Changes whenever a refresh, a token check or a reload changed what is shown."""
        exporter = self.exporter
        reload = self._reload()
        return (f"{exporter.store.changes.version}.{exporter.token_changes.version}."
                f"{reload.loaded_at:.3f}.{reload.failed_at or 0:.3f}")

    def read(self) -> StatusInputs:
        exporter = self.exporter
        snapshots = exporter.store.snapshots()
        runtime = exporter.runtime  # taken once: the checker and settings of one config
        checker = runtime.token_checker
        settings = runtime.settings
        return StatusInputs(
            now=self.clock(),
            snapshots=snapshots,
            held=exporter.governor.pages_on_hold(snapshots.keys()),
            app_held_until=exporter.governor.app_paused_until(),
            tokens=checker.statuses() if checker is not None else None,
            token_answers=exporter.token_answers.answers(),
            due=self.due.due_times() if self.due is not None else {},
            config=settings.config,
            shard_index=settings.shard.index,
            shard_count=settings.shard.count,
            reload=self._reload(),
            usage_peak=exporter.self_metrics.usage.peak(),
            demo=self.demo,
            generation=self.generation(),
        )

    def _reload(self) -> ReloadRecord:
        return self.reloads.record if self.reloads is not None else self._started
