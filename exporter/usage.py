"""Graph API rate-limit usage headers, parsed once for the metrics and the governor.

x-app-usage and x-page-usage hold one object; x-business-use-case-usage maps each
business-use-case id (the Page id, with a Page token) to a list of objects, one per type.
Values are percent of the quota; estimated_time_to_regain_access is in minutes.
"""

from __future__ import annotations

import bisect
import functools
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prometheus_client.core import Metric

from exporter.changes import Changes
from exporter.insights_response import ResponseError, decode_json
from exporter.page_text import MEMO, FamilyHead, go_float
from exporter.redact import SCRUBBER, scrub

USAGE_KINDS = ("call_count", "total_cputime", "total_time")
# Response header -> source of the figures.
USAGE_HEADERS = {
    "x-app-usage": "app",
    "x-business-use-case-usage": "business_use_case",
    "x-page-usage": "page",
}
_MAX_HEADER_CHARS = 65536
_REMEMBERED_CHARS = 512  # header values longer than this are decoded each time, not remembered


@dataclass(frozen=True, slots=True)
class UsagePeak:
    """The highest usage figure any answer carried since the exporter started."""

    ratio: float
    source: str
    scope_id: str
    kind: str
    at: float


@dataclass(frozen=True, slots=True)
class UsageReport:
    source: str  # app, business_use_case or page
    scope_id: str  # "" for the app
    figures: Mapping[str, float]  # kind -> percent
    regain_minutes: float = 0.0

    @property
    def highest_ratio(self) -> float:
        return max(self.figures.values(), default=0.0) / 100


def parse_usage_headers(headers: Mapping[str, str], page_id: str) -> list[UsageReport]:
    """Every usage report the answer's headers (lower-cased names) carry; junk is skipped."""
    reports: list[UsageReport] = []
    for header, source in USAGE_HEADERS.items():
        raw = headers.get(header)
        if raw is not None and len(raw) <= _MAX_HEADER_CHARS:
            reports.extend(parse_usage_header(source, raw, page_id))
    return reports


def parse_usage_header(source: str, raw: str, page_id: str) -> list[UsageReport]:
    # Short values are remembered by their text (the caches hold at most 1024 of them).
    remembered = len(raw) <= _REMEMBERED_CHARS
    if source != "business_use_case":
        figures, regain = _one_object(raw) if remembered else _read_one_object(raw)
        scope = "" if source == "app" else page_id
        return [UsageReport(source, scope, figures, regain)] if figures or regain else []
    return list(_business_use_cases(raw) if remembered else _read_business_use_cases(raw))


@functools.lru_cache(maxsize=1024)
def _business_use_cases(raw: str) -> tuple[UsageReport, ...]:
    """Remembered: with a token per Page, the operations of one Page in a batch carry the
    same value (three of its four answers in the benchmark)."""
    return _read_business_use_cases(raw)


def _read_business_use_cases(raw: str) -> tuple[UsageReport, ...]:
    """The reports of an x-business-use-case-usage value, one per business-use-case id."""
    try:
        document = decode_json(raw)
    except ResponseError:
        return ()
    if not isinstance(document, dict):
        return ()
    reports = []
    for scope_id, entries in document.items():
        if not isinstance(entries, list):
            continue
        merged: dict[str, float] = {}
        regain = 0.0
        for entry in entries:
            for kind, percent in _figures(entry).items():
                merged[kind] = max(percent, merged.get(kind, 0.0))
            regain = max(regain, _regain(entry))
        if merged or regain:
            reports.append(UsageReport("business_use_case", str(scope_id), MappingProxyType(merged), regain))
    return tuple(reports)


@functools.lru_cache(maxsize=1024)
def _one_object(raw: str) -> tuple[Mapping[str, float], float]:
    """Remembered: the API's usage moves in whole percents, so the same few values come
    with most answers."""
    return _read_one_object(raw)


def _read_one_object(raw: str) -> tuple[Mapping[str, float], float]:
    """The figures and regain time of an x-app-usage or x-page-usage value."""
    try:
        document = decode_json(raw)
    except ResponseError:
        return {}, 0.0
    return MappingProxyType(_figures(document)), _regain(document)


def _figures(entry: Any) -> dict[str, float]:
    if not isinstance(entry, dict):
        return {}
    figures: dict[str, float] = {}
    for kind in USAGE_KINDS:
        value = _number(entry.get(kind))
        if value is not None and 0 <= value <= 1e6:
            figures[kind] = value
    return figures


def _regain(entry: Any) -> float:
    value = _number(entry.get("estimated_time_to_regain_access")) if isinstance(entry, dict) else None
    return value if value is not None and 0 < value <= 7 * 24 * 60 else 0.0


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


