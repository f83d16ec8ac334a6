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
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as text_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.utils import floatToGoString

from exporter.changes import Changes
from exporter.config import RefreshConfig
from exporter.page_text import FamilyHead, render_page
from exporter.redact import SCRUBBER, scrub
from exporter.snapshots import PageSnapshot, SnapshotStore

log = logging.getLogger(__name__)

MIN_REBUILD_SECONDS = 1.0
# A change is rendered by the scrape that sees it when a build takes less than this.
SYNC_REBUILD_SECONDS = 0.05
GZIP_LEVEL = 6
# A format nobody asked for in this long is no longer kept up to date.
FORMAT_INTEREST_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class _PageState:
    """What a Page's lines in the assembled bodies were rendered from."""

    snapshot: PageSnapshot
    refresh: RefreshConfig
    generation: int  # of the scrubber's secrets
    valid_until: float
    heads: tuple[FamilyHead, ...]


@dataclass(frozen=True, slots=True)
class _Body:
    """One family's lines across every Page, and how many bytes each Page's are."""

    head: FamilyHead
    lines: bytes
    lengths: array[int]  # per Page, in the order of _Layout.pages


@dataclass(frozen=True, slots=True)
class _Layout:
    pages: tuple[str, ...]
    states: tuple[_PageState, ...]
    bodies: dict[str, _Body]


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


def _header(head: FamilyHead, openmetrics: bool) -> bytes:
    text = head.help.replace("\\", r"\\").replace("\n", r"\n")
    if openmetrics:
        text = text.replace('"', r"\"")
    return f"# HELP {head.name} {text}\n# TYPE {head.name} {head.type}\n".encode()


class StaticRenderer:
    """Assembles every Page's rendered families, and those of the other cached sources.

    Each family's lines across all Pages are kept once, as one bytes object (what a scrape
    sends). A build renders only the Pages whose snapshot changed (or whose values went
    stale) and splices their lines in; the runs of Pages in between are copied over whole.
    """

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
        self._layout = _Layout((), (), {})
        self._sources: dict[int, tuple[int, tuple[tuple[FamilyHead, bytes], ...]]] = {}
        self.rendered_pages = 0  # Pages rendered by the last build

    def subscribe(self, listener: Callable[[], None]) -> None:
        self.store.changes.subscribe(listener)
        for source in self.sources:
            source.changes.subscribe(listener)

    def versions(self) -> tuple[int, ...]:
        return (self.store.changes.version, *(source.changes.version for source in self.sources))

    def build(self, *, text_gzip: bool, openmetrics_gzip: bool) -> StaticBodies:
        versions = self.versions()
        layout = self._next_layout(self.clock(), self.refresh())
        self._layout = layout
        families = [(body.head, body.lines) for body in layout.bodies.values()]
        families += self._source_families()
        assembled = _assemble(families)
        return StaticBodies(
            assembled,
            _gzip(_gzip_pairs(assembled, openmetrics=False)) if text_gzip else None,
            _gzip(_gzip_pairs(assembled, openmetrics=True)) if openmetrics_gzip else None,
            min((state.valid_until for state in layout.states), default=math.inf),
            versions,
        )

    def _next_layout(self, now: float, refresh: RefreshConfig) -> _Layout:
        old = self._layout
        snapshots = self.store.snapshots()
        pages = tuple(snapshots)
        same_pages = pages == old.pages
        old_index = {} if same_pages else {page_id: at for at, page_id in enumerate(old.pages)}
        generation = SCRUBBER.generation
        states: list[_PageState] = []
        fresh: dict[int, dict[str, bytes]] = {}
        for position, snapshot in enumerate(snapshots.values()):
            at = position if same_pages else old_index.get(pages[position])
            state = old.states[at] if at is not None else None
            if (state is None or state.snapshot is not snapshot or state.refresh != refresh
                    or state.generation != generation or now >= state.valid_until):
                text = render_page(snapshot, refresh, now)
                state = _PageState(snapshot, refresh, generation, text.valid_until, text.heads)
                fresh[position] = dict(zip((head.name for head in text.heads), text.lines, strict=True))
            states.append(state)
        self.rendered_pages = len(fresh)
        if same_pages:
            bodies = {head.name: _splice_in_place(head, old.bodies.get(head.name), len(pages), fresh)
                      for head in _family_order(states)}
        else:
            kept = [old_index.get(page_id) for page_id in pages]
            bodies = {head.name: _splice(head, old.bodies.get(head.name), kept, fresh)
                      for head in _family_order(states)}
        return _Layout(pages, tuple(states), bodies)

    def _source_families(self) -> list[tuple[FamilyHead, bytes]]:
        families: list[tuple[FamilyHead, bytes]] = []
        for index, source in enumerate(self.sources):
            version = source.changes.version
            cached = self._sources.get(index)
            if cached is None or cached[0] != version:
                rendered = tuple(
                    (FamilyHead(f.name, scrub(f.documentation), f.type), render_sample_lines(f))
                    for f in source.families()
                )
                cached = self._sources[index] = (version, rendered)
            families += cached[1]
        return families


