"""The running exporter: config, client, snapshots and collectors wired together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from exporter.collector import InsightsCollector
from exporter.config import Config, PageConfig
from exporter.graph_client import GraphClient
from exporter.redact import Secret
from exporter.refresh import PageRefresher
from exporter.self_metrics import SelfMetrics
from exporter.snapshots import ErrorInfo, PageSnapshot, SnapshotStore

log = logging.getLogger(__name__)

# Counters get no `_created` series: they add a series per label set and no insight.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Exporter:
    def __init__(self, config: Config, tokens: Mapping[str, Secret]) -> None:
        self.config = config
        self.tokens = dict(tokens)
        self.pages: dict[str, PageConfig] = {page.id: page for page in config.pages}
        self.stop_event = threading.Event()
        self.registry = CollectorRegistry(auto_describe=False)
        self.self_metrics = SelfMetrics(self.registry)
        self.store = SnapshotStore()
        self.store.keep_only(config.pages)
        self.client = GraphClient(config.graph_api, self.self_metrics, stop=self.stop_event)
        self.refresher = PageRefresher(self.client, self.store, config.refresh)
        self.registry.register(InsightsCollector(self.store, config.refresh))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._refreshing: set[str] = set()
        self._refreshing_lock = threading.Lock()

    def snapshots(self) -> Mapping[str, PageSnapshot]:
        return self.store.snapshots()

    def is_ready(self) -> bool:
        return all(snapshot.attempted for snapshot in self.store.snapshots().values())

    def refresh_page(self, page_id: str) -> None:
        """Refresh one Page; never raises, never runs twice at once for one Page."""
        page = self.pages.get(page_id)
        if page is None or self.stop_event.is_set():
            return
        with self._refreshing_lock:
            if page_id in self._refreshing:
                log.warning("previous refresh still running; skipping this one", extra={"page_id": page_id})
                return
            self._refreshing.add(page_id)
        try:
            started = time.monotonic()
            snapshot = self.refresher.refresh(page, self.tokens[page_id])
            log.debug(
                "refreshed Page",
                extra={"page_id": page_id, "up": int(snapshot.up),
                       "seconds": round(time.monotonic() - started, 3)},
            )
        except Exception as exc:
            log.exception("refresh failed unexpectedly", extra={"page_id": page_id})
            self._mark_failed(page, f"internal error: {type(exc).__name__}")
        finally:
            with self._refreshing_lock:
                self._refreshing.discard(page_id)

    def _mark_failed(self, page: PageConfig, message: str) -> None:
        """A refresh that broke still counts as attempted, and the Page as down."""
        previous = self.store.get(page.id) or PageSnapshot(page)
        self.store.put(replace(
            previous, attempted=True, up=False, last_error=ErrorInfo("internal", message, time.time())
        ))

    def refresh_all_once(self) -> bool:
        """Refresh every Page once, max_concurrency at a time; True if every Page is up."""
        with ThreadPoolExecutor(self.config.graph_api.max_concurrency) as pool:
            list(pool.map(self.refresh_page, self.pages))
        return all(snapshot.up for snapshot in self.store.snapshots().values())

    def stop(self) -> None:
        self.stop_event.set()
