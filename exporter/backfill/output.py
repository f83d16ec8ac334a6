"""Where a backfill writes: a folder of one file per day, one file, or stdout.

A folder is the layout for anything but small backfills. promtool reads its whole input
once per 2-hour block it creates, so one file of N days costs it N x 12 readings of
everything, while a file per day costs 12 readings of one day each: linear, not
quadratic, in the days. Each day file is written under a temporary name and renamed
when complete, so an interrupted or re-run backfill never leaves a half file.

One file (or stdout) must hold each series once, its samples in time order: the windows
are written to unlinked spool files first and merged at the end (or on Ctrl-C, from the
windows complete by then).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

from exporter.backfill.openmetrics import IndexEntry, SeriesTable, merge


class OutputError(Exception):
    """The output cannot be written; the message names it and why."""


class Sink(Protocol):
    per_day: bool  # True: a table per day; False: a table per window

    def write(self, first_day: dt.date, table: SeriesTable) -> int: ...

    def finish(self) -> str: ...


def open_sink(target: str) -> Sink:
    """The sink for --backfill.output: `-`, a folder (existing, or named with a trailing /),
    or a file; OutputError when it cannot be written."""
    if target == "-":
        return StreamSink(None)
    path = Path(target)
    if target.endswith(("/", os.sep)) or path.is_dir():
        return FolderSink(path)
    return StreamSink(path)


class FolderSink:
    per_day = True

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-", delete=True)  # noqa: SIM115
            probe.close()
        except OSError as exc:
            raise OutputError(f"cannot write to folder {folder}: {exc.strerror or exc}") from None
        self.folder = folder
        self.files = 0
        self.bytes = 0

    def write(self, first_day: dt.date, table: SeriesTable) -> int:
        final = self.folder / f"{first_day.isoformat()}.om"
        partial = self.folder / f".{final.name}.partial"
        with partial.open("wb") as out:
            table.write(out, headers=True)
            size = out.tell()
        partial.replace(final)
        self.files += 1
        self.bytes += size
        return size

    def finish(self) -> str:
        return f"{self.files} file(s) in {self.folder}"


class StreamSink:
    per_day = False

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.parts: list[tuple[dt.date, BinaryIO, list[IndexEntry]]] = []
        self.headers: dict[str, tuple[str, str]] = {}
        self.bytes = 0
        self.spool_dir = str(path.parent) if path is not None else None
        if path is not None:
            self.partial = path.parent / f".{path.name}.partial"
            try:
                self.partial.open("wb").close()
            except OSError as exc:
                raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None

    def write(self, first_day: dt.date, table: SeriesTable) -> int:
        spool: BinaryIO = tempfile.TemporaryFile(dir=self.spool_dir, prefix=".backfill-spool-")  # noqa: SIM115
        index = table.write(spool, headers=False)
        self.parts.append((first_day, spool, index))
        for name, header in table.headers.items():
            self.headers.setdefault(name, header)
        size = spool.tell()
        self.bytes += size
        return size

    def finish(self) -> str:
        parts = sorted(self.parts, key=lambda part: part[0])
        if self.path is None:
            merge(((spool, index) for _, spool, index in parts), self.headers, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            where = "stdout"
        else:
            with self.partial.open("wb") as out:
                merge(((spool, index) for _, spool, index in parts), self.headers, out)
            self.partial.replace(self.path)
            where = str(self.path)
        for _, spool, _ in parts:
            spool.close()
        return where
