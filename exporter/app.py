"""The running exporter: config, client, snapshots and collectors wired together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from exporter.changes import Changes
from exporter.config import Config, PageConfig, TokenSource
from exporter.discovery import DiscoveredPage, DiscoveryError, discover
from exporter.exposition import ExpositionCache, StaticRenderer
from exporter.governor import RateLimitGovernor, ThrottleCollector
from exporter.graph_client import GraphClient
from exporter.redact import Secret
from exporter.refresh import PageRefresher, TokenOutcome
from exporter.self_metrics import ScaleMetrics, SelfMetrics
from exporter.sharding import Shard
from exporter.snapshots import ErrorInfo, PageSnapshot, SnapshotStore
from exporter.token_check import TokenChecker, TokenFamilies
from exporter.token_validity import TokenAnswers

log = logging.getLogger(__name__)

# Discovered Pages' tokens come from /me/accounts, not from a variable or file.
DISCOVERED = TokenSource(env="(discovered)")

# Counters get no `_created` series: they add a series per label set and no insight.
disable_created_metrics()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a config load produces: what a reload swaps in at once."""

    config: Config
    tokens: Mapping[str, Secret]
    app_secret: Secret | None = None
    user_token: Secret | None = None  # lists Pages for discovery
    shard: Shard = field(default_factory=Shard)


class Exporter:
    def __init__(self, settings: Settings) -> None:
        self.stop_event = threading.Event()
        self.registry = CollectorRegistry(auto_describe=False)
        self.self_metrics = SelfMetrics(self.registry)
        self.store = SnapshotStore()
        self.governor = RateLimitGovernor(settings.config.graph_api.max_usage_ratio)
        self._refreshing: set[str] = set()
        self._refreshing_lock = threading.Condition()
        self.discovered: tuple[DiscoveredPage, ...] = ()
        self.discovery_attempted = False
        self.discovery_succeeded = False
        self._discovery_lock = threading.Lock()
        self.token_changes = Changes()
        self.token_answers = TokenAnswers(self.token_changes)
        self._apply(settings)
        # The insights part of /metrics is rendered per change by the exposition cache;
        # `registry` holds what changes per scrape.
        renderer = StaticRenderer(
            self.store, lambda: self.config.refresh,
            sources=(self.self_metrics.usage, TokenFamilies(lambda: self.token_checker, self.token_answers)),
        )
        self.exposition = ExpositionCache(renderer, self.registry)
        self.registry.register(ThrottleCollector(self.governor, lambda: list(self.pages)))
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
        self.scale = ScaleMetrics(self.registry)
        self.scale.shard(settings.shard, len(self.pages))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def _apply(self, settings: Settings) -> None:
        """Swap in a config: kept Pages keep their values, removed ones vanish."""
        config = settings.config
        self.settings = settings
        self.config = config
        if config.discovery is None:
            self.discovered = ()
        self._own_pages()
        self.governor.max_usage_ratio = config.graph_api.max_usage_ratio
        self.client = GraphClient(
            config.graph_api, self.self_metrics, self.governor,
            app_secret=settings.app_secret, stop=self.stop_event,
        )
        self.refresher = PageRefresher(self.client, self.store, config.refresh,
                                       on_token_outcomes=self._token_outcomes)
        previous = getattr(self, "token_checker", None)
        self.token_checker: TokenChecker | None = None
        if config.graph_api.app_id is not None and settings.app_secret is not None:
            kept = {p: s for p, s in previous.statuses().items() if p in self.pages} if previous else {}
            self.token_checker = TokenChecker(
                self.client, config.graph_api.app_id, settings.app_secret, previous=kept,
                changes=self.token_changes,
            )
        self.store.keep_only(tuple(self.pages.values()))
        self.token_answers.keep_only(self.tokens)

    def _own_pages(self) -> None:
        """The Pages this replica refreshes: configured ones (which win over discovered ones
        with the same id) and discovered ones, those of its shard only."""
        settings = self.settings
        pages = {page.id: page for page in settings.config.pages}
        tokens = dict(settings.tokens)
        for found in self.discovered:
            if found.id not in pages:
                pages[found.id] = PageConfig(found.id, found.name or None, DISCOVERED, settings.config.metrics)
                tokens[found.id] = found.token
        owned = {page_id: page for page_id, page in pages.items() if settings.shard.owns(page_id)}
        self.tokens = {page_id: tokens[page_id] for page_id in owned}
        self.pages: dict[str, PageConfig] = owned

    def discover(self) -> None:
        """List the Pages the user token manages; on failure keep the last list. Never raises."""
        discovery = self.config.discovery
        user_token = self.settings.user_token
        if discovery is None or user_token is None or self.stop_event.is_set():
            return
        with self._discovery_lock:
            try:
                found = discover(self.client, user_token, discovery)
            except DiscoveryError as exc:
                log.error("Page discovery failed; keeping the last list", extra={"error": str(exc)})  # noqa: TRY400
                return
            except Exception:
                log.exception("Page discovery failed unexpectedly; keeping the last list")
                return
            finally:
                self.discovery_attempted = True
            self.discovered = tuple(found)
            self.discovery_succeeded = True
            self._own_pages()
            self.store.keep_only(tuple(self.pages.values()), forget_rejections=False)
            self.token_answers.keep_only(self.tokens)
            self.scale.discovered(len(found), time.time())
            self.scale.shard(self.settings.shard, len(self.pages))
            log.info("Pages discovered", extra={"discovered": len(found), "owned": len(self.pages)})

    def reload(self, settings: Settings) -> None:
        self._apply(settings)
        self.scale.shard(settings.shard, len(self.pages))
        self.reload_ok.set(1)
        self.reload_time.set(time.time())

    def reload_failed(self) -> None:
        self.reload_ok.set(0)

    def snapshots(self) -> Mapping[str, PageSnapshot]:
        return self.store.snapshots()

    def metrics_body(self, *, openmetrics: bool, compress: bool) -> list[bytes]:
        return self.exposition.body(openmetrics=openmetrics, compress=compress)

    def is_ready(self) -> bool:
        if self.config.discovery is not None and not self.discovery_attempted:
            return False
        return all(snapshot.attempted for snapshot in self.store.snapshots().values())

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

    def _token_outcomes(self, outcomes: list[TokenOutcome]) -> None:
        """A refresh's word on its tokens: error 190 asks for a re-check, where one can run."""
        self.token_answers.record(outcomes, recheck=self.token_checker is not None)

    def recheck_tokens(self) -> None:
        """Check again, with /debug_token, the tokens error 190 has hit since the last time."""
        checker = self.token_checker
        if checker is None or self.stop_event.is_set():
            return
        tokens = self.token_answers.take_rechecks()
        if not tokens:
            return
        try:
            checker.recheck(self.tokens, tokens)
        except Exception:
            log.exception("token re-check failed unexpectedly")

    def _mark_failed(self, page: PageConfig, message: str) -> None:
        """A refresh that broke still counts as attempted, and the Page as down."""
        previous = self.store.get(page.id) or PageSnapshot(page)
        self.store.put(replace(
            previous, attempted=True, up=False, last_error=ErrorInfo("internal", message, time.time())
        ))

    def refresh_all_once(self) -> bool:
        """Refresh every Page once, in one round; True if every Page is up."""
        self.discover()
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

