"""Calendar days as the Graph API counts them: midnight to midnight in America/Los_Angeles.

The US daylight-saving rule is implemented here rather than read from tzdata, which the
slim container image may not ship: PDT (UTC-7) runs from the second Sunday of March,
02:00 PST, to the first Sunday of November, 02:00 PDT; PST (UTC-8) the rest of the year.
"""

from __future__ import annotations

import datetime as dt
import functools

_DAY = 86_400
_HOUR = 3_600
_EPOCH = dt.date(1970, 1, 1)
_SUNDAY = 6


def _nth_sunday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    first_sunday = first + dt.timedelta(days=(_SUNDAY - first.weekday()) % 7)
    return first_sunday + dt.timedelta(weeks=n - 1)


def _utc_midnight(day: dt.date) -> int:
    return (day - _EPOCH).days * _DAY


@functools.lru_cache(maxsize=64)
def _dst_bounds(year: int) -> tuple[int, int]:
    """Unix seconds at which PDT starts (02:00 PST) and ends (02:00 PDT) in a year."""
    start = _utc_midnight(_nth_sunday(year, 3, 2)) + 10 * _HOUR
    end = _utc_midnight(_nth_sunday(year, 11, 1)) + 9 * _HOUR
    return start, end


def utc_offset_hours(timestamp: float) -> int:
    """Pacific time's offset from UTC at an instant: -7 (PDT) or -8 (PST)."""
    year = dt.datetime.fromtimestamp(timestamp, dt.UTC).year
    start, end = _dst_bounds(year)
    return -7 if start <= timestamp < end else -8


def pacific_date(timestamp: float) -> dt.date:
    """The Pacific calendar date an instant falls on."""
    local = timestamp + utc_offset_hours(timestamp) * _HOUR
    return _EPOCH + dt.timedelta(days=int(local // _DAY))


@functools.lru_cache(maxsize=4096)  # the simulator asks for the same days over and over
def day_start(day: dt.date) -> int:
    """Unix seconds of Pacific midnight at the start of a day."""
    # Pacific midnight falls at 07:00 or 08:00 UTC, hours away from the 09:00/10:00 UTC
    # switch-overs, so the offset in force at 07:00 UTC is the one at midnight.
    probe = _utc_midnight(day) + 7 * _HOUR
    return _utc_midnight(day) - utc_offset_hours(probe) * _HOUR


def day_end(day: dt.date) -> int:
    """The `end_time` of a day: the following Pacific midnight, in unix seconds."""
    return day_start(day + dt.timedelta(days=1))


def latest_complete_day(now: float) -> dt.date:
    """The most recent day whose end_time is not after `now`."""
    return pacific_date(now) - dt.timedelta(days=1)


@functools.lru_cache(maxsize=4096)
def iso_utc(timestamp: int) -> str:
    """`2026-09-03T07:00:00+0000`, the form real insights answers use."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def pacific_clock(timestamp: float) -> str:
    """`Tuesday, 03-Nov-26 09:00:00 PST`, the form of Graph token-expiry messages."""
    offset = utc_offset_hours(timestamp)
    local = dt.datetime.fromtimestamp(timestamp + offset * _HOUR, dt.UTC)
    zone = "PDT" if offset == -7 else "PST"
    return local.strftime(f"%A, %d-%b-%y %H:%M:%S {zone}")
