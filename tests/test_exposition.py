"""The render cache serves exactly what rendering every scrape would, in every format."""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator, Mapping
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as _openmetrics_latest

from exporter import exposition, snapshots, usage
from exporter.catalog import BREAKDOWN_LABELS
from exporter.config import MetricSpec, PageConfig, RefreshConfig, TokenSource
from exporter.exposition import ExpositionCache, StaticRenderer
from exporter.insights_response import MetricData
from exporter.snapshots import MetricResult, PageSnapshot, SnapshotStore
from exporter.usage import UsageBoard, UsageReport
from tests.conftest import wait_until
from tests.reference_renderer import InsightsCollector

NOW = 1_800_000_000.0


def openmetrics_latest(registry: CollectorRegistry) -> bytes:
    return _openmetrics_latest(registry)  # type: ignore[no-untyped-call,no-any-return]
REFRESH = RefreshConfig(900, 2700)
SENT = MetricSpec("page_messages_sent", breakdowns=("messaging_channel",))
CUSTOM = MetricSpec("page_fans_city", help='Fans by city, "quoted" \\ and\nnewline', baseline_days=0)


def snapshot(page_id: str, value: float, fetched_at: float = NOW - 10, name: str | None = None) -> PageSnapshot:
    page = PageConfig(page_id, name, TokenSource(env="T"), (SENT, CUSTOM))
    sent = MetricData.of("page_messages_sent", NOW - 3600, ("channel",),
                         ((("messenger",), value), (("instagram",), value / 2)),
                         baseline=((("messenger",), 1.5), (("instagram",), 0.25)), baseline_days=7)
    cities = MetricData.of("page_fans_city", NOW - 3600, ("key",), ((('Denver, "CO"\\',), 19.0),))
    return PageSnapshot(page, (MetricResult(SENT, fetched_at, sent), MetricResult(CUSTOM, fetched_at, cities)),
                        attempted=True, up=True, last_success=NOW - 5, refresh_duration=0.5,
                        rejected=MappingProxyType({}))


def body(cache: ExpositionCache, *, openmetrics: bool, compress: bool) -> bytes:
    return b"".join(cache.body(openmetrics=openmetrics, compress=compress))


def built(renderer: StaticRenderer, *, openmetrics: bool, compress: bool = False) -> bytes:
    """A build's cached part as sent; gzip decompressed. Scrapes rebuild at once only when a
    build is quick, which a loaded machine does not promise: tests of builds build."""
    bodies = renderer.build(text_gzip=compress and not openmetrics, openmetrics_gzip=compress and openmetrics)
    if not compress:
        return b"".join(bodies.chunks(openmetrics=openmetrics))
    packed = bodies.openmetrics_gzip if openmetrics else bodies.text_gzip
    assert packed is not None
    return gzip.decompress(packed)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[SnapshotStore, ExpositionCache, CollectorRegistry, Clock]:
    clock = Clock()
    store = SnapshotStore()
    first, second = snapshot("1", 7.0, name="Acme \u00e9"), snapshot("2", 3.0)
    store.keep_only((first.page, second.page))
    store.put_many((first, second))
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


def test_the_scrape_after_a_change_of_the_exporters_own_metrics_shows_it() -> None:
    """Its families are kept rendered while unchanged, never served stale."""
    _, cache, full, _ = setup()
    registry = cache.dynamic.registry
    assert isinstance(registry, CollectorRegistry)
    gauge = Gauge("messenger_insights_pages", "Pages.", registry=registry)
    for value in (3.0, 3.0, 4.0, -0.0, 0.0):
        gauge.set(value)
        for openmetrics in (False, True):
            reference = openmetrics_latest(full) if openmetrics else generate_latest(full)
            assert f"messenger_insights_pages {value}\n".encode() in reference
            assert body(cache, openmetrics=openmetrics, compress=False) == reference
            assert gzip.decompress(body(cache, openmetrics=openmetrics, compress=True)) == reference


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
    assert cache.renderer.rendered_pages == 2
    store.put(snapshot("2", 5.0))
    cache.renderer.build(text_gzip=False, openmetrics_gzip=False)
    assert cache.renderer.rendered_pages == 1


