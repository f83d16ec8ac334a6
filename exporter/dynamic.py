"""The part of /metrics collected at every scrape: rendered again only where it changed.

Every scrape collects the registry (its values stay current), but a family whose samples
equal those of the last scrape is not rendered, scrubbed or gzipped again: its bytes are
kept per format. Most of the exporter's own families (build info, holds, reload times)
change seldom, and rendering them with prometheus_client took milliseconds per scrape
with the GIL held. Each family goes through prometheus_client's own generate_latest, so
the bytes are the ones it writes for the whole registry, one family after another.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import generate_latest as text_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector

from exporter.redact import SCRUBBER, scrub

GZIP_LEVEL = 6
EOF = b"# EOF\n"
EOF_GZIP = gzip.compress(EOF, GZIP_LEVEL, mtime=0)

Key = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class _Family:
    """One family's bytes as rendered from `key`; gzip members made when first asked for."""

    key: Key
    text: bytes
    openmetrics: bytes
    gzipped: dict[bool, bytes] = field(default_factory=dict)  # by openmetrics

    def member(self, *, openmetrics: bool) -> bytes:
        found = self.gzipped.get(openmetrics)
        if found is None:
            found = self.gzipped[openmetrics] = gzip.compress(
                self.openmetrics if openmetrics else self.text, GZIP_LEVEL, mtime=0)
        return found


class _One(Collector):
    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> Iterable[Metric]:
        return (self.family,)


class DynamicPart:
    """The registry's exposition, per family rendered only when its samples changed (or the
    scrubber's secrets did). Safe to call from many scraping threads at once."""

    def __init__(self, registry: Collector) -> None:
        self.registry = registry
        self._families: dict[str, _Family] = {}  # by name, as of the last scrape
        self.rendered = 0  # families rendered by the last scrape

    def chunks(self, *, openmetrics: bool, compress: bool) -> list[bytes]:
        """The body of the registry's families, in order: OpenMetrics ends in `# EOF`; with
        `compress`, one gzip member per family (RFC 1952: one valid stream when concatenated)."""
        families = self._current()
        if compress:
            out = [family.member(openmetrics=openmetrics) for family in families]
            return [*out, EOF_GZIP] if openmetrics else out
        out = [family.openmetrics if openmetrics else family.text for family in families]
        return [*out, EOF] if openmetrics else out

    def _current(self) -> list[_Family]:
        generation = SCRUBBER.generation
        previous = self._families
        current: dict[str, _Family] = {}
        families: list[_Family] = []
        rendered = 0
        for metric in self.registry.collect():
            key = _key(metric, generation)
            family = previous.get(metric.name)
            if family is None or key is None or family.key != key:
                family = _render(metric, key)
                rendered += 1
            current[metric.name] = family
            families.append(family)
        # Concurrent scrapes may both render a change; the last one's families are kept.
        self._families = current
        self.rendered = rendered
        return families


def _key(metric: Metric, generation: int) -> Key | None:
    """What the family's bytes depend on, to compare with the last scrape's; None when it
    is rendered every time (samples with timestamps, exemplars or native histograms,
    whose equal values may print differently: 1 and 1.0)."""
    samples = tuple(metric.samples)
    negative_zeros = []
    for index, sample in enumerate(samples):
        if sample.timestamp is not None or sample.exemplar is not None or sample.native_histogram is not None:
            return None
        if sample.value == 0 and math.copysign(1.0, sample.value) < 0:
            negative_zeros.append(index)  # -0.0 equals 0.0 but prints as -0.0
    return (generation, metric.name, metric.documentation, metric.type, metric.unit, samples,
            tuple(negative_zeros))


def _render(metric: Metric, key: Key | None) -> _Family:
    one = _One(metric)
    text = text_latest(one)
    openmetrics: bytes = openmetrics_latest(one)  # type: ignore[no-untyped-call]
    return _Family(key or (), _scrubbed(text), _scrubbed(openmetrics.removesuffix(EOF)))


def _scrubbed(rendered: bytes) -> bytes:
    return scrub(rendered.decode("utf-8")).encode("utf-8")
