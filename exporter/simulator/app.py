"""Answers to HTTP requests, as the Graph API would give them; no sockets here.

Endpoints: GET {page-id}/insights, GET debug_token, GET me/accounts, and POST / (a batch
of any of those). Each may carry a version prefix (/v24.0/...).
"""

from __future__ import annotations

import functools
import hmac
import re
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from exporter import pacific_calendar as calendar
from exporter.catalog import CATALOG
from exporter.simulator import accounts, batch, control, insights, versions
from exporter.simulator.accounts import AccountBook, ManagedPage
from exporter.simulator.answer import JSON_TYPE, NORMAL, Answer, Delivery, json_answer
from exporter.simulator.effects import Effects, effects
from exporter.simulator.errors import (
    GraphError,
    app_token_required,
    current_user_required,
    invalid_metric,
    malformed_token,
    missing_parameter,
    missing_token,
    no_accounts_on_a_page,
    page_token_required,
    permission_missing,
    proof_invalid,
    proof_missing,
    unknown_error,
    unsupported_request,
)
from exporter.simulator.query import parse_query
from exporter.simulator.requestlog import (
    RecordedRequest,
    RequestKind,
    RequestLog,
    TokenSource,
    redacted,
)
from exporter.simulator.scenarios import Scenario, ScenarioBook
from exporter.simulator.tokens import APP_TOKEN, TokenBook, appsecret_proof, page_token
from exporter.simulator.usage import Throttle, UsageMeter
from exporter.simulator.usage import headers as usage_headers
from exporter.simulator.window import oldest_kept_day

DEFAULT_VERSION = "v24.0"
Endpoint = Literal["insights", "debug_token", "accounts", "root"]
_VERSION = r"(?:/(v\d+(?:\.\d+)?))?"
_ROUTES: tuple[tuple[Endpoint, re.Pattern[str]], ...] = (
    ("insights", re.compile(_VERSION + r"/([^/]+)/insights/?")),
    ("debug_token", re.compile(_VERSION + r"/debug_token/?")),
    ("accounts", re.compile(_VERSION + r"/me/accounts/?")),
    ("root", re.compile(_VERSION + r"/?")),
)
_TOKEN_SCHEMES = ("bearer", "oauth")


@dataclass(frozen=True, slots=True)
class Route:
    endpoint: Endpoint
    version: str | None
    page_id: str | None  # the path's Page id, for insights


def route(path: str) -> Route | None:
    for endpoint, pattern in _ROUTES:
        match = pattern.fullmatch(path)
        if match is not None:
            page_id = match.group(2) if endpoint == "insights" else None
            return Route(endpoint, match.group(1), page_id)
    return None


@dataclass(frozen=True, slots=True)
class Call:
    """One request to answer: a plain HTTP request, or one operation of a batch."""

    endpoint: Endpoint
    method: str
    path: str
    version: str
    page_id: str | None
    params: dict[str, str]
    token: str | None
    token_source: TokenSource
    kind: RequestKind


@dataclass(frozen=True, slots=True)
class Outcome:
    answer: Answer
    delay: float = 0.0  # to wait before answering (the slow scenario)
    timed_out: bool = False  # in a batch, the operation comes back as null


def _token(
    headers: Mapping[str, str], params: Mapping[str, object]
) -> tuple[str | None, TokenSource]:
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() in _TOKEN_SCHEMES and credentials.strip():
        return credentials.strip(), "header"
    token = params.get("access_token")
    if isinstance(token, str) and token:
        return token, "query"
    return None, "none"


