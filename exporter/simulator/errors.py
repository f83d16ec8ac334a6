"""Graph API errors: the body, status and headers of a failed call."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from exporter.pacific_calendar import pacific_clock
from exporter.simulator.usage import Throttle

OAUTH = "OAuthException"
GRAPH_METHOD = "GraphMethodException"

INVALID_METRIC = "(#100) The value must be a valid insights metric"
UNKNOWN_ERROR = "An unknown error occurred"


def fbtrace_id() -> str:
    """An opaque trace id like the ones Meta attaches to every error."""
    return secrets.token_urlsafe(8)


# Not frozen: exceptions get attributes (__traceback__, __context__) set on them.
@dataclass(eq=False)
class GraphError(Exception):
    """A Graph API error; raising it anywhere in a request answers with it."""

    status: int
    message: str
    code: int
    type: str = OAUTH
    subcode: int | None = None
    is_transient: bool | None = None
    user_title: str | None = None
    user_message: str | None = None
    # A rate limit also reports its exhausted quota in the usage headers.
    throttle: Throttle | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_message is not None:
            error["error_user_msg"] = self.user_message
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}

    def www_authenticate(self) -> str:
        # Header values must stay printable ASCII; the message may quote client input.
        safe = "".join(c if " " <= c <= "~" and c != '"' else "'" for c in self.message)
        return f'OAuth "Facebook Platform" "invalid_request" "{safe}"'


def invalid_parameter(message: str) -> GraphError:
    return GraphError(400, f"(#100) {message}", 100)


def invalid_metric() -> GraphError:
    return GraphError(400, INVALID_METRIC, 100)


def unknown_error(status: int = 500) -> GraphError:
    return GraphError(status, UNKNOWN_ERROR, 1)


def missing_token() -> GraphError:
    return GraphError(400, "An access token is required to request this resource.", 104)


def missing_metric() -> GraphError:
    return GraphError(
        400,
        "Invalid query",
        3001,
        subcode=1504028,
        is_transient=False,
        user_title="No Metric Specified",
        user_message="No metric was specified to be fetched",
    )


def window_too_long() -> GraphError:
    return GraphError(
        400, "There cannot be more than 93 days (8035200 s) between since and until", 1
    )


def unsupported_request(method: str, object_id: str | None = None) -> GraphError:
    message = f"Unsupported {method.lower()} request."
    if object_id is None:
        return GraphError(400, message, 100, type=GRAPH_METHOD)
    return GraphError(
        400,
        f"{message} Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph "
        "API documentation at https://developers.facebook.com/docs/graph-api",
        100,
        type=GRAPH_METHOD,
        subcode=33,
    )


# --- the error table of shared/graph-api.md, for the `error` scenario ----------------------

SESSION_INVALIDATED = (
    "Error validating access token: The session has been invalidated because the user changed "
    "their password or Facebook has changed the session for security reasons."
)
RATE_LIMIT_MESSAGES: dict[int, str] = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. "
    "Wait a bit and try again.",
}
# Codes a careful client retries (graph-api.md, "Rate limits"); their errors say is_transient.
TRANSIENT_CODES = frozenset({2, 4, 17, 32, 613, *range(80000, 80009)})
_TOKEN_MESSAGES: dict[int | None, str] = {
    None: "Invalid OAuth access token - Cannot parse access token",
    458: "Error validating access token: The user has not authorized application.",
    460: SESSION_INVALIDATED,
    467: "Error validating access token: The user is not logged in.",
}


def expired_message(now: float, expired_at: float | None = None) -> str:
    """Graph's words for a token that expired at `expired_at` (default: the last full hour)."""
    if expired_at is None:
        expired_at = (now // 3600 - 1) * 3600
    return (
        f"Error validating access token: Session has expired on {pacific_clock(expired_at)}. "
        f"The current time is {pacific_clock(now)}."
    )


def table_status(code: int) -> int:
    """The HTTP status graph-api.md's table gives for a code (400 when it lists none)."""
    if code == 10 or 200 <= code <= 299:
        return 403
    if code in {1, 99}:
        return 500
    return 400


def table_message(code: int, subcode: int | None, now: float) -> str:
    """The message graph-api.md's table gives for a code (a generic one when it lists none)."""
    if code == 190:
        return expired_message(now) if subcode == 463 else _TOKEN_MESSAGES.get(subcode, _TOKEN_MESSAGES[None])
    if 200 <= code <= 299:
        return f"(#{code}) Permissions error"
    return _TABLE_MESSAGES.get(code, f"(#{code}) An error occurred")


# The table's messages that depend on the code alone.
_TABLE_MESSAGES: dict[int, str] = {
    **RATE_LIMIT_MESSAGES,
    100: INVALID_METRIC,
    10: "(#10) Application does not have permission for this action",
    1: UNKNOWN_ERROR,
    99: UNKNOWN_ERROR,
    2: "(#2) Service temporarily unavailable",
}


# --- appsecret_proof, token checks, batches, Page discovery ---------------------------------


def proof_missing() -> GraphError:
    return GraphError(
        400, "API calls from the server require an appsecret_proof argument", 100, GRAPH_METHOD
    )


def proof_invalid() -> GraphError:
    return GraphError(
        400, "Invalid appsecret_proof provided in the API argument", 100, GRAPH_METHOD
    )


def no_accounts_on_a_page() -> GraphError:
    return GraphError(400, "(#100) Tried accessing nonexisting field (accounts) on node type (Page)", 100)


def permission_missing() -> GraphError:
    return GraphError(403, "(#10) Application does not have permission for this action", 10)


def page_token_required() -> GraphError:
    """A token that is not this Page's: a user or app token, or another Page's token."""
    return GraphError(400, "(#190) This method must be called with a Page Access Token", 190)


def app_token_required() -> GraphError:
    return GraphError(400, "This method must be called with an app access_token.", 190)


def malformed_token() -> GraphError:
    return GraphError(400, _TOKEN_MESSAGES[None], 190)


def missing_parameter(name: str) -> GraphError:
    return GraphError(400, f"(#100) The parameter {name} is required", 100)


def too_many_operations(limit: int) -> GraphError:
    return GraphError(400, f"(#1) The batch can contain at most {limit} operations", 1)


def current_user_required() -> GraphError:
    return GraphError(
        400,
        "An active access token must be used to query information about the current user.",
        2500,
    )
