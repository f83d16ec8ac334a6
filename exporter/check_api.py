"""--check-api: a small, bounded number of real requests proving the config works against
the Graph API, for the user to run first and to paste into a bug report.

For each Page (configured, then discovered; at most `limit`): its token (/debug_token, with
app credentials), each metric entry accepted or rejected, and its values fetched by single
GETs and again inside a batch, which must agree: a batch operation that did not
authenticate as its own Page would fail or differ. Requests go through the GraphClient, so
the rate-limit governor holds back a Page Meta asked to pause; a throttled Page is reported,
not asked again.

Requests made, at most: one /debug_token per distinct token (with app credentials), one
/me/accounts listing (with discovery), per Page one GET per request group plus one per
metric of a group Meta rejected, and the batches: one per 50 operations, plus one per batch
re-asking its first Page's operations behind another Page's token (the first operation's
token is the batch's fallback, so its own answers prove nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import CollectorRegistry

from exporter.batch import MAX_BATCH_SIZE
from exporter.check_api_fixes import (
    EXPIRY_WARNING_SECONDS,
    Problem,
    expiring,
    invalid_token,
    missing_scopes,
    page_label,
    rejected_metric,
    request_failed,
    throttled,
)
from exporter.config import MetricSpec, PageConfig
from exporter.discovery import DiscoveryError, discover
from exporter.governor import RateLimitGovernor
from exporter.graph_client import (
    Form,
    GraphClient,
    GraphError,
    Operation,
    OperationResult,
    ThrottledError,
)
from exporter.insights_response import MetricData
from exporter.redact import Secret
from exporter.refresh import group_specs, query_for
from exporter.runtime import Settings
from exporter.self_metrics import SelfMetrics
from exporter.token_check import TokenInfoError, TokenStatus, parse_token_info
from exporter.token_validity import TOKEN_ERROR_CODE

DEFAULT_PAGES = 20
ACCEPTED, REJECTED, UNANSWERED = "accepted", "rejected", "no answer"
NOT_ASKED = "not asked"


class _CheckClient(GraphClient):
    """The exporter's client, which also notes the version that answered and can send a
    batch of any size (the exporter sends a lone operation as a plain GET)."""

    answered_version: str | None = None

    def _fetch(self, method: str, url: str, *, params: dict[str, str] | None = None,
               form: Form | None = None,
               headers: dict[str, str] | None = None) -> tuple[bytes, int, dict[str, str]]:
        body, status, answer_headers = super()._fetch(method, url, params=params, form=form,
                                                      headers=headers)
        self.answered_version = answer_headers.get("facebook-api-version", self.answered_version)
        return body, status, answer_headers

    def one_batch(self, operations: Sequence[Operation]) -> list[OperationResult]:
        return self._batch(operations, self.clock())

    def _each_alone(self, operations: Sequence[Operation], now: float) -> list[OperationResult]:
        # The exporter asks each operation alone when a batch fails as a whole; here that
        # would hide the very failure --check-api looks for. An app-wide rate limit is no
        # batch failure: the governor now holds every request.
        paused_until = self.governor.blocked_until("")
        if paused_until is not None:
            return [ThrottledError(paused_until) for _ in operations]
        return [GraphError("batch", "the batch request failed as a whole (--log.level=debug says how)")
                for _ in operations]


@dataclass
class PageReport:
    page: PageConfig
    token: Secret
    discovered: bool = False
    token_status: TokenStatus | None = None
    token_valid: bool | None = None  # None: not known
    throttled_until: float | None = None
    verdicts: dict[MetricSpec, str] = field(default_factory=dict)
    single: dict[str, MetricData] = field(default_factory=dict)
    batched: dict[str, MetricData] = field(default_factory=dict)
    batch: str = NOT_ASKED  # equal, differ, failed: ..., or NOT_ASKED
    problems: list[Problem] = field(default_factory=list)

    failed: bool = False  # a request failed for another reason: ask no more

    @property
    def askable(self) -> bool:
        return self.token_valid is not False and self.throttled_until is None and not self.failed

    def accepted_groups(self) -> list[tuple[MetricSpec, ...]]:
        groups = (tuple(s for s in g if self.verdicts.get(s) == ACCEPTED) for g in group_specs(self.page.metrics))
        return [group for group in groups if group]

    @property
    def ok(self) -> bool:
        return not any(problem.fatal for problem in self.problems)


@dataclass
class ApiReport:
    base_url: str
    version: str
    answered_version: str | None
    tls: bool
    app_checked: bool
    pages_total: int
    pages: list[PageReport]
    problems: list[Problem]  # those that concern no single Page
    usage: list[tuple[str, str, str, float]]  # source, id, kind, ratio
    # One distinct token among the batched Pages: the batch's fallback token is that same
    # token, so the comparison proves the batch format, not per-operation tokens.
    one_token: bool = False

    @property
    def ok(self) -> bool:
        return all(page.ok for page in self.pages) and not any(p.fatal for p in self.problems)


class ApiCheck:
    def __init__(self, settings: Settings, limit: int = DEFAULT_PAGES,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.limit = limit
        self.clock = clock
        api = settings.config.graph_api
        self.registry = CollectorRegistry(auto_describe=False)
        self.metrics = SelfMetrics(self.registry)
        self.governor = RateLimitGovernor(api.max_usage_ratio, clock)
        self.client = _CheckClient(api, self.metrics, self.governor, app_secret=settings.app_secret,
                                   clock=clock)
        # Single GETs: a client whose batches hold one operation.
        self.single = _CheckClient(replace(api, batch_size=1), self.metrics, self.governor,
                                   app_secret=settings.app_secret, clock=clock)
        self.problems: list[Problem] = []

    def run(self) -> ApiReport:
        pages, total = self._pages()
        self._check_tokens(pages)
        probe = [(r, groups[0]) for r in pages if r.askable and (groups := group_specs(r.page.metrics))]
        self._ask_single(probe)
        self._ask_single([(r, g) for r in pages if r.askable for g in group_specs(r.page.metrics)[1:]])
        self._ask_batched(pages)
        for report in pages:
            _finish(report)
        api = self.settings.config.graph_api
        answered = self.client.answered_version or self.single.answered_version
        self._check_version(answered)
        batched_tokens = {r.token for r in pages if r.batch != NOT_ASKED}
        return ApiReport(api.base_url, api.version, answered, api.base_url.lower().startswith("https://"),
                         self._app_token() is not None, total, pages, self.problems, self._usage(),
                         one_token=len(batched_tokens) == 1)

    # --- which Pages ----------------------------------------------------------------------

    def _pages(self) -> tuple[list[PageReport], int]:
        """The configured Pages, then the discovered ones; the first `limit` of them, and
        how many there are in all."""
        settings = self.settings
        reports = [PageReport(page, settings.tokens[page.id]) for page in settings.config.pages
                   if page.id in settings.tokens]
        discovery = settings.config.discovery
        if discovery is not None and settings.user_token is not None:
            configured = {report.page.id for report in reports}
            try:
                found = discover(self.single, settings.user_token, discovery)
            except DiscoveryError as exc:
                self.problems.append(Problem(
                    "Page discovery", str(exc),
                    "check the discovery token (discovery.user_token): a user or system-user token "
                    "with pages_show_list that manages the Pages"))
                found = []
            reports += [PageReport(PageConfig(p.id, p.name or None, discovery.user_token,
                                              settings.config.metrics), p.token, discovered=True)
                        for p in found if p.id not in configured]
        return reports[:self.limit], len(reports)

    # --- tokens ---------------------------------------------------------------------------

    def _app_token(self) -> Secret | None:
        app_id, secret = self.settings.config.graph_api.app_id, self.settings.app_secret
        return Secret(f"{app_id}|{secret.reveal()}") if app_id is not None and secret is not None else None

    def _check_tokens(self, pages: list[PageReport]) -> None:
        """/debug_token once per distinct token, with app credentials."""
        app_token = self._app_token()
        if app_token is None:
            return
        checked: dict[Secret, tuple[TokenStatus | None, str]] = {}
        for report in pages:
            if report.token not in checked:
                checked[report.token] = self._debug_token(report.token, app_token)
            status, error = checked[report.token]
            report.token_status = status
            if status is None:
                report.problems.append(Problem(page_label(report.page), f"token check failed: {error}",
                                               "check graph_api.app_id and the app secret"))
                continue
            report.token_valid = status.valid
            _judge_token(report, status, error, self.clock())

    def _debug_token(self, token: Secret, app_token: Secret) -> tuple[TokenStatus | None, str]:
        """The token's status and, when it is invalid, Meta's reason; (None, why) on failure."""
        try:
            document = self.client.debug_token(token, app_token)
            return parse_token_info(document, self.clock()), _debug_token_error(document)
        except (GraphError, TokenInfoError) as exc:
            return None, str(exc)

    # --- insights -------------------------------------------------------------------------

    def _ask_single(self, work: list[tuple[PageReport, tuple[MetricSpec, ...]]]) -> None:
        """Single GETs; a group with a rejected metric is asked again one metric at a time."""
        while work:
            results = self.single.run([(query_for(r.page.id, g), r.token) for r, g in work])
            split: list[tuple[PageReport, tuple[MetricSpec, ...]]] = []
            for (report, group), result in zip(work, results, strict=True):
                if isinstance(result, GraphError) and result.rejects_metric and len(group) > 1:
                    split.extend((report, (spec,)) for spec in group)
                else:
                    self._record_single(report, group, result)
            work = split

    def _record_single(self, report: PageReport, group: tuple[MetricSpec, ...], result: OperationResult) -> None:
        if not isinstance(result, GraphError):
            if report.token_valid is None:
                report.token_valid = True
            report.verdicts.update(dict.fromkeys(group, ACCEPTED))
            report.single.update({spec.name: result[spec.name] for spec in group if spec.name in result})
        elif result.rejects_metric:
            report.verdicts[group[0]] = REJECTED
            report.problems.append(rejected_metric(report.page, group[0], result.message))
        elif _is_throttled(result):
            self._throttle(report)
        elif result.graph_code == TOKEN_ERROR_CODE:
            if report.token_valid is not False:
                report.token_valid = False
                report.problems.append(invalid_token(report.page, result.message, discovered=report.discovered))
        elif not report.failed:
            report.failed = True
            report.problems.append(request_failed(page_label(report.page), result))

    def _ask_batched(self, pages: list[PageReport]) -> None:
        """The accepted metrics again, inside batches; each batch's first Page once more
        behind another Page's token."""
        operations = [(r, g) for r in pages
                      if r.askable and self.governor.blocked_until(r.page.id) is None
                      for g in r.accepted_groups()]
        size = max(2, min(MAX_BATCH_SIZE, self.settings.config.graph_api.batch_size))
        chunks = [operations[k:k + size] for k in range(0, len(operations), size)]
        for chunk in chunks:
            self._send_batch(chunk)
        for chunk in chunks:
            leader = chunk[0][0]
            decoy = next((op for op in operations if op[0].token != leader.token), None)
            if decoy is not None:
                leader.batched.clear()
                self._send_batch([decoy, *((r, g) for r, g in chunk if r is leader)], skip=decoy[0])

    def _send_batch(self, chunk: list[tuple[PageReport, tuple[MetricSpec, ...]]],
                    skip: PageReport | None = None) -> None:
        results = self.client.one_batch([(query_for(r.page.id, g), r.token) for r, g in chunk])
        for index, ((report, group), result) in enumerate(zip(chunk, results, strict=True)):
            if skip is not None and index == 0:
                continue
            if _is_throttled(result):
                self._throttle(report)
                report.batch = NOT_ASKED
            elif isinstance(result, GraphError):
                report.batch = f"failed: {result.code}: {result.message}"
            elif not report.batch.startswith("failed"):
                report.batch = "asked"
                report.batched.update({spec.name: result[spec.name] for spec in group if spec.name in result})

    def _throttle(self, report: PageReport) -> None:
        if report.throttled_until is None:
            report.throttled_until = self.governor.blocked_until(report.page.id) or self.clock()
            report.problems.append(throttled(report.page, report.throttled_until))

    # --- the API as a whole ---------------------------------------------------------------

    def _check_version(self, answered: str | None) -> None:
        asked = self.settings.config.graph_api.version
        if answered is not None and answered != asked:
            self.problems.append(Problem(
                "Graph API", f"{asked} was asked for but {answered} answered: Meta serves a version "
                "past its end of life with the next live one",
                f"set graph_api.version: {answered} in the config (and read Meta's changelog)",
                fatal=False))

    def _usage(self) -> list[tuple[str, str, str, float]]:
        usage = self.metrics.usage.families()[0]
        return [(s.labels["source"], s.labels["id"], s.labels["kind"], s.value) for s in usage.samples]


