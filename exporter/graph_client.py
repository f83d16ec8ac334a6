"""The Graph API client: insights operations (single GETs or batches), their retries, and
what their failures mean.

A token travels in an `Authorization: Bearer` header or inside a batch's POST body, never
in a URL. Every error
message is scrubbed before it is stored, since the API echoes tokens in paging URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from exporter import __version__
from exporter.batch import batch_body, debug_token_form, parse_batch_answer
from exporter.config import GraphApiConfig, Window
from exporter.governor import RateLimitGovernor
from exporter.insights_response import MetricData, ResponseError, decode_json, parse_insights
from exporter.redact import Secret, scrub
from exporter.self_metrics import SelfMetrics
from exporter.usage import parse_usage_headers

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80009)})
AUTH_CODES = frozenset({190, 102, 104, 10, *range(200, 300)})
TRANSIENT_CODES = frozenset({1, 2})
INVALID_METRIC_CODE = 100
# Code 100 with this subcode means the Page itself cannot be read, not that a metric is bad.
OBJECT_MISSING_SUBCODE = 33
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class InsightsQuery:
    """One GET /{page-id}/insights: metrics sharing period, window and breakdowns."""

    page_id: str
    metrics: tuple[str, ...]
    period: str
    window: Window
    breakdowns: tuple[str, ...] = ()
    baselines: tuple[tuple[str, int], ...] = ()  # metric -> baseline days, where asked
    # A fixed window in unix seconds instead of one ending now (backfills ask for the past).
    since: int | None = None
    until: int | None = None
    history: bool = False  # keep every end_time's values, not only the latest

    def params(self, now: float) -> dict[str, str]:
        params = {"metric": ",".join(self.metrics), "period": self.period}
        if self.since is not None and self.until is not None:
            params["since"] = str(self.since)
            params["until"] = str(self.until)
        elif self.window.range_seconds is not None:
            params["since"] = str(int(now - self.window.range_seconds))
            params["until"] = str(int(now))
        elif self.window.date_preset is not None:
            params["date_preset"] = self.window.date_preset
        if self.breakdowns:
            params["breakdown"] = ",".join(self.breakdowns)
        return params


class GraphError(Exception):
    """A failed request. `code` is the label of messenger_insights_api_errors_total."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        graph_code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        transient: bool = False,
    ) -> None:
        self.code = code
        self.message = scrub(message)
        self.graph_code = graph_code
        self.subcode = subcode
        self.http_status = http_status
        self.transient = transient
        super().__init__(f"{code}: {self.message}")

    @property
    def rejects_metric(self) -> bool:
        """The API refused a metric name: "(#100) The value must be a valid insights metric".

        Code 100 also means other bad parameters (a period, a date_preset) and a Page that
        cannot be read (subcode 33); those are ordinary errors, not rejected metrics.
        """
        return (
            self.graph_code == INVALID_METRIC_CODE
            and self.subcode != OBJECT_MISSING_SUBCODE
            and "metric" in self.message.lower()
        )

    @property
    def kind(self) -> str:
        if self.graph_code in RATE_LIMIT_CODES:
            return "rate limit"
        if self.graph_code in AUTH_CODES:
            return "token or permission"
        if self.rejects_metric:
            return "invalid metric"
        return "transient" if self.transient else "error"


class ThrottledError(GraphError):
    """The governor holds the request back: nothing was sent."""

    def __init__(self, until: float) -> None:
        moment = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__("throttled", f"rate limited: no requests until {moment}")
        self.until = until


class ClientClosedError(GraphError):
    """The client was retired (a reload or rediscovery replaced it): nothing was sent."""

    def __init__(self) -> None:
        super().__init__("closed", "the client was replaced; request not sent")


Operation = tuple[InsightsQuery, Secret]
Form = dict[str, str] | bytes  # POST fields, or their url-encoded body
OperationResult = dict[str, MetricData] | GraphError


