"""Graph API errors: the body, status and headers of a failed call."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

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

    def encoded_body(self) -> bytes:
        return json.dumps(self.body(), separators=(",", ":")).encode()

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
