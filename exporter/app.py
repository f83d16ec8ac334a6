"""The running exporter: its runtime, snapshots and collectors wired together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from exporter.changes import Changes
from exporter.config import PageConfig
from exporter.discovery import DiscoveredPage, DiscoveryError, discover
from exporter.exposition import ExpositionCache, StaticRenderer
from exporter.governor import RateLimitGovernor, ThrottleCollector
from exporter.graph_client import ClientClosedError, GraphClient
from exporter.recent import Recent
from exporter.refresh import PageRefresher, TokenOutcome
from exporter.runtime import Runtime, Settings, can_keep_client, owned_pages
from exporter.self_metrics import ScaleMetrics, SelfMetrics
from exporter.snapshots import ErrorInfo, PageSnapshot, SnapshotStore
from exporter.token_check import TokenChecker, TokenFamilies
from exporter.token_validity import TokenAnswers

log = logging.getLogger(__name__)

# Counters get no `_created` series: they add a series per label set and no insight.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Exporter:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        """`clock` is the wall clock of everything the exporter times and exports: request
        windows, fetch and success times, staleness, reloads, rate-limit pauses."""
        self.clock = clock
        self.stop_event = threading.Event()
        self.registry = CollectorRegistry(auto_describe=False)
        self.self_metrics = SelfMetrics(self.registry)
        self.store = SnapshotStore()
        self.governor = RateLimitGovernor(settings.config.graph_api.max_usage_ratio, clock=clock)
        self._refreshing: set[str] = set()
        self._refreshing_lock = threading.Condition()
        self.discovery_attempted = False
        self.discovery_succeeded = False
        self._discovery_lock = threading.Lock()
        # Reloads and rediscoveries each build the next runtime from the current one.
        self._swap_lock = threading.Lock()
        self.token_changes = Changes()
        self.token_answers = TokenAnswers(self.token_changes, clock=clock)
        self.runtime = self._build(settings, (), None)
        self.store.keep_only(tuple(self.runtime.pages.values()))
        self.token_answers.keep_only(self.runtime.tokens)
        # The insights part of /metrics is rendered per change by the exposition cache;
        # `registry` holds what changes per scrape.
        renderer = StaticRenderer(
            self.store, lambda: self.runtime.config.refresh, clock,
            sources=(self.self_metrics.usage,
                     TokenFamilies(lambda: self.runtime.token_checker, self.token_answers)),
        )
        self.exposition = ExpositionCache(renderer, self.registry, clock)
        self.registry.register(ThrottleCollector(self.governor, lambda: self.runtime.pages))
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
        self.reload_time.set(self.clock())
        self.scale = ScaleMetrics(self.registry)
        self.scale.shard(settings.shard, len(self.runtime.pages))
        self.registry.register(Recent(ProcessCollector(registry=None)))
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def _build(
        self, settings: Settings, discovered: tuple[DiscoveredPage, ...], previous: Runtime | None
    ) -> Runtime:
        """The next runtime. It goes on with the previous client where it can, so requests in
        flight are not cut short by a reload that changes nothing they use."""
        config = settings.config
        pages, tokens = owned_pages(settings, discovered)
        if previous is not None and can_keep_client(previous, settings, pages, tokens):
            client = previous.client
        else:
            client = GraphClient(config.graph_api, self.self_metrics, self.governor,
                                 app_secret=settings.app_secret, stop=self.stop_event, clock=self.clock)
        checker: TokenChecker | None = None
        if config.graph_api.app_id is not None and settings.app_secret is not None:
            # The last statuses of kept Pages stand until the new checker's first check.
            last = previous.token_checker.statuses() if previous and previous.token_checker else {}
            checker = TokenChecker(client, config.graph_api.app_id, settings.app_secret,
                                   previous={p: s for p, s in last.items() if p in pages},
                                   changes=self.token_changes, clock=self.clock)
        refresher = PageRefresher(client, self.store, config.refresh, self.clock,
                                  on_token_outcomes=self._token_outcomes)
        return Runtime(settings, discovered, pages, tokens, client, refresher, checker)

    def _publish(self, runtime: Runtime, *, forget_rejections: bool) -> GraphClient | None:
        """Make `runtime` the current one; the client it replaces, if it does, to retire.

        The store lets go of removed Pages first, so a round of the old runtime that ends
        meanwhile cannot bring them back (it stores only Pages the store still holds).
        """
        previous = self.runtime
        self.governor.max_usage_ratio = runtime.config.graph_api.max_usage_ratio
        self.store.keep_only(tuple(runtime.pages.values()), forget_rejections=forget_rejections)
        self.token_answers.keep_only(runtime.tokens)
        self.runtime = runtime
        return previous.client if previous.client is not runtime.client else None

    def _retire(self, client: GraphClient | None) -> None:
        """No request of the replaced client goes out any more; wait for those in flight."""
        if client is not None and not client.close(wait=client.api.timeout + 1):
            log.warning("requests of the replaced config still in flight after its timeout")

    def discover(self) -> None:
        """List the Pages the user token manages; on failure keep the last list. Never raises."""
        runtime = self.runtime
        discovery = runtime.config.discovery
        user_token = runtime.settings.user_token
        if discovery is None or user_token is None or self.stop_event.is_set():
            return
        with self._discovery_lock:
            try:
                found = tuple(discover(runtime.client, user_token, discovery))
            except ClientClosedError:
                return  # a reload replaced the runtime; it runs its own discovery
            except DiscoveryError as exc:
                log.error("Page discovery failed; keeping the last list", extra={"error": str(exc)})  # noqa: TRY400
                return
            except Exception:
                log.exception("Page discovery failed unexpectedly; keeping the last list")
                return
            finally:
                self.discovery_attempted = True
            with self._swap_lock:
                current = self.runtime
                if current.settings is not runtime.settings:
                    return  # listed with the settings a reload replaced
                updated = self._build(current.settings, found, current)
                retired = self._publish(updated, forget_rejections=False)
            self._retire(retired)
            self.discovery_succeeded = True
            self.scale.discovered(len(found), self.clock())
            self.scale.shard(updated.settings.shard, len(updated.pages))
            log.info("Pages discovered", extra={"discovered": len(found), "owned": len(updated.pages)})

    def reload(self, settings: Settings) -> None:
        """Swap in a config: kept Pages keep their values, removed ones vanish, and once this
        returns no request goes out with a removed Page's token."""
        with self._swap_lock:
            current = self.runtime
            # Discovered Pages stay until the next discovery, which the reload schedules.
            discovered = current.discovered if settings.config.discovery is not None else ()
            runtime = self._build(settings, discovered, current)
            retired = self._publish(runtime, forget_rejections=True)
        self._retire(retired)
        self.scale.shard(settings.shard, len(runtime.pages))
        self.reload_ok.set(1)
        self.reload_time.set(self.clock())

    def reload_failed(self) -> None:
        self.reload_ok.set(0)

    def snapshots(self) -> Mapping[str, PageSnapshot]:
        return self.store.snapshots()

    def metrics_body(self, *, openmetrics: bool, compress: bool) -> list[bytes]:
        return self.exposition.body(openmetrics=openmetrics, compress=compress)

    def is_ready(self) -> bool:
        if self.runtime.config.discovery is not None and not self.discovery_attempted:
            return False
        return all(snapshot.attempted for snapshot in self.store.snapshots().values())

    def refresh_pages(self, page_ids: Iterable[str]) -> list[str]:
        """Refresh these Pages in one round (their operations share batches), with the
        runtime current at its start.

        Never raises; a Page already being refreshed is left out of this round. Returns the
        Pages a reload interrupted (it retired the round's client before they were asked):
        they are due again at once.
        """
        runtime = self.runtime
        if self.stop_event.is_set():
            return []
        with self._refreshing_lock:
            chosen = [
                (page, token)
                for page_id in dict.fromkeys(page_ids)
                if page_id not in self._refreshing
                and (page := runtime.pages.get(page_id)) is not None
                and (token := runtime.tokens.get(page_id)) is not None
            ]
            self._refreshing.update(page.id for page, _ in chosen)
        if not chosen:
            return []
        try:
            started = time.monotonic()
            snapshots = runtime.refresher.refresh_many(chosen)
            log.debug(
                "refreshed Pages",
                extra={"pages": len(snapshots), "up": sum(s.up for s in snapshots),
                       "seconds": round(time.monotonic() - started, 3)},
            )
            refreshed = {snapshot.page.id for snapshot in snapshots}
            return [page.id for page, _ in chosen if page.id not in refreshed]
        except Exception as exc:
            log.exception("refresh failed unexpectedly",
                          extra={"page_ids": ",".join(page.id for page, _ in chosen[:20])})
            for page, _ in chosen:
                self._mark_failed(page, f"internal error: {type(exc).__name__}")
            return []
        finally:
            with self._refreshing_lock:
                self._refreshing.difference_update(page.id for page, _ in chosen)
                self._refreshing_lock.notify_all()

    def check_tokens(self) -> None:
        """Check every Page token with /debug_token, where an app id and secret are set."""
        runtime = self.runtime
        checker = runtime.token_checker
        if checker is None or self.stop_event.is_set():
            return
        try:
            checker.check(runtime.tokens)
        except Exception:
            log.exception("token check failed unexpectedly")

    def _token_outcomes(self, outcomes: list[TokenOutcome]) -> None:
        """A refresh's word on its tokens: error 190 asks for a re-check, where one can run.

        Under the swap lock, and only for tokens the current runtime still uses: a round
        that ends after a reload says nothing about Pages the reload removed.
        """
        with self._swap_lock:
            runtime = self.runtime
            current = [(page_id, token, worked) for page_id, token, worked in outcomes
                       if runtime.tokens.get(page_id) == token]
            self.token_answers.record(current, recheck=runtime.token_checker is not None)

    def recheck_tokens(self) -> None:
        """Check again, with /debug_token, the tokens error 190 has hit since the last time."""
        runtime = self.runtime
        checker = runtime.token_checker
        if checker is None or self.stop_event.is_set():
            return
        tokens = self.token_answers.take_rechecks()
        if not tokens:
            return
        try:
            checker.recheck(runtime.tokens, tokens)
        except Exception:
            log.exception("token re-check failed unexpectedly")

    def _mark_failed(self, page: PageConfig, message: str) -> None:
        """A refresh that broke still counts as attempted, and the Page as down."""
        previous = self.store.get(page.id) or PageSnapshot(page)
        self.store.put(replace(
            previous, attempted=True, up=False, last_error=ErrorInfo("internal", message, self.clock())
        ))

    def refresh_all_once(self) -> bool:
        """Refresh every Page once, in one round; True if every Page is up."""
        self.discover()
        self.check_tokens()
        self.refresh_pages(list(self.runtime.pages))
        return all(snapshot.up for snapshot in self.store.snapshots().values())

    def stop(self, grace_seconds: float) -> bool:
        """No new requests; wait up to `grace_seconds` for refreshes in flight to finish.

        False when some were still running at the end of the grace time.
        """
        self.stop_event.set()
        self.runtime.client.close(wait=0)  # wakes rounds waiting to retry
        deadline = time.monotonic() + grace_seconds
        with self._refreshing_lock:
            while self._refreshing and (left := deadline - time.monotonic()) > 0:
                self._refreshing_lock.wait(left)
            if self._refreshing:
                log.warning("refreshes still running at shutdown; abandoning them",
                            extra={"page_ids": ",".join(sorted(self._refreshing))})
                return False
        return True