VALUES = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1e6, 999999.9, 1234567.0, -1234567.0, 1e16, 1e-05, 1764580000.123, 0.1,
     math.nan, math.inf, -math.inf])
LABEL_TEXT = st.text(max_size=8) | st.sampled_from(
    ["messenger", 'a"b', "back\\slash", "new\nline", "{0}", "}{1", "nul\x00", "Ünï"])
SPECS = (
    MetricSpec("page_messages_sent", breakdowns=("messaging_channel",)),
    MetricSpec("recurring_notifications_tokens", period="total_over_range",
               breakdowns=("recurring_notifications_topic", "recurring_notifications_frequency")),
    MetricSpec("page_messages_order_count", baseline_days=3),
    MetricSpec("page_fans_city", help="Fans by {city}", baseline_days=0),
)


@st.composite
def metric_data(draw: st.DrawFn, spec: MetricSpec) -> MetricData | None:
    if draw(st.booleans()):
        return None  # the API answered without data
    labels = tuple(BREAKDOWN_LABELS[b] for b in spec.breakdowns)
    if spec.name == "page_fans_city":
        labels = ("key",)
    rows = draw(st.lists(st.tuples(*[LABEL_TEXT for _ in labels]), min_size=1, max_size=4, unique=True))
    series = tuple((row, draw(VALUES)) for row in rows)
    baseline = tuple((row, draw(VALUES)) for row in rows) if spec.baseline and draw(st.booleans()) else ()
    return MetricData.of(spec.name, draw(st.floats(1e9, 4e9)), labels, series,
                          baseline=baseline, baseline_days=3 if baseline else 0)


@st.composite
def page_snapshot(draw: st.DrawFn, page_id: str, configs: dict[str, PageConfig]) -> PageSnapshot:
    """A snapshot of the Page; its config is drawn once, and changes only now and then (a reload)."""
    if page_id not in configs or draw(st.integers(0, 9)) == 0:
        specs = tuple(draw(st.lists(st.sampled_from(SPECS), unique=True, max_size=4)))
        configs[page_id] = PageConfig(page_id, draw(st.none() | LABEL_TEXT), TokenSource(env="T"), specs)
    page = configs[page_id]
    specs = page.metrics
    if not draw(st.booleans()):
        return PageSnapshot(page)  # not refreshed yet
    results = tuple(MetricResult(spec, NOW - draw(st.sampled_from([10, 5000])), draw(metric_data(spec)))
                    for spec in specs)
    rejected = {spec.name: NOW for spec in specs if draw(st.booleans())}
    return PageSnapshot(page, results, attempted=True, up=draw(st.booleans()),
                        last_success=draw(st.none() | st.floats(1e9, 4e9)),
                        refresh_duration=draw(st.none() | st.floats(0, 100)),
                        rejected=MappingProxyType(rejected))


@pytest.mark.slow  # hundreds of generated examples: seconds
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(["1", "2", "3", "4", "5"]), max_size=5), min_size=1, max_size=3),
       st.data())
def test_any_snapshots_render_as_prometheus_client_does(rounds: list[list[str]], data: st.DataObject) -> None:
    """Each round swaps in new snapshots for some Pages; every build equals a full render.

    Blocks of 2 Pages, so that changed and unchanged blocks meet; a gzip member per Page."""
    blocks, members = exposition.BLOCK_PAGES, exposition.GZIP_PAGES
    exposition.BLOCK_PAGES, exposition.GZIP_PAGES = 2, 1
    try:
        _render_rounds(rounds, data)
    finally:
        exposition.BLOCK_PAGES, exposition.GZIP_PAGES = blocks, members


def _render_rounds(rounds: list[list[str]], data: st.DataObject) -> None:
    configs: dict[str, PageConfig] = {}
    clock = Clock()
    store = SnapshotStore()
    renderer = StaticRenderer(store, lambda: REFRESH, clock)
    reference = CollectorRegistry()
    reference.register(InsightsCollector(store, lambda: REFRESH, clock))
    for page_ids in rounds:
        drawn = [data.draw(page_snapshot(page_id, configs)) for page_id in dict.fromkeys(page_ids)]
        current = {s.page.id: s.page for s in store.snapshots().values()}
        pages = current | {s.page.id: s.page for s in drawn}
        if pages != current:  # a new Page or a changed config, as with a reload
            store.keep_only(tuple(pages.values()))
        store.put_many(drawn)
        if data.draw(st.booleans()):
            store.keep_only(tuple(s.page for s in store.snapshots().values() if s.page.id != "2"))
        clock.now += data.draw(st.sampled_from([0.0, 0.0, 1000.0, 3000.0]))  # values go stale now and then
        assert built(renderer, openmetrics=False) == generate_latest(reference)
        assert built(renderer, openmetrics=True) + b"# EOF\n" == openmetrics_latest(reference)
        assert built(renderer, openmetrics=False, compress=True) == generate_latest(reference)


