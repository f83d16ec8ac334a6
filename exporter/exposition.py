"""/metrics at the cost of a copy: the insights part is rendered when it changes, not per scrape.

Each Page's families are rendered to text once per snapshot (and again only when one of
its values goes stale). A background thread assembles the Pages' fragments into the
text and OpenMetrics bodies, and their gzip, at most once a second while snapshots keep
changing. A scrape takes the latest bodies and appends the small part that changes per
scrape (the exporter's own counters, process metrics), rendered by prometheus_client.
Concatenated gzip members are one valid gzip stream (RFC 1952), so that part is
compressed on its own.
"""

from __future__ import annotations

import gzip
import logging
import math
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as text_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.utils import floatToGoString

from exporter.changes import Changes
from exporter.collector import page_families
from exporter.config import RefreshConfig
from exporter.redact import scrub
from exporter.snapshots import PageSnapshot, SnapshotStore

log = logging.getLogger(__name__)

MIN_REBUILD_SECONDS = 1.0
# A change is rendered by the scrape that sees it when a build takes less than this.
SYNC_REBUILD_SECONDS = 0.05
GZIP_LEVEL = 6
# A format nobody asked for in this long is no longer kept up to date.
FORMAT_INTEREST_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    help: str
    type: str
    lines: bytes


@dataclass(frozen=True, slots=True)
class _PageRender:
    snapshot: PageSnapshot
    refresh: RefreshConfig
    valid_until: float
    families: tuple[_Family, ...]


class FamilySource(Protocol):
    """Series that change now and then, not per scrape: rendered with the cached part."""

    changes: Changes

    def families(self) -> list[Metric]: ...


@dataclass(frozen=True, slots=True)
class StaticBodies:
    """The cached part of /metrics as of one build: per family, its text and OpenMetrics
    headers and its sample lines (shared by both formats), and each format's gzip."""

    families: tuple[tuple[bytes, bytes, bytes], ...]
    text_gzip: bytes | None
    openmetrics_gzip: bytes | None
    valid_until: float
    versions: tuple[int, ...] = ()  # of what it was built from

    def chunks(self, *, openmetrics: bool) -> list[bytes]:
        out: list[bytes] = []
        for text_header, openmetrics_header, lines in self.families:
            out += (openmetrics_header if openmetrics else text_header, lines)
        return out


def render_sample_lines(family: Metric) -> bytes:
    """Sample lines as prometheus_client writes them (labels sorted, Go float format)."""
    lines = []
    for sample in family.samples:
        labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(sample.labels.items()))
        braces = f"{{{labels}}}" if labels else ""
        lines.append(f"{sample.name}{braces} {floatToGoString(sample.value)}\n")  # type: ignore[no-untyped-call]
    return scrub("".join(lines)).encode("utf-8")


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _header(family: _Family, openmetrics: bool) -> bytes:
    text = family.help.replace("\\", r"\\").replace("\n", r"\n")
    if openmetrics:
        text = text.replace('"', r"\"")
    return f"# HELP {family.name} {text}\n# TYPE {family.name} {family.type}\n".encode()


def render_page(snapshot: PageSnapshot, refresh: RefreshConfig, now: float) -> _PageRender:
    families = tuple(
        _Family(f.name, scrub(f.documentation), f.type, render_sample_lines(f))
        for f in page_families(snapshot, refresh, now)
    )
    expiries = [r.fetched_at + refresh.stale_after for r in snapshot.fresh_results(now, refresh.stale_after)]
    return _PageRender(snapshot, refresh, min(expiries, default=math.inf), families)


class StaticRenderer:
    """Assembles every Page's rendered families, and those of the other cached sources."""

    def __init__(
        self,
        store: SnapshotStore,
        refresh: Callable[[], RefreshConfig],
        clock: Callable[[], float] = time.time,
        sources: Sequence[FamilySource] = (),
    ) -> None:
        self.store = store
        self.refresh = refresh
        self.clock = clock
        self.sources = tuple(sources)
        self._pages: dict[str, _PageRender] = {}
        self._sources: dict[int, tuple[int, tuple[_Family, ...]]] = {}

    def subscribe(self, listener: Callable[[], None]) -> None:
        self.store.changes.subscribe(listener)
        for source in self.sources:
            source.changes.subscribe(listener)

    def versions(self) -> tuple[int, ...]:
        return (self.store.changes.version, *(source.changes.version for source in self.sources))

    def build(self, *, text_gzip: bool, openmetrics_gzip: bool) -> StaticBodies:
        versions = self.versions()
        now = self.clock()
        refresh = self.refresh()
        renders: dict[str, _PageRender] = {}
        for page_id, snapshot in self.store.snapshots().items():
            cached = self._pages.get(page_id)
            if (cached is None or cached.snapshot is not snapshot or cached.refresh != refresh
                    or now >= cached.valid_until):
                cached = render_page(snapshot, refresh, now)
            renders[page_id] = cached
        self._pages = renders
        families = [family for render in renders.values() for family in render.families]
        for index, source in enumerate(self.sources):
            version = source.changes.version
            cached_source = self._sources.get(index)
            if cached_source is None or cached_source[0] != version:
                rendered = tuple(_family_of(f) for f in source.families())
                cached_source = self._sources[index] = (version, rendered)
            families += cached_source[1]
        assembled = _assemble(families)
        return StaticBodies(
            assembled,
            _gzip(_gzip_pairs(assembled, openmetrics=False)) if text_gzip else None,
            _gzip(_gzip_pairs(assembled, openmetrics=True)) if openmetrics_gzip else None,
            min((r.valid_until for r in renders.values()), default=math.inf),
            versions,
        )


