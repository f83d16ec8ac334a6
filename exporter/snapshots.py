"""Immutable per-Page snapshots, swapped in whole by refreshes and read by scrapes.

A refresh builds a new PageSnapshot and stores it with one assignment; a scrape takes
the current mapping and reads it. Neither waits for the other, and a scrape never sees
half a refresh.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from exporter.changes import Changes
from exporter.config import MetricSpec, PageConfig
from exporter.insights_response import MetricData

# Changes remembered for changed_since(), and Pages named in them at most (beyond twice the
# Pages): a reader further behind passes over every Page.
JOURNAL_LIMIT = 4096
JOURNAL_PAGES = 1024


@dataclass(frozen=True, slots=True)
class MetricResult:
    """The values of one configured metric entry, as fetched at `fetched_at`."""

    spec: MetricSpec
    fetched_at: float
    data: MetricData | None  # None: the API answered, with no data


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: str
    message: str
    at: float


@dataclass(frozen=True, slots=True)
class PageSnapshot:
    page: PageConfig
    results: tuple[MetricResult, ...] = ()
    attempted: bool = False
    up: bool = False
    last_success: float | None = None
    refresh_duration: float | None = None
    last_error: ErrorInfo | None = None
    # Metric name -> when the API rejected it; such metrics are not asked for again for a while.
    rejected: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def fresh_results(self, now: float, stale_after: float) -> tuple[MetricResult, ...]:
        return tuple(r for r in self.results if now - r.fetched_at <= stale_after)


class SnapshotStore:
    """The current snapshot of every configured Page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: Mapping[str, PageSnapshot] = MappingProxyType({})
        self.changes = Changes()
        # (version, the Pages whose snapshot that change replaced; None: the set of Pages changed)
        self._journal: deque[tuple[int, tuple[str, ...] | None]] = deque()
        self._journal_pages = 0  # Pages named in the journal

    def snapshots(self) -> Mapping[str, PageSnapshot]:
        """A consistent view: later swaps replace the mapping, never change this one."""
        return self._snapshots

    def view(self) -> tuple[Mapping[str, PageSnapshot], int]:
        """The current mapping and the version of the change that made it."""
        with self._lock:
            return self._snapshots, self.changes.version

    def changed_since(self, since: int, until: int) -> set[str] | None:
        """The Pages whose snapshot changes after version `since`, up to `until`, replaced;
        None when Pages came or went meanwhile, or when the changes are too far back to tell."""
        entries = []
        with self._lock:
            for entry in reversed(self._journal):
                if entry[0] <= since:
                    break
                if entry[0] <= until:
                    entries.append(entry)
        if until - since != len(entries):
            return None
        changed: set[str] = set()
        for _, page_ids in entries:
            if page_ids is None:
                return None
            changed.update(page_ids)
        return changed

    def get(self, page_id: str) -> PageSnapshot | None:
        return self._snapshots.get(page_id)

    def put(self, snapshot: PageSnapshot) -> None:
        self.put_many((snapshot,))

    def put_many(self, snapshots: Iterable[PageSnapshot]) -> None:
        """Swap in a round's snapshots with one copy of the mapping, not one per Page.

        A round that began before a reload may end after it: its snapshot of a Page the
        reload removed, or whose config it changed, is dropped, not stored.
        """
        with self._lock:
            current = self._snapshots
            wanted = [s for s in snapshots if (c := current.get(s.page.id)) is not None and _same_page(c, s)]
            if not wanted:
                return
            updated = dict(current)
            updated.update((snapshot.page.id, snapshot) for snapshot in wanted)
            self._snapshots = MappingProxyType(updated)
            self.changes.changed()
            self._note(tuple(snapshot.page.id for snapshot in wanted))

    def keep_only(self, pages: tuple[PageConfig, ...], *, forget_rejections: bool = True) -> None:
        """Forget Pages no longer wanted; start the new ones empty.

        A config reload forgets which metrics the API rejected (they are asked for again);
        a rediscovery does not.
        """
        with self._lock:
            current = self._snapshots
            self._snapshots = MappingProxyType({
                page.id: (
                    _with_page(current[page.id], page, forget_rejections)
                    if page.id in current else PageSnapshot(page)
                )
                for page in pages
            })
            self.changes.changed()
            self._note(None)

    def _note(self, page_ids: tuple[str, ...] | None) -> None:
        """Journal the change just made (under the lock), forgetting the oldest beyond the limits."""
        self._journal.append((self.changes.version, page_ids))
        self._journal_pages += len(page_ids or ())
        limit = max(JOURNAL_PAGES, 2 * len(self._snapshots))
        while len(self._journal) > JOURNAL_LIMIT or (self._journal_pages > limit and len(self._journal) > 1):
            self._journal_pages -= len(self._journal.popleft()[1] or ())


def _same_page(current: PageSnapshot, new: PageSnapshot) -> bool:
    return current.page is new.page or current.page == new.page


def _with_page(snapshot: PageSnapshot, page: PageConfig, forget_rejections: bool) -> PageSnapshot:
    """A kept Page's values under its new config: entries it no longer asks for are dropped."""
    wanted = set(page.metrics)
    return PageSnapshot(
        page=page,
        results=tuple(r for r in snapshot.results if r.spec in wanted),
        attempted=snapshot.attempted,
        up=snapshot.up,
        last_success=snapshot.last_success,
        refresh_duration=snapshot.refresh_duration,
        last_error=snapshot.last_error,
        rejected=MappingProxyType({}) if forget_rejections else snapshot.rejected,
    )