def _is_page_id(page_id: str | None) -> bool:
    return page_id is not None and page_id.isascii() and page_id.isdigit()


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
        app_secret: str | None = None,
        pages: Collection[ManagedPage] = (),
    ) -> None:
        self.latency = latency
        self.known_metrics = frozenset(CATALOG) | frozenset(extra_metrics)
        self.clock = clock
        self.stopping = stopping
        self.app_secret = app_secret
        self.base_url = ""
        self.state = control.State(
            ScenarioBook(),
            RequestLog(),
            UsageMeter(clock),
            TokenBook(),
            AccountBook(pages),
            ScenarioBook(),
        )

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """The answer to one request; `headers` keys are lower case."""
        url = urlsplit(target)
        if control.is_control(url.path):
            return control.handle(self.state, method, url.path, body)
        self.state.log.record_http()
        found = route(url.path)
        if found is None or (found.endpoint == "root" and method != "POST"):
            return self._error_answer(unsupported_request(method), DEFAULT_VERSION, None)
        try:
            version = versions.answering(found.version or DEFAULT_VERSION, self.clock())
        except GraphError as error:
            return self._error_answer(error, DEFAULT_VERSION, None)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if found.endpoint == "root":
            self._pause(self.latency)
            return self._batch(version, params, headers, body)
        token, source = _token(headers, params)
        call = Call(
            found.endpoint,
            method,
            url.path,
            version,
            found.page_id,
            params,
            token,
            source,
            found.endpoint,
        )
        outcome = self._call(call, self.latency)
        self._pause(outcome.delay)
        return outcome.answer

    def _pause(self, seconds: float) -> None:
        # Waiting on the stop event lets stop() cut sleeps short.
        if seconds > 0:
            self.stopping.wait(seconds)

    # --- one call ------------------------------------------------------------------------

    def _call(self, call: Call, latency: float = 0.0) -> Outcome:
        try:
            # A batch operation may name a version of its own.
            call = replace(call, version=versions.answering(call.version, self.clock()))
        except GraphError as error:
            return Outcome(self._error_answer(error, DEFAULT_VERSION, None))
        proof_ok = self._proof_ok(call.token, call.params)
        self.state.log.record(
            RecordedRequest(
                call.method,
                call.path,
                call.page_id,
                redacted(call.params),
                call.token_source,
                self.clock(),
                proof_ok,
                call.kind,
            )
        )
        if call.page_id is not None:
            self.state.usage.record(call.page_id)
        self._pause(latency)
        if call.endpoint == "insights":
            return self._insights(call, proof_ok)
        if call.endpoint == "debug_token":
            return self._debug_token(call, proof_ok)
        if call.endpoint == "accounts":
            return self._accounts(call, proof_ok)
        # Only a batch operation gets here: a batch inside a batch, or a path Graph lacks.
        return Outcome(self._error_answer(unsupported_request(call.method), call.version, None))

    def _proof_ok(self, token: str | None, params: Mapping[str, object]) -> bool | None:
        if self.app_secret is None:
            return None
        proof = params.get("appsecret_proof")
        if token is None or not isinstance(proof, str):
            return False
        return hmac.compare_digest(proof.lower(), appsecret_proof(token, self.app_secret))

    @staticmethod
    def _check_proof(proof_ok: bool | None, params: Mapping[str, object]) -> None:
        if proof_ok is False:
            raise proof_invalid() if params.get("appsecret_proof") else proof_missing()

    def _respond(
        self,
        call: Call,
        page_id: str | None,
        admit: Callable[[], Scenario | None],
        build: Callable[[Effects, float], Answer],
    ) -> Outcome:
        """`admit` checks the request and takes its scenario; `build` makes a normal answer.

        The scenario can replace the answer, slow it, resize it or spoil its delivery.
        """
        effect = Effects()
        try:
            scenario = admit()
            now = self.clock()
            effect = effects(scenario, now)
            if isinstance(effect.interruption, GraphError):
                raise effect.interruption
            answer = effect.interruption or build(effect, now)
            answer = answer.with_headers(
                self._standard_headers(call.version, page_id, effect.throttle)
            )
        except GraphError as error:
            answer = self._error_answer(error, call.version, page_id, effect.throttle)
        return Outcome(effect.shape(answer), effect.delay, effect.batch_timeout)

    # --- insights ------------------------------------------------------------------------

    def _insights(self, call: Call, proof_ok: bool | None) -> Outcome:
        page_id = call.page_id if _is_page_id(call.page_id) else None

        def admit() -> Scenario | None:
            if call.method != "GET":
                raise unsupported_request(call.method)
            if page_id is None:
                raise unsupported_request(call.method, call.page_id)
            if call.token is None:
                raise missing_token()
            self._check_proof(proof_ok, call.params)
            self._check_token(call.token)
            self._check_page_token(call.token, page_id, call.method)
            return self.state.scenarios.take(page_id)

        def build(effect: Effects, now: float) -> Answer:
            assert page_id is not None and call.token is not None  # admitted
            if "read_insights" not in self.state.tokens.scopes(call.token):
                # Meta's insights reference: without read_insights "an empty dataset is
                # returned", HTTP 200 and no error (graph-api.md, "Permissions").
                return json_answer(200, {"data": []})
            return json_answer(200, self._insights_body(call, page_id, call.token, effect, now))

        return self._respond(call, page_id, admit, build)

    def _check_token(self, token: str) -> None:
        """190 for a token Meta never issued (as debug_token says of it: "Cannot parse access
        token"), or for one debug_token calls invalid. An app token is checked where used."""
        if not APP_TOKEN.fullmatch(token) and not self.state.tokens.known(token):
            raise malformed_token()
        refusal = self.state.tokens.refusal(token, self.clock())
        if refusal is not None:
            raise refusal

    def _check_page_token(self, token: str, page_id: str, method: str) -> None:
        """Only the Page's own token reads its insights. Another Page's token gets 190 when
        this Page exists for the API, and 100/33 ("does not exist, cannot be loaded due to
        missing permissions") when no token of it is known; a user or app token gets 190."""
        if self.state.tokens.is_user(token) or APP_TOKEN.fullmatch(token):
            raise page_token_required()
        if self.state.tokens.page_of(token) == page_id:
            if not self.state.accounts.allows_analysis(page_id):
                # Insights need the ANALYZE task on the Page (graph-api.md, "Permissions").
                # What Meta answers without it is not recorded: the error table's
                # "permission missing", code 10, HTTP 403.
                raise permission_missing()
            return
        if self.state.tokens.page_known(page_id) or self.state.accounts.manages(page_id):
            raise page_token_required()
        raise unsupported_request(method, page_id)

    def _insights_body(
        self, call: Call, page_id: str, token: str, effect: Effects, now: float
    ) -> dict[str, object]:
        query = parse_query(call.params, now, self.known_metrics)
        if effect.retired_metrics.intersection(query.metrics):
            raise invalid_metric()
        if effect.empty_data:
            return {"data": []}
        paging = insights.PagingContext(self.base_url, call.version, token, call.params["metric"])
        return insights.body(
            page_id,
            query,
            calendar.latest_complete_day(now),
            effect.series_for(page_id),
            paging,
            now=now,
            unix_dialect=effect.unix_dialect,
            without_values=effect.empty_values,
            oldest=oldest_kept_day(now),
        )

    # --- debug_token ---------------------------------------------------------------------

    def _debug_token(self, call: Call, proof_ok: bool | None) -> Outcome:
        app = APP_TOKEN.fullmatch(call.token or "")

        def admit() -> None:
            if call.method != "GET":
                raise unsupported_request(call.method)
            if call.token is None:
                raise app_token_required()
            if app is None:
                raise malformed_token()
            if self.app_secret is not None and not hmac.compare_digest(app.group(2), self.app_secret):
                # An app token is APP_ID|APP_SECRET: another secret is not this app's.
                raise malformed_token()
            self._check_proof(proof_ok, call.params)
            if not call.params.get("input_token"):
                raise missing_parameter("input_token")

        def build(_: Effects, now: float) -> Answer:
            assert app is not None  # admitted
            info = self.state.tokens.info(call.params["input_token"], app.group(1), now)
            return json_answer(200, {"data": info})

        return self._respond(call, None, admit, build)

    # --- me/accounts ---------------------------------------------------------------------

    def _accounts(self, call: Call, proof_ok: bool | None) -> Outcome:
        def admit() -> Scenario | None:
            if call.method != "GET":
                raise unsupported_request(call.method)
            if call.token is None:
                raise current_user_required()
            self._check_proof(proof_ok, call.params)
            self._check_token(call.token)
            if self.state.tokens.is_page_token(call.token):
                # With a Page token, `me` is the Page, which has no `accounts` edge.
                raise no_accounts_on_a_page()
            if not self.state.tokens.is_user(call.token):
                # An app token has no current user.
                raise current_user_required()
            return self.state.accounts_scenario.take(control.ACCOUNTS)

        def build(_: Effects, __: float) -> Answer:
            assert call.token is not None  # admitted
            endpoint_url = f"{self.base_url}/{call.version}/me/accounts"
            found = accounts.listing(
                self.state.accounts.pages(), call.token, call.params, endpoint_url
            )
            for page in found.pages:
                token = page_token(page.id, call.token)
                self.state.tokens.issued(token, page.id, call.token)
            return json_answer(200, found.body)

        return self._respond(call, None, admit, build)

    # --- batch ---------------------------------------------------------------------------

    def _batch(
        self, version: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> Answer:
        try:
            fields = batch.form(query, headers.get("content-type", ""), body)
            token, _ = _token(headers, fields)
            if token is None:
                raise missing_parameter("access_token")
            self._check_proof(self._proof_ok(token, fields), fields)
            proof = fields.get("appsecret_proof")
            operations = batch.operations(
                fields.get("batch"), token, proof if isinstance(proof, str) else None
            )
            with_headers = batch.include_headers(fields)
        except GraphError as error:
            return self._error_answer(error, version, None)
        outcomes = [self._call(self._operation_call(op, version)) for op in operations]
        # The operations run side by side: the batch takes as long as the slowest.
        self._pause(max(outcome.delay for outcome in outcomes))
        delivery = functools.reduce(
            Delivery.worse, (outcome.answer.delivery for outcome in outcomes), NORMAL
        )
        rendered = batch.render(
            [None if outcome.timed_out else outcome.answer for outcome in outcomes],
            with_headers=with_headers,
        )
        headers_out = tuple(self._standard_headers(version, None, None))
        return Answer(200, rendered, JSON_TYPE, headers_out, delivery)

    @staticmethod
    def _operation_call(op: batch.Operation, version: str) -> Call:
        found = route(op.path) or Route("root", None, None)
        return Call(
            found.endpoint,
            op.method,
            op.path,
            found.version or version,
            found.page_id,
            op.params,
            op.token,
            op.token_source,
            # Insights operations are logged as "batch"; token checks and Page listings keep
            # their own kind whichever way they arrive.
            found.endpoint if found.endpoint in ("debug_token", "accounts") else "batch",
        )

    # --- headers -------------------------------------------------------------------------

    def _standard_headers(
        self, version: str, page_id: str | None, throttle: Throttle | None
    ) -> list[tuple[str, str]]:
        meter = self.state.usage
        page = (page_id, meter.page(page_id)) if page_id is not None else None
        return [("facebook-api-version", version), *usage_headers(meter.app(), page, throttle)]

    def _error_answer(
        self,
        error: GraphError,
        version: str,
        page_id: str | None,
        throttle: Throttle | None = None,
    ) -> Answer:
        headers = [
            ("WWW-Authenticate", error.www_authenticate()),
            *self._standard_headers(version, page_id, error.throttle or throttle),
        ]
        return json_answer(error.status, error.body(), tuple(headers))
