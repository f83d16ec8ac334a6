"""The time window of an insights request: since/until, a date_preset, or the default."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from exporter import pacific_calendar as calendar
from exporter.simulator.errors import GraphError, invalid_parameter, window_too_long

MAX_SPAN_SECONDS = 93 * 86_400
# Timestamps outside this range are rejected rather than fed to date arithmetic.
_LATEST_TIMESTAMP = 4_102_444_800  # 2100-01-01
_UNIX = re.compile(r"-?\d{1,12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ONE_DAY = dt.timedelta(days=1)
# Meta's Page Insights reference (Limitations): "Only the last two years of insights data
# is available." What the API answers for older days is not documented; users report an
# answer with no values for them (HTTP 200, the metric's entry with an empty `values` list;
# pablobarbera/Rfacebook issue #76), and that is what this simulator answers.
RETENTION_YEARS = 2


@dataclass(frozen=True, slots=True)
class Window:
    """Unix seconds; a day belongs to the window iff since < its end_time <= until."""

    since: int
    until: int

    def days(self, latest: dt.date, oldest: dt.date | None = None) -> list[dt.date]:
        """The complete days (none after `latest`, none before `oldest`) that fall in this
        window, oldest first."""
        if self.until <= self.since:
            return []
        first = calendar.pacific_date(self.since)
        if oldest is not None:
            first = max(first, oldest)
        last = min(latest, calendar.pacific_date(self.until))
        days: list[dt.date] = []
        day = first
        while day <= last:
            if self.since < calendar.day_end(day) <= self.until:
                days.append(day)
            day += _ONE_DAY
        return days

    def previous(self) -> Window:
        span = self.until - self.since
        return Window(self.since - span, self.since)

    def next(self) -> Window:
        span = self.until - self.since
        return Window(self.until, self.until + span)


def oldest_kept_day(now: float) -> dt.date:
    """The oldest day whose insights the API still has: two years before today (Pacific)."""
    today = calendar.pacific_date(now)
    try:
        return today.replace(year=today.year - RETENTION_YEARS)
    except ValueError:  # 29 February
        return today.replace(year=today.year - RETENTION_YEARS, day=28)


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _last_n_days(n: int) -> Callable[[dt.date], tuple[dt.date, dt.date]]:
    return lambda today: (today - dt.timedelta(days=n), today)


def _last_month(today: dt.date) -> tuple[dt.date, dt.date]:
    this_month = _month_start(today)
    return _month_start(this_month - _ONE_DAY), this_month


def _week_start(today: dt.date, first_weekday: int) -> dt.date:
    """The most recent `first_weekday` (Monday 0 ... Sunday 6) on or before today."""
    return today - dt.timedelta(days=(today.weekday() - first_weekday) % 7)


def _last_week(first_weekday: int) -> Callable[[dt.date], tuple[dt.date, dt.date]]:
    def window(today: dt.date) -> tuple[dt.date, dt.date]:
        this_week = _week_start(today, first_weekday)
        return this_week - dt.timedelta(days=7), this_week

    return window


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _last_quarter(today: dt.date) -> tuple[dt.date, dt.date]:
    this_quarter = _quarter_start(today)
    return _quarter_start(this_quarter - _ONE_DAY), this_quarter


# date_preset -> (first day, day after the last), given today's Pacific date.
DATE_PRESETS: dict[str, Callable[[dt.date], tuple[dt.date, dt.date]]] = {
    "today": lambda today: (today, today + _ONE_DAY),
    "yesterday": _last_n_days(1),
    "last_3d": _last_n_days(3),
    "last_7d": _last_n_days(7),
    "last_14d": _last_n_days(14),
    "last_28d": _last_n_days(28),
    "last_30d": _last_n_days(30),
    "last_90d": _last_n_days(90),
    "this_month": lambda today: (_month_start(today), today + _ONE_DAY),
    "last_month": _last_month,
    "this_week_mon_today": lambda today: (_week_start(today, 0), today + _ONE_DAY),
    "this_week_sun_today": lambda today: (_week_start(today, 6), today + _ONE_DAY),
    "last_week_mon_sun": _last_week(0),
    "last_week_sun_sat": _last_week(6),
    "this_quarter": lambda today: (_quarter_start(today), today + _ONE_DAY),
    "last_quarter": _last_quarter,
}


def parse_time(name: str, raw: str) -> int:
    """`since`/`until` as unix seconds; a bare date means midnight Pacific time."""
    if _UNIX.fullmatch(raw):
        seconds = int(raw)
    elif _DATE.fullmatch(raw):
        try:
            seconds = calendar.day_start(dt.date.fromisoformat(raw))
        except ValueError:
            raise _bad_time(name) from None
    else:
        raise _bad_time(name)
    if not 0 <= seconds <= _LATEST_TIMESTAMP:
        raise _bad_time(name)
    return seconds


def _bad_time(name: str) -> GraphError:
    return invalid_parameter(f"The parameter {name} must be a unix timestamp or a YYYY-MM-DD date")


def default_window(now: float) -> Window:
    """The two most recent complete days."""
    latest = calendar.latest_complete_day(now)
    return Window(calendar.day_start(latest - _ONE_DAY), calendar.day_end(latest))


def resolve_window(params: Mapping[str, str], now: float) -> Window:
    """since/until if either is given, else date_preset, else the default window."""
    since_raw, until_raw = params.get("since"), params.get("until")
    if since_raw is not None or until_raw is not None:
        until = parse_time("until", until_raw) if until_raw is not None else int(now)
        since = parse_time("since", since_raw) if since_raw is not None else until - 2 * 86_400
        if until - since > MAX_SPAN_SECONDS:
            raise window_too_long()
        return Window(since, until)
    preset = params.get("date_preset")
    if preset is not None:
        if preset not in DATE_PRESETS:
            raise invalid_parameter(
                "For field 'insights': date_preset must be one of the following values: "
                + ", ".join(DATE_PRESETS)
            )
        first, after_last = DATE_PRESETS[preset](calendar.pacific_date(now))
        return Window(calendar.day_start(first), calendar.day_start(after_last))
    return default_window(now)
