"""Answers to HTTP requests, as the Graph API would give them; no sockets here."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from exporter.catalog import CATALOG
from exporter.simulator import calendar, control, insights
from exporter.simulator.answer import Answer, json_answer
from exporter.simulator.effects import Effects, effects
from exporter.simulator.errors import (
    GraphError,
    invalid_metric,
    missing_token,
    unknown_error,
    unsupported_request,
)
from exporter.simulator.query import parse_query
from exporter.simulator.requestlog import RecordedRequest, RequestLog, TokenSource, redacted
from exporter.simulator.scenarios import ScenarioBook
from exporter.simulator.usage import UsageMeter
from exporter.simulator.usage import headers as usage_headers

DEFAULT_VERSION = "v24.0"
_INSIGHTS_PATH = re.compile(r"/(?:(v\d+(?:\.\d+)?)/)?([^/]+)/insights/?")
_TOKEN_SCHEMES = ("bearer", "oauth")


@dataclass(frozen=True, slots=True)
class InsightsCall:
    method: str
    path: str
    version: str
    page_id: str
    params: dict[str, str]
    token: str | None
    token_source: TokenSource


def _token(headers: Mapping[str, str], params: Mapping[str, str]) -> tuple[str | None, TokenSource]:
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() in _TOKEN_SCHEMES and credentials.strip():
        return credentials.strip(), "header"
    if params.get("access_token"):
        return params["access_token"], "query"
    return None, "none"


def _is_page_id(page_id: str) -> bool:
    return page_id.isascii() and page_id.isdigit()


def internal_error() -> Answer:
    """What a request that broke the simulator gets: Graph's own "unknown error"."""
    error = unknown_error()
    headers = (
        ("WWW-Authenticate", error.www_authenticate()),
        ("facebook-api-version", DEFAULT_VERSION),
    )
    return json_answer(error.status, error.body(), headers)


class GraphApp:
    """The simulated Graph API: routes a request and builds its answer."""

    def __init__(
        self,
        *,
        latency: float,
        extra_metrics: Collection[str],
        clock: Callable[[], float],
        stopping: threading.Event,
    ) -> None:
        self.latency = latency
        self.known_metrics = frozenset(CATALOG) | frozenset(extra_metrics)
        self.clock = clock
        self.stopping = stopping
        self.base_url = ""
        self.state = control.State(ScenarioBook(), RequestLog(), UsageMeter(clock))

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """The answer to one request; `headers` keys are lower case."""
        url = urlsplit(target)
        if control.is_control(url.path):
            return control.handle(self.state, method, url.path, body)
        match = _INSIGHTS_PATH.fullmatch(url.path)
        if match is None:
            return self._error_answer(unsupported_request(method), DEFAULT_VERSION, None)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        token, source = _token(headers, params)
        version, page_id = match.group(1) or DEFAULT_VERSION, match.group(2)
        call = InsightsCall(method, url.path, version, page_id, params, token, source)
        return self._insights(call)

    def _pause(self, seconds: float) -> None:
        # Waiting on the stop event lets stop() cut sleeps short.
        if seconds > 0:
            self.stopping.wait(seconds)

    def _insights(self, call: InsightsCall) -> Answer:
        self._record(call)
        self._pause(self.latency)
        page_id = call.page_id if _is_page_id(call.page_id) else None
        try:
            answer = self._insights_answer(call)
        except GraphError as error:
            return self._error_answer(error, call.version, page_id)
        return answer.with_headers(self._standard_headers(call.version, page_id, None))

    def _record(self, call: InsightsCall) -> None:
        query = redacted(call.params)
        now = self.clock()
        self.state.log.record(
            RecordedRequest(call.method, call.path, call.page_id, query, call.token_source, now)
        )
        self.state.usage.record(call.page_id)

    def _insights_answer(self, call: InsightsCall) -> Answer:
        if call.method != "GET":
            raise unsupported_request(call.method)
        if not _is_page_id(call.page_id):
            raise unsupported_request(call.method, call.page_id)
        if call.token is None:
            raise missing_token()
        now = self.clock()
        effect = effects(self.state.scenarios.take(call.page_id), now)
        self._pause(effect.delay)
        if isinstance(effect.interruption, GraphError):
            raise effect.interruption
        if effect.interruption is not None:
            return effect.interruption
        return json_answer(200, self._insights_body(call, call.token, effect, now))

    def _insights_body(
        self, call: InsightsCall, token: str, effect: Effects, now: float
    ) -> dict[str, object]:
        query = parse_query(call.params, now, self.known_metrics)
        if effect.retired_metrics.intersection(query.metrics):
            raise invalid_metric()
        if effect.empty_data:
            return {"data": []}
        paging = insights.PagingContext(self.base_url, call.version, token, call.params["metric"])
        return insights.body(
            call.page_id,
            query,
            calendar.latest_complete_day(now),
            effect.series_for(call.page_id),
            paging,
            unix_dialect=effect.unix_dialect,
            without_values=effect.empty_values,
        )

    def _standard_headers(
        self, version: str, page_id: str | None, error: GraphError | None
    ) -> list[tuple[str, str]]:
        meter = self.state.usage
        page = (page_id, meter.page(page_id)) if page_id is not None else None
        throttle = error.throttle if error is not None else None
        return [
            ("facebook-api-version", version),
            *usage_headers(meter.app(), page, throttle),
        ]

    def _error_answer(self, error: GraphError, version: str, page_id: str | None) -> Answer:
        headers = [
            ("WWW-Authenticate", error.www_authenticate()),
            *self._standard_headers(version, page_id, error),
        ]
        return json_answer(error.status, error.body(), tuple(headers))
