"""What a backfill asks the Graph API for each Page, and what a live exporter would have
exported for each past day from the answers.

A live refresh at moment t asks for a window ending at t: `range: R` (and the baseline's
default of baseline_days+1 days) means since=t-R; no window means the API's default, the
two latest complete days. What it exports is the latest end_time in (t - R, t], with the
baseline over the days before it in the same answer. That changes when a day ends (at an
end_time) and, where days are not 24 hours long (daylight saving time), when t - R passes
an end_time within a day: `segments` cuts a day there. For periods day, week, days_28 and month the API answers one value
per day, so one request per 90-day window fetches every day. A total_over_range value
covers the whole window, so it takes a request per day. A date_preset window is resolved
by Meta against the Pacific day of the request, so the answer is constant from one Pacific
midnight to the next: it takes a request per distinct window (one a day for last_7d, one a
month for last_month), with that day's window written out as since/until (presets.py).
total_over_range without any window is not backfilled: Meta documents no default window for
it (graph-api.md records "the two most recent complete days" for period=day only), so a
backfill cannot know what the live exporter was answered.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import Enum

from exporter import pacific_calendar
from exporter.backfill.presets import preset_window
from exporter.config import MetricSpec, PageConfig
from exporter.graph_client import InsightsQuery
from exporter.insights_response import LabelValues, MetricData, latest_of
from exporter.refresh import group_specs, query_for

DAY_SECONDS = 86_400
# Without since/until the API answers the two latest complete days.
DEFAULT_REACH_SECONDS = 2 * DAY_SECONDS


class Kind(Enum):
    DAILY = "one value per day"  # day, week, days_28, month: a window fetches every day
    PER_DAY = "one request per day"  # total_over_range over a trailing range
    PRESET = "one request per preset window"  # a date_preset, any period
    UNSUPPORTED = "not backfilled"


@dataclass(frozen=True, slots=True)
class Group:
    """Metric entries of one Page fetched together, as a live refresh groups them."""

    page: PageConfig
    specs: tuple[MetricSpec, ...]
    kind: Kind
    reach: int  # seconds: the answer at moment t holds the end_times in (t - reach, t]
    reason: str = ""

    @property
    def lookback_days(self) -> int:
        """Days before a window's first day that its request must include."""
        return max(0, math.ceil(self.reach / DAY_SECONDS) - 1) if self.kind is Kind.DAILY else 0

    def segments(self, start: int, stop: int) -> list[int]:
        """Where, within [start, stop), what a live refresh answers changes: start, and
        every end_time + reach that falls inside."""
        cuts = {start}
        if self.reach:
            day = pacific_calendar.pacific_date(start - self.reach) - dt.timedelta(days=1)
            while (point := pacific_calendar.day_end(day) + self.reach) < stop:
                if point > start:
                    cuts.add(int(point))
                day += dt.timedelta(days=1)
        return sorted(cuts)

    def queries(self, spans: list[tuple[int, int]]) -> list[InsightsQuery]:
        """The requests that fetch this group's values over these day spans (oldest first)."""
        if self.kind is Kind.PRESET:
            return self._preset_queries(spans)
        spec = self.specs[0]
        names = tuple(s.name for s in self.specs)
        base = InsightsQuery(self.page.id, names, spec.period, spec.request_window, spec.breakdowns)
        if self.kind is Kind.DAILY:
            # Every end_time any moment of the spans looks at: (first start - reach, last start].
            return [_fixed(base, spans[0][0] - self.reach, spans[-1][0], history=True)]
        # until is the latest end_time at that moment (the day's start): the days asked are
        # those of a live request ending at the moment, and the answer's end_time the same.
        return [
            _fixed(base, moment - self.reach, start, history=False)
            for start, stop in spans
            for moment in self.segments(start, stop)
        ]

    def _preset_queries(self, spans: list[tuple[int, int]]) -> list[InsightsQuery]:
        """The live refresh's own request (baselines included), with each distinct window
        its preset had at the spans' moments given as since/until."""
        preset = self.specs[0].request_window.date_preset or ""
        live = query_for(self.page.id, self.specs)
        found = {w for start, stop in spans for m in self.segments(start, stop)
                 if (w := preset_window(preset, m)) is not None}
        return [_fixed(live, since, until, history=False) for since, until in sorted(found)]


def _fixed(query: InsightsQuery, since: int, until: int, *, history: bool) -> InsightsQuery:
    return InsightsQuery(query.page_id, query.metrics, query.period, query.window, query.breakdowns,
                         query.baselines, since=since, until=until, history=history)


def groups_of(page: PageConfig) -> list[Group]:
    found = []
    for specs in group_specs(page.metrics):
        spec = specs[0]
        window = spec.request_window
        if window.date_preset is not None:
            found.append(Group(page, specs, Kind.PRESET, 0))
        elif spec.period == "total_over_range":
            if window.range_seconds is None:
                found.append(Group(page, specs, Kind.UNSUPPORTED, 0,
                                   "total_over_range without a window: Meta documents no default "
                                   "window for it, so what it answered is unknown; give it "
                                   "range: (28d...) or date_preset: (last_28d...)"))
            else:
                found.append(Group(page, specs, Kind.PER_DAY, int(window.range_seconds)))
        else:
            reach = int(window.range_seconds) if window.range_seconds is not None else DEFAULT_REACH_SECONDS
            found.append(Group(page, specs, Kind.DAILY, reach))
    return found


class SpecHistory:
    """One metric entry's fetched values, by end_time, for the days of a window."""

    def __init__(self, spec: MetricSpec, group: Group) -> None:
        self.spec = spec
        self.group = group
        self.label_names: tuple[str, ...] = ()
        self.by_time: dict[float, dict[LabelValues, float]] = {}
        # total_over_range: the answer at each moment it changes
        self.per_moment: dict[float, MetricData] = {}
        # date_preset: the answer for each (since, until) the preset resolved to
        self.per_window: dict[tuple[int, int], MetricData] = {}

    def add(self, data: MetricData, query: InsightsQuery) -> None:
        if self.group.kind is Kind.PRESET:
            self.per_window[(query.since or 0, query.until or 0)] = data
            return
        if self.group.kind is Kind.PER_DAY:
            self.per_moment[float((query.since or 0) + self.group.reach)] = data
            return
        self.label_names = data.label_names
        for when, values in data.history:
            self.by_time[when] = dict(values)

    @property
    def empty(self) -> bool:
        return not self.by_time and not self.per_moment and not self.per_window

    def at(self, moment: float) -> MetricData | None:
        """What a live refresh at this moment exported for this entry."""
        if self.group.kind is Kind.PRESET:
            window = preset_window(self.spec.request_window.date_preset or "", moment)
            return None if window is None else self.per_window.get(window)
        if self.group.kind is Kind.PER_DAY:
            return self.per_moment.get(moment)
        answer = {when: values for when, values in self.by_time.items()
                  if moment - self.group.reach < when <= moment}
        return latest_of(self.spec.name, self.label_names, answer, self.spec.baseline)