def test_a_change_in_one_block_keeps_the_pages_around_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exposition, "BLOCK_PAGES", 2)
    monkeypatch.setattr(exposition, "GZIP_PAGES", 1)
    clock = Clock()
    store = SnapshotStore()
    store.keep_only(tuple(snapshot(str(n), 0.0).page for n in range(1, 6)))
    store.put_many(snapshot(str(n), float(n)) for n in range(1, 6))
    cache = ExpositionCache(StaticRenderer(store, lambda: REFRESH, clock), CollectorRegistry(), clock)
    reference = CollectorRegistry()
    reference.register(InsightsCollector(store, lambda: REFRESH, clock))
    assert body(cache, openmetrics=False, compress=False) == generate_latest(reference)
    for changed in (["1"], ["4"], ["2", "5"], ["3"]):
        store.put_many(snapshot(page_id, 100.0 + len(changed)) for page_id in changed)
        text = built(cache.renderer, openmetrics=False)
        assert cache.renderer.rendered_pages == len(changed)
        assert text == generate_latest(reference)
        assert built(cache.renderer, openmetrics=True, compress=True) + b"# EOF\n" == openmetrics_latest(reference)


class Families:
    """A cached source as a collector, for prometheus_client to render."""

    def __init__(self, source: UsageBoard) -> None:
        self.source = source

    def collect(self) -> list[Metric]:
        return self.source.families()


def test_cached_sources_render_as_prometheus_client_does() -> None:
    board = UsageBoard()
    board.record([UsageReport("page", 'p"1\\\n', {"call_count": 12.5, "total_time": 12_345_678.0}),
                  UsageReport("app", "", {"call_count": 0.0})])
    board.record([UsageReport("page", f"9{n:03d}", {"call_count": n / 7}) for n in range(40, 0, -1)])
    clock = Clock()
    cache = ExpositionCache(StaticRenderer(SnapshotStore(), lambda: REFRESH, clock, sources=(board,)),
                            CollectorRegistry(), clock)
    reference = CollectorRegistry()
    reference.register(Families(board))
    assert body(cache, openmetrics=False, compress=False) == generate_latest(reference)
    board.record([UsageReport("page", "9007", {"call_count": 99.0})])  # one line made again
    assert built(cache.renderer, openmetrics=False) == generate_latest(reference)


def test_a_build_looks_only_at_the_pages_that_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build reads the snapshots swapped in since the last one, and those of a block whose
    values went stale; after a reload (Pages come or go) every Page."""
    monkeypatch.setattr(exposition, "BLOCK_PAGES", 2)
    clock = Clock()
    store = SnapshotStore()
    store.keep_only(tuple(snapshot(str(n), 0.0).page for n in range(1, 8)))
    store.put_many(snapshot(str(n), float(n)) for n in range(1, 8))
    renderer = StaticRenderer(store, lambda: REFRESH, clock)
    reference = CollectorRegistry()
    reference.register(InsightsCollector(store, lambda: REFRESH, clock))
    assert built(renderer, openmetrics=False) == generate_latest(reference)
    read: list[str] = []
    view = store.view
    monkeypatch.setattr(store, "view", lambda: (Reading(view()[0], read), view()[1]))
    store.put_many([snapshot("3", 30.0)])
    store.put_many([snapshot("6", 60.0), snapshot("3", 31.0)])
    assert built(renderer, openmetrics=False) == generate_latest(reference)
    assert sorted(read) == ["3", "6"] and renderer.rendered_pages == 2
    store.put_many([snapshot("5", 5.0, fetched_at=NOW - 2600)])  # stale in 100 s: Pages 5 and 6 are a block
    built(renderer, openmetrics=False)
    clock.now += 200
    read.clear()
    assert built(renderer, openmetrics=False) == generate_latest(reference)
    assert sorted(read) == ["5", "6"] and renderer.rendered_pages == 1
    store.keep_only(tuple(s.page for s in store.snapshots().values() if s.page.id != "1"))
    read.clear()
    assert built(renderer, openmetrics=False) == generate_latest(reference)
    assert sorted(read) == [str(n) for n in range(2, 8)] and renderer.rendered_pages == 6


class Reading(Mapping[str, PageSnapshot]):
    """The store's snapshots, noting which Pages a build reads."""

    def __init__(self, snapshots: Mapping[str, PageSnapshot], read: list[str]) -> None:
        self.snapshots = snapshots
        self.read = read

    def __getitem__(self, page_id: str) -> PageSnapshot:
        self.read.append(page_id)
        return self.snapshots[page_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.snapshots)

    def __len__(self) -> int:
        return len(self.snapshots)


