"""A backfill from start to end: check the input, fetch window by window (newest first),
write what a live exporter would have served, report what is missing."""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

from exporter.app import Exporter
from exporter.backfill.fetch import Fetcher, Request
from exporter.backfill.history_range import (
    META_RETENTION_DAYS,
    DayRange,
    RangeError,
    day_range,
    windows,
)
from exporter.backfill.labels import LabelError, rendered, target_labels
from exporter.backfill.openmetrics import SeriesTable
from exporter.backfill.output import OutputError, Sink, open_sink
from exporter.backfill.plan import Group, Kind, SpecHistory, groups_of
from exporter.backfill.progress import Progress
from exporter.config import PageConfig, RefreshConfig
from exporter.graph_client import GraphError
from exporter.page_metrics import PAGE_METRICS
from exporter.page_text import FamilyHead, render_page
from exporter.redact import Secret, scrub
from exporter.runtime import Settings
from exporter.snapshots import MetricResult, PageSnapshot

# Prometheus' default --storage.tsdb.retention.time.
PROMETHEUS_DEFAULT_RETENTION_DAYS = 15
INTERRUPTED = 130
# Live status of a refresh, not history: not backfilled.
LIVE_ONLY = frozenset(PAGE_METRICS) - {
    "messenger_insights_page_info", "messenger_insights_data_end_timestamp_seconds",
}


@dataclass(frozen=True, slots=True)
class BackfillOptions:
    start: str
    end: str | None
    output: str
    job: str
    instance: str
    labels: tuple[str, ...] = ()


class InputError(Exception):
    pass


@dataclass
class _PageState:
    page: PageConfig
    token: Secret
    groups: list[Group]
    oldest_seen: dt.date | None = None
    exhausted: bool = False
    failed: bool = False  # some request failed: its missing days are listed as such
    histories: list[SpecHistory] = field(default_factory=list)


def run_backfill(options: BackfillOptions, settings: Settings, err: TextIO | None = None,
                 clock: Callable[[], float] = time.time) -> int:
    err = err or sys.stderr
    try:
        days = day_range(options.start, options.end, clock())
        labels = target_labels(options.job, options.instance, options.labels)
        sink = open_sink(options.output)
    except (RangeError, LabelError, OutputError) as exc:
        print(f"error: {scrub(str(exc))}", file=err)
        return 1
    return Backfill(settings, days, labels, sink, err=err, clock=clock).run()


