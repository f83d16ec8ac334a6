"""The running exporter: config, client, snapshots and collectors wired together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from exporter.config import Config, PageConfig
from exporter.exposition import ExpositionCache, StaticRenderer
from exporter.governor import RateLimitGovernor, ThrottleCollector
from exporter.graph_client import GraphClient
from exporter.redact import Secret
from exporter.refresh import PageRefresher
from exporter.self_metrics import SelfMetrics
from exporter.snapshots import ErrorInfo, PageSnapshot, SnapshotStore
from exporter.token_check import TokenChecker, TokenCollector

log = logging.getLogger(__name__)

# Counters get no `_created` series: they add a series per label set and no insight.
disable_created_metrics()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a config load produces: what a reload swaps in at once."""

    config: Config
    tokens: Mapping[str, Secret]
    app_secret: Secret | None = None


class Exporter:
    def __init__(self, settings: Settings) -> None:
        self.stop_event = threading.Event()
        self.registry = CollectorRegistry(auto_describe=False)
        self.self_metrics = SelfMetrics(self.registry)
        self.store = SnapshotStore()
        self.governor = RateLimitGovernor(settings.config.graph_api.max_usage_ratio)
        self._refreshing: set[str] = set()
        self._refreshing_lock = threading.Condition()
        self._apply(settings)
        # The insights part of /metrics is rendered per change by the exposition cache;
        # `registry` holds what changes per scrape.
        self.exposition = ExpositionCache(StaticRenderer(self.store, lambda: self.config.refresh),
                                          self.registry)
        self.registry.register(ThrottleCollector(self.governor, lambda: list(self.pages)))
        self.registry.register(TokenCollector(lambda: self.token_checker))
        self.reload_ok = Gauge(
            "messenger_insights_config_last_reload_successful",
            "1 if the last config reload succeeded (or nothing was reloaded yet), else 0.",
            registry=self.registry,
        )
        self.reload_time = Gauge(
            "messenger_insights_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load.",
            registry=self.registry,
        )
        self.reload_ok.set(1)
        self.reload_time.set(time.time())
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def _apply(self, settings: Settings) -> None:
        """Swap in a config: kept Pages keep their values, removed ones vanish."""
        config = settings.config
        self.settings = settings
        self.config = config
        self.tokens = dict(settings.tokens)
        self.pages: dict[str, PageConfig] = {page.id: page for page in config.pages}
        self.governor.max_usage_ratio = config.graph_api.max_usage_ratio
        self.client = GraphClient(
            config.graph_api, self.self_metrics, self.governor,
            app_secret=settings.app_secret, stop=self.stop_event,
        )
        self.refresher = PageRefresher(self.client, self.store, config.refresh)
        self.token_checker: TokenChecker | None = None
        if config.graph_api.app_id is not None and settings.app_secret is not None:
            self.token_checker = TokenChecker(self.client, config.graph_api.app_id, settings.app_secret)
        self.store.keep_only(config.pages)

    def reload(self, settings: Settings) -> None:
        self._apply(settings)
        self.reload_ok.set(1)
        self.reload_time.set(time.time())

    def reload_failed(self) -> None:
        self.reload_ok.set(0)

    def snapshots(self) -> Mapping[str, PageSnapshot]:
        return self.store.snapshots()

    def metrics_body(self, *, openmetrics: bool, compress: bool) -> bytes:
        return self.exposition.body(openmetrics=openmetrics, compress=compress)

    def is_ready(self) -> bool:
        return all(snapshot.attempted for snapshot in self.store.snapshots().values())

    def refresh_page(self, page_id: str) -> None:
        self.refresh_pages([page_id])

    def refresh_pages(self, page_ids: Iterable[str]) -> None:
        """Refresh these Pages in one round (their operations share batches).

        Never raises; a Page already being refreshed is left out of this round.
        """
        if self.stop_event.is_set():
            return
        with self._refreshing_lock:
            chosen = [
                (page, token)
                for page_id in dict.fromkeys(page_ids)
                if page_id not in self._refreshing
                and (page := self.pages.get(page_id)) is not None
                and (token := self.tokens.get(page_id)) is not None
            ]
            self._refreshing.update(page.id for page, _ in chosen)
        if not chosen:
            return
        try:
            started = time.monotonic()
            snapshots = self.refresher.refresh_many(chosen)
            log.debug(
                "refreshed Pages",
                extra={"pages": len(snapshots), "up": sum(s.up for s in snapshots),
                       "seconds": round(time.monotonic() - started, 3)},
            )
        except Exception as exc:
            log.exception("refresh failed unexpectedly",
                          extra={"page_ids": ",".join(page.id for page, _ in chosen[:20])})
            for page, _ in chosen:
                self._mark_failed(page, f"internal error: {type(exc).__name__}")
        finally:
            with self._refreshing_lock:
                self._refreshing.difference_update(page.id for page, _ in chosen)
                self._refreshing_lock.notify_all()

    def check_tokens(self) -> None:
        """Check every Page token with /debug_token, where an app id and secret are set."""
        checker = self.token_checker
        if checker is None or self.stop_event.is_set():
            return
        try:
            checker.check(self.tokens)
        except Exception:
            log.exception("token check failed unexpectedly")

    def _mark_failed(self, page: PageConfig, message: str) -> None:
        """A refresh that broke still counts as attempted, and the Page as down."""
        previous = self.store.get(page.id) or PageSnapshot(page)
        self.store.put(replace(
            previous, attempted=True, up=False, last_error=ErrorInfo("internal", message, time.time())
        ))

    def refresh_all_once(self) -> bool:
        """Refresh every Page once, in one round; True if every Page is up."""
        self.check_tokens()
        self.refresh_pages(list(self.pages))
        return all(snapshot.up for snapshot in self.store.snapshots().values())

    def stop(self, grace_seconds: float) -> bool:
        """No new requests; wait up to `grace_seconds` for refreshes in flight to finish.

        False when some were still running at the end of the grace time.
        """
        self.stop_event.set()
        deadline = time.monotonic() + grace_seconds
        with self._refreshing_lock:
            while self._refreshing and (left := deadline - time.monotonic()) > 0:
                self._refreshing_lock.wait(left)
            if self._refreshing:
                log.warning("refreshes still running at shutdown; abandoning them",
                            extra={"page_ids": ",".join(sorted(self._refreshing))})
                return False
        return True