class GraphClient:
    def __init__(
        self,
        api: GraphApiConfig,
        metrics: SelfMetrics,
        governor: RateLimitGovernor,
        *,
        app_secret: Secret | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.metrics = metrics
        self.governor = governor
        self.app_secret = app_secret
        self.stop = stop or threading.Event()
        self.clock = clock
        self._local = threading.local()
        self._in_flight = threading.BoundedSemaphore(api.max_concurrency)
        self._target = host_and_port(api.base_url)
        self._closed = threading.Event()
        self._sending = 0
        self._sending_changed = threading.Condition()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self, wait: float) -> bool:
        """Send nothing more; wait up to `wait` seconds for requests already sent.

        Once this returns True, no request of this client (and so none with the tokens
        only it was given) reaches the API any more. False if some were still in flight.
        """
        with self._sending_changed:
            self._closed.set()
            return self._sending_changed.wait_for(lambda: self._sending == 0, timeout=wait)

    @contextmanager
    def _sending_guard(self) -> Iterator[None]:
        with self._sending_changed:
            if self._closed.is_set():
                raise ClientClosedError
            self._sending += 1
        try:
            yield
        finally:
            with self._sending_changed:
                self._sending -= 1
                self._sending_changed.notify_all()

    def run(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """Every operation's outcome, in order: sent in batches of `batch_size` (or one by
        one), transient failures retried with backoff up to `max_retries` times."""
        results: list[OperationResult | None] = [None] * len(operations)
        pending = list(range(len(operations)))
        attempt = 0
        while pending:
            outcomes = self._attempt([operations[i] for i in pending])
            for index, outcome in zip(pending, outcomes, strict=True):
                results[index] = outcome
            retry = [i for i in pending if _is_transient(results[i])]
            if not retry or attempt >= self.api.max_retries or self._halted():
                break
            delay = backoff_delay(attempt)
            log.debug("retrying transient Graph API errors",
                      extra={"operations": len(retry), "retry_in": round(delay, 2)})
            attempt += 1
            if self._closed.wait(delay) or self._halted():
                break
            pending = retry
        return [r if r is not None else GraphError("network", "not sent") for r in results]

    def _halted(self) -> bool:
        return self.stop.is_set() or self._closed.is_set()

    def get_json(self, path: str, params: dict[str, str], token: Secret) -> Any:
        """Any other Graph API GET (such as /me/accounts), counted against the app's scope."""
        document = self._get(path, params, token, "")
        self.metrics.request_succeeded()
        return document

    def debug_token(self, input_token: Secret, app_token: Secret) -> Any:
        """/debug_token for a Page token, asked with the app's token (app_id|secret)."""
        blocked_until = self.governor.blocked_until("")
        if blocked_until is not None:
            raise ThrottledError(blocked_until)
        form = debug_token_form(input_token, app_token, self._proof(app_token))
        try:
            with self._in_flight:
                body, status, _ = self._fetch("POST", f"{self.api.base_url}/{self.api.version}", form=form)
            if status != 200:
                raise error_of_answer(status, body)
            (answer,) = parse_batch_answer(decode_json(body), 1)
        except ClientClosedError:
            raise
        except (GraphError, ResponseError) as exc:
            error = exc if isinstance(exc, GraphError) else GraphError("decode", str(exc))
            self.metrics.request_failed(error.code)
            raise error from None
        if answer is None:
            self.metrics.request_failed("network")
            raise GraphError("network", "debug_token timed out", transient=True)
        document = self._interpret(answer.status, answer.headers, answer.body, "")
        self.metrics.request_succeeded()
        return document

    def _attempt(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """One try of each operation: held back when its scope is throttled, else sent."""
        now = self.clock()
        outcomes: list[OperationResult | None] = [None] * len(operations)
        sendable = []
        for index, (query, _) in enumerate(operations):
            blocked_until = self.governor.blocked_until(query.page_id)
            if blocked_until is not None:
                outcomes[index] = ThrottledError(blocked_until)
            else:
                sendable.append(index)
        size = max(1, self.api.batch_size)
        chunks = [sendable[k:k + size] for k in range(0, len(sendable), size)]
        if not chunks:  # everything held back by the governor
            return [o if o is not None else GraphError("network", "not sent") for o in outcomes]

        def send(chunk: list[int]) -> list[OperationResult]:
            if len(chunk) == 1:
                return [self._single(operations[chunk[0]], now)]
            return self._batch([operations[i] for i in chunk], now)

        if len(chunks) == 1:
            answered = [send(chunks[0])]
        else:
            workers = min(len(chunks), self.api.max_concurrency)
            with ThreadPoolExecutor(workers, thread_name_prefix="graph-api") as pool:
                answered = list(pool.map(send, chunks))
        for chunk, results in zip(chunks, answered, strict=True):
            for index, result in zip(chunk, results, strict=True):
                outcomes[index] = result
        return [o if o is not None else GraphError("network", "not sent") for o in outcomes]

    def _single(self, operation: Operation, now: float) -> OperationResult:
        query, token = operation
        try:
            document = self._get(f"{query.page_id}/insights", query.params(now), token, query.page_id)
        except GraphError as exc:
            return exc
        return self._parse(query, document)

    def _batch(self, operations: Sequence[Operation], now: float) -> list[OperationResult]:
        form = batch_body(
            [(f"{query.page_id}/insights", query.params(now), token) for query, token in operations],
            self._proof,
        )
        pages = [query.page_id for query, _ in operations]
        try:
            with self._in_flight:
                body, status, headers = self._fetch("POST", f"{self.api.base_url}/{self.api.version}",
                                                    form=form)
            app_reports = parse_usage_headers(headers, "")
            self.metrics.record_usage(app_reports)
            self.governor.observe(app_reports, "")
            if status != 200:
                raise error_of_answer(status, body)
            answers = parse_batch_answer(decode_json(body), len(operations))
        except ClientClosedError as exc:
            return [exc] * len(operations)
        except (GraphError, ResponseError) as exc:
            error = exc if isinstance(exc, GraphError) else GraphError("decode", str(exc))
            self.metrics.request_failed(error.code)
            self.governor.observe([], "", error.graph_code)
            # One Page's answer can break a whole batch (cut off, too large, too slow), and a
            # bad top-level token fails it too: ask each operation alone, so only its own
            # Page suffers.
            log.debug("batch failed as a whole; asking each operation alone",
                      extra={"code": error.code, "operations": len(operations), "pages": len(set(pages))})
            return self._each_alone(operations, now)
        results: list[OperationResult] = []
        for (query, token), answer in zip(operations, answers, strict=True):
            if answer is None:
                # The operation timed out inside the batch: ask for it alone.
                results.append(self._single((query, token), now))
                continue
            try:
                document = self._interpret(answer.status, answer.headers, answer.body, query.page_id)
            except GraphError as exc:
                results.append(exc)
            else:
                results.append(self._parse(query, document))
        return results

    def _each_alone(self, operations: Sequence[Operation], now: float) -> list[OperationResult]:
        workers = min(len(operations), self.api.max_concurrency)
        with ThreadPoolExecutor(workers, thread_name_prefix="graph-api-single") as pool:
            return list(pool.map(lambda operation: self._single(operation, now), operations))

    def _parse(self, query: InsightsQuery, document: Any) -> OperationResult:
        try:
            data = parse_insights(
                document, query.metrics, query.period, query.breakdowns, dict(query.baselines),
                history=query.history,
            )
        except ResponseError as exc:
            self.metrics.request_failed("decode")
            return GraphError("decode", str(exc))
        self.metrics.request_succeeded()
        return data

    def _get(self, path: str, params: dict[str, str], token: Secret, page_id: str) -> Any:
        """The decoded JSON of a successful answer; a failure is counted and raised.

        `page_id` names the rate-limit scope ("" for app-level calls such as debug_token).
        """
        blocked_until = self.governor.blocked_until(page_id)
        if blocked_until is not None:
            raise ThrottledError(blocked_until)
        url = f"{self.api.base_url}/{self.api.version}/{path}"
        headers = {"Authorization": f"Bearer {token.reveal()}"}
        if (proof := self._proof(token)) is not None:
            params = {**params, "appsecret_proof": proof}
        with self._in_flight:
            try:
                body, status, response_headers = self._fetch("GET", url, params=params, headers=headers)
            except ClientClosedError:
                raise
            except GraphError as exc:
                self.metrics.request_failed(exc.code)
                raise
        return self._interpret(status, response_headers, body, page_id)

    def _interpret(self, status: int, headers: dict[str, str], body: bytes, page_id: str) -> Any:
        """The JSON of one answer (a request's or a batch operation's), or its GraphError.

        Usage headers feed the metrics and the governor whatever the outcome; a failure
        is counted by code.
        """
        reports = parse_usage_headers(headers, page_id)
        self.metrics.record_usage(reports)
        try:
            document = decode_json(body)
        except ResponseError as exc:
            error = (
                error_of_answer(status, body) if status != 200
                else GraphError("decode", str(exc), http_status=status)
            )
        else:
            if status == 200 and not (isinstance(document, dict) and "error" in document):
                self.governor.observe(reports, page_id)
                return document
            error = graph_error(document, status)
        self.metrics.request_failed(error.code)
        self.governor.observe(reports, page_id, error.graph_code)
        raise error

    def _proof(self, token: Secret) -> str | None:
        return appsecret_proof(token, self.app_secret) if self.app_secret is not None else None

    def _fetch(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        form: Form | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[bytes, int, dict[str, str]]:
        """Status, headers and body, read within the timeout and the size limit."""
        with self._sending_guard():
            return self._exchange(method, url, params=params, form=form, headers=headers)

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        form: Form | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[bytes, int, dict[str, str]]:
        if isinstance(form, bytes):  # already url-encoded (batch_body)
            headers = {**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"}
        deadline = time.monotonic() + self.api.timeout
        try:
            with self._session().request(
                method, url, params=params, data=form, headers=headers, timeout=self.api.timeout,
                stream=True,
            ) as response:
                chunks: list[bytes] = []
                size = 0
                # read1 returns what has arrived, so a body trickling in slowly still meets
                # the deadline (a plain read waits for a whole chunk).
                while chunk := response.raw.read1(65536, decode_content=True):
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise GraphError("decode", f"answer larger than {MAX_BODY_BYTES // 2**20} MiB")
                    if time.monotonic() > deadline:
                        raise self._network_error(
                            f"answer from {self._target} not complete within {self.api.timeout:g}s")
                    chunks.append(chunk)
                lowered = {k.lower(): v for k, v in response.headers.items()}
                return b"".join(chunks), response.status_code, lowered
        except requests.ConnectTimeout:
            raise self._network_error(f"no connection to {self._target} within {self.api.timeout:g}s") from None
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise self._network_error(f"no answer from {self._target} within {self.api.timeout:g}s") from None
        except urllib3.exceptions.DecodeError:
            raise GraphError("decode", "answer could not be decompressed") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._network_error(describe_network_error(exc, self.api.base_url)) from None

    def _network_error(self, what: str) -> GraphError:
        """Where it tried, so a wrong base_url can be told from an outage; never a token
        (the URL's path and query are left out)."""
        shown = without_credentials(self.api.base_url)
        return GraphError("network", f"{what} (graph_api.base_url {shown})", transient=True)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # With trust_env, requests reads the environment's proxies and looks for a
            # ~/.netrc on every request (a tenth of a batch's cost), and a netrc entry for
            # the API's host would replace the Bearer header. Proxies (NO_PROXY included)
            # and a CA bundle are read from the environment here, once per session.
            session.trust_env = False
            session.proxies.update(requests.utils.get_environ_proxies(self.api.base_url))
            if bundle := os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"):
                session.verify = bundle
            session.headers["User-Agent"] = f"messenger-insights-exporter/{__version__}"
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session


def _is_transient(result: OperationResult | None) -> bool:
    return isinstance(result, GraphError) and result.transient


def error_of_answer(status: int, body: bytes) -> GraphError:
    """The error a failed answer carries, JSON or not."""
    try:
        document = decode_json(body)
    except ResponseError:
        return GraphError("http", f"HTTP {status} with a body that is not JSON", http_status=status,
                          transient=status >= 500)
    return graph_error(document, status)


def graph_error(document: Any, status: int) -> GraphError:
    """Classify an error answer by its Graph error code, not its HTTP status."""
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict) or not _is_int(error.get("code")):
        return GraphError("http", f"HTTP {status} without a Graph API error", http_status=status,
                          transient=status >= 500)
    code = int(error["code"])
    subcode = error.get("error_subcode")
    subcode_value = subcode if isinstance(subcode, int) and not isinstance(subcode, bool) else None
    message = error.get("message")
    text = message if isinstance(message, str) else "(no message)"
    transient = code not in AUTH_CODES and (
        code in TRANSIENT_CODES
        or error.get("is_transient") is True
        or (status >= 500 and code not in RATE_LIMIT_CODES)
    )
    return GraphError(
        str(code),
        text[:500],
        graph_code=code,
        subcode=subcode_value,
        http_status=status,
        transient=transient and code not in RATE_LIMIT_CODES,
    )


def appsecret_proof(token: Secret, app_secret: Secret) -> str:
    """Hex HMAC-SHA256 of the access token keyed with the app secret."""
    return hmac.new(app_secret.reveal().encode(), token.reveal().encode(), hashlib.sha256).hexdigest()


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter: about 0.5s, 1s, 2s, … capped at 30s."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def without_credentials(url: str) -> str:
    """The URL without a user:password@ part, for messages and pages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def host_and_port(base_url: str) -> str:
    """`host:port` of a base URL (`[v6]:port`), the port filled in from the scheme."""
    parts = urlsplit(base_url)
    host = parts.hostname or "?"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443 if parts.scheme == "https" else 80
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# Words in a failed connection's text, and what they mean ({target}: host:port, {host}).
_CONNECTION_FAILURES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("refused",), "connection refused by {target}"),
    (("reset", "aborted", "broken"), "connection to {target} reset"),
    (("name or service", "resolve", "resolution"), "host name {host} not resolved"),
)
_GARBLED = (
    urllib3.exceptions.ProtocolError, urllib3.exceptions.IncompleteRead,
    requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
)


def describe_network_error(exc: Exception, base_url: str) -> str:
    """What failed and with which host and port; never the exception text itself (it holds
    the URL)."""
    target = host_and_port(base_url)
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS handshake with {target} failed (certificate or protocol; is the scheme right?)"
    if isinstance(exc, requests.ConnectionError | urllib3.exceptions.HTTPError | OSError):
        text = str(exc).lower()
        for words, meaning in _CONNECTION_FAILURES:
            if any(word in text for word in words):
                return meaning.format(target=target, host=urlsplit(base_url).hostname)
    if isinstance(exc, _GARBLED):
        return f"answer from {target} cut off or garbled in transit"
    if isinstance(exc, requests.ConnectionError):
        return f"connection to {target} failed"
    return f"{type(exc).__name__} talking to {target}"
