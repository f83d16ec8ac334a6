"""The per-scrape part of /metrics: current values, the bytes prometheus_client writes, each
family rendered again only when it changed."""

from __future__ import annotations

import gzip
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as _openmetrics_latest
from prometheus_client.registry import Collector

from exporter.dynamic import DynamicPart
from exporter.redact import REDACTED, register_secret


def openmetrics_latest(registry: Collector) -> bytes:
    return _openmetrics_latest(registry)  # type: ignore[no-untyped-call,no-any-return]


def rendered(part: DynamicPart, *, openmetrics: bool, compress: bool = False) -> bytes:
    body = b"".join(part.chunks(openmetrics=openmetrics, compress=compress))
    return gzip.decompress(body) if compress else body


def assert_as_prometheus_client(part: DynamicPart, registry: Collector) -> None:
    """Every format of one scrape each, as prometheus_client renders the registry."""
    text, openmetrics = generate_latest(registry), openmetrics_latest(registry)
    assert rendered(part, openmetrics=False) == text
    assert rendered(part, openmetrics=True) == openmetrics
    assert rendered(part, openmetrics=False, compress=True) == text
    assert rendered(part, openmetrics=True, compress=True) == openmetrics


def registry_of_three() -> tuple[CollectorRegistry, Gauge, Counter]:
    registry = CollectorRegistry()
    gauge = Gauge("held_until", "Until when, \\ and\nnewline.", ["page_id"], registry=registry)
    counter = Counter("requests", 'Requests, "quoted".', ["outcome"], registry=registry)
    Gauge("build_info", "Build.", ["version"], registry=registry).labels("1.2").set(1)
    gauge.labels("1").set(1_800_000_000.0)
    counter.labels("success").inc(3)
    return registry, gauge, counter


def test_unchanged_families_are_not_rendered_again() -> None:
    registry, _, _ = registry_of_three()
    part = DynamicPart(registry)
    assert_as_prometheus_client(part, registry)
    assert part.rendered == 0  # the last of those scrapes found nothing changed
    first = part.chunks(openmetrics=False, compress=True)
    assert [a is b for a, b in zip(first, part.chunks(openmetrics=False, compress=True), strict=True)] == [True] * 3


def test_a_changed_value_is_in_the_next_scrape_and_only_its_family_rendered() -> None:
    registry, gauge, counter = registry_of_three()
    part = DynamicPart(registry)
    rendered(part, openmetrics=False)
    counter.labels("success").inc()
    assert b'requests_total{outcome="success"} 4.0' in rendered(part, openmetrics=False)
    assert part.rendered == 1
    assert_as_prometheus_client(part, registry)
    gauge.labels("2").set(5)  # a series more
    assert b'held_until{page_id="2"} 5.0' in rendered(part, openmetrics=True, compress=True)
    assert part.rendered == 1
    gauge.remove("1")  # and one fewer
    assert b'page_id="1"' not in rendered(part, openmetrics=False)
    assert_as_prometheus_client(part, registry)
    gauge.labels("2").set(-0.0)  # equal to 0.0, written otherwise
    assert b'held_until{page_id="2"} -0.0' in rendered(part, openmetrics=False)
    gauge.labels("2").set(0.0)
    assert b'held_until{page_id="2"} 0.0' in rendered(part, openmetrics=False)
    assert_as_prometheus_client(part, registry)


def test_families_come_and_go() -> None:
    registry, _, _ = registry_of_three()
    part = DynamicPart(registry)
    rendered(part, openmetrics=True)
    extra = Gauge("pages", "Pages.", registry=registry)
    extra.set(3)
    assert b"# TYPE pages gauge\npages 3.0\n# EOF\n" in rendered(part, openmetrics=True)
    assert part.rendered == 1
    assert_as_prometheus_client(part, registry)
    registry.unregister(extra)
    assert b"pages" not in rendered(part, openmetrics=False, compress=True)
    assert_as_prometheus_client(part, registry)


def test_a_secret_registered_later_is_scrubbed_from_unchanged_families() -> None:
    registry = CollectorRegistry()
    secret = "dynamic-part-secret-7fa3c1"
    Gauge("leaky", "Leaky.", ["where"], registry=registry).labels(f"url?{secret}").set(1)
    part = DynamicPart(registry)
    assert secret.encode() in rendered(part, openmetrics=False)  # not a secret yet
    register_secret(secret)
    for openmetrics in (False, True):
        for compress in (False, True):
            body = rendered(part, openmetrics=openmetrics, compress=compress)
            assert secret.encode() not in body and REDACTED.encode() in body


class Drawn(Collector):
    """Whatever families the test drew for this scrape."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        return self.families


VALUES = st.sampled_from([0.0, -0.0, 1, 1.0, 1e16, float("inf"), float("nan")])
TIMESTAMPS = st.sampled_from([None, None, None, 1, 1.0])  # 1 and 1.0 are equal but print apart


@st.composite
def family(draw: st.DrawFn, name: str) -> Metric:
    kind = draw(st.sampled_from(["gauge", "counter", "unknown"]))
    metric = Metric(name, draw(st.sampled_from(["Help.", 'Help "quoted" \\ and\nnewline.'])), kind)
    sample_name = f"{name}_total" if kind == "counter" else name
    for label in draw(st.lists(st.sampled_from(["a", 'q"b', "new\nline Ünï"]), unique=True, max_size=3)):
        metric.add_sample(sample_name, {"key": label}, draw(VALUES), draw(TIMESTAMPS))
    return metric


@st.composite
def next_family(draw: st.DrawFn, name: str, last: Metric | None) -> Metric:
    """The family as the next scrape collects it: the same object, an equal copy, one sample's
    value negated (0.0 and -0.0 are equal) or replaced, or its timestamp, or a new family."""
    action = draw(st.sampled_from(["same", "copy", "tweak", "tweak", "new"]))
    if last is None or action == "new" or not last.samples:
        return draw(family(name))
    if action == "same":
        return last
    copy = Metric(last.name, last.documentation, last.type, last.unit)
    copy.samples = list(last.samples)
    if action == "tweak":
        index = draw(st.integers(0, len(copy.samples) - 1))
        sample = copy.samples[index]
        change = draw(st.sampled_from(["negate", "value", "timestamp"]))
        if change == "negate":
            copy.samples[index] = sample._replace(value=-sample.value)
        elif change == "value":
            copy.samples[index] = sample._replace(value=draw(VALUES))
        else:
            copy.samples[index] = sample._replace(timestamp=draw(TIMESTAMPS))
    return copy


@pytest.mark.slow  # generated examples: seconds
@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["one", "two", "three"]), unique=True, max_size=3),
                min_size=1, max_size=8), st.data())
def test_any_sequence_of_scrapes_renders_as_prometheus_client_does(
    scrapes: list[list[str]], data: st.DataObject
) -> None:
    """Families added, removed, reordered, their values changed or kept, from scrape to scrape."""
    collector = Drawn()
    part = DynamicPart(collector)
    last: dict[str, Metric] = {}
    for names in scrapes:
        collector.families = [data.draw(next_family(name, last.get(name))) for name in names]
        last |= {metric.name: metric for metric in collector.families}
        openmetrics, compress = data.draw(st.booleans()), data.draw(st.booleans())
        reference = openmetrics_latest if openmetrics else generate_latest
        assert rendered(part, openmetrics=openmetrics, compress=compress) == reference(collector)
        assert_as_prometheus_client(part, collector)
