"""/metrics at the cost of a copy: the insights part is rendered when it changes, not per scrape.

Each Page's families are rendered to text once per snapshot (and again only when one of
its values goes stale). A background thread splices them into blocks of Pages, the one
copy of the text kept, and gzips the blocks that changed, at most once a second while
snapshots keep changing. A scrape takes the latest bodies and appends the small part that changes per
scrape (the exporter's own counters, process metrics), rendered by prometheus_client per
family, again only where it changed (exporter/dynamic.py). Concatenated gzip members are
one valid gzip stream (RFC 1952), so that part is compressed on its own.
"""

from __future__ import annotations

import gzip
import logging
import math
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Protocol, runtime_checkable

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from exporter.changes import Changes
from exporter.config import RefreshConfig
from exporter.dynamic import GZIP_LEVEL, DynamicPart
from exporter.heap import release_free_memory
from exporter.page_text import MEMO, FamilyHead, go_float, render_page
from exporter.redact import SCRUBBER, scrub
from exporter.snapshots import PageSnapshot, SnapshotStore

log = logging.getLogger(__name__)

MIN_REBUILD_SECONDS = 1.0
# A change is rendered by the scrape that sees it when a build takes less than this.
SYNC_REBUILD_SECONDS = 0.05
# A format nobody asked for in this long is no longer kept up to date.
FORMAT_INTEREST_SECONDS = 600.0


# Pages per block: a build copies only the blocks with a changed Page.
BLOCK_PAGES = 512
# Pages per gzip member of a family's lines: a build compresses only the runs with a changed
# Page. Smaller runs compress worse (deflate starts over at each member).
GZIP_PAGES = 128


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
    """One family's lines across a block's Pages, and how many bytes each Page's are."""

    head: FamilyHead
    lines: bytes
    lengths: array[int]  # per Page of the block, in order


@dataclass(frozen=True, slots=True)
class _Block:
    """Up to BLOCK_PAGES consecutive Pages: per family, their lines (the only copy kept) and,
    once a gzip client asked, those lines as one gzip member."""

    states: tuple[_PageState, ...]
    bodies: dict[str, _Body]
    # (family, first Page, Pages) -> gzip member of those Pages' lines: filled when first
    # needed, carried over to the next version of the block where none of its Pages changed.
    gzipped: dict[tuple[str, int, int], bytes]
    valid_until: float = math.inf  # when the first of its Pages' values goes stale
    heads: tuple[tuple[FamilyHead, ...], ...] = ()  # its Pages' distinct families, first seen first

    def gzip_members(self, name: str) -> list[bytes]:
        """The family's lines as gzip members of GZIP_PAGES Pages each (empty runs left out)."""
        body = self.bodies[name]
        lines = memoryview(body.lines)
        members = []
        offset = 0
        for start in range(0, len(body.lengths), GZIP_PAGES):
            size = sum(body.lengths[start:start + GZIP_PAGES])
            if size:
                key = (name, start, GZIP_PAGES)
                member = self.gzipped.get(key)
                if member is None:
                    member = self.gzipped[key] = gzip.compress(lines[offset:offset + size], GZIP_LEVEL, mtime=0)
                members.append(member)
            offset += size
        return members


@dataclass(frozen=True, slots=True)
class _Layout:
    pages: tuple[str, ...]
    blocks: tuple[_Block, ...]
    order: tuple[FamilyHead, ...]  # every family of the Pages, in order of first appearance
    index: Mapping[str, int] = field(default_factory=dict)  # each Page's position
    version: int = -1  # of the store's snapshots it was built from
    refresh: RefreshConfig | None = None
    generation: int = -1  # of the scrubber's secrets
    block_pages: int = 0


class FamilySource(Protocol):
    """Series that change now and then, not per scrape: rendered with the cached part."""

    changes: Changes

    def families(self) -> list[Metric]: ...


@runtime_checkable
class RenderedSource(FamilySource, Protocol):
    """A source that keeps its own exposition text up to date (many series, few changes)."""

    def rendered(self) -> list[tuple[FamilyHead, bytes]]: ...


