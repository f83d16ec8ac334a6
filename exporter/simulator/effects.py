"""What each scenario does to an answer (of insights, or of me/accounts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

from exporter import pacific_calendar as calendar
from exporter.simulator.answer import JSON_TYPE, NORMAL, Answer, Delivery, padded
from exporter.simulator.breakdowns import Row
from exporter.simulator.errors import (
    OAUTH,
    RATE_LIMIT_MESSAGES,
    SESSION_INVALIDATED,
    TRANSIENT_CODES,
    UNKNOWN_ERROR,
    GraphError,
    expired_message,
    table_message,
    table_status,
)
from exporter.simulator.insights import SeriesFactory
from exporter.simulator.scenarios import Scenario
from exporter.simulator.usage import Throttle
from exporter.simulator.values import DailySeries, Number, daily_value

SPIKED_METRICS = frozenset(
    {"page_messages_blocked_conversations_unique", "page_messages_reported_conversations_unique"}
)

_MEGABYTE = 1 << 20

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
    # How the answer travels, and how big it is made (bytes; None: as it is).
    delivery: Delivery = NORMAL
    size: int | None = None
    # Usage figures shown instead of the measured ones, on any answer.
    throttle: Throttle | None = None
    # In a batch, the operation times out (its entry is null).
    batch_timeout: bool = False

    def shape(self, answer: Answer) -> Answer:
        """The answer as this scenario sends it: padded to size, then delivered its way."""
        if self.size is not None and isinstance(answer.body, bytes):
            answer = replace(answer, body=padded(answer.body, self.size))
        return replace(answer, delivery=self.delivery)

    def series_for(self, page_id: str) -> SeriesFactory:
        spike = self.spike

        def for_row(row: Row) -> DailySeries:
            def series(metric: str, day: dt.date) -> Number:
                value = daily_value(page_id, metric, day, row)
                return value if spike is None else spike.apply(metric, day, value)

            return series

        return for_row


def _invalid_token(_: Scenario, __: float) -> Effects:
    return Effects(interruption=GraphError(400, SESSION_INVALIDATED, 190, subcode=460))


def _expired_token(_: Scenario, now: float) -> Effects:
    return Effects(interruption=GraphError(400, expired_message(now), 190, subcode=463))


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
    throttle = Throttle.exhausted(
        app=app_limit, page=not app_limit, regain_minutes=int(scenario.param("minutes", 5))
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


def _reset(_: Scenario, __: float) -> Effects:
    return Effects(delivery=Delivery("reset"))


def _drop(_: Scenario, __: float) -> Effects:
    return Effects(delivery=Delivery("drop"))


def _trickle(scenario: Scenario, _: float) -> Effects:
    rate = float(scenario.param("bytes_per_second", 50))
    return Effects(delivery=Delivery("trickle", rate))


def _huge(scenario: Scenario, _: float) -> Effects:
    return Effects(size=round(float(scenario.param("megabytes", 20)) * _MEGABYTE))


def _error(scenario: Scenario, now: float) -> Effects:
    code = int(scenario.param("code", 1))
    subcode = scenario.param("subcode", None)
    minutes = scenario.param("minutes", None)
    throttle = None
    if minutes is not None:
        throttle = Throttle.exhausted(app=code == 4, page=True, regain_minutes=int(minutes))
    error = GraphError(
        int(scenario.param("status", table_status(code))),
        str(scenario.param("message", table_message(code, subcode, now))),
        code,
        type=str(scenario.param("type", OAUTH)),
        subcode=subcode,
        is_transient=scenario.param("is_transient", True if code in TRANSIENT_CODES else None),
        throttle=throttle,
    )
    return Effects(interruption=error)


def _usage(scenario: Scenario, _: float) -> Effects:
    figure = int(scenario.param("call_count", 95))
    source = scenario.param("source", "business_use_case")
    throttle = Throttle(
        app_call_count=figure if source == "app" else None,
        business_call_count=figure if source == "business_use_case" else None,
        page_call_count=figure if source == "page" else None,
        regain_minutes=int(scenario.param("minutes", 0)),
    )
    return Effects(throttle=throttle)


def _batch_timeout(_: Scenario, __: float) -> Effects:
    return Effects(batch_timeout=True)


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
    "reset": _reset,
    "drop": _drop,
    "trickle": _trickle,
    "huge": _huge,
    "error": _error,
    "usage": _usage,
    "batch_timeout": _batch_timeout,
}


def effects(scenario: Scenario | None, now: float) -> Effects:
    """What the Page's scenario (if any) does to the request being answered now."""
    return Effects() if scenario is None else _EFFECTS[scenario.name](scenario, now)
