"""One refresh of one Page: group its metrics into requests, fetch, build its next snapshot."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import MappingProxyType

from exporter.config import MetricSpec, PageConfig, RefreshConfig
from exporter.graph_client import GraphClient, GraphError, InsightsQuery, ThrottledError
from exporter.insights_response import MetricData
from exporter.redact import Secret
from exporter.snapshots import ErrorInfo, MetricResult, PageSnapshot, SnapshotStore

log = logging.getLogger(__name__)

REJECTION_MEMORY_SECONDS = 24 * 3600


def group_specs(specs: tuple[MetricSpec, ...]) -> list[tuple[MetricSpec, ...]]:
    """Entries sharing period, window and breakdowns, in config order: one request each."""
    groups: dict[object, list[MetricSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.group_key, []).append(spec)
    return [tuple(group) for group in groups.values()]


def query_for(page_id: str, specs: tuple[MetricSpec, ...]) -> InsightsQuery:
    first = specs[0]
    return InsightsQuery(
        page_id,
        tuple(s.name for s in specs),
        first.period,
        first.request_window,
        first.breakdowns,
        tuple((s.name, s.baseline) for s in specs if s.baseline),
    )


class PageRefresher:
    def __init__(
        self,
        client: GraphClient,
        store: SnapshotStore,
        refresh: RefreshConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = store
        self.refresh_config = refresh
        self.clock = clock

    def refresh(self, page: PageConfig, token: Secret) -> PageSnapshot:
        """Fetch every configured metric of the Page and swap in its new snapshot."""
        started = time.monotonic()
        previous = self.store.get(page.id) or PageSnapshot(page)
        now = self.clock()
        configured = {spec.name for spec in page.metrics}
        rejected = {
            name: when
            for name, when in previous.rejected.items()
            if name in configured and now - when < REJECTION_MEMORY_SECONDS
        }
        fetch = _Fetch(self.client, page, token, now, rejected)
        for group in group_specs(page.metrics):
            wanted = tuple(spec for spec in group if spec.name not in rejected)
            if wanted:
                fetch.group(wanted)

        # Entries whose request failed keep their last good values until stale_after.
        carried = tuple(
            result
            for result in previous.fresh_results(now, self.refresh_config.stale_after)
            if result.spec in fetch.failed
        )
        up = not fetch.errors
        finished = self.clock()
        snapshot = PageSnapshot(
            page=page,
            results=(*fetch.results, *carried),
            attempted=True,
            up=up,
            last_success=finished if up else previous.last_success,
            refresh_duration=time.monotonic() - started,
            last_error=fetch.errors[-1] if fetch.errors else previous.last_error,
            rejected=MappingProxyType(fetch.rejected),
        )
        self.store.put(snapshot)
        return snapshot


class _Fetch:
    """The requests of one refresh and what they brought back."""

    def __init__(
        self, client: GraphClient, page: PageConfig, token: Secret, now: float, rejected: dict[str, float]
    ) -> None:
        self.client = client
        self.page = page
        self.token = token
        self.now = now
        self.rejected = dict(rejected)
        self.results: list[MetricResult] = []
        self.failed: set[MetricSpec] = set()
        self.errors: list[ErrorInfo] = []
        self.throttled = False

    def group(self, specs: tuple[MetricSpec, ...]) -> None:
        try:
            data = self.client.insights(query_for(self.page.id, specs), self.token)
        except ThrottledError as exc:
            self.failed.update(specs)
            if not self.throttled:
                self.throttled = True
                self.errors.append(ErrorInfo(exc.code, exc.message, self.client.clock()))
                log.info("rate limited: Page not refreshed", extra={"page_id": self.page.id,
                                                                    "error": exc.message})
            return
        except GraphError as exc:
            if exc.rejects_metric and len(specs) > 1:
                # Error 100 fails the whole request; ask one by one to find the culprit.
                for spec in specs:
                    self.group((spec,))
            elif exc.rejects_metric:
                self._reject(specs[0], exc)
            else:
                self._fail(specs, exc)
            return
        self._store(specs, data)

    def _store(self, specs: tuple[MetricSpec, ...], data: dict[str, MetricData]) -> None:
        for spec in specs:
            self.results.append(MetricResult(spec, self.now, data.get(spec.name)))

    def _reject(self, spec: MetricSpec, exc: GraphError) -> None:
        if spec.name not in self.rejected:
            log.warning(
                "the Graph API rejected a metric; not asking for it again for 24h or until "
                "the config is reloaded",
                extra={"page_id": self.page.id, "metric": spec.name, "code": exc.code,
                       "error": exc.message},
            )
        self.rejected[spec.name] = self.now

    def _fail(self, specs: tuple[MetricSpec, ...], exc: GraphError) -> None:
        self.failed.update(specs)
        self.errors.append(ErrorInfo(exc.code, exc.message, self.client.clock()))
        log.error(
            "Graph API request failed",
            extra={
                "page_id": self.page.id,
                "metrics": ",".join(s.name for s in specs),
                "code": exc.code,
                "kind": exc.kind,
                "error": exc.message,
            },
        )
