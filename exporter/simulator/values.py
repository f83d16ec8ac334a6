"""Deterministic, plausible insights numbers.

Every daily value is derived from sha256 of (Page id, metric, day, breakdown row), so a
Page shows the same history after a restart and in every test run.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from exporter.simulator.breakdowns import DIMENSION_VALUES, Row

Number = int | float
# A metric's daily value for one Page and breakdown row.
DailySeries = Callable[[str, dt.date], Number]

CONNECTIONS = "page_messages_total_messaging_connections"
READ_RATIO = "page_messages_read_ratio"
SENT = "page_messages_sent"
# Messaging connections are counted from the day the data starts (October 2016).
_CONNECTIONS_EPOCH = dt.date(2016, 10, 1)


@dataclass(frozen=True, slots=True)
class Profile:
    low: float
    high: float
    decimals: int | None = None  # None: the value is an integer
    # How days combine into week/month/total_over_range values.
    aggregate: Literal["sum", "last", "ratio"] = "sum"
    # Whether bigger Pages get bigger numbers (ratios do not).
    scaled: bool = True


PROFILES: dict[str, Profile] = {
    "page_messages_blocked_conversations_unique": Profile(0, 6),
    "page_messages_reported_conversations_unique": Profile(0, 4),
    "page_messages_new_conversations_unique": Profile(15, 250),
    CONNECTIONS: Profile(0, 0, aggregate="last"),
    "page_messages_engagement": Profile(0, 180),
    SENT: Profile(200, 3_000),
    READ_RATIO: Profile(0.35, 0.9, decimals=4, aggregate="ratio", scaled=False),
    "page_messages_order_count": Profile(0, 40),
    "page_messages_paid_order_earnings": Profile(0, 2_500, decimals=2),
    "page_messages_with_business_outcomes": Profile(0, 30),
    # Opt-outs can outnumber opt-ins on a day.
    "recurring_notifications_tokens": Profile(-4, 40),
}
_OTHER = Profile(0, 100)


def profile(metric: str) -> Profile:
    return PROFILES.get(metric, _OTHER)


def unit(*parts: str) -> float:
    """A number in [0, 1) fixed by its inputs."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _shape(raw: float, decimals: int | None) -> Number:
    return round(raw) if decimals is None else round(raw, decimals)


def _page_size(page_id: str) -> float:
    return 0.5 + unit("page-size", page_id)


def _row_parts(row: Row) -> list[str]:
    return [f"{dim}={value}" for dim, value in row]


def _connections(page_id: str, day: dt.date, row: Row) -> int:
    # A base plus steady growth; the daily jitter stays below one day's growth, so the
    # total never goes down.
    parts = [page_id, CONNECTIONS, *_row_parts(row)]
    base = 2_000 + 60_000 * unit("base", *parts)
    growth = 2 + 25 * unit("growth", *parts)
    jitter = growth * unit(day.isoformat(), *parts)
    return int(base + growth * (day - _CONNECTIONS_EPOCH).days + jitter)


@functools.lru_cache(maxsize=65_536)
def daily_value(page_id: str, metric: str, day: dt.date, row: Row = ()) -> Number:
    """The value a metric has for one Page, day and breakdown row."""
    if metric == CONNECTIONS:
        return _connections(page_id, day, row)
    shape = profile(metric)
    if row and shape.aggregate == "sum":
        # Counts split the Page's total among the rows, so a breakdown adds up (give or
        # take rounding) to the value asked for without one.
        return _shape(float(daily_value(page_id, metric, day)) * _share(page_id, metric, row),
                      shape.decimals)
    raw = shape.low + (shape.high - shape.low) * unit(
        page_id, metric, day.isoformat(), *_row_parts(row)
    )
    if shape.scaled:
        raw *= _page_size(page_id)
    return _shape(raw, shape.decimals)


@functools.lru_cache(maxsize=65536)  # a sum over days asks for each row's share every day
def _share(page_id: str, metric: str, row: Row) -> float:
    """The row's part of the whole: per dimension, a stable weight over that dimension's values."""
    share = 1.0
    for dimension, value in row:
        weights = {
            choice: 0.2 + unit("share", page_id, metric, dimension, choice)
            for choice in DIMENSION_VALUES[dimension]
        }
        share *= weights[value] / sum(weights.values())
    return share


def aggregate(metric: str, days: Sequence[dt.date], series: DailySeries) -> Number:
    """A metric over several days: a sum, the last value, or a ratio of the days' totals."""
    shape = profile(metric)
    if not days:
        return _shape(0, shape.decimals)
    if shape.aggregate == "last":
        return series(metric, days[-1])
    if shape.aggregate == "ratio":
        # read_ratio = read / sent, so each day weighs by the messages sent that day.
        sent = [series(SENT, day) for day in days]
        read = sum(n * series(metric, day) for n, day in zip(sent, days, strict=True))
        return _shape(read / sum(sent), shape.decimals) if sum(sent) else 0.0
    return _shape(sum(series(metric, day) for day in days), shape.decimals)


def rolling(metric: str, day: dt.date, length: int, series: DailySeries) -> Number:
    """The aggregate of the `length` days ending with `day` (week, days_28, month)."""
    days = [day - dt.timedelta(days=back) for back in range(length - 1, -1, -1)]
    return aggregate(metric, days, series)
