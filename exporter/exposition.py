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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as text_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.utils import floatToGoString

from exporter.collector import page_families
from exporter.config import RefreshConfig
from exporter.redact import scrub
from exporter.snapshots import PageSnapshot, SnapshotStore

log = logging.getLogger(__name__)

MIN_REBUILD_SECONDS = 1.0
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


@dataclass(frozen=True, slots=True)
class StaticBodies:
    """The insights part of /metrics in both formats, as of one build."""

    text: bytes
    openmetrics: bytes  # without the closing "# EOF"
    text_gzip: bytes | None
    openmetrics_gzip: bytes | None
    version: int
    valid_until: float


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
    """Assembles every Page's rendered families into the two bodies."""

    def __init__(
        self,
        store: SnapshotStore,
        refresh: Callable[[], RefreshConfig],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.refresh = refresh
        self.clock = clock
        self._pages: dict[str, _PageRender] = {}

    def build(self, *, text_gzip: bool, openmetrics_gzip: bool) -> StaticBodies:
        version = self.store.version
        now = self.clock()
        refresh = self.refresh()
        snapshots = self.store.snapshots()
        renders: dict[str, _PageRender] = {}
        for page_id, snapshot in snapshots.items():
            cached = self._pages.get(page_id)
            if (cached is None or cached.snapshot is not snapshot or cached.refresh != refresh
                    or now >= cached.valid_until):
                cached = render_page(snapshot, refresh, now)
            renders[page_id] = cached
        self._pages = renders
        text, openmetrics = _assemble(renders.values())
        return StaticBodies(
            text,
            openmetrics,
            gzip.compress(text, GZIP_LEVEL) if text_gzip else None,
            gzip.compress(openmetrics, GZIP_LEVEL) if openmetrics_gzip else None,
            version,
            min((r.valid_until for r in renders.values()), default=math.inf),
        )


def _assemble(renders: Iterable[_PageRender]) -> tuple[bytes, bytes]:
    order: dict[str, _Family] = {}
    parts: dict[str, list[bytes]] = {}
    for render in renders:
        for family in render.families:
            if not family.lines:
                continue
            if family.name not in order:
                order[family.name] = family
                parts[family.name] = []
            parts[family.name].append(family.lines)
    text: list[bytes] = []
    openmetrics: list[bytes] = []
    for name, family in order.items():
        body = b"".join(parts[name])
        text += (_header(family, openmetrics=False), body)
        openmetrics += (_header(family, openmetrics=True), body)
    return b"".join(text), b"".join(openmetrics)


class ExpositionCache:
    """Serves /metrics bodies; rebuilds the insights part in the background when it changes."""

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
        self._thread: threading.Thread | None = None
        renderer.store.subscribe(self._wake.set)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="exposition", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def body(self, *, openmetrics: bool, compress: bool) -> bytes:
        """The whole /metrics body in the format asked for."""
        static = self._static(openmetrics=openmetrics, compress=compress)
        latest = openmetrics_latest if openmetrics else text_latest
        dynamic = scrub(latest(self.dynamic).decode("utf-8")).encode("utf-8")
        if not compress:
            return (static.openmetrics if openmetrics else static.text) + dynamic
        head = static.openmetrics_gzip if openmetrics else static.text_gzip
        assert head is not None
        return head + gzip.compress(dynamic, GZIP_LEVEL)

    def _static(self, *, openmetrics: bool, compress: bool) -> StaticBodies:
        key = "openmetrics_gzip" if openmetrics else "text_gzip"
        if compress:
            self._wanted_at[key] = self.clock()
        bodies = self._bodies
        missing = bodies is None or (compress and getattr(bodies, key) is None)
        if missing:
            # The first scrape of a format builds it; afterwards the background thread does.
            with self._build_lock:
                bodies = self._bodies
                if bodies is None or (compress and getattr(bodies, key) is None):
                    bodies = self._rebuild()
        assert bodies is not None
        return bodies

    def _rebuild(self) -> StaticBodies:
        now = self.clock()
        wanted = {k: now - at < FORMAT_INTEREST_SECONDS for k, at in self._wanted_at.items()}
        bodies = self.renderer.build(**wanted)
        self._bodies = bodies
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
            started = time.monotonic()
            try:
                with self._build_lock:
                    self._rebuild()
            except Exception:
                log.exception("rendering the insights exposition failed")
            # While refreshes keep arriving, rebuild at most once per MIN_REBUILD_SECONDS.
            self._stop.wait(max(0.0, MIN_REBUILD_SECONDS - (time.monotonic() - started)))
