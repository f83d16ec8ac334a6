"""A date_preset resolved for a past day: the window a live request that day was answered
with, today's incomplete day left out."""

from __future__ import annotations

import datetime as dt

import pytest

from exporter import pacific_calendar
from exporter.backfill.presets import PRESETS, preset_window
from exporter.config.model import DATE_PRESETS
from exporter.simulator.window import resolve_window


def at_noon(day: dt.date) -> float:
    return pacific_calendar.day_start(day) + 12 * 3600.0


def days(window: tuple[int, int] | None) -> tuple[dt.date, dt.date] | None:
    """First and last day of a window."""
    if window is None:
        return None
    since, until = window
    return pacific_calendar.pacific_date(since), pacific_calendar.pacific_date(until - 1)


D = dt.date


@pytest.mark.parametrize(("preset", "today", "first", "last"), [
    ("yesterday", D(2026, 11, 1), D(2026, 10, 31), D(2026, 10, 31)),
    # last_7d leaves today out: Wednesday 4 November asks for 28 October .. 3 November.
    ("last_7d", D(2026, 11, 4), D(2026, 10, 28), D(2026, 11, 3)),
    ("last_28d", D(2026, 10, 1), D(2026, 9, 3), D(2026, 9, 30)),
    # this_month includes today, which is not complete: only the days before it answer.
    ("this_month", D(2026, 11, 2), D(2026, 11, 1), D(2026, 11, 1)),
    ("this_month", D(2026, 10, 31), D(2026, 10, 1), D(2026, 10, 30)),
    ("last_month", D(2026, 11, 1), D(2026, 10, 1), D(2026, 10, 31)),
    ("last_month", D(2026, 3, 31), D(2026, 2, 1), D(2026, 2, 28)),
    ("last_month", D(2027, 1, 15), D(2026, 12, 1), D(2026, 12, 31)),
    ("this_quarter", D(2026, 11, 20), D(2026, 10, 1), D(2026, 11, 19)),
    ("last_quarter", D(2026, 10, 1), D(2026, 7, 1), D(2026, 9, 30)),
    ("last_quarter", D(2026, 1, 5), D(2025, 10, 1), D(2025, 12, 31)),
    ("this_week_mon_today", D(2026, 11, 4), D(2026, 11, 2), D(2026, 11, 3)),
    ("this_week_sun_today", D(2026, 11, 4), D(2026, 11, 1), D(2026, 11, 3)),
    ("last_week_mon_sun", D(2026, 11, 4), D(2026, 10, 26), D(2026, 11, 1)),
    ("last_week_sun_sat", D(2026, 11, 4), D(2026, 10, 25), D(2026, 10, 31)),
])
def test_each_preset_on_a_given_day(preset: str, today: dt.date, first: dt.date, last: dt.date) -> None:
    assert days(preset_window(preset, at_noon(today))) == (first, last)


@pytest.mark.parametrize(("preset", "today"), [
    ("today", D(2026, 11, 4)), ("this_month", D(2026, 11, 1)), ("this_quarter", D(2026, 10, 1)),
    ("this_week_mon_today", D(2026, 11, 2)), ("this_week_sun_today", D(2026, 11, 1)),
])
def test_no_complete_day_yet_is_no_window(preset: str, today: dt.date) -> None:
    assert preset_window(preset, at_noon(today)) is None


def test_the_window_changes_at_pacific_midnight_not_utc() -> None:
    # 1 November 2026 starts at 07:00 UTC (PDT); 2 November at 08:00 UTC (PST).
    just_before = pacific_calendar.day_start(D(2026, 11, 2)) - 1
    assert days(preset_window("yesterday", just_before)) == (D(2026, 10, 31), D(2026, 10, 31))
    assert days(preset_window("yesterday", just_before + 1)) == (D(2026, 11, 1), D(2026, 11, 1))
    assert preset_window("yesterday", just_before + 1) == (
        pacific_calendar.day_start(D(2026, 11, 1)), pacific_calendar.day_start(D(2026, 11, 2)))


def test_every_preset_the_config_takes_is_resolved() -> None:
    assert set(PRESETS) == set(DATE_PRESETS)


def test_agrees_with_the_simulator_over_two_years() -> None:
    """The simulator resolves date_preset itself: the explicit window must select the same
    complete days every day, DST changes and leap day included."""
    for preset in DATE_PRESETS:
        for n in range(0, 800, 3):
            moment = at_noon(D(2025, 1, 1) + dt.timedelta(days=n))
            latest = pacific_calendar.latest_complete_day(moment)
            expected = resolve_window({"date_preset": preset}, moment).days(latest)
            window = preset_window(preset, moment)
            got = [] if window is None else resolve_window(
                {"since": str(window[0]), "until": str(window[1])}, moment).days(latest)
            assert got == expected, (preset, moment)