def _family_of(metric: Metric) -> _Family:
    return _Family(metric.name, scrub(metric.documentation), metric.type, render_sample_lines(metric))


def _assemble(families: Iterable[_Family]) -> tuple[tuple[bytes, bytes, bytes], ...]:
    """One entry per family name, in order of first appearance: headers and all its lines."""
    order: dict[str, _Family] = {}
    parts: dict[str, list[bytes]] = {}
    for family in families:
        if not family.lines:
            continue
        if family.name not in order:
            order[family.name] = family
            parts[family.name] = []
        parts[family.name].append(family.lines)
    return tuple(
        (_header(family, openmetrics=False), _header(family, openmetrics=True), b"".join(parts[name]))
        for name, family in order.items()
    )


def _gzip_pairs(assembled: tuple[tuple[bytes, bytes, bytes], ...], openmetrics: bool) -> Iterator[bytes]:
    for text_header, openmetrics_header, lines in assembled:
        yield openmetrics_header if openmetrics else text_header
        yield lines


def _gzip(chunks: Iterable[bytes]) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join([*(compressor.compress(c) for c in chunks), compressor.flush()])


class ExpositionCache:
    """Serves /metrics bodies; rebuilds the cached part in the background when it changes."""

    def __init__(
        self,
        renderer: StaticRenderer,
        dynamic: CollectorRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.renderer = renderer
        self.dynamic = dynamic
        self.clock = clock
        self._bodies: StaticBodies | None = None
        self._build_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._wanted_at = {"text_gzip": 0.0, "openmetrics_gzip": 0.0}
        self._last_build_seconds = 0.0
        renderer.subscribe(self._wake.set)

    def start(self) -> None:
        threading.Thread(target=self._loop, name="exposition", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def body(self, *, openmetrics: bool, compress: bool) -> list[bytes]:
        """The whole /metrics body in the format asked for, as chunks to send in order.

        The cached part is sent as it is, never copied per scrape.
        """
        static = self._static(openmetrics=openmetrics, compress=compress)
        latest = openmetrics_latest if openmetrics else text_latest
        dynamic = scrub(latest(self.dynamic).decode("utf-8")).encode("utf-8")
        if not compress:
            return [*static.chunks(openmetrics=openmetrics), dynamic]
        head = static.openmetrics_gzip if openmetrics else static.text_gzip
        assert head is not None
        return [head, gzip.compress(dynamic, GZIP_LEVEL)]

    def _static(self, *, openmetrics: bool, compress: bool) -> StaticBodies:
        key = "openmetrics_gzip" if openmetrics else "text_gzip"
        if compress:
            self._wanted_at[key] = self.clock()
        bodies = self._bodies
        if bodies is None or (compress and getattr(bodies, key) is None):
            # The first scrape of a format builds it; afterwards the background thread does.
            with self._build_lock:
                bodies = self._bodies
                if bodies is None or (compress and getattr(bodies, key) is None):
                    bodies = self._rebuild()
        elif (bodies.versions != self.renderer.versions()
              and self._last_build_seconds < SYNC_REBUILD_SECONDS
              and self._build_lock.acquire(blocking=False)):
            # Small enough to be fresh at every scrape: no waiting for the background thread.
            try:
                bodies = self._rebuild()
            finally:
                self._build_lock.release()
        return bodies

    def _rebuild(self) -> StaticBodies:
        started = time.monotonic()
        now = self.clock()
        wanted = {k: now - at < FORMAT_INTEREST_SECONDS for k, at in self._wanted_at.items()}
        bodies = self.renderer.build(**wanted)
        self._bodies = bodies
        self._last_build_seconds = time.monotonic() - started
        return bodies

    def _loop(self) -> None:
        while not self._stop.is_set():
            bodies = self._bodies
            timeout = None
            if bodies is not None and bodies.valid_until != math.inf:
                timeout = max(0.0, bodies.valid_until - self.clock())
            self._wake.wait(timeout)
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                with self._build_lock:
                    self._rebuild()
            except Exception:
                log.exception("rendering the cached part of /metrics failed")
            # While changes keep coming, rebuild at most once a second, and spend at most
            # a fifth of the time rebuilding when a build is expensive (many Pages).
            self._stop.wait(max(MIN_REBUILD_SECONDS, 4 * self._last_build_seconds))
