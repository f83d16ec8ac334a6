"""The parameters of an insights request, checked the way the Graph API checks them."""

from __future__ import annotations

import json
from collections.abc import Container, Mapping
from dataclasses import dataclass

from exporter.catalog import BREAKDOWN_LABELS
from exporter.simulator.errors import invalid_metric, invalid_parameter, missing_metric
from exporter.simulator.window import Window, resolve_window

PERIODS: tuple[str, ...] = ("day", "week", "days_28", "month", "lifetime", "total_over_range")
# With `period` omitted Meta answers "one entry per period the metric supports"
# (graph-api.md). Which periods each Messenger metric supports is not documented; the
# simulator answers these, each metric's daily figure and its two rolling sums.
OMITTED_PERIOD_ANSWERS: tuple[str, ...] = ("day", "week", "days_28")
# Periods whose values roll up the last N days, one value per day.
ROLLING_DAYS: dict[str, int] = {"week": 7, "days_28": 28, "month": 30}


@dataclass(frozen=True, slots=True)
class InsightsQuery:
    metrics: tuple[str, ...]
    period: str
    breakdown: tuple[str, ...]
    window: Window
    period_given: bool = True  # False: one entry per supported period, no period in paging


def _names(raw: str) -> list[str]:
    """A comma-separated list, or a JSON list as the official SDK sends it."""
    if raw.lstrip().startswith("["):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or not all(isinstance(n, str) for n in parsed):
            raise invalid_parameter("Param metric must be a list of metric names")
        return [name.strip() for name in parsed]
    return [name.strip() for name in raw.split(",")]


def parse_metrics(raw: str, known: Container[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name for name in _names(raw) if name))
    if not names:
        raise missing_metric()
    if any(name not in known for name in names):
        raise invalid_metric()
    return names


def parse_period(raw: str | None) -> str | None:
    """The period asked for; None when it is omitted."""
    if raw is None or raw == "":
        return None
    if raw not in PERIODS:
        raise invalid_parameter(
            "For field 'insights': period must be one of the following values: "
            + ", ".join(PERIODS)
        )
    return raw


def parse_breakdown(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    dimensions = [dim.strip() for dim in raw.split(",") if dim.strip()]
    for index, dim in enumerate(dimensions):
        if dim not in BREAKDOWN_LABELS:
            raise invalid_parameter(
                f"breakdown[{index}] must be one of the following values: "
                + ", ".join(BREAKDOWN_LABELS)
            )
    return tuple(dict.fromkeys(dimensions))


def parse_query(params: Mapping[str, str], now: float, known: Container[str]) -> InsightsQuery:
    raw_metrics = params.get("metric")
    if not raw_metrics:
        raise missing_metric()
    period = parse_period(params.get("period"))
    breakdown = parse_breakdown(params.get("breakdown"))
    window = resolve_window(params, now)
    metrics = parse_metrics(raw_metrics, known)
    if period is None:
        return InsightsQuery(metrics, OMITTED_PERIOD_ANSWERS[0], breakdown, window, period_given=False)
    return InsightsQuery(metrics, period, breakdown, window)
