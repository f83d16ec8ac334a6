"""The render cache serves exactly what rendering every scrape would, in every format."""

from __future__ import annotations

import gzip
from types import MappingProxyType

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as _openmetrics_latest

from exporter.collector import InsightsCollector
from exporter.config import MetricSpec, PageConfig, RefreshConfig, TokenSource
from exporter.exposition import ExpositionCache, StaticRenderer
from exporter.insights_response import MetricData
from exporter.snapshots import MetricResult, PageSnapshot, SnapshotStore
from tests.conftest import wait_until

NOW = 1_800_000_000.0


def openmetrics_latest(registry: CollectorRegistry) -> bytes:
    return _openmetrics_latest(registry)  # type: ignore[no-untyped-call,no-any-return]
REFRESH = RefreshConfig(900, 2700)
SENT = MetricSpec("page_messages_sent", breakdowns=("messaging_channel",))
CUSTOM = MetricSpec("page_fans_city", help='Fans by city, "quoted" \\ and\nnewline', baseline_days=0)


def snapshot(page_id: str, value: float, fetched_at: float = NOW - 10, name: str | None = None) -> PageSnapshot:
    page = PageConfig(page_id, name, TokenSource(env="T"), (SENT, CUSTOM))
    sent = MetricData("page_messages_sent", NOW - 3600, ("channel",),
                      ((("messenger",), value), (("instagram",), value / 2)), ((("messenger",), 1.5),), 7)
    cities = MetricData("page_fans_city", NOW - 3600, ("key",), ((('Denver, "CO"\\',), 19.0),))
    return PageSnapshot(page, (MetricResult(SENT, fetched_at, sent), MetricResult(CUSTOM, fetched_at, cities)),
                        attempted=True, up=True, last_success=NOW - 5, refresh_duration=0.5,
                        rejected=MappingProxyType({}))


def body(cache: ExpositionCache, *, openmetrics: bool, compress: bool) -> bytes:
    return b"".join(cache.body(openmetrics=openmetrics, compress=compress))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[SnapshotStore, ExpositionCache, CollectorRegistry, Clock]:
    clock = Clock()
    store = SnapshotStore()
    store.put(snapshot("1", 7.0, name="Acme \u00e9"))
    store.put(snapshot("2", 3.0))
    dynamic = CollectorRegistry()
    Gauge("messenger_insights_build_info", "Build.", ["version"], registry=dynamic).labels("1").set(1)
    cache = ExpositionCache(StaticRenderer(store, lambda: REFRESH, clock), dynamic, clock)
    full = CollectorRegistry()
    full.register(InsightsCollector(store, lambda: REFRESH, clock))
    full.register(dynamic)
    return store, cache, full, clock


def test_bodies_equal_rendering_per_scrape() -> None:
    _, cache, full, _ = setup()
    text = body(cache, openmetrics=False, compress=False)
    assert text == generate_latest(full)
    assert body(cache, openmetrics=True, compress=False) == openmetrics_latest(full)
    assert gzip.decompress(body(cache, openmetrics=False, compress=True)) == text
    assert gzip.decompress(body(cache, openmetrics=True, compress=True)) == openmetrics_latest(full)
    assert b'key="Denver, \\"CO\\"\\\\"' in text
    assert b"newline" in text and b'\\"quoted\\"' in body(cache, openmetrics=True, compress=False)


def test_a_change_is_rendered_by_the_background_thread() -> None:
    store, cache, full, _ = setup()
    cache.start()
    try:
        before = body(cache, openmetrics=False, compress=True)
        store.put(snapshot("2", 11.0))
        wait_until(lambda: gzip.decompress(body(cache, openmetrics=False, compress=True)) == generate_latest(full),
                   timeout=10, what="the cache to follow the change")
        assert body(cache, openmetrics=False, compress=True) != before
        assert b'messenger_insights_page_messages_sent{channel="messenger",page_id="2",period="day"} 11.0' in \
            body(cache, openmetrics=False, compress=False)
    finally:
        cache.stop()


def test_stale_values_leave_without_any_change() -> None:
    store, cache, full, clock = setup()
    store.put(snapshot("2", 3.0, fetched_at=NOW - 2000))
    cache.start()
    try:
        assert b'page_id="2",period="day"} 3.0' in body(cache, openmetrics=False, compress=False)
        clock.now = NOW + 800  # page 2's values are now older than stale_after
        cache._wake.set()  # what the timer does when the first value goes stale
        wait_until(lambda: b'page_id="2",period="day"} 3.0' not in body(cache, openmetrics=False, compress=False),
                   timeout=10, what="stale values to go")
        assert body(cache, openmetrics=False, compress=False) == generate_latest(full)
    finally:
        cache.stop()


def test_unchanged_pages_are_not_rendered_again() -> None:
    store, cache, _, _ = setup()
    body(cache, openmetrics=False, compress=False)
    renders_before = dict(cache.renderer._pages)
    store.put(snapshot("2", 5.0))
    cache.renderer.build(text_gzip=False, openmetrics_gzip=False)
    assert cache.renderer._pages["1"] is renders_before["1"]
    assert cache.renderer._pages["2"] is not renders_before["2"]
