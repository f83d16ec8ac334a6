"""A `date_preset` resolved for a past day into the explicit window Meta used then.

Meta resolves a preset against "today" in Pacific time (the Page Insights day: midnight
to midnight America/Los_Angeles), so a live refresh sending `date_preset=X` on day D was
answered for a fixed window of days; a backfill asks for that same window with
since/until. graph-api.md lists the presets; what each one covers, as Meta's insights
APIs resolve them (and as the simulator's window.py implements them):

- `today`: today only. `yesterday`: the day before today.
- `last_Nd` (3, 7, 14, 28, 30, 90): the N complete days before today; today is NOT in the
  window (last_7d on a Wednesday is the previous Wednesday through Tuesday).
- `this_month`, `this_quarter`, `this_week_mon_today`, `this_week_sun_today`: from the
  first day of the period THROUGH today (today included). Today is not complete, so an
  answer holds only the days before it: on the 1st of a month, this_month has no
  complete day at all.
- `last_month`, `last_quarter`: the whole previous calendar month / quarter.
- `last_week_mon_sun`, `last_week_sun_sat`: the whole previous week, Monday-Sunday or
  Sunday-Saturday.

A backfill asks after the fact, when today's day of then is complete: it must stop the
window at the start of that day, or it would get a day the live refresh could not have
seen. The config only takes presets of at most 90 days (config.model.DATE_PRESETS).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from exporter import pacific_calendar

_ONE_DAY = dt.timedelta(days=1)
# first day, day after the last (both Pacific dates), given the Pacific date of "today"
Resolver = Callable[[dt.date], tuple[dt.date, dt.date]]


def _last_days(n: int) -> Resolver:
    return lambda today: (today - dt.timedelta(days=n), today)


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _week_start(day: dt.date, first_weekday: int) -> dt.date:
    """The latest `first_weekday` (Monday 0 ... Sunday 6) on or before `day`."""
    return day - dt.timedelta(days=(day.weekday() - first_weekday) % 7)


def _so_far(start_of: Callable[[dt.date], dt.date]) -> Resolver:
    return lambda today: (start_of(today), today + _ONE_DAY)


def _previous(start_of: Callable[[dt.date], dt.date]) -> Resolver:
    """The whole period before the one today is in."""
    def window(today: dt.date) -> tuple[dt.date, dt.date]:
        current = start_of(today)
        return start_of(current - _ONE_DAY), current
    return window


PRESETS: dict[str, Resolver] = {
    "today": lambda today: (today, today + _ONE_DAY),
    "yesterday": _last_days(1),
    "last_3d": _last_days(3),
    "last_7d": _last_days(7),
    "last_14d": _last_days(14),
    "last_28d": _last_days(28),
    "last_30d": _last_days(30),
    "last_90d": _last_days(90),
    "this_month": _so_far(_month_start),
    "last_month": _previous(_month_start),
    "this_quarter": _so_far(_quarter_start),
    "last_quarter": _previous(_quarter_start),
    "this_week_mon_today": _so_far(lambda day: _week_start(day, 0)),
    "this_week_sun_today": _so_far(lambda day: _week_start(day, 6)),
    "last_week_mon_sun": _previous(lambda day: _week_start(day, 0)),
    "last_week_sun_sat": _previous(lambda day: _week_start(day, 6)),
}


def preset_window(preset: str, moment: float) -> tuple[int, int] | None:
    """since/until (unix seconds) of what a live request with this preset at `moment` was
    answered with: the preset's days, none from today on. None when no day is complete."""
    today = pacific_calendar.pacific_date(moment)
    first, after_last = PRESETS[preset](today)
    after_last = min(after_last, today)
    if after_last <= first:
        return None
    return pacific_calendar.day_start(first), pacific_calendar.day_start(after_last)
