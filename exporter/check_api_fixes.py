"""--check-api's problems: what went wrong, in words, and the fix a user would make."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from exporter.config import MetricSpec, PageConfig
from exporter.graph_client import AUTH_CODES, RATE_LIMIT_CODES, GraphError
from exporter.redact import scrub

TOKEN_ERROR_CODE = 190
OBJECT_MISSING_SUBCODE = 33
REQUIRED_PERMISSIONS = "pages_messaging, pages_read_engagement, pages_show_list and read_insights"
NEW_TOKEN = "README.md, Real setup, step 1"  # noqa: S105 - where to read how to get one
# Tokens expiring sooner than this are worth a warning (the TokenExpiringSoon alert's 7 days).
EXPIRY_WARNING_SECONDS = 7 * 86400


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that is not well. `fatal`: it makes --check-api exit 1."""

    where: str  # "Page 123 (Acme)", or "Graph API" for what concerns every Page
    what: str
    fix: str
    fatal: bool = True

    def __post_init__(self) -> None:
        for name in ("where", "what", "fix"):
            object.__setattr__(self, name, scrub(getattr(self, name)))


def page_label(page: PageConfig) -> str:
    return f"Page {page.id} ({page.name})" if page.name else f"Page {page.id}"


def moment(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def token_home(page: PageConfig, discovered: bool) -> str:
    """Where the user puts this Page's token."""
    if discovered:
        return ("the discovery token (discovery.user_token): its user must still manage the Page; "
                "/me/accounts then hands out a fresh Page token")
    return page.token.describe()


def _then(page: PageConfig, *, discovered: bool) -> str:
    if page.token.env is not None and not discovered:
        return "then restart the exporter (a reload cannot see a changed variable)"
    return "then reload the exporter (SIGHUP or POST /-/reload)"


def invalid_token(page: PageConfig, message: str, *, discovered: bool) -> Problem:
    return Problem(
        page_label(page), f"the access token is invalid: {message}",
        f"get a new Page token ({NEW_TOKEN}) and put it in {token_home(page, discovered=discovered)}; "
        + _then(page, discovered=discovered),
    )


def missing_scopes(page: PageConfig, scopes: frozenset[str], *, discovered: bool) -> Problem:
    lacking = ", ".join(sorted(scopes))
    return Problem(
        page_label(page), f"the access token lacks the permission(s) {lacking}"
        + (" (without read_insights Meta answers every insights request with no data)"
           if "read_insights" in scopes else ""),
        f"create a Page token with {REQUIRED_PERMISSIONS}, from a user with the ANALYZE task on "
        f"the Page ({NEW_TOKEN}), and put it in {token_home(page, discovered=discovered)}",
    )


def expiring(page: PageConfig, expires_at: float, *, discovered: bool) -> Problem:
    return Problem(
        page_label(page), f"the access token expires at {moment(expires_at)}",
        f"replace it with a Page token that does not expire (derived from a long-lived user token; "
        f"{NEW_TOKEN}) in {token_home(page, discovered=discovered)}",
        fatal=False,
    )


def rejected_metric(page: PageConfig, spec: MetricSpec, message: str) -> Problem:
    return Problem(
        page_label(page), f"the Graph API rejects {spec.name} (period {spec.period}): {message}",
        "check the name's spelling; if Meta retired the metric, remove it from the Page's "
        "metrics (or the global metrics list) in the config",
    )


def throttled(page: PageConfig, until: float) -> Problem:
    return Problem(
        page_label(page), f"rate limited: Meta asks for no requests until {moment(until)}; "
        "it was not asked again",
        "nothing to change in the config: run --check-api again after that time (the exporter "
        "itself waits such pauses out); if it happens often, raise refresh.interval",
    )


def request_failed(where: str, error: GraphError) -> Problem:
    return Problem(where, f"request failed: {_describe(error)}", _fix_for(error))


def _describe(error: GraphError) -> str:
    code = f"error {error.graph_code}" if error.graph_code is not None else error.code
    subcode = f"/{error.subcode}" if error.subcode is not None else ""
    return f"{code}{subcode}: {error.message}"


# (does it apply, the fix), first match wins.
_FIXES: tuple[tuple[Callable[[GraphError], bool], str], ...] = (
    (lambda e: e.code == "network",
     "check graph_api.base_url and that this host can reach it (DNS, firewall, the HTTPS_PROXY "
     "variable)"),
    (lambda e: e.code in ("http", "decode"),
     "the answer was not the Graph API's: check graph_api.base_url, and any proxy between this "
     "host and Meta"),
    (lambda e: "appsecret_proof" in e.message.lower(),
     "the app has \"Require App Secret\" on: set graph_api.app_id and app_secret_env (or "
     "app_secret_file); if they are set, the secret must be that of the app graph_api.app_id "
     "names, the one the tokens were made for"),
    (lambda e: e.graph_code == 100 and e.subcode == OBJECT_MISSING_SUBCODE,
     "check the Page id, and that the token is this Page's own Page token (a token of another "
     "Page cannot see it)"),
    (lambda e: e.graph_code == TOKEN_ERROR_CODE,
     f"get a new Page token ({NEW_TOKEN}) and put it where the config reads it"),
    (lambda e: e.graph_code in AUTH_CODES,
     f"use a Page token with {REQUIRED_PERMISSIONS}, from a user with the ANALYZE task on the Page"),
    (lambda e: e.graph_code in RATE_LIMIT_CODES,
     "wait and run again; if it happens often, raise refresh.interval"),
    (lambda e: e.transient, "a passing failure on Meta's side: run --check-api again"),
)
_OTHER_FIX = "see Meta's message above; docs/runbooks.md#messengerinsightsrefreshfailing lists more"


def _fix_for(error: GraphError) -> str:
    return next((fix for applies, fix in _FIXES if applies(error)), _OTHER_FIX)