@dataclass(frozen=True, slots=True)
class StaticBodies:
    """The cached part of /metrics as of one build: per family, its text and OpenMetrics
    headers and its sample lines in pieces (shared by both formats, never copied per
    scrape), and each format's gzip: one gzip member per header and per piece of lines,
    concatenated (RFC 1952: one valid gzip stream), so a build compresses only what changed."""

    families: tuple[tuple[bytes, bytes, tuple[bytes, ...]], ...]
    text_gzip: bytes | None
    openmetrics_gzip: bytes | None
    valid_until: float
    versions: tuple[int, ...] = ()  # of what it was built from

    def chunks(self, *, openmetrics: bool) -> list[bytes]:
        out: list[bytes] = []
        for text_header, openmetrics_header, pieces in self.families:
            out.append(openmetrics_header if openmetrics else text_header)
            out += pieces
        return out


def render_sample_lines(family: Metric) -> bytes:
    """Sample lines as prometheus_client writes them (labels sorted, Go float format); label
    values escaped and scrubbed once per distinct value. Usage ratios are one series per
    Page and kind, rendered again whenever an answer changes one."""
    MEMO.forget_if_stale()
    label = MEMO.label
    lines = []
    for sample in family.samples:
        labels = ",".join([f'{k}="{label(v)}"' for k, v in sorted(sample.labels.items())])
        braces = f"{{{labels}}}" if labels else ""
        lines.append(f"{sample.name}{braces} {go_float(sample.value)}\n")
    return "".join(lines).encode("utf-8")


def _header(head: FamilyHead, openmetrics: bool) -> bytes:
    return family_header(head.name, head.help, head.type, openmetrics=openmetrics)


def family_header(name: str, help_text: str, kind: str, *, openmetrics: bool) -> bytes:
    """The `# HELP` and `# TYPE` lines of a family, escaped for the format."""
    text = help_text.replace("\\", r"\\").replace("\n", r"\n")
    if openmetrics:
        text = text.replace('"', r"\"")
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n".encode()