def test_the_journal_of_changed_pages() -> None:
    store = SnapshotStore()
    first, second = snapshot("1", 1.0), snapshot("2", 2.0)
    store.keep_only((first.page, second.page))
    _, start = store.view()
    store.put_many([first])
    store.put_many([second, snapshot("1", 3.0)])
    mapping, now = store.view()
    assert mapping is store.snapshots() and now == start + 2
    assert store.changed_since(start, now) == {"1", "2"}
    assert store.changed_since(start + 1, now) == {"1", "2"}
    assert store.changed_since(start, start + 1) == {"1"}
    assert store.changed_since(now, now) == set()
    assert store.changed_since(start - 1, now) is None  # Pages came or went: keep_only
    store.keep_only((first.page,))
    assert store.changed_since(now, now + 1) is None


def test_the_journal_forgets_what_is_too_far_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots, "JOURNAL_LIMIT", 3)
    store = SnapshotStore()
    store.keep_only((snapshot("1", 1.0).page,))
    _, start = store.view()
    for value in range(4):
        store.put_many([snapshot("1", float(value))])
    assert store.changed_since(start, start + 4) is None
    assert store.changed_since(start + 1, start + 4) == {"1"}
    monkeypatch.setattr(snapshots, "JOURNAL_PAGES", 2)  # and Pages named: at most twice the Pages
    store.put_many([snapshot("1", 9.0)])
    assert store.changed_since(start + 3, start + 5) == {"1"}
    assert store.changed_since(start + 2, start + 5) is None


@pytest.mark.slow  # generated examples: seconds
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(st.sampled_from(["page", "business_use_case", "app"]),
                                   st.text("0123456789ab", max_size=3), st.integers(0, 100)),
                         min_size=1, max_size=12), min_size=1, max_size=6))
def test_usage_ratios_render_as_prometheus_client_does(rounds: list[list[tuple[str, str, int]]]) -> None:
    """Ratios recorded in any order, blocks of 2 series split as they grow: every build
    equals prometheus_client's rendering, in text and gzip."""
    blocks = usage.USAGE_BLOCK
    usage.USAGE_BLOCK = 2
    try:
        board = UsageBoard()
        renderer = StaticRenderer(SnapshotStore(), lambda: REFRESH, Clock(), sources=(board,))
        reference = CollectorRegistry()
        reference.register(Families(board))
        for reports in rounds:
            board.record([UsageReport(source, scope, {"call_count": percent}) for source, scope, percent in reports])
            assert built(renderer, openmetrics=False) == generate_latest(reference)
            assert built(renderer, openmetrics=False, compress=True) == generate_latest(reference)
    finally:
        usage.USAGE_BLOCK = blocks


def test_a_usage_build_joins_only_the_blocks_with_a_changed_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage, "USAGE_BLOCK", 4)
    board = UsageBoard()
    board.record([UsageReport("page", f"{n:03d}", {"call_count": 1.0}) for n in range(40)])
    before = [piece for _, piece in board.rendered()]
    board.record([UsageReport("page", "017", {"call_count": 2.0})])
    after = [piece for _, piece in board.rendered()]
    assert len(after) == len(before) > 5
    assert [a is b for a, b in zip(before, after, strict=True)].count(False) == 1
