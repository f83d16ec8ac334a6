"""What each scenario does to an insights answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from exporter.simulator import calendar
from exporter.simulator.answer import JSON_TYPE, Answer
from exporter.simulator.breakdowns import Row
from exporter.simulator.errors import UNKNOWN_ERROR, GraphError
from exporter.simulator.insights import SeriesFactory
from exporter.simulator.scenarios import Scenario
from exporter.simulator.usage import Throttle
from exporter.simulator.values import DailySeries, Number, daily_value

SPIKED_METRICS = frozenset(
    {"page_messages_blocked_conversations_unique", "page_messages_reported_conversations_unique"}
)

RATE_LIMIT_MESSAGES: dict[int, str] = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. "
    "Wait a bit and try again.",
}

GARBAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Error</title></head>"
    b"<body><h1>Sorry, something went wrong.</h1>"
    b"<p>We're working on it and we'll get it fixed as soon as we can.</p></body></html>\n"
)


@dataclass(frozen=True, slots=True)
class Spike:
    day: dt.date
    factor: float
    add: float

    def apply(self, metric: str, day: dt.date, value: Number) -> Number:
        if metric not in SPIKED_METRICS or day != self.day:
            return value
        return round(value * self.factor + self.add)


@dataclass(frozen=True, slots=True)
class Effects:
    """A scenario, resolved for one request. The default is a normal answer."""

    delay: float = 0.0
    # Answered instead of the insights: a Graph error or a raw answer.
    interruption: GraphError | Answer | None = None
    retired_metrics: frozenset[str] = frozenset()
    unix_dialect: bool = False
    empty_data: bool = False
    empty_values: bool = False
    spike: Spike | None = None

    def series_for(self, page_id: str) -> SeriesFactory:
        spike = self.spike

        def for_row(row: Row) -> DailySeries:
            def series(metric: str, day: dt.date) -> Number:
                value = daily_value(page_id, metric, day, row)
                return value if spike is None else spike.apply(metric, day, value)

            return series

        return for_row


def _invalid_token(_: Scenario, __: float) -> Effects:
    return Effects(
        interruption=GraphError(
            400,
            "Error validating access token: The session has been invalidated because the "
            "user changed their password or Facebook has changed the session for security "
            "reasons.",
            190,
            subcode=460,
        )
    )


def _expired_token(_: Scenario, now: float) -> Effects:
    expired_at = (now // 3600 - 1) * 3600
    message = (
        f"Error validating access token: Session has expired on "
        f"{calendar.pacific_clock(expired_at)}. The current time is {calendar.pacific_clock(now)}."
    )
    return Effects(interruption=GraphError(400, message, 190, subcode=463))


def _permission_denied(scenario: Scenario, _: float) -> Effects:
    code = int(scenario.param("code", 10))
    message = (
        "(#10) Application does not have permission for this action"
        if code == 10
        else f"(#{code}) Permissions error"
    )
    return Effects(interruption=GraphError(403, message, code))


def _rate_limited(scenario: Scenario, _: float) -> Effects:
    code = int(scenario.param("code", 80001))
    app_limit = code == 4
    throttle = Throttle(
        app_exhausted=app_limit,
        page_exhausted=not app_limit,
        regain_minutes=int(scenario.param("minutes", 5)),
    )
    status = 403 if app_limit else 400
    error = GraphError(
        status, RATE_LIMIT_MESSAGES[code], code, is_transient=True, throttle=throttle
    )
    return Effects(interruption=error)


def _transient(scenario: Scenario, _: float) -> Effects:
    code = int(scenario.param("code", 1))
    if code == 2:
        status = int(scenario.param("status", 400))
        error = GraphError(status, "(#2) Service temporarily unavailable", 2, is_transient=True)
    else:
        error = GraphError(int(scenario.param("status", 500)), UNKNOWN_ERROR, code)
    return Effects(interruption=error)


def _garbage(_: Scenario, __: float) -> Effects:
    return Effects(interruption=Answer(200, GARBAGE, JSON_TYPE))


def _body(scenario: Scenario, _: float) -> Effects:
    raw = Answer(
        int(scenario.param("status", 200)),
        str(scenario.param("body", "")).encode(),
        str(scenario.param("content_type", JSON_TYPE)),
    )
    return Effects(interruption=raw)


def _slow(scenario: Scenario, _: float) -> Effects:
    return Effects(delay=float(scenario.param("seconds", 1.0)))


def _retired_metric(scenario: Scenario, _: float) -> Effects:
    return Effects(retired_metrics=frozenset(scenario.param("metrics", [])))


def _unix_dialect(_: Scenario, __: float) -> Effects:
    return Effects(unix_dialect=True)


def _empty(scenario: Scenario, _: float) -> Effects:
    values = scenario.param("mode", "data") == "values"
    return Effects(empty_data=not values, empty_values=values)


def _spike(scenario: Scenario, now: float) -> Effects:
    spike = Spike(
        calendar.latest_complete_day(now),
        float(scenario.param("factor", 10)),
        float(scenario.param("add", 20)),
    )
    return Effects(spike=spike)


_EFFECTS: dict[str, Callable[[Scenario, float], Effects]] = {
    "invalid_token": _invalid_token,
    "expired_token": _expired_token,
    "permission_denied": _permission_denied,
    "retired_metric": _retired_metric,
    "rate_limited": _rate_limited,
    "transient": _transient,
    "garbage": _garbage,
    "body": _body,
    "slow": _slow,
    "unix_dialect": _unix_dialect,
    "empty": _empty,
    "spike": _spike,
}


def effects(scenario: Scenario | None, now: float) -> Effects:
    """What the Page's scenario (if any) does to the request being answered now."""
    return Effects() if scenario is None else _EFFECTS[scenario.name](scenario, now)