USAGE_RATIO = "messenger_insights_api_usage_ratio"
USAGE_RATIO_HELP = (
    "Latest Graph API rate-limit usage header value divided by 100 (1 = quota used up), "
    "by source (app, business_use_case, page), id and kind."
)


# Series per block of the usage ratios' text: a build joins again only the blocks with a
# changed line. A block is split when it grows to twice this.
USAGE_BLOCK = 512

Key = tuple[str, str, str]  # source, id, kind


class UsageBoard:
    """The latest usage figure per (source, id, kind): messenger_insights_api_usage_ratio.

    With many Pages these are many series that change only when an answer arrives, so they
    are rendered with the cached part of /metrics, not on every scrape.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.changes = Changes()
        self.clock = clock
        self._lock = threading.Lock()
        self._ratios: dict[Key, float] = {}
        self._peak: UsagePeak | None = None
        # Each series' exposition line, made again only when its ratio changes: with a token
        # per Page every answer of a refresh round changes one, and /metrics is rebuilt
        # meanwhile. The keys are kept sorted (the lines' order) in blocks, each block's
        # text joined again only when one of its lines changed.
        self._lines: dict[Key, str] = {}
        self._stale: set[Key] = set()
        self._blocks: list[list[Key]] = []  # every key, sorted, in consecutive blocks
        self._texts: list[bytes | None] = []  # per block, its lines; None: to join again
        self._generation = -1  # of the scrubber's secrets the lines were scrubbed with

    def record(self, reports: list[UsageReport]) -> None:
        changed = False
        with self._lock:
            for report in reports:
                for kind, percent in report.figures.items():
                    key = (report.source, report.scope_id, kind)
                    if self._ratios.get(key) != percent / 100:
                        if key not in self._ratios:
                            self._insert(key)
                        self._ratios[key] = percent / 100
                        self._stale.add(key)
                        changed = True
                    if self._peak is None or percent / 100 > self._peak.ratio:
                        self._peak = UsagePeak(percent / 100, report.source, report.scope_id, kind,
                                               self.clock())
        if changed:
            self.changes.changed()

    def _insert(self, key: Key) -> None:
        """A new key into its block, in sorted order; a block grown to twice USAGE_BLOCK is split."""
        blocks = self._blocks
        if not blocks:
            blocks.append([])
            self._texts.append(None)
        number = min(bisect.bisect_left(blocks, key, key=lambda block: block[-1] if block else key),
                     len(blocks) - 1)
        block = blocks[number]
        bisect.insort(block, key)
        self._texts[number] = None
        if len(block) >= 2 * USAGE_BLOCK:
            blocks[number:number + 1] = [block[:USAGE_BLOCK], block[USAGE_BLOCK:]]
            self._texts[number:number + 1] = [None, None]

    def _block_of(self, key: Key) -> int:
        return bisect.bisect_left(self._blocks, key, key=lambda block: block[-1])

    def peak(self) -> UsagePeak | None:
        """The high-water mark: the highest figure seen, where and when."""
        return self._peak

    def rendered(self) -> list[tuple[FamilyHead, bytes]]:
        """The family as exposition text, what families() gives prometheus_client to write:
        one piece per block of series, in order (the pieces of a block without a changed
        line are the same bytes objects as before)."""
        MEMO.forget_if_stale()
        label = MEMO.label
        with self._lock:
            if SCRUBBER.generation != self._generation:
                self._generation = SCRUBBER.generation
                self._stale = set(self._ratios)
                self._texts = [None] * len(self._blocks)
            for key in self._stale:
                source, scope_id, kind = key
                self._lines[key] = (f'{USAGE_RATIO}{{id="{label(scope_id)}",kind="{label(kind)}",'
                                    f'source="{label(source)}"}} {go_float(self._ratios[key])}\n')
                self._texts[self._block_of(key)] = None
            self._stale.clear()
            lines = self._lines
            for number, text in enumerate(self._texts):
                if text is None:
                    self._texts[number] = "".join([lines[key] for key in self._blocks[number]]).encode("utf-8")
            texts = [text for text in self._texts if text]
        head = FamilyHead(USAGE_RATIO, scrub(USAGE_RATIO_HELP))
        return [(head, text) for text in texts] or [(head, b"")]

    def families(self) -> list[Metric]:
        family = Metric(USAGE_RATIO, USAGE_RATIO_HELP, "gauge")
        with self._lock:
            ratios = sorted(self._ratios.items())
        for (source, scope_id, kind), ratio in ratios:
            family.add_sample(family.name, {"source": source, "id": scope_id, "kind": kind}, ratio)
        return [family]
