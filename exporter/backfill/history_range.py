"""Which past days a backfill covers: parsing --backfill.start/--backfill.end, the rules
they must meet, and the request windows (at most 90 days) that fetch them.

A day's value is what a live exporter serves from that day's `end_time` (the Pacific
midnight that ends it) until the next day's: day D covers [end(D), end(D+1)).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from exporter import pacific_calendar
from exporter.durations import DurationError, parse_duration

# Prometheus' head block holds the last ~3 hours; backfilled samples must be older.
HEAD_SECONDS = 3 * 3600
# The Graph API refuses since/until more than 93 days apart; 90 keeps a margin.
MAX_WINDOW_DAYS = 90
# Meta's Page Insights reference: "Only the last two years of insights data is available."
META_RETENTION_DAYS = 2 * 365
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class RangeError(ValueError):
    """A start or end a backfill cannot use; the message says why."""


@dataclass(frozen=True, slots=True)
class DayRange:
    """The days whose values a backfill writes, both included, and the moment before which
    every sample lies (`now` minus the head block)."""

    first: dt.date
    last: dt.date
    cutoff: float

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def sample_span(self, day: dt.date) -> tuple[int, int]:
        """Unix seconds [from, to) over which a live exporter served this day's value,
        cut at the cutoff."""
        start = pacific_calendar.day_end(day)
        stop = pacific_calendar.day_end(day + dt.timedelta(days=1))
        return start, min(stop, int(self.cutoff))


def parse_day(text: str, flag: str, now: float) -> dt.date:
    """A YYYY-MM-DD date, or a duration back from now (`90d`) as the Pacific day it ends in."""
    text = text.strip()
    if _DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise RangeError(f"{flag}={text}: not a calendar date") from None
    try:
        seconds = parse_duration(text)
    except DurationError:
        raise RangeError(
            f"{flag}={text}: give a date (YYYY-MM-DD) or a duration back from now (90d, 12w)"
        ) from None
    return pacific_calendar.pacific_date(now - seconds)


def latest_backfillable_day(now: float) -> dt.date:
    """The newest day whose value began to be served more than HEAD_SECONDS ago."""
    day = pacific_calendar.latest_complete_day(now)
    while pacific_calendar.day_end(day) > now - HEAD_SECONDS:
        day -= dt.timedelta(days=1)
    return day


def day_range(start: str, end: str | None, now: float) -> DayRange:
    """The days of --backfill.start/--backfill.end, checked; RangeError says what is wrong."""
    first = parse_day(start, "--backfill.start", now)
    last = latest_backfillable_day(now) if end is None else parse_day(end, "--backfill.end", now)
    last_end = pacific_calendar.day_end(last)
    if last_end > now:
        raise RangeError(
            f"--backfill.end={last}: that day is not over yet (it ends "
            f"{_utc(last_end)}); the latest complete day is "
            f"{pacific_calendar.latest_complete_day(now)}"
        )
    if last_end > now - HEAD_SECONDS:
        raise RangeError(
            f"--backfill.end={last}: its value is served from {_utc(last_end)}, less than 3 hours "
            "ago; Prometheus' head block holds the last 3 hours and must not be backfilled. "
            f"Use --backfill.end={latest_backfillable_day(now)} or leave it out"
        )
    if first > last:
        raise RangeError(f"--backfill.start={first} is after --backfill.end={last}")
    return DayRange(first, last, now - HEAD_SECONDS)


def windows(days: DayRange, lookback: int) -> list[tuple[dt.date, dt.date]]:
    """The days, split into windows whose requests (each with `lookback` days before it,
    for baselines) span at most MAX_WINDOW_DAYS; newest window first."""
    size = MAX_WINDOW_DAYS - lookback
    if size < 1:
        raise RangeError(f"a baseline of {lookback} days leaves no room in a {MAX_WINDOW_DAYS}-day window")
    found = []
    last = days.last
    while last >= days.first:
        first = max(days.first, last - dt.timedelta(days=size - 1))
        found.append((first, last))
        last = first - dt.timedelta(days=1)
    return found


def _utc(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
