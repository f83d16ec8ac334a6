"""Graph API batch requests: many insights operations in one POST, and their answers.

Meta's batch reference: "GET and DELETE operations can only have `relative_url` and
`method` fields" (a `body` on a GET is not read), and each operation may name its own token
"as a query string or form post parameter", the top-level token being only the fallback.
So every GET operation carries all its parameters, its Page token and appsecret_proof
included, in the query of its `relative_url`. That `relative_url` travels inside the POST
body (the `batch` form field): the token is in no request line. The answer is a JSON array
in request order; `null` means that operation timed out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from exporter.insights_response import ResponseError
from exporter.redact import Secret

MAX_BATCH_SIZE = 50


@dataclass(frozen=True, slots=True)
class OperationAnswer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


def batch_form(
    operations: Sequence[tuple[str, dict[str, str], Secret]],
    proof: Callable[[Secret], str | None],
) -> dict[str, str]:
    """The form fields of a batch POST for (relative path, params, token) operations."""
    batch = [
        {"method": "GET", "relative_url": relative_url(path, {**params, **_credentials(token, proof)})}
        for path, params, token in operations
    ]
    # The API requires a token at the top level too. Every operation names its own, so the
    # top-level one is only a fallback that none of them should need; the first will do.
    top_token = operations[0][2]
    form = {"access_token": top_token.reveal(), "batch": json.dumps(batch, separators=(",", ":")),
            "include_headers": "true"}
    if (top_proof := proof(top_token)) is not None:
        form["appsecret_proof"] = top_proof
    return form


def debug_token_form(input_token: Secret, app_token: Secret, proof: str | None) -> dict[str, str]:
    """/debug_token as a one-operation batch, so the Page token travels in the POST body:
    the endpoint takes it only as the `input_token` parameter, which would otherwise be in
    the URL. The operation has no token of its own: it runs with the top-level app token
    and its appsecret_proof."""
    operation = {"method": "GET",
                 "relative_url": relative_url("debug_token", {"input_token": input_token.reveal()})}
    form = {"access_token": app_token.reveal(), "batch": json.dumps([operation]),
            "include_headers": "true"}
    if proof is not None:
        form["appsecret_proof"] = proof
    return form


def relative_url(path: str, params: dict[str, str]) -> str:
    """An operation's `relative_url`: its path and every parameter, as a GET's URL has them.

    It holds tokens: it belongs in the POST body only, never in a log line (the scrubber
    removes relative_url values wherever they appear)."""
    return f"{path}?{urlencode(params)}"


def _credentials(token: Secret, proof: Callable[[Secret], str | None]) -> dict[str, str]:
    credentials = {"access_token": token.reveal()}
    if (token_proof := proof(token)) is not None:
        credentials["appsecret_proof"] = token_proof
    return credentials


def parse_batch_answer(document: Any, count: int) -> list[OperationAnswer | None]:
    """Each operation's answer, in request order; ResponseError if the array is not one."""
    if not isinstance(document, list):
        raise ResponseError("batch answer is not a list")
    if len(document) != count:
        raise ResponseError(f"batch answer has {len(document)} entries for {count} operations")
    answers: list[OperationAnswer | None] = []
    for index, entry in enumerate(document):
        if entry is None:
            answers.append(None)
            continue
        if not isinstance(entry, dict):
            raise ResponseError(f"batch answer [{index}] is not an object")
        status, body = entry.get("code"), entry.get("body", "")
        if isinstance(status, bool) or not isinstance(status, int) or not isinstance(body, str):
            raise ResponseError(f"batch answer [{index}] has no status code or body")
        answers.append(OperationAnswer(status, _headers(entry.get("headers")), body.encode("utf-8")))
    return answers


def _headers(raw: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("value"), str):
                headers[item["name"].lower()] = item["value"]
    return headers