def _is_throttled(result: OperationResult) -> bool:
    return isinstance(result, ThrottledError) or (isinstance(result, GraphError) and result.kind == "rate limit")


def _judge_token(report: PageReport, status: TokenStatus, error: str, now: float) -> None:
    page, discovered = report.page, report.discovered
    if not status.valid:
        report.problems.append(invalid_token(page, error or "/debug_token reports it invalid",
                                             discovered=discovered))
    elif status.missing_scopes:
        report.problems.append(missing_scopes(page, status.missing_scopes, discovered=discovered))
    if status.valid and 0 < status.expires_at < now + EXPIRY_WARNING_SECONDS:
        report.problems.append(expiring(page, status.expires_at, discovered=discovered))


def _debug_token_error(document: Any) -> str:
    data = document.get("data") if isinstance(document, dict) else None
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else ""


def _finish(report: PageReport) -> None:
    """Every entry gets a verdict, and the batch its comparison with the single GETs."""
    for spec in report.page.metrics:
        report.verdicts.setdefault(spec, UNANSWERED)
    if ACCEPTED in report.verdicts.values() and not report.single:
        report.problems.append(_no_values(report))
    if report.batch.startswith("failed"):
        report.problems.append(_batch_problem(report, report.batch))
    if report.batch != "asked":
        return
    names = {spec.name for spec, verdict in report.verdicts.items() if verdict == ACCEPTED}
    wanted = {name: report.single.get(name) for name in names}
    got = {name: report.batched.get(name) for name in names}
    report.batch = "equal" if wanted == got else "differ"
    if wanted != got:
        report.problems.append(_batch_problem(report, "values differ from the single GETs'"))


def _no_values(report: PageReport) -> Problem:
    checked = report.token_status is not None
    return Problem(
        page_label(report.page), "every accepted metric came back without values",
        "a new Page, or Messenger unused, has none; but Meta also answers so when the token lacks "
        "read_insights: " + ("the token check above shows its permissions" if checked else
                             "check it in the Access Token Debugger, or add graph_api.app_id and an "
                             "app secret so --check-api checks permissions"),
        fatal=False)


def _batch_problem(report: PageReport, what: str) -> Problem:
    return Problem(
        page_label(report.page), f"inside a batch: {what}: the batch operation did not read the "
        "Page as its own Page token does",
        "set graph_api.batch_size: 1 until it is fixed (every request then goes alone), and report "
        "a bug with this output")
