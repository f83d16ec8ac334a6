"""Refresh rounds: the due Pages' metrics grouped into operations that share batches, the
answers turned into each Page's next snapshot."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

from exporter.config import MetricSpec, PageConfig, RefreshConfig
from exporter.credentials import token_renewal
from exporter.graph_client import (
    ClientClosedError,
    GraphClient,
    GraphError,
    InsightsQuery,
    OperationResult,
    ThrottledError,
)
from exporter.memo import Remembered
from exporter.redact import Secret
from exporter.snapshots import ErrorInfo, MetricResult, PageSnapshot, SnapshotStore
from exporter.token_validity import TOKEN_ERROR_CODE

# (Page id, its token, whether the token worked): what a refresh learnt about tokens.
TokenOutcome = tuple[str, Secret, bool]

log = logging.getLogger(__name__)

REJECTION_MEMORY_SECONDS = 24 * 3600


# Remembered by the id of the tuple of specs or group (Pages share their config's), which
# is kept with what is remembered, so the id stays its own.
_GROUPS: Remembered[int, tuple[tuple[MetricSpec, ...], tuple[tuple[MetricSpec, ...], ...]]] = Remembered(4096)
_QUERY_PARTS: Remembered[int, tuple[tuple[MetricSpec, ...], tuple[Any, ...]]] = Remembered(4096)


def group_specs(specs: tuple[MetricSpec, ...]) -> tuple[tuple[MetricSpec, ...], ...]:
    """Entries sharing period, window and breakdowns, in config order: one request each."""
    found = _GROUPS.get(id(specs))
    if found is None:
        groups: dict[object, list[MetricSpec]] = {}
        for spec in specs:
            groups.setdefault(spec.group_key, []).append(spec)
        found = _GROUPS.put(id(specs), (specs, tuple(tuple(group) for group in groups.values())))
    return found[1]


def query_for(page_id: str, specs: tuple[MetricSpec, ...]) -> InsightsQuery:
    found = _QUERY_PARTS.get(id(specs))
    if found is None:
        first = specs[0]
        parts = (tuple(s.name for s in specs), first.period, first.request_window, first.breakdowns,
                 tuple((s.name, s.baseline) for s in specs if s.baseline))
        found = _QUERY_PARTS.put(id(specs), (specs, parts))
    return InsightsQuery(page_id, *found[1])


class PageRefresher:
    def __init__(
        self,
        client: GraphClient,
        store: SnapshotStore,
        refresh: RefreshConfig,
        clock: Callable[[], float] = time.time,
        on_token_outcomes: Callable[[list[TokenOutcome]], None] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.refresh_config = refresh
        self.clock = clock
        self.on_token_outcomes = on_token_outcomes

    def refresh_many(self, pages: Sequence[tuple[PageConfig, Secret]]) -> list[PageSnapshot]:
        """Refresh the Pages together, their operations sent in shared batches.

        Error 100 fails a whole request, so a group it hits is asked again one metric at a
        time, in a second round, to find the metric the API rejects. A Page whose requests
        the client refused because it was retired (a reload replaced it) gets no snapshot
        and is left out of the list returned.
        """
        started = time.monotonic()
        now = self.clock()
        fetches = [_Fetch(page, token, now, self._rejected(page, now)) for page, token in pages]
        work = [(fetch, group) for fetch in fetches for group in fetch.groups()]
        while work:
            results = self.client.run([(query_for(f.page.id, group), f.token) for f, group in work])
            split: list[tuple[_Fetch, tuple[MetricSpec, ...]]] = []
            for (fetch, group), result in zip(work, results, strict=True):
                if isinstance(result, GraphError) and result.rejects_metric and len(group) > 1:
                    split.extend((fetch, (spec,)) for spec in group)
                else:
                    fetch.record(group, result, self.client.clock())
            work = split
        if self.on_token_outcomes is not None:
            self.on_token_outcomes([(f.page.id, f.token, f.token_worked) for f in fetches
                                    if f.token_worked is not None])
        duration = time.monotonic() - started
        snapshots = [self._snapshot(fetch, now, duration) for fetch in fetches if not fetch.abandoned]
        self.store.put_many(snapshots)
        return snapshots

    def _rejected(self, page: PageConfig, now: float) -> dict[str, float]:
        previous = self.store.get(page.id)
        configured = {spec.name for spec in page.metrics}
        return {
            name: when
            for name, when in (previous.rejected.items() if previous else ())
            if name in configured and now - when < REJECTION_MEMORY_SECONDS
        }

    def _snapshot(self, fetch: _Fetch, now: float, duration: float) -> PageSnapshot:
        previous = self.store.get(fetch.page.id) or PageSnapshot(fetch.page)
        # Entries whose request failed keep their last good values until stale_after.
        carried = tuple(
            result
            for result in previous.fresh_results(now, self.refresh_config.stale_after)
            if result.spec in fetch.failed
        )
        up = not fetch.errors
        return PageSnapshot(
            page=fetch.page,
            results=(*fetch.results, *carried),
            attempted=True,
            up=up,
            last_success=self.clock() if up else previous.last_success,
            refresh_duration=duration,
            last_error=fetch.errors[-1] if fetch.errors else previous.last_error,
            rejected=MappingProxyType(fetch.rejected),
        )


class _Fetch:
    """One Page's part of a refresh: what it asks for and what came back."""

    def __init__(self, page: PageConfig, token: Secret, now: float, rejected: dict[str, float]) -> None:
        self.page = page
        self.token = token
        self.now = now
        self.rejected = dict(rejected)
        self.results: list[MetricResult] = []
        self.failed: set[MetricSpec] = set()
        self.errors: list[ErrorInfo] = []
        self.throttled = False
        # False after error 190, else True after a successful answer; None: no word on it.
        self.token_worked: bool | None = None
        self.abandoned = False  # the client was retired before all of it was asked

    def groups(self) -> tuple[tuple[MetricSpec, ...], ...]:
        if not self.rejected:
            return group_specs(self.page.metrics)
        wanted = (tuple(s for s in group if s.name not in self.rejected) for group in group_specs(self.page.metrics))
        return tuple(group for group in wanted if group)

    def record(self, specs: tuple[MetricSpec, ...], result: OperationResult, now: float) -> None:
        if isinstance(result, ClientClosedError):
            self.abandoned = True
        elif isinstance(result, ThrottledError):
            self.failed.update(specs)
            if not self.throttled:
                self.throttled = True
                self.errors.append(ErrorInfo(result.code, result.message, now))
                log.info("rate limited: Page not refreshed", extra={"page_id": self.page.id,
                                                                    "error": result.message})
        elif isinstance(result, GraphError) and result.rejects_metric:
            self._reject(specs[0], result)
        elif isinstance(result, GraphError):
            self._fail(specs, result, now)
        else:
            if self.token_worked is None:
                self.token_worked = True
            for spec in specs:
                self.results.append(MetricResult(spec, self.now, result.get(spec.name)))

    def _reject(self, spec: MetricSpec, exc: GraphError) -> None:
        if spec.name not in self.rejected:
            log.warning(
                "the Graph API rejected a metric; not asking for it again for 24h or until "
                "the config is reloaded",
                extra={"page_id": self.page.id, "metric": spec.name, "code": exc.code,
                       "error": exc.message},
            )
        self.rejected[spec.name] = self.now

    def _fail(self, specs: tuple[MetricSpec, ...], exc: GraphError, now: float) -> None:
        message = exc.message
        if exc.graph_code == TOKEN_ERROR_CODE:
            self.token_worked = False
            message = f"{message.rstrip('. ')}; {token_renewal(self.page.token)}"
        self.failed.update(specs)
        self.errors.append(ErrorInfo(exc.code, message, now))
        log.error(
            "Graph API request failed",
            extra={
                "page_id": self.page.id,
                "metrics": ",".join(s.name for s in specs),
                "code": exc.code,
                "kind": exc.kind,
                "error": message,
            },
        )