class StaticRenderer:
    """Assembles every Page's rendered families, and those of the other cached sources.

    The Pages are kept in blocks of BLOCK_PAGES; each family's lines of a block are one
    bytes object, the only copy kept. A build renders only the Pages whose snapshot changed
    (or whose values went stale), splices their lines into their blocks (copying the runs of
    unchanged Pages in between), and leaves the other blocks as they are. When Pages come
    or go (a reload, a discovery), every Page is rendered again.
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
        self._layout = _Layout((), (), ())
        self._sources: dict[int, tuple[int, tuple[tuple[FamilyHead, bytes], ...]]] = {}
        self._headers: dict[tuple[FamilyHead, bool], tuple[bytes, bytes]] = {}  # header, its gzip
        # The sources' pieces of lines compressed so far, by id: kept while a source returns the same piece.
        self._members: dict[int, tuple[bytes, bytes]] = {}
        self.rendered_pages = 0  # Pages rendered by the last build

    def subscribe(self, listener: Callable[[], None]) -> None:
        self.store.changes.subscribe(listener)
        for source in self.sources:
            source.changes.subscribe(listener)

    def versions(self) -> tuple[int, ...]:
        return (self.store.changes.version, *(source.changes.version for source in self.sources))

    def build(self, *, text_gzip: bool, openmetrics_gzip: bool) -> StaticBodies:
        versions = self.versions()
        layout = self._layout = self._next_layout(self.clock(), self.refresh())
        sources = self._source_families()
        return StaticBodies(
            self._assemble(layout, sources),
            self._gzip(layout, sources, openmetrics=False) if text_gzip else None,
            self._gzip(layout, sources, openmetrics=True) if openmetrics_gzip else None,
            min((block.valid_until for block in layout.blocks), default=math.inf),
            versions,
        )

    def _next_layout(self, now: float, refresh: RefreshConfig) -> _Layout:
        """The layout of the store's current snapshots: only the Pages whose snapshot
        changed since the last build (or whose values went stale) are looked at, unless
        Pages came or went, the refresh settings or the scrubber's secrets changed."""
        old = self._layout
        snapshots, version = self.store.view()
        generation = SCRUBBER.generation
        some = self._candidates(old, version, refresh, generation, now)
        candidates: Sequence[int]
        if some is None:
            pages, size = tuple(snapshots), BLOCK_PAGES
            same_pages = pages == old.pages and size == old.block_pages
            index = old.index if same_pages else {page: n for n, page in enumerate(pages)}
            candidates = range(len(pages))
        else:
            candidates = some
            pages, size, same_pages, index = old.pages, old.block_pages, True, old.index
        fresh: dict[int, tuple[_PageState, dict[str, bytes]]] = {}
        for position in candidates:
            snapshot = snapshots[pages[position]]
            state = old.blocks[position // size].states[position % size] if same_pages else None
            if (state is None or state.snapshot is not snapshot or state.refresh != refresh
                    or state.generation != generation or now >= state.valid_until):
                text = render_page(snapshot, refresh, now)
                state = _PageState(snapshot, refresh, generation, text.valid_until, text.heads)
                fresh[position] = (state, dict(zip((head.name for head in text.heads), text.lines, strict=True)))
        self.rendered_pages = len(fresh)
        blocks = _blocks(old.blocks if same_pages else (), len(pages), size, fresh)
        return _Layout(pages, blocks, _family_order(blocks), index, version, refresh, generation, size)

    def _candidates(
        self, old: _Layout, version: int, refresh: RefreshConfig, generation: int, now: float
    ) -> list[int] | None:
        """Positions of the Pages that may need rendering again: those whose snapshot changed
        since the last build and those of blocks with values gone stale. None: every Page."""
        if old.refresh != refresh or old.generation != generation or old.block_pages != BLOCK_PAGES:
            return None
        changed = self.store.changed_since(old.version, version)
        if changed is None or not changed <= old.index.keys():
            return None
        positions = {old.index[page] for page in changed}
        size = old.block_pages
        for number, block in enumerate(old.blocks):
            if now >= block.valid_until:
                positions.update(range(number * size, number * size + len(block.states)))
        return sorted(positions)

    def _source_families(self) -> list[tuple[FamilyHead, bytes]]:
        families: list[tuple[FamilyHead, bytes]] = []
        for index, source in enumerate(self.sources):
            version = source.changes.version
            cached = self._sources.get(index)
            if cached is None or cached[0] != version:
                rendered = tuple(source.rendered()) if isinstance(source, RenderedSource) else tuple(
                    (FamilyHead(f.name, scrub(f.documentation), f.type), render_sample_lines(f))
                    for f in source.families()
                )
                cached = self._sources[index] = (version, rendered)
            families += cached[1]
        current = {id(lines) for _, lines in families}
        self._members = {key: member for key, member in self._members.items() if key in current}
        return families

    def _member(self, lines: bytes) -> bytes:
        """A source's piece of lines as a gzip member, compressed once per piece."""
        found = self._members.get(id(lines))
        if found is None or found[0] is not lines:
            found = self._members[id(lines)] = (lines, gzip.compress(lines, GZIP_LEVEL, mtime=0))
        return found[1]

    def _pieces(
        self, layout: _Layout, sources: list[tuple[FamilyHead, bytes]]
    ) -> Iterator[tuple[FamilyHead, list[tuple[_Block, str] | bytes]]]:
        """Per family name, in order of first appearance: its head, and its pieces of lines
        (a block's, or a source family's) in order; families without lines left out."""
        order: dict[str, tuple[FamilyHead, list[tuple[_Block, str] | bytes]]] = {}
        for head in layout.order:
            pieces: list[tuple[_Block, str] | bytes] = [
                (block, head.name) for block in layout.blocks if head.name in block.bodies]
            order[head.name] = (head, pieces)
        for head, lines in sources:
            if lines:
                order.setdefault(head.name, (head, []))[1].append(lines)
        return ((head, pieces) for head, pieces in order.values() if pieces)

    def _assemble(
        self, layout: _Layout, sources: list[tuple[FamilyHead, bytes]]
    ) -> tuple[tuple[bytes, bytes, tuple[bytes, ...]], ...]:
        return tuple(
            (self._header(head, openmetrics=False)[0], self._header(head, openmetrics=True)[0],
             tuple(p if isinstance(p, bytes) else p[0].bodies[p[1]].lines for p in pieces))
            for head, pieces in self._pieces(layout, sources)
        )

    def _gzip(self, layout: _Layout, sources: list[tuple[FamilyHead, bytes]], *, openmetrics: bool) -> bytes:
        members: list[bytes] = []
        for head, pieces in self._pieces(layout, sources):
            members.append(self._header(head, openmetrics)[1])
            for piece in pieces:
                if isinstance(piece, bytes):
                    members.append(self._member(piece))
                else:
                    members += piece[0].gzip_members(piece[1])
        return b"".join(members)

    def _header(self, head: FamilyHead, openmetrics: bool) -> tuple[bytes, bytes]:
        found = self._headers.get((head, openmetrics))
        if found is None:
            if len(self._headers) > 4096:
                self._headers.clear()
            text = _header(head, openmetrics)
            found = self._headers[(head, openmetrics)] = (text, gzip.compress(text, GZIP_LEVEL, mtime=0))
        return found


def _blocks(
    old: Sequence[_Block], count: int, size: int, fresh: dict[int, tuple[_PageState, dict[str, bytes]]]
) -> tuple[_Block, ...]:
    """The blocks of `count` Pages: the old ones where no Page is fresh (every Page is when
    there are no old blocks), the others with the fresh Pages' lines spliced in."""
    by_block: dict[int, dict[int, tuple[_PageState, dict[str, bytes]]]] = {}
    for position, item in fresh.items():
        by_block.setdefault(position // size, {})[position % size] = item
    blocks = []
    for number in range(-(-count // size)):
        previous = old[number] if old else None
        changed = by_block.get(number)
        blocks.append(previous if previous is not None and not changed else _block(previous, changed or {}))
    return tuple(blocks)


def _block(previous: _Block | None, changed: dict[int, tuple[_PageState, dict[str, bytes]]]) -> _Block:
    """A block with the changed Pages' lines spliced into the previous one's (without one,
    every Page of the block is changed)."""
    states: list[_PageState] = list(previous.states) if previous is not None else []
    for offset in sorted(changed):  # every offset when there is no previous block: in order
        if previous is not None:
            states[offset] = changed[offset][0]
        else:
            states.append(changed[offset][0])
    lines = {offset: item[1] for offset, item in changed.items()}
    heads = _distinct_heads(states)
    bodies = {head.name: _splice(head, previous.bodies.get(head.name) if previous else None, len(states), lines)
              for head in _family_order_of(heads)}
    runs = {offset - offset % GZIP_PAGES for offset in changed}  # the first Page of each changed run
    kept = {key: member for key, member in previous.gzipped.items()
            if key[2] == GZIP_PAGES and key[1] not in runs} if previous is not None else {}
    return _Block(tuple(states), {k: v for k, v in bodies.items() if v.lines}, kept,
                  min((state.valid_until for state in states), default=math.inf), heads)


def _distinct_heads(states: Sequence[_PageState]) -> tuple[tuple[FamilyHead, ...], ...]:
    """The Pages' tuples of families, each once, in order of first appearance."""
    seen: dict[int, tuple[FamilyHead, ...]] = {}
    for state in states:
        seen.setdefault(id(state.heads), state.heads)
    return tuple(seen.values())


def _family_order_of(heads: Iterable[tuple[FamilyHead, ...]]) -> list[FamilyHead]:
    order: dict[str, FamilyHead] = {}
    for page_heads in heads:
        for head in page_heads:
            order.setdefault(head.name, head)
    return list(order.values())


def _family_order(blocks: Sequence[_Block]) -> tuple[FamilyHead, ...]:
    """Every family name in order of first appearance (prometheus_client's merge order)."""
    return tuple(_family_order_of(heads for block in blocks for heads in block.heads))


def _splice(head: FamilyHead, old: _Body | None, count: int, fresh: dict[int, dict[str, bytes]]) -> _Body:
    """A family's new lines in a block: the fresh Pages' lines, and the runs of Pages
    between them copied from the block's old lines (a Page without fresh lines has some)."""
    old_lines = memoryview(old.lines if old is not None else b"")
    lengths = array("Q", old.lengths) if old is not None else array("Q", bytes(8 * count))
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


class ExpositionCache:
    """Serves /metrics bodies; rebuilds the cached part in the background when it changes."""

    def __init__(
        self,
        renderer: StaticRenderer,
        dynamic: CollectorRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.renderer = renderer
        self.dynamic = DynamicPart(dynamic)
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
        dynamic = self.dynamic.chunks(openmetrics=openmetrics, compress=compress)
        if not compress:
            return [*static.chunks(openmetrics=openmetrics), *dynamic]
        head = static.openmetrics_gzip if openmetrics else static.text_gzip
        assert head is not None
        return [head, *dynamic]

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
        self._bodies = bodies  # the last build's blocks that changed are free from here
        if self.renderer.rendered_pages:
            release_free_memory()
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
            self._stop.wait(self._pause())

    def _pause(self) -> float:
        """Seconds to wait after a build before the next one.

        While changes keep coming, rebuild at most once a second, and spend at most a fifth
        of the time rebuilding when a build is expensive (many Pages)."""
        return max(MIN_REBUILD_SECONDS, 4 * self._last_build_seconds)