class Backfill:
    def __init__(self, settings: Settings, days: DayRange, labels: dict[str, str], sink: Sink, *,
                 err: TextIO, clock: Callable[[], float]) -> None:
        self.exporter = Exporter(settings)
        self.refresh: RefreshConfig = settings.config.refresh
        self.days = days
        self.labels = scrub(rendered(labels))
        self.sink = sink
        self.err = err
        self.clock = clock
        self.stop = self.exporter.stop_event
        self.missing: list[str] = []
        self.progress = Progress(0, self._requests, err)
        self.fetcher = Fetcher(self.exporter.runtime.client, self.stop, self.progress.paused, clock)

    def _requests(self) -> float:
        registry = self.exporter.registry
        return sum(registry.get_sample_value("messenger_insights_api_requests_total", {"outcome": o}) or 0.0
                   for o in ("success", "error"))

    def run(self) -> int:
        self.exporter.discover()
        runtime = self.exporter.runtime
        pages = [
            _PageState(page, runtime.tokens[page_id], groups_of(page))
            for page_id, page in runtime.pages.items()
        ]
        self._warn(pages)
        lookback = max((g.lookback_days for p in pages for g in p.groups), default=0)
        try:
            plan = windows(self.days, lookback)
        except RangeError as exc:
            print(f"error: {exc}", file=self.err)
            return 1
        self.progress.total = max(1, len(pages) * self.days.days)
        self.progress.say(
            f"{len(pages)} Page(s), {self.days.first}..{self.days.last} ({self.days.days} days) "
            f"in {len(plan)} window(s) of at most 90 days, newest first"
        )
        with _stop_on_signals(self.stop):
            for number, (first, last) in enumerate(plan, 1):
                if self.stop.is_set() or all(p.exhausted for p in pages):
                    break
                self.progress.window = f"window {number}/{len(plan)} ({first}..{last}): "
                self._window(pages, first, last)
            if self.stop.is_set():
                self.progress.say("stopping: writing out what is complete (press Ctrl-C again to abandon)")
            where = self.sink.finish()
        return self._summary(pages, where)

    def _warn(self, pages: Sequence[_PageState]) -> None:
        reach = (dt.datetime.fromtimestamp(self.clock(), dt.UTC).date() - self.days.first).days
        if reach > PROMETHEUS_DEFAULT_RETENTION_DAYS:
            self.progress.say(
                f"warning: this backfill reaches {reach} days back. Prometheus deletes blocks older "
                f"than its retention (--storage.tsdb.retention.time, {PROMETHEUS_DEFAULT_RETENTION_DAYS}d "
                f"by default): give it more than {reach}d, or the oldest days vanish once loaded"
            )
        if reach > META_RETENTION_DAYS:
            self.progress.say(
                "warning: Meta keeps about two years of insights; older windows come back empty "
                "and the backfill stops at the first empty one"
            )
        for state in pages:
            for group in state.groups:
                if group.kind is Kind.UNSUPPORTED:
                    self.missing.append(
                        f"Page {state.page.id}: {', '.join(s.name for s in group.specs)} "
                        f"(period {group.specs[0].period}): not backfilled: {group.reason}"
                    )

    def _window(self, pages: list[_PageState], first: dt.date, last: dt.date) -> None:
        live = [p for p in pages if not p.exhausted]
        spans = [self.days.sample_span(first + dt.timedelta(days=n)) for n in range((last - first).days + 1)]
        failed = self._fetch(live, _requests(live, spans), first, last)
        if self.stop.is_set():
            return
        self._write(live, first, last)
        for state in live:
            if state.page.id not in failed and all(h.empty for h in state.histories):
                state.exhausted = True

    def _fetch(self, live: list[_PageState], requests: list[Request], first: dt.date, last: dt.date) -> set[str]:
        """Each answer into its Page's histories; the ids of the Pages with a failed request."""
        owners = {state.page.id: state for state in live}
        failed: set[str] = set()
        for request, result in self.fetcher.run(requests):
            state = owners[request.page_id]
            if isinstance(result, GraphError):
                failed.add(state.page.id)
                state.failed = state.failed or result.code != "interrupted"
                self._failed(state, request, result, first, last)
                continue
            histories = {h.spec: h for h in state.histories}
            for spec in request.specs:
                data = result.get(spec.name)
                if data is not None:
                    histories[spec].add(data, request.query)
        return failed

    def _failed(self, state: _PageState, request: Request, error: GraphError, first: dt.date,
                last: dt.date) -> None:
        if error.code == "interrupted":
            return
        self.missing.append(
            f"Page {state.page.id}: {', '.join(s.name for s in request.specs)} "
            f"(period {request.specs[0].period}), {first}..{last}: {error.code}: {error.message}"
        )

    def _write(self, pages: list[_PageState], first: dt.date, last: dt.date) -> None:
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        units = [[day] for day in reversed(days)] if self.sink.per_day else [days]
        for unit in units:
            if self.stop.is_set() and self.sink.per_day:
                return
            table = SeriesTable()
            page_days = 0
            for day in unit:
                start, stop = self.days.sample_span(day)
                for state in pages:
                    cuts = sorted({c for g in state.groups for c in g.segments(start, stop)} | {start})
                    seen = False
                    for begin, end in zip(cuts, [*cuts[1:], stop], strict=True):
                        for head, lines in self._families(state, begin):
                            seen = True
                            table.add(head, lines, self.labels, begin, end)
                    if seen:
                        page_days += 1
                        state.oldest_seen = min(day, state.oldest_seen or day)
            size = self.sink.write(unit[0], table) if table.series else 0
            self.progress.add(page_days, table.samples, size)

    def _families(self, state: _PageState, moment: int) -> list[tuple[FamilyHead, bytes]]:
        """What the live /metrics served for the Page from this moment (its status gauges left
        out); nothing when the API had no value then."""
        now = self.clock()
        results = tuple(
            MetricResult(h.spec, now, data) for h in state.histories if (data := h.at(moment)) is not None
        )
        if not results:
            return []
        snapshot = PageSnapshot(state.page, results, attempted=True, up=True, last_success=now)
        text = render_page(snapshot, self.refresh, now)
        return [(head, lines) for head, lines in zip(text.heads, text.lines, strict=True)
                if lines and head.name not in LIVE_ONLY]

    def _summary(self, pages: Sequence[_PageState], where: str) -> int:
        self.progress.report(force=True)
        interrupted = self.stop.is_set()
        for state in pages if not interrupted else ():
            fetched = any(g.kind is not Kind.UNSUPPORTED for g in state.groups)
            if fetched and not state.failed and (state.oldest_seen is None or state.oldest_seen > self.days.first):
                since = state.oldest_seen or "(none)"
                self.missing.append(
                    f"Page {state.page.id}: no insights before {since}: the Graph API answered "
                    "with no data (Meta keeps about two years of insights; a token without "
                    "read_insights also gets empty answers); stopped at the first empty window"
                )
        self.progress.say(f"wrote {where}" + (" (interrupted: only the windows complete so far)"
                                               if interrupted else ""))
        if self.missing:
            self.progress.say(f"missing ({len(self.missing)}):")
            for line in self.missing:
                print(f"  {scrub(line)}", file=self.err)
        if interrupted:
            return INTERRUPTED
        return 1 if self.missing else 0


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) once: finish the output with what is complete. Twice: abandon."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # No printing here: the signal may arrive while stderr is being written to.
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _requests(live: list[_PageState], spans: list[tuple[int, int]]) -> list[Request]:
    """The requests of one window for every Page still answering, their histories started afresh."""
    requests: list[Request] = []
    for state in live:
        state.histories = []
        for group in state.groups:
            if group.kind is Kind.UNSUPPORTED:
                continue
            state.histories.extend(SpecHistory(spec, group) for spec in group.specs)
            requests.extend(
                Request(state.page.id, group.specs, query, state.token)
                for query in group.queries(spans)
            )
    return requests
