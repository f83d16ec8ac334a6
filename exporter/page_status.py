"""What the status page shows: the exporter's state, read once per request, and each
Page's state worked out from it (up, failing, held by rate limits, stale, pending).

Reading takes every source once (the snapshot mapping, the governor's holds, the token
statuses, the due times), so one answer never mixes two moments. Classifying is cheap and
runs for every Page (for the counts and filters); the full row is built only for the
Pages a request shows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.config import Config, PageConfig
from exporter.credentials import token_origin
from exporter.snapshots import ErrorInfo, PageSnapshot
from exporter.token_check import TokenStatus
from exporter.token_validity import Evidence, token_valid
from exporter.usage import UsagePeak

UP = "up"
FAILING = "failing"
HELD = "held"
STALE = "stale"
PENDING = "pending"
# Shown in this order, most urgent first.
STATES = (FAILING, STALE, HELD, PENDING, UP)
# Filters: every Page, the ones needing attention, or one state.
PROBLEM_STATES = frozenset({FAILING, STALE, HELD})
FILTERS = ("all", *STATES)  # "failing" shows every Page needing attention

# The shipped MessengerInsightsTokenExpiringSoon alert fires within this much of expiry.
TOKEN_EXPIRY_WARNING_SECONDS = 7 * 86400


@dataclass(frozen=True, slots=True)
class ReloadRecord:
    """When the running config was loaded, and the last reload that failed after it."""

    loaded_at: float
    failed_at: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StatusInputs:
    """Everything one status answer reads, taken at one moment."""

    now: float
    snapshots: Mapping[str, PageSnapshot]
    held: Mapping[str, float]  # Page id -> held until (Pages on hold only)
    app_held_until: float  # 0: the app is not held
    tokens: Mapping[str, TokenStatus] | None  # None: no app id and secret, no token checks
    token_answers: Mapping[str, Evidence]  # what each Page's last insights answer said of its token
    due: Mapping[str, float]  # Page id -> next refresh (Pages never refreshed: due now)
    config: Config
    shard_index: int
    shard_count: int
    reload: ReloadRecord
    usage_peak: UsagePeak | None
    demo: bool
    generation: str  # changes whenever what the page shows may have changed


def held_until(inputs: StatusInputs, page_id: str) -> float | None:
    until = max(inputs.held.get(page_id, 0.0), inputs.app_held_until)
    return until if until > inputs.now else None


def classify(inputs: StatusInputs, snapshot: PageSnapshot) -> str:
    """The Page's state: held wins (it explains everything else), then never tried, then
    data older than stale_after (no longer exported), then the last refresh's outcome."""
    held = held_until(inputs, snapshot.page.id) is not None
    return _state(snapshot, held, inputs.now - inputs.config.refresh.stale_after)


def classify_all(inputs: StatusInputs) -> list[tuple[str, PageSnapshot]]:
    """classify() for every Page, with what it reads worked out once: this runs for all
    Pages on every request."""
    now = inputs.now
    stale_before = now - inputs.config.refresh.stale_after
    if inputs.app_held_until > now:
        return [(HELD, snapshot) for snapshot in inputs.snapshots.values()]
    held = {page_id for page_id, until in inputs.held.items() if until > now}
    return [(_state(snapshot, page_id in held, stale_before), snapshot)
            for page_id, snapshot in inputs.snapshots.items()]


def _state(snapshot: PageSnapshot, held: bool, stale_before: float) -> str:
    if held:
        return HELD
    if not snapshot.attempted:
        return PENDING
    last = snapshot.last_success
    if last is not None and last < stale_before:
        return STALE
    return UP if snapshot.up else FAILING


def matches(state: str, wanted: str) -> bool:
    return wanted in ("all", state) or (wanted == FAILING and state in PROBLEM_STATES)


@dataclass(frozen=True, slots=True)
class TokenView:
    state: str  # valid, expiring, invalid, unchecked
    text: str
    detail: str  # the hover text: expiry dates, missing permissions, source


@dataclass(frozen=True, slots=True)
class PageRow:
    page_id: str
    name: str | None
    state: str
    held_until: float | None
    last_success: float | None
    refresh_duration: float | None
    next_due: float | None
    token: TokenView
    error: ErrorInfo | None  # the current error: the last refresh failed
    recovered_error: ErrorInfo | None  # the last error of a Page that has recovered since


def page_row(inputs: StatusInputs, snapshot: PageSnapshot, state: str) -> PageRow:
    page = snapshot.page
    error = snapshot.last_error
    # The last refresh failed: its error is the current one. Otherwise it is history.
    current = error is not None and snapshot.attempted and not snapshot.up
    return PageRow(
        page_id=page.id,
        name=page.name,
        state=state,
        held_until=held_until(inputs, page.id),
        last_success=snapshot.last_success,
        refresh_duration=snapshot.refresh_duration,
        next_due=inputs.due.get(page.id, inputs.now),
        token=token_view(inputs, page),
        error=error if current else None,
        recovered_error=None if current else error,
    )


def token_view(inputs: StatusInputs, page: PageConfig) -> TokenView:
    """Valid or not as messenger_insights_token_valid says (the newer of the last answer and
    the last /debug_token check); expiry and permissions from the check."""
    source = f"token from {token_origin(page.token)}"
    status = inputs.tokens.get(page.id) if inputs.tokens is not None else None
    answer = inputs.token_answers.get(page.id)
    check = Evidence(status.valid, status.checked_at) if status is not None else None
    verdict = token_valid(answer, check)
    if verdict is False:
        refused = answer is not None and not answer.valid and (check is None or answer.at > check.at)
        why = "the Graph API refused it (error 190)" if refused else "/debug_token reports it invalid"
        return TokenView("invalid", "invalid", f"{why}; {source}")
    if status is not None:
        return _checked_token_view(status, inputs.now, source)
    unchecked = "not checked" if inputs.tokens is None else "not checked yet"
    hint = "; set graph_api.app_id and app_secret to check expiry" if inputs.tokens is None else ""
    if verdict:
        return TokenView("valid", "valid", f"the last answer accepted it; expiry {unchecked}{hint}; {source}")
    return TokenView("unchecked", unchecked, f"no answer yet{hint}; {source}")


def _checked_token_view(status: TokenStatus, now: float, source: str) -> TokenView:
    if not status.valid:
        return TokenView("invalid", "invalid", f"/debug_token reports it invalid; {source}")
    if status.missing_scopes:
        lacking = ", ".join(sorted(status.missing_scopes))
        return TokenView("invalid", f"lacks {lacking}", f"permissions missing: {lacking}; {source}")
    ends = [(at, what) for at, what in ((status.expires_at, "expires"),
                                        (status.data_access_expires_at, "data access lapses"))
            if at > 0]
    if not ends:
        return TokenView("valid", "valid", f"never expires; {source}")
    at, what = min(ends)
    if at <= now:
        return TokenView("invalid", "expired", f"{what.replace('lapses', 'lapsed')} "
                         f"{utc(at)}; {source}")
    detail = f"{what} {utc(at)}; {source}"
    if at - now < TOKEN_EXPIRY_WARNING_SECONDS:
        days = int((at - now) // 86400)
        when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
        return TokenView("expiring", f"expiring {when}", detail)
    return TokenView("valid", "valid", detail)


def utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