def _family_order(states: Sequence[_PageState]) -> list[FamilyHead]:
    """Every family name in order of first appearance (prometheus_client's merge order)."""
    order: dict[str, FamilyHead] = {}
    seen: set[int] = set()
    for state in states:
        if id(state.heads) not in seen:
            seen.add(id(state.heads))
            for head in state.heads:
                order.setdefault(head.name, head)
    return list(order.values())


def _zeros(count: int) -> array[int]:
    return array("Q", bytes(8 * count))


def _splice_in_place(head: FamilyHead, old: _Body | None, count: int, fresh: dict[int, dict[str, bytes]]) -> _Body:
    """The family's new lines when the Pages are those of the last build, in its order:
    the fresh Pages' lines, and the runs of Pages between them copied from the old body."""
    old_lines = memoryview(old.lines if old is not None else b"")
    lengths = array("Q", old.lengths) if old is not None else _zeros(count)
    offsets = list(accumulate(lengths, initial=0))
    parts: list[bytes | memoryview] = []
    resume = 0  # the first Page not yet copied
    for position in sorted(fresh):
        if offsets[position] > offsets[resume]:
            parts.append(old_lines[offsets[resume]:offsets[position]])
        chunk = fresh[position].get(head.name, b"")
        parts.append(chunk)
        lengths[position] = len(chunk)
        resume = position + 1
    if offsets[count] > offsets[resume]:
        parts.append(old_lines[offsets[resume]:])
    return _Body(head, b"".join(parts), lengths)


def _splice(
    head: FamilyHead, old: _Body | None, kept: Sequence[int | None], fresh: dict[int, dict[str, bytes]]
) -> _Body:
    """The family's new lines when Pages came or went: each Page's fresh lines, or its old
    ones (`kept[i]`: Page i's position in the old layout; a Page without fresh lines has one)."""
    old_lines = memoryview(old.lines if old is not None else b"")
    offsets = list(accumulate(old.lengths, initial=0)) if old is not None else None
    lengths = _zeros(len(kept))
    parts: list[bytes | memoryview] = []
    for position, at in enumerate(kept):
        lines = fresh.get(position)
        if lines is not None:
            chunk: bytes | memoryview = lines.get(head.name, b"")
        elif at is not None and offsets is not None:
            chunk = old_lines[offsets[at]:offsets[at + 1]]
        else:
            continue
        parts.append(chunk)
        lengths[position] = len(chunk)
    return _Body(head, b"".join(parts), lengths)


def _assemble(families: Iterable[tuple[FamilyHead, bytes]]) -> tuple[tuple[bytes, bytes, bytes], ...]:
    """One entry per family name, in order of first appearance: headers and all its lines."""
    order: dict[str, FamilyHead] = {}
    parts: dict[str, list[bytes]] = {}
    for head, lines in families:
        if not lines:
            continue
        if head.name not in order:
            order[head.name] = head
            parts[head.name] = []
        parts[head.name].append(lines)
    return tuple(
        (_header(head, openmetrics=False), _header(head, openmetrics=True),
         parts[name][0] if len(parts[name]) == 1 else b"".join(parts[name]))
        for name, head in order.items()
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
