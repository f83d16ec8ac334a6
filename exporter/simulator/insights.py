"""The body of a successful insights answer: data entries, their values, and paging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from exporter.catalog import CATALOG
from exporter.simulator import calendar
from exporter.simulator.breakdowns import Row, rows
from exporter.simulator.query import ROLLING_DAYS, InsightsQuery
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
    metric: str, query: InsightsQuery, latest: dt.date, series_for: SeriesFactory
) -> list[Point]:
    series = {row: series_for(row) for row in rows(query.breakdown)}
    days = query.window.days(latest)
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
    params |= {
        "metric": paging.metric,
        "period": query.period,
        "since": str(window.since),
        "until": str(window.until),
    }
    path = f"{paging.base_url}/{paging.version}/{page_id}/insights"
    return f"{path}?{urlencode(params, safe=',')}"


def paging_links(page_id: str, query: InsightsQuery, paging: PagingContext) -> dict[str, str]:
    """previous/next windows of the same length; like Meta's, they carry the token."""
    return {
        "previous": _page_url(page_id, query, paging, query.window.previous()),
        "next": _page_url(page_id, query, paging, query.window.next()),
    }


def body(
    page_id: str,
    query: InsightsQuery,
    latest: dt.date,
    series_for: SeriesFactory,
    paging: PagingContext,
    *,
    unix_dialect: bool = False,
    without_values: bool = False,
) -> dict[str, Any]:
    data = []
    for metric in query.metrics:
        found = [] if without_values else points(metric, query, latest, series_for)
        values = [render_point(point, unix_dialect) for point in found]
        data.append(entry(page_id, metric, query.period, values))
    return {"data": data, "paging": paging_links(page_id, query, paging)}
