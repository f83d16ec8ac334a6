"""The body of a successful insights answer: data entries, their values, and paging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from exporter import pacific_calendar as calendar
from exporter.catalog import CATALOG
from exporter.simulator.breakdowns import Row, rows
from exporter.simulator.query import OMITTED_PERIOD_ANSWERS, ROLLING_DAYS, InsightsQuery
from exporter.simulator.values import DailySeries, Number, aggregate, rolling
from exporter.simulator.window import Window

# The daily numbers behind one breakdown row (the scenario layer may bend them).
SeriesFactory = Callable[[Row], DailySeries]

PERIOD_LABELS: dict[str, str] = {
    "day": "Daily",
    "week": "Weekly",
    "days_28": "28 Days",
    "month": "Monthly",
    "lifetime": "Lifetime",
    "total_over_range": "Total over range",
}


@dataclass(frozen=True, slots=True)
class Point:
    value: Number
    end_time: int
    row: Row


@dataclass(frozen=True, slots=True)
class PagingContext:
    """What the paging URLs echo: where the API lives and what the caller sent."""

    base_url: str
    version: str
    token: str
    metric: str


def points(
    metric: str, query: InsightsQuery, latest: dt.date, series_for: SeriesFactory,
    oldest: dt.date | None = None,
) -> list[Point]:
    series = {row: series_for(row) for row in rows(query.breakdown)}
    days = query.window.days(latest, oldest)
    if query.period == "total_over_range":
        if not days:
            return []
        end = min(query.window.until, calendar.day_end(latest))
        return [Point(aggregate(metric, days, s), end, row) for row, s in series.items()]
    length = ROLLING_DAYS.get(query.period)
    found = []
    for day in days:
        end = calendar.day_end(day)
        for row, s in series.items():
            value = s(metric, day) if length is None else rolling(metric, day, length, s)
            found.append(Point(value, end, row))
    return found


def render_point(point: Point, unix_dialect: bool) -> dict[str, Any]:
    """ISO end_time and JSON numbers, or the reference page's strings for both."""
    if unix_dialect:
        rendered: dict[str, Any] = {"value": str(point.value), "end_time": str(point.end_time)}
    else:
        rendered = {"value": point.value, "end_time": calendar.iso_utc(point.end_time)}
    rendered.update(point.row)
    return rendered


def _short_name(metric: str) -> str:
    return metric.removeprefix("page_messages_").removesuffix("_unique").replace("_", " ")


def entry(page_id: str, metric: str, period: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    label = PERIOD_LABELS[period]
    known = CATALOG.get(metric)
    meaning = known.meaning if known else _short_name(metric).capitalize()
    return {
        "name": metric,
        "period": period,
        "values": values,
        "title": f"{label}: {_short_name(metric)}",
        "description": f"{label}: {meaning}",
        "id": f"{page_id}/insights/{metric}/{period}",
    }


def _page_url(page_id: str, query: InsightsQuery, paging: PagingContext, window: Window) -> str:
    params = {"access_token": paging.token}
    if query.breakdown:
        params["breakdown"] = ",".join(query.breakdown)
    params["metric"] = paging.metric
    if query.period_given:
        params["period"] = query.period
    params |= {"since": str(window.since), "until": str(window.until)}
    path = f"{paging.base_url}/{paging.version}/{page_id}/insights"
    return f"{path}?{urlencode(params, safe=',')}"


def paging_links(
    page_id: str, query: InsightsQuery, paging: PagingContext, now: float
) -> dict[str, str]:
    """previous/next windows of the same length; like Meta's, they carry the token.

    "paging.next is left out when the next window would lie in the future" (graph-api.md):
    here, when it would start now or later.
    """
    links = {"previous": _page_url(page_id, query, paging, query.window.previous())}
    following = query.window.next()
    if following.since < now:
        links["next"] = _page_url(page_id, query, paging, following)
    return links


def body(
    page_id: str,
    query: InsightsQuery,
    latest: dt.date,
    series_for: SeriesFactory,
    paging: PagingContext,
    *,
    now: float,
    unix_dialect: bool = False,
    without_values: bool = False,
    oldest: dt.date | None = None,
) -> dict[str, Any]:
    periods = (query.period,) if query.period_given else OMITTED_PERIOD_ANSWERS
    data = []
    for metric in query.metrics:
        for period in periods:
            asked = replace(query, period=period)
            found = [] if without_values else points(metric, asked, latest, series_for, oldest)
            values = [render_point(point, unix_dialect) for point in found]
            data.append(entry(page_id, metric, period, values))
    return {"data": data, "paging": paging_links(page_id, query, paging, now)}
