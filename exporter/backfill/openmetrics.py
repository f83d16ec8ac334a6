"""Timestamped OpenMetrics text, as promtool's create-blocks-from openmetrics reads it.

A file is valid OpenMetrics: each family once (HELP, TYPE, then its series), each series
once with its samples in time order, and `# EOF` at the end. A `SeriesTable` gathers what
some days hold; it is written family by family, series by series, with names, labels,
HELP and TYPE as the live /metrics renders them (page_text), the target labels added.

    # HELP messenger_insights_page_messages_sent Marketing messages the Page sent (...)
    # TYPE messenger_insights_page_messages_sent gauge
    messenger_insights_page_messages_sent{instance="exporter:10490",job="messenger-insights",page_id="1234",period="day"} 17.0 1788159600
    messenger_insights_page_messages_sent{...} 17.0 1788159900
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from exporter.backfill.spacing import sample_times
from exporter.exposition import family_header
from exporter.page_text import FamilyHead

EOF_LINE = b"# EOF\n"
# Write in pieces of about this size: memory stays small, system calls few.
FLUSH_BYTES = 1 << 20



@dataclass(frozen=True, slots=True)
class IndexEntry:
    """Where one series' lines sit in a written file (for merging files into one)."""

    family: str
    series: str
    offset: int
    length: int


@dataclass
class SeriesTable:
    """Samples of some days: per family its HELP and TYPE, per series its values over spans."""

    headers: dict[str, tuple[str, str]] = field(default_factory=dict)
    series: dict[tuple[str, str], list[tuple[int, int, str]]] = field(default_factory=dict)
    samples: int = 0

    def add(self, head: FamilyHead, lines: bytes, targets: str, start: int, stop: int) -> None:
        """A family's sample lines as /metrics writes them (`name{labels} value`), each
        series given the target labels (`job="x",` rendered) and held from start to stop."""
        if head.name not in self.headers:
            self.headers[head.name] = (head.help, head.type)
        count = len(sample_times(start, stop))
        for line in lines.decode("utf-8").splitlines():
            series, _, value = line.rpartition(" ")
            if targets:
                series = series.replace("{", "{" + targets, 1)
            self.series.setdefault((head.name, series), []).append((start, stop, value))
            self.samples += count

    def write(self, out: BinaryIO, *, headers: bool) -> list[IndexEntry]:
        """Families sorted by name, series by text, spans in time order; with `headers`, a
        complete file (HELP, TYPE, # EOF). The index says where each series went."""
        index: list[IndexEntry] = []
        buffer: list[bytes] = []
        size = offset = 0
        family = None
        stamps: dict[tuple[int, int], str] = {}
        for (name, text), spans in sorted(self.series.items()):
            if headers and name != family:
                help_text, kind = self.headers[name]
                header = family_header(name, help_text, kind, openmetrics=True)
                buffer.append(header)
                size += len(header)
                offset += len(header)
                family = name
            lines = "".join(_lines(text, value, _stamps(stamps, start, stop)) for start, stop, value in sorted(spans))
            data = lines.encode("utf-8")
            index.append(IndexEntry(name, text, offset, len(data)))
            buffer.append(data)
            size += len(data)
            offset += len(data)
            if size >= FLUSH_BYTES:
                out.write(b"".join(buffer))
                buffer, size = [], 0
        if headers:
            buffer.append(EOF_LINE)
        out.write(b"".join(buffer))
        return index


def _stamps(cache: dict[tuple[int, int], str], start: int, stop: int) -> str:
    """`t1 t2 ...` joined for the lines of one span: shared by every series of a day."""
    key = (start, stop)
    found = cache.get(key)
    if found is None:
        found = cache[key] = "\x00".join(str(t) for t in sample_times(start, stop))
    return found


def _lines(text: str, value: str, stamps: str) -> str:
    if not stamps:
        return ""
    prefix = f"{text} {value} "
    return prefix + stamps.replace("\x00", "\n" + prefix) + "\n"


def merge(parts: Iterable[tuple[BinaryIO, list[IndexEntry]]], headers: Mapping[str, tuple[str, str]],
          out: BinaryIO) -> None:
    """One valid file from parts written without headers, in time order: each series'
    lines from every part, one after the other, so each series appears once."""
    opened = list(parts)
    keys = sorted({(e.family, e.series) for _, index in opened for e in index})
    lookup = [{(e.family, e.series): e for e in index} for _, index in opened]
    family = None
    for key in keys:
        if key[0] != family:
            family = key[0]
            help_text, kind = headers[family]
            out.write(family_header(family, help_text, kind, openmetrics=True))
        for (part, _), entries in zip(opened, lookup, strict=True):
            entry = entries.get(key)
            if entry is not None:
                part.seek(entry.offset)
                out.write(part.read(entry.length))
    out.write(EOF_LINE)
